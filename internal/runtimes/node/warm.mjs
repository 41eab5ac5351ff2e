// Loaded by bootstrap.mjs in pre-init mode, before any function is assigned,
// so that the ES module path of import() is compiled ahead of the handler.
export const handler = async () => "warm";
