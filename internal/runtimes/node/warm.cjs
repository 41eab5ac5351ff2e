// Loaded by bootstrap.mjs in pre-init mode, before any function is assigned,
// so that the CommonJS path of import() is compiled ahead of the handler.
exports.handler = async () => "warm";
