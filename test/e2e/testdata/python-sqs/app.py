def handler(event, context):
    """Reports every record whose body contains "fail" as a batch item failure."""
    failures = [{"itemIdentifier": r["messageId"]} for r in event["Records"] if "fail" in r["body"]]
    print("batch of", len(event["Records"]), "failures", len(failures))
    return {"batchItemFailures": failures}
