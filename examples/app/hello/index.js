// GET /hello/{name}: a greeting (API Gateway payload format 2.0). Invoked
// directly, {"name": "you"} works too.
exports.handler = async (event) => {
  const name = event.pathParameters?.name ?? event.name ?? "world";
  console.log("greeting", name);
  return {
    statusCode: 200,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ message: `${process.env.GREETING}, ${name}!`, runtime: "node" }),
  };
};
