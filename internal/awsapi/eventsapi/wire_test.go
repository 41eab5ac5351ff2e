package eventsapi

import (
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
// a service error, an internal error.
func TestWireAnswers(t *testing.T) {
	s := startServer(t)
	addOp(s.api, "Boom", func(*http.Request, []byte) (any, error) { return nil, errors.New("secret detail") })
	const ct = "application/x-amz-json-1.1"
	for _, tc := range []struct {
		name, method, target, body string
		status                     int
		errType                    string // X-Amzn-ErrorType; "" for none
		want                       string
	}{
		{"unknown action", "POST", "AWSEvents.Nope", `{}`, 400, "UnknownOperationException",
			`{"__type":"UnknownOperationException","message":"Operation Nope is not supported by nimbus."}`},
		{"other service", "POST", "AmazonSQS.ListQueues", `{}`, 400, "UnknownOperationException",
			`{"__type":"UnknownOperationException","message":"Operation AmazonSQS.ListQueues is not supported by nimbus."}`},
		{"wrong method", "PUT", "AWSEvents.ListRules", `{}`, 400, "UnknownOperationException",
			`{"__type":"UnknownOperationException","message":"Operation ListRules is not supported by nimbus."}`},
		{"malformed body", "POST", "AWSEvents.DescribeRule", `{"Name":`, 400, "SerializationException",
			`{"__type":"SerializationException","message":"The request body is not valid JSON."}`},
		{"wrong type", "POST", "AWSEvents.DescribeRule", `{"Name":5}`, 400, "SerializationException",
			`{"__type":"SerializationException","message":"Value for Name has an invalid type."}`},
		{"oversize body", "POST", "AWSEvents.ListRules", strings.Repeat(" ", MaxBody+1), 413, "RequestEntityTooLargeException",
			`{"__type":"RequestEntityTooLargeException","message":"Request must be smaller than 1048576 bytes."}`},
		{"largest body", "POST", "AWSEvents.ListRules", "{}" + strings.Repeat(" ", MaxBody-2), 200, "",
			`{"Rules":[]}`},
		{"valid call", "POST", "AWSEvents.ListRules", ``, 200, "",
			`{"Rules":[]}`},
		{"service error", "POST", "AWSEvents.DescribeRule", `{"Name":"missing"}`, 400, "ResourceNotFoundException",
			`{"__type":"ResourceNotFoundException","message":"Rule missing does not exist on EventBus default."}`},
		{"internal error", "POST", "AWSEvents.Boom", `{}`, 500, "InternalException",
			`{"__type":"InternalException","message":"An internal error occurred; see the server log."}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "/", strings.NewReader(tc.body))
			req.Header.Set("X-Amz-Target", tc.target)
			w := httptest.NewRecorder()
			s.api.Handler().ServeHTTP(w, req)
			wantHeader(t, w, tc.status, ct, tc.errType, tc.want)
		})
	}
	// The schedules listing answers its errors in the same shape.
	w := httptest.NewRecorder()
	s.api.SchedulesHandler().ServeHTTP(w, httptest.NewRequest("GET", "/nimbus/v1/schedules?next=x", nil))
	wantHeader(t, w, 400, ct, "ValidationException",
		`{"__type":"ValidationException","message":"next must be a number from 0 to 100"}`)
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
