package sqsapi

import (
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// addOp adds an action to the API, for answers no real request provokes.
func addOp(a *API, name string, f func(*http.Request, []byte) (any, error)) { a.json.Ops[name] = f }

// TestWireAnswers pins the raw answers, byte for byte and header for header
// (the request id only by its length), of the request handling around the
// actions: unknown target, wrong method, body limits, decoding, a valid call,
// service errors, an internal error.
func TestWireAnswers(t *testing.T) {
	s := startServer(t, t.TempDir())
	api := New(slog.New(slog.DiscardHandler), s.q)
	addOp(api, "Boom", func(*http.Request, []byte) (any, error) { return nil, errors.New("secret detail") })
	for _, tc := range []struct {
		name, method, target, body string
		status                     int
		errType, queryErr          string // X-Amzn-ErrorType, X-Amzn-Query-Error; "" for none
		want                       string
	}{
		{"unknown action", "POST", "AmazonSQS.Nope", `{}`, 400, "UnknownOperationException", "InvalidAction;Sender",
			`{"__type":"com.amazon.coral.service#UnknownOperationException","message":"Unknown operation POST AmazonSQS.Nope"}`},
		{"other service", "POST", "AWSEvents.ListRules", `{}`, 400, "UnknownOperationException", "InvalidAction;Sender",
			`{"__type":"com.amazon.coral.service#UnknownOperationException","message":"Unknown operation POST AWSEvents.ListRules"}`},
		{"wrong method", "PUT", "AmazonSQS.ListQueues", `{}`, 400, "UnknownOperationException", "InvalidAction;Sender",
			`{"__type":"com.amazon.coral.service#UnknownOperationException","message":"Unknown operation PUT AmazonSQS.ListQueues"}`},
		{"malformed body", "POST", "AmazonSQS.CreateQueue", `{"QueueName":`, 400, "SerializationException", "MalformedInput;Sender",
			`{"__type":"com.amazon.coral.service#SerializationException","message":"The request body is not valid JSON."}`},
		{"wrong type", "POST", "AmazonSQS.CreateQueue", `{"QueueName":5}`, 400, "SerializationException", "MalformedInput;Sender",
			`{"__type":"com.amazon.coral.service#SerializationException","message":"Value for QueueName has an invalid type."}`},
		{"oversize body", "POST", "AmazonSQS.ListQueues", strings.Repeat(" ", MaxBody+1), 413, "RequestEntityTooLarge", "RequestEntityTooLarge;Sender",
			`{"__type":"com.amazonaws.sqs#RequestEntityTooLarge","message":"Request must be smaller than 16777216 bytes."}`},
		{"largest body", "POST", "AmazonSQS.ListQueues", "{}" + strings.Repeat(" ", MaxBody-2), 200, "", "",
			`{}`},
		{"valid call", "POST", "AmazonSQS.ListQueues", ``, 200, "", "",
			`{}`},
		{"service error", "POST", "AmazonSQS.GetQueueUrl", `{"QueueName":"missing"}`, 400, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue;Sender",
			`{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}`},
		{"common error", "POST", "AmazonSQS.GetQueueUrl", `{}`, 400, "MissingParameter", "MissingParameter;Sender",
			`{"__type":"com.amazonaws.sqs#MissingParameter","message":"The request must contain the parameter QueueName."}`},
		{"unsupported", "POST", "AmazonSQS.AddPermission", `{}`, 400, "UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation;Sender",
			`{"__type":"com.amazonaws.sqs#UnsupportedOperation","message":"This operation is not supported by nimbus."}`},
		{"internal error", "POST", "AmazonSQS.Boom", `{}`, 500, "InternalError", "InternalError;Receiver",
			`{"__type":"com.amazonaws.sqs#InternalError","message":"An internal error occurred; see the server log."}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "/", strings.NewReader(tc.body))
			req.Header.Set("X-Amz-Target", tc.target)
			w := httptest.NewRecorder()
			api.Handler().ServeHTTP(w, req)
			wantHeader(t, w, tc.status, tc.errType, tc.queryErr, tc.want)
		})
	}
}

// wantHeader checks an answer's status, body and exact header set:
// Content-Type, Content-Length, a 36-character X-Amzn-RequestId and, if set,
// X-Amzn-ErrorType and X-Amzn-Query-Error.
func wantHeader(t *testing.T, w *httptest.ResponseRecorder, status int, errType, queryErr, body string) {
	t.Helper()
	got := map[string]string{}
	for k, v := range w.Header() {
		got[k] = strings.Join(v, ",")
	}
	if len(got["X-Amzn-Requestid"]) == 36 {
		got["X-Amzn-Requestid"] = "<id>"
	}
	want := map[string]string{"Content-Type": "application/x-amz-json-1.0", "Content-Length": strconv.Itoa(len(body)), "X-Amzn-Requestid": "<id>"}
	if errType != "" {
		want["X-Amzn-Errortype"] = errType
	}
	if queryErr != "" {
		want["X-Amzn-Query-Error"] = queryErr
	}
	if w.Code != status || w.Body.String() != body || !maps.Equal(got, want) {
		t.Errorf("answer = %d %v %s\nwant     %d %v %s", w.Code, got, w.Body, status, want, body)
	}
}
