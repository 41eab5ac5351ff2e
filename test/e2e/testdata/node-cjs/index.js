// CommonJS, callback style.
exports.handler = function (event, context, callback) {
  console.log("node-cjs got", JSON.stringify(event));
  if (event.action === "error") {
    callback(new TypeError("bad input: " + event.text));
    return;
  }
  if (event.action === "exit") {
    process.exit(event.code || 3);
  }
  callback(null, {
    runtime: "node-cjs",
    requestId: context.awsRequestId,
    functionName: context.functionName,
    functionVersion: context.functionVersion,
    memoryLimitInMB: context.memoryLimitInMB,
    invokedFunctionArn: context.invokedFunctionArn,
    logGroupName: context.logGroupName,
    remaining: context.getRemainingTimeInMillis(),
    clientCustom: context.clientContext ? context.clientContext.Custom || context.clientContext.custom : undefined,
    execEnv: process.env.AWS_EXECUTION_ENV,
    myVar: process.env.MY_VAR,
    event,
  });
};
