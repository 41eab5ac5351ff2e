package sfnapi

import (
	"context"
	"errors"
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
// service errors, an internal error, a cancelled wait.
func TestWireAnswers(t *testing.T) {
	e := newEnv(t)
	addOp(e.api, "Boom", func(*http.Request, []byte) (any, error) { return nil, errors.New("secret detail") })
	addOp(e.api, "Stopping", func(*http.Request, []byte) (any, error) { return nil, context.Canceled })
	const arn = "arn:aws:states:us-east-1:000000000000:execution:a:b"
	for _, tc := range []struct {
		name, method, target, body string
		status                     int
		errType                    string // X-Amzn-ErrorType; "" for none
		want                       string
	}{
		{"unknown action", "POST", "AWSStepFunctions.Nope", `{}`, 400, "UnknownOperationException",
			`{"__type":"com.amazon.coral.service#UnknownOperationException","message":"Unknown operation POST AWSStepFunctions.Nope"}`},
		{"other service", "POST", "AmazonSQS.ListQueues", `{}`, 400, "UnknownOperationException",
			`{"__type":"com.amazon.coral.service#UnknownOperationException","message":"Unknown operation POST AmazonSQS.ListQueues"}`},
		{"wrong method", "PUT", "AWSStepFunctions.ListStateMachines", `{}`, 400, "UnknownOperationException",
			`{"__type":"com.amazon.coral.service#UnknownOperationException","message":"Unknown operation PUT AWSStepFunctions.ListStateMachines"}`},
		{"malformed body", "POST", "AWSStepFunctions.DescribeExecution", `{"executionArn":`, 400, "SerializationException",
			`{"__type":"com.amazon.coral.service#SerializationException","message":"The request body is not valid JSON."}`},
		{"wrong type", "POST", "AWSStepFunctions.StartExecution", `{"stateMachineArn": 5}`, 400, "SerializationException",
			`{"__type":"com.amazon.coral.service#SerializationException","message":"Value for stateMachineArn has an invalid type."}`},
		{"oversize body", "POST", "AWSStepFunctions.ListStateMachines", strings.Repeat(" ", MaxBody+1), 413, "RequestEntityTooLargeException",
			`{"__type":"com.amazonaws.swf.service.model.v20120810#RequestEntityTooLargeException","message":"Request must be smaller than 4194304 bytes."}`},
		{"largest body", "POST", "AWSStepFunctions.ListStateMachines", "{}" + strings.Repeat(" ", MaxBody-2), 200, "",
			`{"stateMachines":[]}`},
		{"valid call", "POST", "AWSStepFunctions.ListStateMachines", ``, 200, "",
			`{"stateMachines":[]}`},
		{"validation error", "POST", "AWSStepFunctions.StartExecution", `{}`, 400, "ValidationException",
			`{"__type":"com.amazon.coral.validate#ValidationException","message":"1 validation error detected: Value null at 'stateMachineArn' failed to satisfy constraint: Member must not be null"}`},
		{"service error", "POST", "AWSStepFunctions.DescribeExecution", `{"executionArn":"` + arn + `"}`, 400, "ExecutionDoesNotExist",
			`{"__type":"com.amazonaws.swf.service.model.v20120810#ExecutionDoesNotExist","message":"Execution Does Not Exist: '` + arn + `'"}`},
		{"internal error", "POST", "AWSStepFunctions.Boom", `{}`, 500, "InternalFailure",
			`{"__type":"com.amazon.coral.service#InternalFailure","message":"An internal error occurred; see the server log."}`},
		{"cancelled wait", "POST", "AWSStepFunctions.Stopping", `{}`, 503, "ServiceUnavailable",
			`{"__type":"com.amazonaws.swf.service.model.v20120810#ServiceUnavailable","message":"The request was cancelled before it completed."}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "/", strings.NewReader(tc.body))
			req.Header.Set("X-Amz-Target", tc.target)
			w := httptest.NewRecorder()
			e.api.Handler().ServeHTTP(w, req)
			wantHeader(t, w, tc.status, "application/x-amz-json-1.0", tc.errType, tc.want)
		})
	}
}

// wantHeader checks an answer's status, body and exact header set: Content-Type,
// Content-Length, a 36-character X-Amzn-RequestId and X-Amzn-ErrorType if
// errType is set.
func wantHeader(t *testing.T, w *httptest.ResponseRecorder, status int, ct, errType, body string) {
	t.Helper()
	got := map[string]string{}
	for k, v := range w.Header() {
		got[k] = strings.Join(v, ",")
	}
	if len(got["X-Amzn-Requestid"]) == 36 {
		got["X-Amzn-Requestid"] = "<id>"
	}
	want := map[string]string{"Content-Type": ct, "Content-Length": strconv.Itoa(len(body)), "X-Amzn-Requestid": "<id>"}
	if errType != "" {
		want["X-Amzn-Errortype"] = errType
	}
	if w.Code != status || w.Body.String() != body || !maps.Equal(got, want) {
		t.Errorf("answer = %d %v %s\nwant     %d %v %s", w.Code, got, w.Body, status, want, body)
	}
}
