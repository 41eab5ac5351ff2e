import os


def handler(event, context):
    """Processes a batch of jobs from the queue."""
    for record in event["Records"]:
        print("processed", record["body"], "from", os.environ["JOBS_QUEUE_URL"].rsplit("/", 1)[-1])
    return {"batchItemFailures": []}
