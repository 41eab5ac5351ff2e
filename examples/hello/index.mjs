// A Lambda function in Node.js (ES module, async handler): the README's example.
export const handler = async (event, context) => {
  console.log("hello invoked with", JSON.stringify(event));
  return {
    message: `Hello, ${event.name ?? "world"}!`,
    requestId: context.awsRequestId,
    remainingMs: context.getRemainingTimeInMillis(),
  };
};
