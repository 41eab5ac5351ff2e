package runtimeapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// sink records a streamed response; got receives each Write's bytes.
type sink struct {
	mu     sync.Mutex
	begins []string
	body   bytes.Buffer
	got    chan []byte
	fail   bool // Write fails (the client went away)
}

func newSink() *sink { return &sink{got: make(chan []byte, 1024)} }

func (s *sink) Begin(ct string) {
	s.mu.Lock()
	s.begins = append(s.begins, ct)
	s.mu.Unlock()
}

func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.begins) != 1 {
		panic(fmt.Sprintf("Write after %d Begins", len(s.begins)))
	}
	if s.fail {
		return 0, errors.New("client gone")
	}
	s.body.Write(p)
	s.got <- bytes.Clone(p)
	return len(p), nil
}

func (s *sink) state() ([]string, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.begins...), s.body.String()
}

// streamStart writes a chunked /response's headers and returns a function
// writing one chunk, and one ending the body with the given trailer lines.
func streamStart(rc *rawConn, id string, hdrs ...string) (chunk func(string), end func(trailers ...string) reply) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n", responsePath(id))
	for _, h := range hdrs {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("Transfer-Encoding: chunked\r\nTrailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n\r\n")
	rc.c.SetDeadline(time.Now().Add(wait))
	if _, err := rc.c.Write(b.Bytes()); err != nil {
		rc.t.Fatal(err)
	}
	chunk = func(s string) {
		if _, err := fmt.Fprintf(rc.c, "%x\r\n%s\r\n", len(s), s); err != nil {
			rc.t.Fatal(err)
		}
	}
	end = func(trailers ...string) reply {
		var t bytes.Buffer
		t.WriteString("0\r\n")
		for _, tr := range trailers {
			t.WriteString(tr + "\r\n")
		}
		t.WriteString("\r\n")
		return rc.do(t.Bytes())
	}
	return chunk, end
}

// TestStreamedResponse: each chunk reaches the StreamWriter before the runtime
// sends the next one (the test waits for it), Begin comes once with the
// runtime's content type, and the invocation stays current (no /next) until the
// body ends.
func TestStreamedResponse(t *testing.T) {
	for _, mode := range []string{"Lambda-Runtime-Function-Response-Mode: streaming", "User-Agent: aws-lambda-go"} {
		t.Run(mode, func(t *testing.T) {
			s := start(t)
			sk := newSink()
			in := inv("req-stream")
			in.Stream = sk
			rc, out := deliver(t, s, in)
			chunk, end := streamStart(rc, in.RequestID, mode, "Content-Type: text/plain")
			for _, c := range []string{"one ", "two ", "three"} {
				chunk(c)
				if got := await(t, sk.got, "chunk "+c); string(got) != c {
					t.Fatalf("chunk = %q, want %q", got, c)
				}
			}
			other := dial(t, s)
			if r := other.do(rawGet(nextPath)); r.status != http.StatusForbidden {
				t.Fatalf("/next during the stream = %d, want 403", r.status)
			}
			wantAccepted(t, end())
			o := await(t, out, "Invoke")
			if o.err != nil || o.res.ErrorType != "" || !o.res.Streamed || len(o.res.Payload) != 0 {
				t.Fatalf("Invoke = %+v, %v", o.res, o.err)
			}
			begins, body := sk.state()
			if len(begins) != 1 || begins[0] != "text/plain" || body != "one two three" {
				t.Fatalf("sink: begins %q body %q", begins, body)
			}
		})
	}
}

// TestStreamedError: an error trailer after bytes is reported with Streamed
// set; before any byte, without a Begin.
func TestStreamedError(t *testing.T) {
	for _, before := range []bool{false, true} {
		t.Run(fmt.Sprint("beforeBytes=", before), func(t *testing.T) {
			s := start(t)
			sk := newSink()
			in := inv("req-err")
			in.Stream = sk
			rc, out := deliver(t, s, in)
			chunk, end := streamStart(rc, in.RequestID)
			if !before {
				chunk("partial")
				await(t, sk.got, "chunk")
			}
			errJSON := `{"errorMessage":"boom","errorType":"Error"}`
			wantAccepted(t, end("Lambda-Runtime-Function-Error-Type: Error", "Lambda-Runtime-Function-Error-Body: "+b64(errJSON)))
			o := await(t, out, "Invoke")
			wantResult(t, o, Result{ErrorType: "Error", ContentType: "application/json", Payload: []byte(errJSON)})
			begins, _ := sk.state()
			if o.res.Streamed == before || len(begins) != map[bool]int{true: 0, false: 1}[before] {
				t.Fatalf("Streamed = %v, %d Begins", o.res.Streamed, len(begins))
			}
		})
	}
}

// TestStreamedEmpty: an empty streamed body still begins the stream.
func TestStreamedEmpty(t *testing.T) {
	s := start(t)
	sk := newSink()
	in := inv("req-empty")
	in.Stream = sk
	rc, out := deliver(t, s, in)
	_, end := streamStart(rc, in.RequestID)
	wantAccepted(t, end())
	o := await(t, out, "Invoke")
	begins, body := sk.state()
	if o.err != nil || !o.res.Streamed || len(begins) != 1 || begins[0] != "application/octet-stream" || body != "" {
		t.Fatalf("Invoke = %+v %v; begins %q body %q", o.res, o.err, begins, body)
	}
}

