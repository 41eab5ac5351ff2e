"""GET /clock: the time in the execution environment."""
import datetime
import json


def handler(event, context):
    now = datetime.datetime.now(datetime.timezone.utc)
    print("clock read at", now.isoformat())
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"message": "It is " + now.strftime("%H:%M:%S") + " UTC", "runtime": "python"}),
    }
