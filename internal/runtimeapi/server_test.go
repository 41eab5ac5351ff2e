package runtimeapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/textproto"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// The tests drive a real Server over loopback TCP. Requests from the "runtime"
// are mostly written byte for byte on a raw connection, so that what the AWS
// clients actually put on the wire (chunked bodies, declared trailers with empty
// or missing values, empty-valued headers) is what the server sees.
//
// testing/synctest is not used: the server does real network I/O, whose
// goroutines are never durably blocked inside a bubble. Nothing here asserts
// durations; waits are bounded by a generous timeout only so that a bug fails
// the test instead of hanging it.

const wait = 10 * time.Second

const (
	trailerDecl = "Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body"
	nextPath    = "/2018-06-01/runtime/invocation/next"
)

func responsePath(id string) string { return "/2018-06-01/runtime/invocation/" + id + "/response" }
func errorPath(id string) string    { return "/2018-06-01/runtime/invocation/" + id + "/error" }

const initErrorPath = "/2018-06-01/runtime/init/error"

func start(t testing.TB) *Server {
	t.Helper()
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

type outcome struct {
	res Result
	err error
}

// invokeAsync runs s.Invoke in its own goroutine; the channel yields its outcome.
// The goroutine ends when Invoke returns, at the latest when the test's cleanup
// closes s.
func invokeAsync(ctx context.Context, s *Server, inv *Invocation) <-chan outcome {
	ch := make(chan outcome, 1)
	go func() {
		r, err := s.Invoke(ctx, inv)
		ch <- outcome{r, err}
	}()
	return ch
}

func await[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func inv(id string) *Invocation {
	return &Invocation{
		RequestID:   id,
		Deadline:    time.UnixMilli(1_900_000_000_123),
		FunctionARN: "arn:aws:lambda:us-east-1:123456789012:function:fn",
		TraceID:     "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
		Payload:     []byte(`{"n":1}`),
	}
}

// rawConn is a runtime's connection to the Runtime API, written byte by byte.
type rawConn struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func dial(t testing.TB, s *Server) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.Addr(), wait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

type reply struct {
	status int
	header http.Header
	body   []byte
	close  bool // the server will close the connection
}

// errorType is the errorType of a JSON error body.
func (r reply) errorType() string {
	var e struct{ ErrorType string }
	json.Unmarshal(r.body, &e)
	return e.ErrorType
}

// tryDo writes req (from another goroutine, so that a server answering before it
// has read a large body cannot deadlock the test) and reads one final response.
func (rc *rawConn) tryDo(req []byte) (reply, error) {
	rc.c.SetDeadline(time.Now().Add(wait))
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		rc.c.Write(req) // an early answer may leave it unfinished; the reply is what counts
	}()
	defer func() { <-wrote }()
	for {
		resp, err := http.ReadResponse(rc.br, nil)
		if err != nil {
			return reply{}, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return reply{}, err
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 {
			continue // e.g. 100 Continue
		}
		return reply{status: resp.StatusCode, header: resp.Header, body: body, close: resp.Close}, nil
	}
}

func (rc *rawConn) do(req []byte) reply {
	rc.t.Helper()
	r, err := rc.tryDo(req)
	if err != nil {
		rc.t.Fatalf("no answer: %v", err)
	}
	return r
}

// next long-polls /next and requires a 200.
func (rc *rawConn) next() reply {
	rc.t.Helper()
	r := rc.do(rawGet(nextPath))
	if r.status != http.StatusOK {
		rc.t.Fatalf("GET /next = %d %s, want 200", r.status, r.body)
	}
	return r
}

func rawGet(path string) []byte {
	return []byte("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: aws-lambda-go/go1.26\r\n\r\n")
}

// rawPost is a POST with a Content-Length body. hdrs are header lines written as given.
func rawPost(path string, hdrs []string, body []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n", path)
	for _, h := range hdrs {
		b.WriteString(h + "\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(body))
	b.Write(body)
	return b.Bytes()
}

// rawChunked is a POST with a chunked body made of chunks, then the trailer lines as given.
func rawChunked(path string, hdrs []string, chunks [][]byte, trailers []string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n", path)
	for _, h := range hdrs {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("Transfer-Encoding: chunked\r\n\r\n")
	for _, c := range chunks {
		if len(c) == 0 {
			continue // a zero-size chunk would end the body
		}
		fmt.Fprintf(&b, "%x\r\n", len(c))
		b.Write(c)
		b.WriteString("\r\n")
	}
	b.WriteString("0\r\n")
	for _, tr := range trailers {
		b.WriteString(tr + "\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// deliver starts an Invoke of in and has the runtime take it on a raw connection.
func deliver(t testing.TB, s *Server, in *Invocation) (*rawConn, <-chan outcome) {
	t.Helper()
	out := invokeAsync(context.Background(), s, in)
	rc := dial(t, s)
	r := rc.next()
	if got := r.header.Get("Lambda-Runtime-Aws-Request-Id"); got != in.RequestID {
		t.Fatalf("/next request id = %q, want %q", got, in.RequestID)
	}
	return rc, out
}

func wantAccepted(t testing.TB, r reply) {
	t.Helper()
	if r.status != http.StatusAccepted || string(r.body) != `{"status":"OK"}` {
		t.Fatalf("post = %d %s, want 202 {\"status\":\"OK\"}", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("post Content-Type = %q, want application/json", ct)
	}
}

func wantRejected(t testing.TB, r reply, status int, errType string) {
	t.Helper()
	if r.status != status || r.errorType() != errType {
		t.Fatalf("post = %d %s, want %d with errorType %s", r.status, r.body, status, errType)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("rejection Content-Type = %q, want application/json", ct)
	}
}

func wantResult(t testing.TB, o outcome, want Result) {
	t.Helper()
	if o.err != nil {
		t.Fatalf("Invoke error = %v, want result %+v", o.err, want)
	}
	if o.res.ErrorType != want.ErrorType || o.res.ContentType != want.ContentType || !bytes.Equal(o.res.Payload, want.Payload) {
		t.Fatalf("Invoke = {ErrorType:%q ContentType:%q Payload:%.200q}, want {ErrorType:%q ContentType:%q Payload:%.200q}",
			o.res.ErrorType, o.res.ContentType, o.res.Payload, want.ErrorType, want.ContentType, want.Payload)
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestNext(t *testing.T) {
	deadline := time.UnixMilli(1_764_000_000_123)
	tests := []struct {
		name string
		inv  Invocation
		want map[string]string // "" = must be absent
		body string
	}{{
		name: "everything set",
		inv: Invocation{
			RequestID:       "8476a536-e9f4-11e8-9739-2dfe598c3fcd",
			Deadline:        deadline,
			FunctionARN:     "arn:aws:lambda:us-east-1:123456789012:function:fn:prod",
			TraceID:         "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
			ClientContext:   []byte(`{"client":{"installation_id":"i"},"custom":{"k":"v"},"env":{"locale":"en"}}`),
			CognitoIdentity: []byte(`{"cognitoIdentityId":"id","cognitoIdentityPoolId":"pool"}`),
			ContentType:     "text/plain",
			Payload:         []byte("hello"),
		},
		want: map[string]string{
			"Lambda-Runtime-Aws-Request-Id":       "8476a536-e9f4-11e8-9739-2dfe598c3fcd",
			"Lambda-Runtime-Deadline-Ms":          "1764000000123",
			"Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:fn:prod",
			"Lambda-Runtime-Trace-Id":             "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
			"Lambda-Runtime-Client-Context":       `{"client":{"installation_id":"i"},"custom":{"k":"v"},"env":{"locale":"en"}}`,
			"Lambda-Runtime-Cognito-Identity":     `{"cognitoIdentityId":"id","cognitoIdentityPoolId":"pool"}`,
			"Content-Type":                        "text/plain",
		},
		body: "hello",
	}, {
		name: "optional headers absent, default content type",
		inv: Invocation{
			RequestID:   "b0e6f1a2-0000-4000-8000-000000000001",
			Deadline:    deadline,
			FunctionARN: "arn:aws:lambda:us-east-1:123456789012:function:fn",
			Payload:     []byte(`{"key":"value"}`),
		},
		want: map[string]string{
			"Lambda-Runtime-Aws-Request-Id":       "b0e6f1a2-0000-4000-8000-000000000001",
			"Lambda-Runtime-Deadline-Ms":          "1764000000123",
			"Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:fn",
			"Lambda-Runtime-Trace-Id":             "",
			"Lambda-Runtime-Client-Context":       "",
			"Lambda-Runtime-Cognito-Identity":     "",
			"Content-Type":                        "application/json",
		},
		body: `{"key":"value"}`,
	}, {
		name: "empty payload, empty client context slice",
		inv: Invocation{
			RequestID:     "b0e6f1a2-0000-4000-8000-000000000002",
			Deadline:      deadline,
			FunctionARN:   "arn:aws:lambda:us-east-1:123456789012:function:fn:7",
			ClientContext: []byte{},
		},
		want: map[string]string{
			"Lambda-Runtime-Aws-Request-Id": "b0e6f1a2-0000-4000-8000-000000000002",
			"Lambda-Runtime-Client-Context": "",
			"Content-Type":                  "application/json",
		},
		body: "",
	}, {
		name: "binary payload",
		inv: Invocation{
			RequestID:   "b0e6f1a2-0000-4000-8000-000000000003",
			Deadline:    deadline,
			FunctionARN: "arn:aws:lambda:us-east-1:123456789012:function:fn",
			ContentType: "application/octet-stream",
			Payload:     []byte{0, 1, 2, 0xff, '\r', '\n', 0},
		},
		want: map[string]string{"Content-Type": "application/octet-stream"},
		body: "\x00\x01\x02\xff\r\n\x00",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t)
			in := tc.inv
			invokeAsync(context.Background(), s, &in)
			r := dial(t, s).next() // requires exactly 200
			for k, v := range tc.want {
				got, ok := r.header[k]
				switch {
				case v == "" && ok:
					t.Errorf("header %s = %q, want absent", k, got)
				case v != "" && (len(got) != 1 || got[0] != v):
					t.Errorf("header %s = %q, want [%q]", k, got, v)
				}
			}
			ms, err := strconv.ParseInt(r.header.Get("Lambda-Runtime-Deadline-Ms"), 10, 64)
			if err != nil || ms != tc.inv.Deadline.UnixMilli() {
				t.Errorf("Lambda-Runtime-Deadline-Ms = %q (%v), want %d", r.header.Get("Lambda-Runtime-Deadline-Ms"), err, tc.inv.Deadline.UnixMilli())
			}
			if string(r.body) != tc.body {
				t.Errorf("body = %q, want %q", r.body, tc.body)
			}
		})
	}
}

// TestReady: Ready closes at the first /next, before any invocation exists, and
// the long-poll then answers once one arrives.
func TestReady(t *testing.T) {
	s := start(t)
	select {
	case <-s.Ready():
		t.Fatal("Ready closed before the runtime asked for an invocation")
	default:
	}
	rc := dial(t, s)
	rc.c.Write(rawGet(nextPath))
	await(t, s.Ready(), "Ready after /next")
	out := invokeAsync(context.Background(), s, inv("r-1"))
	resp, err := rc.tryDo(nil)
	if err != nil || resp.status != http.StatusOK || resp.header.Get("Lambda-Runtime-Aws-Request-Id") != "r-1" {
		t.Fatalf("pending /next = %d %v (%v), want 200 for r-1", resp.status, resp.header, err)
	}
	wantAccepted(t, rc.do(rawPost(responsePath("r-1"), nil, []byte("ok"))))
	wantResult(t, await(t, out, "Invoke"), Result{Payload: []byte("ok")})
}

func TestPing(t *testing.T) {
	s := start(t)
	r := dial(t, s).do(rawGet("/2018-06-01/ping"))
	if r.status != http.StatusOK || string(r.body) != "pong" {
		t.Fatalf("GET /ping = %d %q, want 200 pong", r.status, r.body)
	}
}

func TestResponse(t *testing.T) {
	const id = "3f1c0d4e-5b6a-4c7d-8e9f-a0b1c2d3e4f5"
	errBody := `{"errorMessage":"read failed","errorType":"errorString"}`
	tests := []struct {
		name string
		req  []byte
		want Result
	}{{
		name: "content-length json",
		req:  rawPost(responsePath(id), []string{"Content-Type: application/json"}, []byte(`{"ok":true}`)),
		want: Result{Payload: []byte(`{"ok":true}`), ContentType: "application/json"},
	}, {
		name: "no content type",
		req:  rawPost(responsePath(id), nil, []byte(`"s"`)),
		want: Result{Payload: []byte(`"s"`)},
	}, {
		name: "empty body",
		req:  rawPost(responsePath(id), []string{"Content-Type: application/json"}, nil),
		want: Result{Payload: []byte{}, ContentType: "application/json"},
	}, {
		name: "binary body",
		req:  rawPost(responsePath(id), []string{"Content-Type: application/octet-stream"}, []byte{0, 0xff, '\r', '\n'}),
		want: Result{Payload: []byte{0, 0xff, '\r', '\n'}, ContentType: "application/octet-stream"},
	}, {
		// What Go's net/http client writes for aws-lambda-go on success: the
		// trailers are declared but have nil values, so no trailer lines follow.
		name: "chunked, trailers declared, none sent",
		req: rawChunked(responsePath(id), []string{"User-Agent: aws-lambda-go/go1.26", "Content-Type: application/octet-stream", trailerDecl},
			[][]byte{[]byte(`{"ok"`), []byte(`:true}`)}, nil),
		want: Result{Payload: []byte(`{"ok":true}`), ContentType: "application/octet-stream"},
	}, {
		name: "chunked, trailers sent with empty values",
		req: rawChunked(responsePath(id), []string{"Content-Type: application/octet-stream", trailerDecl},
			[][]byte{[]byte(`{"ok":true}`)},
			[]string{"Lambda-Runtime-Function-Error-Type:", "Lambda-Runtime-Function-Error-Body:"}),
		want: Result{Payload: []byte(`{"ok":true}`), ContentType: "application/octet-stream"},
	}, {
		name: "chunked, trailers with blank values",
		req: rawChunked(responsePath(id), []string{"Content-Type: application/octet-stream", trailerDecl},
			[][]byte{[]byte(`1`)},
			[]string{"Lambda-Runtime-Function-Error-Type: ", "Lambda-Runtime-Function-Error-Body: \t"}),
		want: Result{Payload: []byte(`1`), ContentType: "application/octet-stream"},
	}, {
		name: "chunked, empty body, empty trailers",
		req: rawChunked(responsePath(id), []string{"Content-Type: application/json", trailerDecl}, nil,
			[]string{"Lambda-Runtime-Function-Error-Type:", "Lambda-Runtime-Function-Error-Body:"}),
		want: Result{Payload: []byte{}, ContentType: "application/json"},
	}, {
		name: "streaming mode, many chunks",
		req: rawChunked(responsePath(id),
			[]string{"Lambda-Runtime-Function-Response-Mode: streaming", "Content-Type: application/vnd.awslambda.http-integration-response", trailerDecl},
			[][]byte{[]byte(`{"statusCode":200}`), make([]byte, 8), []byte("part1,"), []byte("part2")},
			[]string{"Lambda-Runtime-Function-Error-Type:", "Lambda-Runtime-Function-Error-Body:"}),
		want: Result{
			Payload:     append(append([]byte(`{"statusCode":200}`), make([]byte, 8)...), "part1,part2"...),
			ContentType: "application/vnd.awslambda.http-integration-response",
		},
	}, {
		name: "chunked, error trailers",
		req: rawChunked(responsePath(id), []string{"Content-Type: application/octet-stream", trailerDecl},
			[][]byte{[]byte("partial")},
			[]string{"Lambda-Runtime-Function-Error-Type: errorString", "Lambda-Runtime-Function-Error-Body: " + b64(errBody)}),
		want: Result{ErrorType: "errorString", ContentType: "application/json", Payload: []byte(errBody)},
	}, {
		name: "streaming, error trailers after data",
		req: rawChunked(responsePath(id), []string{"Lambda-Runtime-Function-Response-Mode: streaming", trailerDecl},
			[][]byte{[]byte("a"), []byte("b")},
			[]string{"Lambda-Runtime-Function-Error-Type: Runtime.StreamError", "Lambda-Runtime-Function-Error-Body: " + b64(`{"errorMessage":"x","errorType":"Runtime.StreamError"}`)}),
		want: Result{ErrorType: "Runtime.StreamError", ContentType: "application/json", Payload: []byte(`{"errorMessage":"x","errorType":"Runtime.StreamError"}`)},
	}, {
		name: "error trailer, body not base64",
		req: rawChunked(responsePath(id), []string{trailerDecl}, [][]byte{[]byte("x")},
			[]string{"Lambda-Runtime-Function-Error-Type: Function.Boom", "Lambda-Runtime-Function-Error-Body: %%%"}),
		want: Result{ErrorType: "Function.Boom", ContentType: "application/json",
			Payload: errorJSON("Function.Boom", "The function's response stream ended with an error")},
	}, {
		name: "error trailer, body base64 of non-JSON",
		req: rawChunked(responsePath(id), []string{trailerDecl}, [][]byte{[]byte("x")},
			[]string{"Lambda-Runtime-Function-Error-Type: Function.Boom", "Lambda-Runtime-Function-Error-Body: " + b64("not json")}),
		want: Result{ErrorType: "Function.Boom", ContentType: "application/json",
			Payload: errorJSON("Function.Boom", "The function's response stream ended with an error")},
	}, {
		name: "error trailer type only",
		req: rawChunked(responsePath(id), []string{trailerDecl}, nil,
			[]string{"Lambda-Runtime-Function-Error-Type: Function.Boom"}),
		want: Result{ErrorType: "Function.Boom", ContentType: "application/json",
			Payload: errorJSON("Function.Boom", "The function's response stream ended with an error")},
	}, {
		name: "error type as a header, not a trailer, is not an error",
		req:  rawPost(responsePath(id), []string{"Lambda-Runtime-Function-Error-Type: Function.Boom"}, []byte("fine")),
		want: Result{Payload: []byte("fine")},
	}, {
		// The Node client (libcurl) sends this header with an empty value.
		name: "node client, empty-valued headers",
		req: rawPost(responsePath(id), []string{
			"content-type: application/json",
			"lambda-runtime-function-xray-error-cause:",
			"Lambda-Runtime-Function-Response-Mode:",
			"X-Empty:   ",
		}, []byte(`{"statusCode":200}`)),
		want: Result{Payload: []byte(`{"statusCode":200}`), ContentType: "application/json"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t)
			rc, out := deliver(t, s, inv(id))
			wantAccepted(t, rc.do(tc.req))
			wantResult(t, await(t, out, "Invoke"), tc.want)
		})
	}
}

func TestError(t *testing.T) {
	const id = "0c9d8e7f-6a5b-4c3d-2e1f-0a9b8c7d6e5f"
	goErr := `{"errorMessage":"boom","errorType":"errorString","stackTrace":[{"path":"main.go","line":12,"label":"handler"}]}`
	nodeErr := `{"errorType":"TypeError","errorMessage":"x is not a function","trace":["TypeError: x is not a function","    at index.js:3:5"]}`
	tests := []struct {
		name string
		req  []byte
		want Result
	}{{
		name: "type header and json body",
		req: rawPost(errorPath(id), []string{"Lambda-Runtime-Function-Error-Type: Runtime.HandlerNotFound", "Content-Type: application/json"},
			[]byte(`{"errorMessage":"no handler","errorType":"Runtime.HandlerNotFound"}`)),
		want: Result{ErrorType: "Runtime.HandlerNotFound", ContentType: "application/json", Payload: []byte(`{"errorMessage":"no handler","errorType":"Runtime.HandlerNotFound"}`)},
	}, {
		name: "header type wins over body type",
		req:  rawPost(errorPath(id), []string{"Lambda-Runtime-Function-Error-Type: Function.Custom"}, []byte(goErr)),
		want: Result{ErrorType: "Function.Custom", ContentType: "application/json", Payload: []byte(goErr)},
	}, {
		// aws-lambda-go: chunked, trailers declared, no type header, X-Ray cause header.
		name: "aws-lambda-go, type from body",
		req: rawChunked(errorPath(id), []string{
			"User-Agent: aws-lambda-go/go1.26", "Content-Type: application/json", trailerDecl,
			`Lambda-Runtime-Function-Xray-Error-Cause: {"working_directory":"/var/task","exceptions":[],"paths":[]}`,
		}, [][]byte{[]byte(goErr)}, nil),
		want: Result{ErrorType: "errorString", ContentType: "application/json", Payload: []byte(goErr)},
	}, {
		name: "aws-lambda-go, empty trailers",
		req: rawChunked(errorPath(id), []string{"Content-Type: application/json", trailerDecl}, [][]byte{[]byte(goErr)},
			[]string{"Lambda-Runtime-Function-Error-Type:", "Lambda-Runtime-Function-Error-Body:"}),
		want: Result{ErrorType: "errorString", ContentType: "application/json", Payload: []byte(goErr)},
	}, {
		name: "node client, empty-valued headers",
		req: rawPost(errorPath(id), []string{
			"content-type: application/json", "lambda-runtime-function-xray-error-cause:", "Lambda-Runtime-Function-Error-Type:",
		}, []byte(nodeErr)),
		want: Result{ErrorType: "TypeError", ContentType: "application/json", Payload: []byte(nodeErr)},
	}, {
		name: "error cause content type",
		req:  rawPost(errorPath(id), []string{"Content-Type: application/vnd.aws.lambda.error.cause+json"}, []byte(`{"errorType":"Function.Cause","errorMessage":"m"}`)),
		want: Result{ErrorType: "Function.Cause", ContentType: "application/json", Payload: []byte(`{"errorType":"Function.Cause","errorMessage":"m"}`)},
	}, {
		name: "non-json body, no header",
		req:  rawPost(errorPath(id), []string{"Content-Type: text/plain"}, []byte("segmentation fault")),
		want: Result{ErrorType: "Runtime.Unknown", ContentType: "application/json", Payload: errorJSON("Runtime.Unknown", "segmentation fault")},
	}, {
		name: "non-json body, header type",
		req:  rawPost(errorPath(id), []string{"Lambda-Runtime-Function-Error-Type: Runtime.Crash"}, []byte("core dumped <&>")),
		want: Result{ErrorType: "Runtime.Crash", ContentType: "application/json", Payload: errorJSON("Runtime.Crash", "core dumped <&>")},
	}, {
		name: "empty body",
		req:  rawPost(errorPath(id), nil, nil),
		want: Result{ErrorType: "Runtime.Unknown", ContentType: "application/json", Payload: errorJSON("Runtime.Unknown", "Unknown application error occurred")},
	}, {
		name: "json without errorType",
		req:  rawPost(errorPath(id), nil, []byte(`{"errorMessage":"m"}`)),
		want: Result{ErrorType: "Runtime.Unknown", ContentType: "application/json", Payload: []byte(`{"errorMessage":"m"}`)},
	}, {
		name: "json with non-string errorType",
		req:  rawPost(errorPath(id), nil, []byte(`{"errorType":42}`)),
		want: Result{ErrorType: "Runtime.Unknown", ContentType: "application/json", Payload: []byte(`{"errorType":42}`)},
	}, {
		name: "json that is not an object",
		req:  rawPost(errorPath(id), nil, []byte(`["a"]`)),
		want: Result{ErrorType: "Runtime.Unknown", ContentType: "application/json", Payload: []byte(`["a"]`)},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t)
			rc, out := deliver(t, s, inv(id))
			wantAccepted(t, rc.do(tc.req))
			o := await(t, out, "Invoke")
			wantResult(t, o, tc.want)
			if !json.Valid(o.res.Payload) {
				t.Errorf("error payload is not JSON: %q", o.res.Payload)
			}
		})
	}
}

// TestLargeErrorBody: an error body over the 1 MiB read limit is still answered
// with 202 and turned into valid error JSON.
func TestLargeErrorBody(t *testing.T) {
	s := start(t)
	rc, out := deliver(t, s, inv("big-err"))
	body := []byte(`{"errorType":"Function.Big","errorMessage":"` + strings.Repeat("x", 2<<20) + `"}`)
	wantAccepted(t, rc.do(rawPost(errorPath("big-err"), nil, body)))
	o := await(t, out, "Invoke")
	if o.err != nil || o.res.ErrorType == "" || !json.Valid(o.res.Payload) {
		t.Fatalf("Invoke = %q, %.100q, %v; want an error type and JSON", o.res.ErrorType, o.res.Payload, o.err)
	}
}

func TestInitError(t *testing.T) {
	tests := []struct {
		name string
		req  []byte
		want Result
	}{{
		name: "node, type header",
		req: rawPost(initErrorPath, []string{"Lambda-Runtime-Function-Error-Type: Runtime.ImportModuleError", "lambda-runtime-function-xray-error-cause:"},
			[]byte(`{"errorType":"Runtime.ImportModuleError","errorMessage":"Cannot find module 'index'","trace":[]}`)),
		want: Result{ErrorType: "Runtime.ImportModuleError", ContentType: "application/json",
			Payload: []byte(`{"errorType":"Runtime.ImportModuleError","errorMessage":"Cannot find module 'index'","trace":[]}`)},
	}, {
		name: "type from body, chunked",
		req: rawChunked(initErrorPath, []string{"Content-Type: application/json", trailerDecl},
			[][]byte{[]byte(`{"errorMessage":"bad config","errorType":"Runtime.Config"}`)},
			[]string{"Lambda-Runtime-Function-Error-Type:", "Lambda-Runtime-Function-Error-Body:"}),
		want: Result{ErrorType: "Runtime.Config", ContentType: "application/json", Payload: []byte(`{"errorMessage":"bad config","errorType":"Runtime.Config"}`)},
	}, {
		name: "plain text",
		req:  rawPost(initErrorPath, nil, []byte("cannot start")),
		want: Result{ErrorType: "Runtime.Unknown", ContentType: "application/json", Payload: errorJSON("Runtime.Unknown", "cannot start")},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t)
			wantAccepted(t, dial(t, s).do(tc.req))
			r := await(t, s.InitError(), "InitError")
			wantResult(t, outcome{res: r}, tc.want)
			select {
			case <-s.Ready():
				t.Error("Ready closed by an init error")
			default:
			}
		})
	}

	t.Run("only the first counts", func(t *testing.T) {
		s := start(t)
		rc := dial(t, s)
		wantAccepted(t, rc.do(rawPost(initErrorPath, []string{"Lambda-Runtime-Function-Error-Type: Runtime.First"}, []byte("1"))))
		wantAccepted(t, rc.do(rawPost(initErrorPath, []string{"Lambda-Runtime-Function-Error-Type: Runtime.Second"}, []byte("2"))))
		if r := await(t, s.InitError(), "InitError"); r.ErrorType != "Runtime.First" {
			t.Fatalf("InitError type = %q, want Runtime.First", r.ErrorType)
		}
		select {
		case r := <-s.InitError():
			t.Fatalf("second init error delivered: %+v", r)
		default:
		}
	})
}

// TestRejections: requests the Runtime API refuses, and that a refusal leaves the
// outstanding invocation intact (the right answer still completes it).
func TestRejections(t *testing.T) {
	const id = "aaaaaaaa-1111-4222-8333-444444444444"
	tests := []struct {
		name    string
		req     []byte
		status  int
		errType string
	}{
		{"response, wrong id", rawPost(responsePath("bbbbbbbb-1111-4222-8333-444444444444"), nil, []byte("x")), 400, "InvalidRequestID"},
		{"error, wrong id", rawPost(errorPath("bbbbbbbb-1111-4222-8333-444444444444"), nil, []byte(`{}`)), 400, "InvalidRequestID"},
		{"response, id prefix", rawPost(responsePath(id[:8]), nil, nil), 400, "InvalidRequestID"},
		{"chunked response, wrong id", rawChunked(responsePath("other"), []string{trailerDecl}, [][]byte{[]byte("x")},
			[]string{"Lambda-Runtime-Function-Error-Type: Function.X"}), 400, "InvalidRequestID"},
		{"next while outstanding", rawGet(nextPath), 403, "InvalidStateTransition"},
		{"mode buffered", rawPost(responsePath(id), []string{"Lambda-Runtime-Function-Response-Mode: buffered"}, []byte("x")), 400, "InvalidFunctionResponseMode"},
		{"mode wrong case", rawPost(responsePath(id), []string{"Lambda-Runtime-Function-Response-Mode: Streaming"}, []byte("x")), 400, "InvalidFunctionResponseMode"},
		{"mode garbage, chunked", rawChunked(responsePath(id), []string{"Lambda-Runtime-Function-Response-Mode: stream", trailerDecl}, [][]byte{[]byte("x")}, nil),
			400, "InvalidFunctionResponseMode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t)
			rc, out := deliver(t, s, inv(id))
			wantRejected(t, rc.do(tc.req), tc.status, tc.errType)
			// The refusal did not complete the invocation: the real answer does,
			// on the same connection.
			wantAccepted(t, rc.do(rawPost(responsePath(id), []string{"Content-Type: text/plain"}, []byte("the answer"))))
			wantResult(t, await(t, out, "Invoke"), Result{Payload: []byte("the answer"), ContentType: "text/plain"})
		})
	}

	t.Run("nothing outstanding", func(t *testing.T) {
		s := start(t)
		rc := dial(t, s)
		wantRejected(t, rc.do(rawPost(responsePath(id), nil, []byte("x"))), 400, "InvalidRequestID")
		wantRejected(t, rc.do(rawPost(errorPath(id), nil, []byte("x"))), 400, "InvalidRequestID")
	})

	t.Run("second answer to the same invocation", func(t *testing.T) {
		s := start(t)
		rc, out := deliver(t, s, inv(id))
		wantAccepted(t, rc.do(rawPost(responsePath(id), nil, []byte("first"))))
		wantRejected(t, rc.do(rawPost(responsePath(id), nil, []byte("second"))), 400, "InvalidRequestID")
		wantRejected(t, rc.do(rawPost(errorPath(id), nil, []byte("third"))), 400, "InvalidRequestID")
		wantResult(t, await(t, out, "Invoke"), Result{Payload: []byte("first")})
	})

	t.Run("routing", func(t *testing.T) {
		s := start(t)
		rc := dial(t, s)
		for _, c := range []struct {
			req    []byte
			status int
		}{
			{rawGet(responsePath(id)), http.StatusMethodNotAllowed},
			{rawPost(nextPath, nil, nil), http.StatusMethodNotAllowed},
			{rawGet("/2018-06-01/runtime/invocation/" + id), http.StatusNotFound},
			{rawGet("/2020-01-01/extension/event/next"), http.StatusNotFound},
		} {
			if r := rc.do(c.req); r.status != c.status {
				t.Errorf("%q = %d, want %d", bytes.SplitN(c.req, []byte("\r\n"), 2)[0], r.status, c.status)
			}
		}
	})
}

// TestTruncatedResponse: a /response body that cannot be read (broken chunking, or
// a runtime that stops mid-body) is refused and fails the invocation.
func TestTruncatedResponse(t *testing.T) {
	const id = "trunc-1"
	t.Run("malformed chunk", func(t *testing.T) {
		s := start(t)
		rc, out := deliver(t, s, inv(id))
		req := "POST " + responsePath(id) + " HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
		wantRejected(t, rc.do([]byte(req)), 400, "TruncatedHTTPRequest")
		if o := await(t, out, "Invoke"); o.err != nil || o.res.ErrorType != "Runtime.TruncatedResponse" || !json.Valid(o.res.Payload) {
			t.Fatalf("Invoke = %+v, %v; want Runtime.TruncatedResponse", o.res, o.err)
		}
	})
	t.Run("body shorter than Content-Length", func(t *testing.T) {
		s := start(t)
		rc, out := deliver(t, s, inv(id))
		rc.c.Write([]byte("POST " + responsePath(id) + " HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nonly ten b"))
		if err := rc.c.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if r, err := rc.tryDo(nil); err == nil && r.status != http.StatusBadRequest {
			t.Errorf("short body answered %d %s, want 400 or no answer", r.status, r.body)
		}
		if o := await(t, out, "Invoke"); o.err != nil || o.res.ErrorType != "Runtime.TruncatedResponse" {
			t.Fatalf("Invoke = %+v, %v; want Runtime.TruncatedResponse", o.res, o.err)
		}
	})
}

func TestResponseSizeLimit(t *testing.T) {
	const id = "size-1"
	const max = lambda.MaxResponsePayload
	tests := []struct {
		name    string
		size    int
		chunked bool
		tooBig  bool
	}{
		{"exactly the limit", max, false, false},
		{"exactly the limit, chunked", max, true, false},
		{"one byte over", max + 1, false, true},
		{"one byte over, chunked", max + 1, true, true},
		{"well over", 9 << 20, false, true},
		{"well over, chunked", 9 << 20, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t)
			rc, out := deliver(t, s, inv(id))
			body := bytes.Repeat([]byte("a"), tc.size)
			var req []byte
			if tc.chunked {
				var chunks [][]byte
				for b := body; len(b) > 0; {
					n := min(len(b), 32<<10)
					chunks = append(chunks, b[:n])
					b = b[n:]
				}
				req = rawChunked(responsePath(id), []string{"Content-Type: text/plain", trailerDecl}, chunks,
					[]string{"Lambda-Runtime-Function-Error-Type:", "Lambda-Runtime-Function-Error-Body:"})
			} else {
				req = rawPost(responsePath(id), []string{"Content-Type: text/plain"}, body)
			}
			r := rc.do(req)
			o := await(t, out, "Invoke")
			if !tc.tooBig {
				wantAccepted(t, r)
				if o.err != nil || o.res.ErrorType != "" || len(o.res.Payload) != tc.size || o.res.ContentType != "text/plain" {
					t.Fatalf("Invoke = %d bytes, type %q, error type %q, %v; want %d bytes of success", len(o.res.Payload), o.res.ContentType, o.res.ErrorType, o.err, tc.size)
				}
				return
			}
			wantRejected(t, r, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge")
			if o.err != nil || o.res.ErrorType != "Function.ResponseSizeTooLarge" || o.res.ContentType != "application/json" {
				t.Fatalf("Invoke = %+v, %v; want Function.ResponseSizeTooLarge", o.res.ErrorType, o.err)
			}
			var e struct{ ErrorType, ErrorMessage string }
			if err := json.Unmarshal(o.res.Payload, &e); err != nil || e.ErrorType != "Function.ResponseSizeTooLarge" || e.ErrorMessage == "" {
				t.Fatalf("payload = %s (%v), want Lambda error JSON", o.res.Payload, err)
			}
			// The body was consumed: the connection is still in step and the
			// environment takes the next invocation.
			out = invokeAsync(context.Background(), s, inv("size-2"))
			if got := rc.next().header.Get("Lambda-Runtime-Aws-Request-Id"); got != "size-2" {
				t.Fatalf("next request id = %q, want size-2", got)
			}
			wantAccepted(t, rc.do(rawPost(responsePath("size-2"), nil, []byte("small"))))
			wantResult(t, await(t, out, "Invoke"), Result{Payload: []byte("small")})
		})
	}
}

func TestInvokeContext(t *testing.T) {
	t.Run("cancelled before delivery", func(t *testing.T) {
		s := start(t)
		ctx, cancel := context.WithCancel(context.Background())
		out := invokeAsync(ctx, s, inv("never"))
		cancel()
		if o := await(t, out, "Invoke"); !errors.Is(o.err, context.Canceled) {
			t.Fatalf("Invoke = %+v, %v; want context.Canceled", o.res, o.err)
		}
		// The abandoned invocation is not handed to a runtime that asks later.
		out = invokeAsync(context.Background(), s, inv("later"))
		rc := dial(t, s)
		if got := rc.next().header.Get("Lambda-Runtime-Aws-Request-Id"); got != "later" {
			t.Fatalf("/next got %q, want later", got)
		}
		wantAccepted(t, rc.do(rawPost(responsePath("later"), nil, []byte("ok"))))
		wantResult(t, await(t, out, "Invoke"), Result{Payload: []byte("ok")})
	})

	t.Run("deadline before delivery", func(t *testing.T) {
		s := start(t)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if o := await(t, invokeAsync(ctx, s, inv("never")), "Invoke"); !errors.Is(o.err, context.DeadlineExceeded) {
			t.Fatalf("Invoke = %+v, %v; want context.DeadlineExceeded", o.res, o.err)
		}
	})

	t.Run("already done", func(t *testing.T) {
		s := start(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := s.Invoke(ctx, inv("never")); !errors.Is(err, context.Canceled) {
			t.Fatalf("Invoke = %v, want context.Canceled", err)
		}
	})

	t.Run("cancelled after the runtime took it", func(t *testing.T) {
		s := start(t)
		ctx, cancel := context.WithCancel(context.Background())
		out := invokeAsync(ctx, s, inv("slow"))
		rc := dial(t, s)
		rc.next()
		cancel() // the caller gives up while the runtime works
		if o := await(t, out, "Invoke"); !errors.Is(o.err, context.Canceled) {
			t.Fatalf("Invoke = %+v, %v; want context.Canceled", o.res, o.err)
		}
		// A late answer is still accepted and blocks nothing; the environment
		// then takes the next invocation.
		wantAccepted(t, rc.do(rawPost(responsePath("slow"), nil, []byte("late"))))
		out = invokeAsync(context.Background(), s, inv("after"))
		if got := rc.next().header.Get("Lambda-Runtime-Aws-Request-Id"); got != "after" {
			t.Fatalf("/next got %q, want after", got)
		}
		wantAccepted(t, rc.do(rawPost(responsePath("after"), nil, []byte("ok"))))
		wantResult(t, await(t, out, "Invoke"), Result{Payload: []byte("ok")})
	})

	t.Run("timeout after the runtime took it", func(t *testing.T) {
		s := start(t)
		// The runtime is long-polling before the invocation starts, so the
		// deadline need only outlast the hand-over, not a dial and a request.
		rc := dial(t, s)
		rc.c.Write(rawGet(nextPath))
		await(t, s.Ready(), "Ready")
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		out := invokeAsync(ctx, s, inv("slow"))
		if r, err := rc.tryDo(nil); err != nil || r.status != http.StatusOK || r.header.Get("Lambda-Runtime-Aws-Request-Id") != "slow" {
			t.Fatalf("/next = %d %v, %v; want the invocation", r.status, r.header, err)
		}
		if o := await(t, out, "Invoke"); !errors.Is(o.err, context.DeadlineExceeded) {
			t.Fatalf("Invoke = %+v, %v; want context.DeadlineExceeded", o.res, o.err)
		}
	})
}

func TestClose(t *testing.T) {
	t.Run("before Invoke", func(t *testing.T) {
		s := start(t)
		s.Close()
		if o := await(t, invokeAsync(context.Background(), s, inv("x")), "Invoke"); !errors.Is(o.err, ErrNotDelivered) {
			t.Fatalf("Invoke after Close = %v, want ErrNotDelivered", o.err)
		}
	})

	t.Run("while Invoke waits for a runtime", func(t *testing.T) {
		s := start(t)
		out := invokeAsync(context.Background(), s, inv("x"))
		s.Close()
		if o := await(t, out, "Invoke"); !errors.Is(o.err, ErrNotDelivered) {
			t.Fatalf("Invoke = %+v, %v; want ErrNotDelivered", o.res, o.err)
		}
	})

	t.Run("while the runtime long-polls", func(t *testing.T) {
		s := start(t)
		rc := dial(t, s)
		rc.c.Write(rawGet(nextPath))
		await(t, s.Ready(), "Ready")
		s.Close()
		if o := await(t, invokeAsync(context.Background(), s, inv("x")), "Invoke"); !errors.Is(o.err, ErrNotDelivered) {
			t.Fatalf("Invoke = %+v, %v; want ErrNotDelivered", o.res, o.err)
		}
		// The pending long-poll must not be answered at all: a runtime takes
		// any 200 from /next for an invocation, here one without a request id.
		if r, err := rc.tryDo(nil); err == nil {
			t.Fatalf("the long-poll was answered %d %v after Close", r.status, r.header)
		}
	})

	t.Run("after the runtime took it", func(t *testing.T) {
		s := start(t)
		_, out := deliver(t, s, inv("x"))
		s.Close()
		if o := await(t, out, "Invoke"); !errors.Is(o.err, ErrClosed) {
			t.Fatalf("Invoke = %+v, %v; want ErrClosed", o.res, o.err)
		}
	})

	t.Run("after the runtime answered", func(t *testing.T) {
		// The runtime answers and exits (aws-lambda-go after a panic), and its
		// exit closes the Server while Invoke may not yet have seen the answer:
		// the answer wins, whichever way Invoke's select goes.
		for i := range 50 {
			s := start(t)
			id := "race-" + strconv.Itoa(i)
			rc, out := deliver(t, s, inv(id))
			req, want := rawPost(responsePath(id), nil, []byte("answer")), Result{Payload: []byte("answer")}
			if i%2 == 1 {
				req = rawPost(errorPath(id), nil, []byte(`{"errorType":"Runtime.Panic","errorMessage":"p"}`))
				want = Result{ErrorType: "Runtime.Panic", ContentType: "application/json", Payload: []byte(`{"errorType":"Runtime.Panic","errorMessage":"p"}`)}
			}
			wantAccepted(t, rc.do(req))
			s.Close()
			wantResult(t, await(t, out, "Invoke"), want)
		}
	})

	t.Run("answer and Close before Invoke looks", func(t *testing.T) {
		// The same race, forced: a stand-in for the /next and /response
		// handlers takes the call, answers it and closes the Server without
		// yielding, so Invoke usually finds both the answer and the close
		// ready when it next runs.
		for range 200 {
			s := start(t)
			out := invokeAsync(context.Background(), s, inv("forced"))
			// A non-blocking receive succeeds only once Invoke is blocked
			// sending, so Invoke is merely made runnable by it.
			var c *call
			for c == nil {
				select {
				case c = <-s.next:
				default:
					runtime.Gosched()
				}
			}
			c.done <- Result{Payload: []byte("answer")}
			s.Close()
			wantResult(t, await(t, out, "Invoke"), Result{Payload: []byte("answer")})
		}
	})

	t.Run("idempotent", func(t *testing.T) {
		s := start(t)
		s.Close()
		s.Close()
		if _, err := net.DialTimeout("tcp", s.Addr(), wait); err == nil {
			t.Error("still accepting connections after Close")
		}
	})
}

// TestKeepAlive: many invocations, each answered a different way, all over one
// connection, as the runtime clients do.
func TestKeepAlive(t *testing.T) {
	s := start(t)
	rc := dial(t, s)
	const n = 120
	for i := range n {
		id := fmt.Sprintf("ka-%03d", i)
		in := inv(id)
		in.Payload = []byte(strconv.Itoa(i))
		out := invokeAsync(context.Background(), s, in)
		r := rc.next()
		if got := r.header.Get("Lambda-Runtime-Aws-Request-Id"); got != id || string(r.body) != strconv.Itoa(i) {
			t.Fatalf("invocation %d: /next gave %q %q", i, got, r.body)
		}
		var req []byte
		var want Result
		switch i % 4 {
		case 0:
			req = rawPost(responsePath(id), []string{"Content-Type: application/json"}, []byte(`{"i":`+strconv.Itoa(i)+`}`))
			want = Result{Payload: []byte(`{"i":` + strconv.Itoa(i) + `}`), ContentType: "application/json"}
		case 1:
			req = rawChunked(responsePath(id), []string{"Content-Type: application/octet-stream", trailerDecl, "Lambda-Runtime-Function-Xray-Error-Cause:"},
				[][]byte{[]byte("chunk"), []byte(strconv.Itoa(i))}, []string{"Lambda-Runtime-Function-Error-Type:", "Lambda-Runtime-Function-Error-Body:"})
			want = Result{Payload: []byte("chunk" + strconv.Itoa(i)), ContentType: "application/octet-stream"}
		case 2:
			body := `{"errorMessage":"e","errorType":"errorString"}`
			req = rawChunked(errorPath(id), []string{"Content-Type: application/json", trailerDecl}, [][]byte{[]byte(body)}, nil)
			want = Result{ErrorType: "errorString", ContentType: "application/json", Payload: []byte(body)}
		case 3:
			body := `{"errorMessage":"s","errorType":"Function.Stream"}`
			req = rawChunked(responsePath(id), []string{trailerDecl}, [][]byte{[]byte("x")},
				[]string{"Lambda-Runtime-Function-Error-Type: Function.Stream", "Lambda-Runtime-Function-Error-Body: " + b64(body)})
			want = Result{ErrorType: "Function.Stream", ContentType: "application/json", Payload: []byte(body)}
		}
		wantAccepted(t, rc.do(req))
		wantResult(t, await(t, out, "Invoke"), want)
	}
}

// TestGoClient runs the loop aws-lambda-go runs, with net/http's client as it
// configures it: a keep-alive transport, POST bodies of unknown length (so
// chunked) with Lambda-Runtime-Function-Error-Type/-Body declared as trailers
// with nil values, filled in only when reading the body fails.
func TestGoClient(t *testing.T) {
	s := start(t)
	var dials atomic.Int32
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
		MaxConnsPerHost: 1,
	}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	base := "http://" + s.Addr() + "/2018-06-01/runtime/invocation/"

	post := func(url, contentType string, body io.Reader, xray string) (int, error) {
		trailer := http.Header{
			"Lambda-Runtime-Function-Error-Type": nil,
			"Lambda-Runtime-Function-Error-Body": nil,
		}
		req, err := http.NewRequest(http.MethodPost, url, &errorCapturingReader{body, trailer})
		if err != nil {
			return 0, err
		}
		req.Trailer = trailer
		req.Header.Set("Content-Type", contentType)
		if xray != "" {
			req.Header.Set("Lambda-Runtime-Function-Xray-Error-Cause", xray)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}

	const n = 30
	// ctx bounds the whole exchange; a failing runtime loop ends it at once.
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	runtimeErr := make(chan error, 1)
	go func() {
		defer cancel()
		runtimeErr <- func() error {
			for i := range n {
				resp, err := client.Get(base + "next")
				if err != nil {
					return err
				}
				payload, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return fmt.Errorf("next: %d", resp.StatusCode)
				}
				id := resp.Header.Get("Lambda-Runtime-Aws-Request-Id")
				if _, err := strconv.ParseInt(resp.Header.Get("Lambda-Runtime-Deadline-Ms"), 10, 64); err != nil {
					return fmt.Errorf("deadline: %v", err)
				}
				var status int
				switch i % 3 {
				case 0: // handler returned a value
					status, err = post(base+id+"/response", "application/octet-stream", io.MultiReader(bytes.NewReader(payload)), "")
				case 1: // handler returned an error
					status, err = post(base+id+"/error", "application/json",
						io.MultiReader(strings.NewReader(`{"errorMessage":"bad `+string(payload)+`","errorType":"errorString"}`)),
						`{"working_directory":"/var/task","exceptions":[{"message":"bad"}],"paths":[]}`)
				case 2: // handler returned an io.Reader that failed mid-stream
					status, err = post(base+id+"/response", "application/octet-stream", io.MultiReader(strings.NewReader("partial"), failingReader{}), "")
				}
				if err != nil {
					return err
				}
				if status != http.StatusAccepted {
					return fmt.Errorf("post %d: status %d", i, status)
				}
			}
			return nil
		}()
	}()

	for i := range n {
		in := inv(fmt.Sprintf("go-%02d", i))
		in.Payload = []byte(strconv.Itoa(i))
		o, err := s.Invoke(ctx, in)
		if err != nil {
			select {
			case rerr := <-runtimeErr:
				t.Fatalf("invocation %d: %v; runtime loop: %v", i, err, rerr)
			default:
				t.Fatalf("invocation %d: %v", i, err)
			}
		}
		switch i % 3 {
		case 0:
			wantResult(t, outcome{res: o}, Result{Payload: []byte(strconv.Itoa(i)), ContentType: "application/octet-stream"})
		case 1:
			body := `{"errorMessage":"bad ` + strconv.Itoa(i) + `","errorType":"errorString"}`
			wantResult(t, outcome{res: o}, Result{ErrorType: "errorString", ContentType: "application/json", Payload: []byte(body)})
		case 2:
			wantResult(t, outcome{res: o}, Result{ErrorType: "errorString", ContentType: "application/json", Payload: []byte(`{"errorMessage":"stream broke","errorType":"errorString"}`)})
		}
	}
	if err := await(t, runtimeErr, "runtime loop"); err != nil {
		t.Fatal(err)
	}
	if d := dials.Load(); d != 1 {
		t.Errorf("runtime dialled %d times, want 1 kept-alive connection", d)
	}
}

// errorCapturingReader is aws-lambda-go's: a read error becomes the error trailers
// and ends the body.
type errorCapturingReader struct {
	r       io.Reader
	trailer http.Header
}

func (e *errorCapturingReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.trailer.Set("Lambda-Runtime-Function-Error-Type", "errorString")
		e.trailer.Set("Lambda-Runtime-Function-Error-Body", b64(`{"errorMessage":"`+err.Error()+`","errorType":"errorString"}`))
		return 0, io.EOF
	}
	return n, err
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("stream broke") }

func TestNormalizeErrorType(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Runtime.ExitError", "Runtime.ExitError"},
		{"Function.ResponseSizeTooLarge", "Function.ResponseSizeTooLarge"},
		{"Runtime.HandlerNotFound", "Runtime.HandlerNotFound"},
		{"Function.", "Function.Unknown"},
		{"Function.lowercase", "Function.Unknown"},
		{"Function.Has-Dash", "Function.Unknown"},
		{"Function.123", "Function.Unknown"},
	} {
		if got := NormalizeErrorType(tc.in); got != tc.want {
			t.Errorf("NormalizeErrorType(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestErrorResult(t *testing.T) {
	r := ErrorResult("Sandbox.Timedout", `RequestId: x Error: Task "timed" out`)
	if r.ErrorType != "Sandbox.Timedout" || r.ContentType != "application/json" {
		t.Fatalf("ErrorResult = %+v", r)
	}
	var e map[string]string
	if err := json.Unmarshal(r.Payload, &e); err != nil || len(e) != 2 ||
		e["errorType"] != "Sandbox.Timedout" || e["errorMessage"] != `RequestId: x Error: Task "timed" out` {
		t.Fatalf("ErrorResult payload = %s (%v)", r.Payload, err)
	}
}

// FuzzResponseHeaders posts /response or /error with an arbitrary extra header,
// arbitrary values for the headers and trailers the server interprets, and an
// arbitrary body. The server must always answer (a handler panic makes net/http
// drop the connection instead), with a 2xx or 4xx, and the caller's Result must
// agree with the answer: a refused post leaves the invocation outstanding.
func FuzzResponseHeaders(f *testing.F) {
	f.Add(false, "Lambda-Runtime-Function-XRay-Error-Cause", "", "", "", []byte(`{"ok":true}`), false, "", "")
	f.Add(false, "Content-Type", "application/octet-stream", "", "", []byte("bin\x00"), true, "", "")
	f.Add(false, "X-A", "b", "", "streaming", []byte("s"), true, "Function.Err", b64(`{"errorType":"Function.Err"}`))
	f.Add(false, "X-A", "b", "", "buffered", []byte("s"), false, "", "")
	f.Add(false, "X-A", "b", "", "", []byte("s"), true, "T", "!!")
	f.Add(false, "Trailer", "Content-Length", "", "", []byte("s"), true, "", "")
	f.Add(false, "Connection", "close", "", "", []byte("s"), false, "", "")
	f.Add(true, "lambda-runtime-function-xray-error-cause", "", "", "", []byte(`{"errorType":"TypeError","errorMessage":"m","trace":[]}`), false, "", "")
	f.Add(true, "X-B", "v", "Runtime.Custom", "", []byte("not json"), true, "", "")
	f.Add(true, "Bad Name", "v", "", "", []byte{}, false, "", "")
	f.Add(true, "X-C", "\x00\x7f", " \t", "", []byte(`{"errorType":5}`), false, "", "")
	f.Add(false, "Expect", "100-continue", "", "", []byte("x"), false, "", "")
	f.Add(false, "X-D", "v", "", "", []byte("x"), true, "\x01", "\x00")

	// One Server and one runtime connection serve all the inputs of a fuzzing
	// process: a listener and a connection per input exhaust the loopback
	// ports (TIME_WAIT) within seconds. A failing input discards both.
	fz := &fuzzEnv{}
	f.Cleanup(fz.reset)
	// net/http recovers a handler's panic and reports it to the standard logger
	// (the Server sets no ErrorLog); catch it there.
	logged := &lockedBuffer{}
	prev := log.Writer()
	log.SetOutput(logged)
	f.Cleanup(func() { log.SetOutput(prev) })

	f.Fuzz(func(t *testing.T, toError bool, name, value, errType, mode string, body []byte, chunked bool, trType, trBody string) {
		noCRLF := strings.NewReplacer("\r", "", "\n", "") // message framing is net/http's business
		name, value, errType, mode = noCRLF.Replace(name), noCRLF.Replace(value), noCRLF.Replace(errType), noCRLF.Replace(mode)
		trType, trBody = noCRLF.Replace(trType), noCRLF.Replace(trBody)
		key := textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(name))
		switch key {
		case "Transfer-Encoding", "Content-Length":
			t.Skip("framing headers: net/http answers them (501 for unknown codings)")
		}
		// strict: the request is well-formed HTTP and only the Runtime API's
		// own rules decide its outcome.
		strict := validToken(name) && validValue(value) && validValue(errType) && validValue(mode)
		switch key {
		case "Host", "Expect", "Trailer", "Connection", "Upgrade",
			"Lambda-Runtime-Function-Error-Type", "Lambda-Runtime-Function-Response-Mode", "Lambda-Runtime-Function-Error-Body":
			strict = false
		}

		t.Cleanup(func() {
			if l := logged.take(); strings.Contains(l, "panic") {
				t.Errorf("handler panicked:\n%s", l)
			}
			if t.Failed() {
				fz.reset()
			}
		})
		s := fz.server(t)
		fz.n++
		id := "fuzz-" + strconv.Itoa(fz.n)
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		out := invokeAsync(ctx, s, inv(id))
		if r := fz.do(t, rawGet(nextPath)); r.status != http.StatusOK || r.header.Get("Lambda-Runtime-Aws-Request-Id") != id {
			t.Fatalf("/next = %d %v, want 200 for %s", r.status, r.header, id)
		}

		path := responsePath(id)
		if toError {
			path = errorPath(id)
		}
		hdrs := []string{
			name + ": " + value,
			"Lambda-Runtime-Function-Error-Type: " + errType,
			"Lambda-Runtime-Function-Response-Mode: " + mode,
		}
		var req []byte
		if chunked {
			hdrs = append(hdrs, trailerDecl)
			half := len(body) / 2
			req = rawChunked(path, hdrs, [][]byte{body[:half], body[half:]},
				[]string{"Lambda-Runtime-Function-Error-Type: " + trType, "Lambda-Runtime-Function-Error-Body: " + trBody})
		} else {
			req = rawPost(path, hdrs, body)
		}
		// The connection just answered /next: no retry, an error here is the
		// server's.
		r, err := fz.rc.tryDo(req)
		switch {
		case err != nil && strict:
			t.Fatalf("no answer to a well-formed request: %v", err)
		case err != nil:
			// net/http refuses a malformed request with a 400 and closes at
			// once; unread request bytes make that a reset, which can destroy
			// the 400 before it is read. The invocation is still outstanding.
			fz.dropConn()
			r = reply{status: http.StatusBadRequest}
		case r.close:
			fz.dropConn()
		}
		if r.status/100 != 2 && r.status/100 != 4 {
			t.Fatalf("status %d %s, want 2xx or 4xx", r.status, r.body)
		}

		modeOK := strings.Trim(mode, " \t") == "" || strings.Trim(mode, " \t") == "streaming"
		if strict && r.status != http.StatusAccepted {
			switch {
			case !toError && !modeOK && r.status == http.StatusBadRequest && r.errorType() == "InvalidFunctionResponseMode":
			case r.errorType() == "TruncatedHTTPRequest":
			default:
				t.Fatalf("valid request answered %d %s", r.status, r.body)
			}
		}

		switch {
		case r.status == http.StatusAccepted:
			o := await(t, out, "Invoke")
			if o.err != nil {
				t.Fatalf("answered 202 but Invoke = %v", o.err)
			}
			if strict && !toError && !modeOK {
				t.Fatalf("invalid mode %q accepted", mode)
			}
			checkFuzzResult(t, o.res, toError, strict, chunked, errType, trType, body)
		case r.status == http.StatusBadRequest && r.errorType() == "TruncatedHTTPRequest":
			if o := await(t, out, "Invoke"); o.err != nil || o.res.ErrorType != "Runtime.TruncatedResponse" {
				t.Fatalf("TruncatedHTTPRequest but Invoke = %+v, %v", o.res, o.err)
			}
		case r.status == http.StatusRequestEntityTooLarge:
			if o := await(t, out, "Invoke"); o.err != nil || o.res.ErrorType != "Function.ResponseSizeTooLarge" {
				t.Fatalf("413 but Invoke = %+v, %v", o.res, o.err)
			}
		default: // refused: the invocation is still outstanding, and the right answer completes it
			wantAccepted(t, fz.do(t, rawPost(responsePath(id), nil, []byte("sentinel"))))
			wantResult(t, await(t, out, "Invoke"), Result{Payload: []byte("sentinel")})
		}
	})
}

// lockedBuffer is an io.Writer safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// take returns what was written so far and empties l.
func (l *lockedBuffer) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.b.String()
	l.b.Reset()
	return s
}

// fuzzEnv is the Server and runtime connection shared by a fuzzing process's inputs.
type fuzzEnv struct {
	s  *Server
	rc *rawConn
	n  int // invocations so far, for unique request ids
}

func (fz *fuzzEnv) server(t testing.TB) *Server {
	t.Helper()
	if fz.s == nil {
		s, err := Start()
		if err != nil {
			t.Fatal(err)
		}
		fz.s = s
	}
	return fz.s
}

func (fz *fuzzEnv) dropConn() {
	if fz.rc != nil {
		fz.rc.c.Close()
		fz.rc = nil
	}
}

func (fz *fuzzEnv) reset() {
	fz.dropConn()
	if fz.s != nil {
		fz.s.Close()
		fz.s = nil
	}
}

// do sends req on the shared connection, redialling once if the server had
// closed it.
func (fz *fuzzEnv) do(t testing.TB, req []byte) reply {
	t.Helper()
	for attempt := 0; ; attempt++ {
		if fz.rc == nil {
			c, err := net.DialTimeout("tcp", fz.s.Addr(), wait)
			if err != nil {
				t.Fatal(err)
			}
			fz.rc = &rawConn{c: c, br: bufio.NewReader(c)}
		}
		r, err := fz.rc.tryDo(req)
		if err != nil {
			fz.dropConn()
			if attempt == 0 {
				continue
			}
			t.Fatalf("no answer: %v", err)
		}
		if r.close {
			fz.dropConn()
		}
		return r
	}
}

func checkFuzzResult(t *testing.T, res Result, toError, strict, chunked bool, errType, trType string, body []byte) {
	t.Helper()
	if toError {
		if res.ErrorType == "" || res.ContentType != "application/json" || !json.Valid(res.Payload) {
			t.Fatalf("/error gave %+v", res)
		}
		if et := strings.Trim(errType, " \t"); strict && et != "" && res.ErrorType != et {
			t.Fatalf("/error type = %q, want header's %q", res.ErrorType, et)
		}
		return
	}
	if tt := strings.Trim(trType, " \t"); chunked && tt != "" {
		if res.ErrorType != tt || res.ContentType != "application/json" || !json.Valid(res.Payload) {
			t.Fatalf("error trailer %q gave %+v", tt, res)
		}
		return
	}
	if res.ErrorType != "" || !bytes.Equal(res.Payload, body) {
		t.Fatalf("/response gave type %q payload %q, want success with %q", res.ErrorType, res.Payload, body)
	}
}

// validToken reports whether s is an HTTP header field name (RFC 9110 token).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || c <= ' ' || c == 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// validValue reports whether s may be a header field value (no control bytes but tab).
func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// A pre-started runtime's readiness report closes Preinitialised, once, and
// is not an init: Ready stays open.
func TestPreinitReady(t *testing.T) {
	s := start(t)
	select {
	case <-s.Preinitialised():
		t.Fatal("Preinitialised closed before the report")
	default:
	}
	rc := dial(t, s)
	for range 2 {
		if r := rc.do(rawPost("/2018-06-01/nimbus/preinit/ready", nil, nil)); r.status != http.StatusAccepted {
			t.Fatalf("ready = %d %s", r.status, r.body)
		}
	}
	await(t, s.Preinitialised(), "Preinitialised")
	select {
	case <-s.Ready():
		t.Fatal("Ready closed by the pre-init report")
	default:
	}
}
