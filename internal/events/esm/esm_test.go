package esm

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/nimbus-dev/nimbus/internal/events/queue"
)

// TestEventShape: the event decodes into aws-lambda-go's SQSEvent with every field set as Lambda sets it.
func TestEventShape(t *testing.T) {
	sent := time.UnixMilli(1700000000123)
	b := Event("arn:aws:sqs:us-east-1:000000000000:q", []queue.Message{{
		ID: "m1", ReceiptHandle: "rh", Body: "hello", MD5OfBody: "5d41402abc4b2a76b9719d911017c592",
		Attributes: []queue.Attribute{{Name: "a", DataType: "String", StringValue: "x"}, {Name: "b", DataType: "Binary", BinaryValue: []byte{1, 2}}},
		SenderID:   "000000000000", SentTimestamp: sent, ReceiveCount: 1, FirstReceive: sent.Add(time.Second),
	}})
	var ev events.SQSEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	if len(ev.Records) != 1 {
		t.Fatalf("records: %d", len(ev.Records))
	}
	r := ev.Records[0]
	if r.MessageId != "m1" || r.ReceiptHandle != "rh" || r.Body != "hello" || r.Md5OfBody != "5d41402abc4b2a76b9719d911017c592" ||
		r.EventSource != "aws:sqs" || r.EventSourceARN != "arn:aws:sqs:us-east-1:000000000000:q" || r.AWSRegion != "us-east-1" {
		t.Errorf("record: %+v", r)
	}
	if r.Attributes["ApproximateReceiveCount"] != "1" || r.Attributes["SentTimestamp"] != "1700000000123" ||
		r.Attributes["SenderId"] != "000000000000" || r.Attributes["ApproximateFirstReceiveTimestamp"] != "1700000001123" {
		t.Errorf("attributes: %v", r.Attributes)
	}
	if a := r.MessageAttributes["a"]; a.StringValue == nil || *a.StringValue != "x" || a.DataType != "String" {
		t.Errorf("string attribute: %+v", a)
	}
	if b := r.MessageAttributes["b"]; string(b.BinaryValue) != "\x01\x02" || b.DataType != "Binary" {
		t.Errorf("binary attribute: %+v", b)
	}
}
