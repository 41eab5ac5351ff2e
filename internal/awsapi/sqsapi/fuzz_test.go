package sqsapi

import (
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// FuzzRequest sends arbitrary bodies to every action of a real service: no
// panic, no internal error, and every answer is JSON.
func FuzzRequest(f *testing.F) {
	s := startServer(f, f.TempDir())
	s.q.StopPolling() // receives return at once
	api := New(slog.New(slog.DiscardHandler), s.q)
	actions := slices.Sorted(maps.Keys(api.json.Ops))
	ctx := f.Context()
	if err := s.q.CreateQueue(ctx, "fz", nil, nil); err != nil {
		f.Fatal(err)
	}
	u := `"QueueUrl":"http://x/000000000000/fz"`
	for i, a := range actions {
		f.Add(uint8(i), []byte(`{}`))
		f.Add(uint8(i), []byte(`{`+u+`}`))
		switch a {
		case "SendMessage":
			f.Add(uint8(i), []byte(`{`+u+`,"MessageBody":"hi","DelaySeconds":1,"MessageAttributes":{"a":{"DataType":"Binary","BinaryValue":"AAE="},"b.c":{"DataType":"Number","StringValue":"1e3"}},"MessageSystemAttributes":{"AWSTraceHeader":{"DataType":"String","StringValue":"Root=1"}}}`))
		case "SendMessageBatch":
			f.Add(uint8(i), []byte(`{`+u+`,"Entries":[{"Id":"a","MessageBody":"x"},{"Id":"b","MessageBody":"y","DelaySeconds":-1}]}`))
		case "ReceiveMessage":
			f.Add(uint8(i), []byte(`{`+u+`,"MaxNumberOfMessages":10,"VisibilityTimeout":0,"MessageAttributeNames":["All","b.*"],"MessageSystemAttributeNames":["All"]}`))
		case "DeleteMessageBatch", "ChangeMessageVisibilityBatch":
			f.Add(uint8(i), []byte(`{`+u+`,"Entries":[{"Id":"a","ReceiptHandle":"AQ","VisibilityTimeout":5}]}`))
		case "CreateQueue", "SetQueueAttributes":
			f.Add(uint8(i), []byte(`{"QueueName":"fz2",`+u+`,"Attributes":{"RedrivePolicy":"{\"deadLetterTargetArn\":\"arn:aws:sqs:us-east-1:000000000000:fz\",\"maxReceiveCount\":\"3\"}","DelaySeconds":"0"}}`))
		case "ListQueues":
			f.Add(uint8(i), []byte(`{"QueueNamePrefix":"f","MaxResults":1,"NextToken":"Zno"}`))
		}
	}
	f.Fuzz(func(t *testing.T, action uint8, body []byte) {
		a := actions[int(action)%len(actions)]
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(body)))
		req.Header.Set("X-Amz-Target", TargetPrefix+a)
		rec := httptest.NewRecorder()
		api.Handler().ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q: %d %s", a, body, rec.Code, rec.Body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %q: answer is not JSON: %q", a, body, rec.Body)
		}
	})
}
