// ES module, async style.
const started = Date.now();
export const handler = async (event, context) => {
  console.log("node-esm got", JSON.stringify(event));
  if (event.action === "error") {
    throw new RangeError("out of range: " + event.text);
  }
  return { runtime: "node-esm", requestId: context.awsRequestId, functionName: context.functionName, started, event };
};