// TestStreamedSizeLimit: past MaxStreamed the invocation fails with
// Function.ResponseSizeTooLarge and the runtime gets 413.
func TestStreamedSizeLimit(t *testing.T) {
	s := start(t)
	s.MaxStreamed = 10
	sk := newSink()
	in := inv("req-big")
	in.Stream = sk
	rc, out := deliver(t, s, in)
	chunk, _ := streamStart(rc, in.RequestID)
	chunk("123456")
	await(t, sk.got, "first chunk")
	chunk("789012")
	o := await(t, out, "Invoke")
	if o.err != nil || o.res.ErrorType != "Function.ResponseSizeTooLarge" || !o.res.Streamed {
		t.Fatalf("Invoke = %+v, %v", o.res, o.err)
	}
	if r, err := rc.tryDo([]byte("0\r\n\r\n")); err == nil && r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("runtime got %d, want 413", r.status)
	}
	if _, body := sk.state(); body != "123456" {
		t.Fatalf("forwarded %q", body)
	}
}

// TestStreamAbandoned: after Invoke gave up (deadline), nothing more reaches
// the StreamWriter, and a failing StreamWriter does not fail the function.
func TestStreamAbandoned(t *testing.T) {
	s := start(t)
	sk := newSink()
	in := inv("req-late")
	in.Stream = sk
	ctx, cancel := context.WithCancel(context.Background())
	out := invokeAsync(ctx, s, in)
	rc := dial(t, s)
	rc.next()
	chunk, end := streamStart(rc, in.RequestID)
	chunk("early")
	await(t, sk.got, "early chunk")
	cancel()
	if o := await(t, out, "Invoke"); !errors.Is(o.err, context.Canceled) {
		t.Fatalf("Invoke = %v", o.err)
	}
	chunk("late")
	wantAccepted(t, end())
	if _, body := sk.state(); body != "early" {
		t.Fatalf("sink got %q after Invoke returned", body)
	}

	sk2 := newSink()
	sk2.fail = true
	in2 := inv("req-gone")
	in2.Stream = sk2
	out2 := invokeAsync(context.Background(), s, in2)
	rc.next()
	chunk, end = streamStart(rc, in2.RequestID)
	chunk("a")
	chunk("b")
	wantAccepted(t, end())
	if o := await(t, out2, "Invoke"); o.err != nil || o.res.ErrorType != "" {
		t.Fatalf("Invoke with a failing sink = %+v %v", o.res, o.err)
	}
}

// TestStreamEndedByError: a runtime that posts /error while its /response
// body is still streaming ends the invocation; the rest of that body must
// not reach the StreamWriter once Invoke has returned (its caller then owns
// the client connection again).
func TestStreamEndedByError(t *testing.T) {
	s := start(t)
	sk := newSink()
	in := inv("req-err-mid")
	in.Stream = sk
	rc, out := deliver(t, s, in)
	chunk, end := streamStart(rc, in.RequestID)
	chunk("early")
	await(t, sk.got, "early chunk")
	other := dial(t, s)
	wantAccepted(t, other.do(rawPost(errorPath(in.RequestID), []string{"Content-Type: application/json"}, []byte(`{"errorMessage":"boom","errorType":"Error"}`))))
	if o := await(t, out, "Invoke"); o.err != nil || o.res.ErrorType != "Error" {
		t.Fatalf("Invoke = %+v, %v", o.res, o.err)
	}
	chunk("late")
	end()
	if _, body := sk.state(); body != "early" {
		t.Fatalf("sink got %q after Invoke returned", body)
	}
}

// TestStreamTwoResponses: a second /response posted for the same call while
// the first still streams must not begin the stream a second time (Begin is
// called exactly once per invocation).
func TestStreamTwoResponses(t *testing.T) {
	s := start(t)
	sk := newSink()
	in := inv("req-twice")
	in.Stream = sk
	rc, out := deliver(t, s, in)
	chunk, end := streamStart(rc, in.RequestID, "Content-Type: text/plain")
	chunk("first")
	await(t, sk.got, "first chunk")
	other := dial(t, s)
	chunk2, end2 := streamStart(other, in.RequestID, "Content-Type: text/other")
	chunk2("second")
	await(t, sk.got, "second chunk")
	end2()
	o := await(t, out, "Invoke")
	end()
	begins, _ := sk.state()
	if o.err != nil || len(begins) != 1 {
		t.Fatalf("Invoke = %+v %v; %d Begins %q", o.res, o.err, len(begins), begins)
	}
}

// stallSink's Write blocks, as on a client that stopped reading, until
// Interrupt is called.
type stallSink struct {
	entered     chan struct{}
	interrupted chan struct{}
	once        sync.Once
}

func (s *stallSink) Begin(string) {}

func (s *stallSink) Write(p []byte) (int, error) {
	close(s.entered)
	<-s.interrupted
	return 0, errors.New("write interrupted")
}

func (s *stallSink) Interrupt() { s.once.Do(func() { close(s.interrupted) }) }

// A write stalled on a client does not hold up the invocation's end: when
// Invoke gives up (its deadline), it interrupts the write and returns.
func TestStreamStalledWriteInterrupted(t *testing.T) {
	s := start(t)
	sk := &stallSink{entered: make(chan struct{}), interrupted: make(chan struct{})}
	in := inv("req-stalled")
	in.Stream = sk
	ctx, cancel := context.WithCancel(context.Background())
	out := invokeAsync(ctx, s, in)
	rc := dial(t, s)
	rc.next()
	chunk, _ := streamStart(rc, in.RequestID)
	chunk("stuck")
	await(t, sk.entered, "the stalled write")
	cancel() // the deadline
	if o := await(t, out, "Invoke"); !errors.Is(o.err, context.Canceled) {
		t.Fatalf("Invoke = %v", o.err)
	}
}
