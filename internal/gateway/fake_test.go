package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nimbus-dev/nimbus/internal/invoke"
	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// handler is a fake function: it gets the event and returns the payload, or a
// function error (errType non-empty).
type handler func(ctx context.Context, event []byte) (payload []byte, errType string)

// fakeInvoker is a small working stand-in for invoke.Service: named
// functions, a concurrency limit per function (throttles with 429), the
// 6 MB payload limit, and unknown functions (404).
type fakeInvoker struct {
	mu     sync.Mutex
	fns    map[string]handler
	limit  map[string]int // reserved concurrency; absent = unlimited
	active map[string]int
	events map[string][][]byte // received events, per function
}

func newFakeInvoker() *fakeInvoker {
	return &fakeInvoker{fns: map[string]handler{}, limit: map[string]int{}, active: map[string]int{}, events: map[string][][]byte{}}
}

func (f *fakeInvoker) add(name string, h handler) { f.mu.Lock(); f.fns[name] = h; f.mu.Unlock() }

// reply returns a handler answering payload whatever the event.
func reply(payload string) handler {
	return func(context.Context, []byte) ([]byte, string) { return []byte(payload), "" }
}

func (f *fakeInvoker) Invoke(ctx context.Context, req invoke.Request) (*invoke.Response, error) {
	name, _, err := lambda.ParseFunctionRef(req.FunctionName, req.Qualifier)
	if err != nil {
		return nil, err
	}
	if len(req.Payload) > lambda.MaxSyncPayload {
		return nil, lambda.RequestTooLarge("Request must be smaller than %d bytes for the InvokeFunction operation", lambda.MaxSyncPayload)
	}
	if !json.Valid(req.Payload) {
		return nil, lambda.InvalidRequestContent("Could not parse request body into json")
	}
	f.mu.Lock()
	h, ok := f.fns[name]
	if !ok {
		f.mu.Unlock()
		return nil, lambda.NotFound("Function not found: %s", lambda.FunctionARN(name))
	}
	if l, ok := f.limit[name]; ok && f.active[name] >= l {
		f.mu.Unlock()
		return nil, lambda.TooManyRequests("ReservedFunctionConcurrentInvocationLimitExceeded", 0)
	}
	f.active[name]++
	f.events[name] = append(f.events[name], req.Payload)
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.active[name]--; f.mu.Unlock() }()

	id := req.RequestID
	if id == "" {
		id = lambda.NewRequestID()
	}
	out, errType := h(ctx, req.Payload)
	resp := &invoke.Response{Status: 200, RequestID: id, Payload: out, ContentType: "application/json", ExecutedVersion: "$LATEST"}
	if errType != "" {
		resp.FunctionError = "Unhandled"
		resp.Payload = []byte(`{"errorMessage":"boom: secret detail","errorType":"` + errType + `"}`)
	}
	return resp, nil
}

func (f *fakeInvoker) lastEvent(t testing.TB, name string) map[string]any {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	evs := f.events[name]
	if len(evs) == 0 {
		t.Fatalf("function %s was not invoked", name)
	}
	var m map[string]any
	if err := json.Unmarshal(evs[len(evs)-1], &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func (f *fakeInvoker) calls(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.events[name])
}

// logBuffer collects log output safely across goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}
func (b *logBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.buf.String() }

func newTestGateway(t testing.TB, inv Invoker, apis ...API) (*Gateway, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	g := New(Config{}, inv, slog.New(slog.NewJSONHandler(logs, nil)))
	if err := g.SetAPIs(apis); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Wait)
	return g, logs
}

// do serves one request in process and returns the recorded answer.
func do(g http.Handler, method, url string, body io.Reader, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, url, body)
	for i := 0; i+1 < len(header); i += 2 {
		if strings.EqualFold(header[i], "Host") {
			r.Host = header[i+1]
			continue
		}
		r.Header.Add(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	g.ServeHTTP(w, r)
	return w
}

// stopAfter makes a handler that blocks for d (in synctest time) then answers.
func stopAfter(d time.Duration, payload string) handler {
	return func(ctx context.Context, _ []byte) ([]byte, string) {
		time.Sleep(d)
		return []byte(payload), ""
	}
}
