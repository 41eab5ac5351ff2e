import os
import sys


def handler(event, context):
    print("python got", event)
    if event.get("action") == "error":
        raise ValueError("bad value: " + str(event.get("text")))
    if event.get("action") == "exit":
        sys.exit(event.get("code", 4))
    cc = context.client_context
    return {
        "runtime": "python",
        "requestId": context.aws_request_id,
        "functionName": context.function_name,
        "functionVersion": context.function_version,
        "memoryLimitInMB": context.memory_limit_in_mb,
        "invokedFunctionArn": context.invoked_function_arn,
        "logGroupName": context.log_group_name,
        "remaining": context.get_remaining_time_in_millis(),
        "clientCustom": cc.custom if cc else None,
        "execEnv": os.environ.get("AWS_EXECUTION_ENV"),
        "myVar": os.environ.get("MY_VAR"),
        "event": event,
    }
