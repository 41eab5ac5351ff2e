// Package runtimeapi serves the AWS Lambda Runtime API (2018-06-01) to one
// execution environment.
//
// A Server listens on its own loopback port, the value of AWS_LAMBDA_RUNTIME_API
// for the environment's bootstrap. It hands at most one invocation at a time to
// the runtime's /next long-poll and waits for /response or /error; /init/error is
// reported separately. It knows nothing of scheduling, processes or logs: the
// caller decides what a timeout or a dead process means and then closes the Server.
//
// Wire compatibility: status codes are exactly what the AWS clients check (200 on
// /next, 202 on posts); request bodies may be chunked with trailers (aws-lambda-go
// sends Lambda-Runtime-Function-Error-Type/-Body trailers, also on success);
// empty-valued headers are tolerated (the Node client sends them); a response body
// over lambda.MaxResponsePayload is refused with 413 and reported to the caller as
// Function.ResponseSizeTooLarge.
//
// One nimbus extension: POST /2018-06-01/nimbus/preinit/ready, which a
// bootstrap started ahead of demand (sched's pre-started interpreters) sends
// when it has loaded everything it can before it is given a function; it
// closes Preinitialised. Its runtime client warms up on it, too.
package runtimeapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// Invocation is what the runtime receives from /next.
type Invocation struct {
	RequestID       string
	Deadline        time.Time
	FunctionARN     string // the ARN the caller invoked, qualified if it was
	TraceID         string
	ClientContext   []byte // decoded JSON, or nil
	CognitoIdentity []byte // JSON, or nil
	ContentType     string
	Payload         []byte
	// Stream, when set, receives the response body as the runtime sends it
	// (see stream.go); when nil the response is buffered into Result.Payload.
	Stream StreamWriter
}

// Result is the runtime's answer to one invocation.
type Result struct {
	Payload     []byte
	ContentType string
	// ErrorType is set when the runtime reported an error (posted to /error, sent
	// an error trailer, or overran the response size); Payload then holds the error JSON.
	ErrorType string
	// Streamed reports that body bytes went to Invocation.Stream (Begin was
	// called); Payload then holds nothing but an error's JSON.
	Streamed bool
}

// ErrClosed is returned by Invoke when the Server was closed (the process is
// gone) after the runtime had taken the invocation.
var ErrClosed = errors.New("runtimeapi: closed")

// ErrNotDelivered is returned by Invoke when the Server was closed before the
// runtime took the invocation: it never ran and can be retried elsewhere. (A
// runtime that reports an error and then exits, as aws-lambda-go does after a
// panic, leaves an environment that looks idle until its exit is noticed.)
var ErrNotDelivered = errors.New("runtimeapi: closed before the runtime took the invocation")

const (
	headerErrorType   = "Lambda-Runtime-Function-Error-Type"
	headerErrorBody   = "Lambda-Runtime-Function-Error-Body"
	headerMode        = "Lambda-Runtime-Function-Response-Mode"
	maxErrorBody      = 1 << 20
	errTypeSizeTooBig = "Function.ResponseSizeTooLarge"
)

type call struct {
	inv  *Invocation
	done chan Result // buffered 1; receives exactly one Result

	smu       sync.Mutex // serialises writes to inv.Stream with abandon
	abandoned bool       // guarded by smu: Invoke returned; inv.Stream must not be used
	begun     bool       // guarded by smu: inv.Stream.Begin was called
	failed    bool       // guarded by smu: an inv.Stream.Write failed (the client is gone)
}

// Server is the Runtime API of one environment.
type Server struct {
	ln  net.Listener
	srv *http.Server

	next      chan *call
	ready     chan struct{}
	readyOnce sync.Once
	preinit   chan struct{}
	preOnce   sync.Once
	initErr   chan Result // buffered 1
	closed    chan struct{}
	closeOnce sync.Once

	mu  sync.Mutex
	cur *call // guarded by mu: handed to the runtime, not yet answered

	// MaxStreamed bounds a streamed response; zero means lambda.MaxStreamedResponse.
	// Set it before the first Invoke.
	MaxStreamed int64
}

// Start listens on a free loopback port and serves until Close.
func Start() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{
		ln:      ln,
		next:    make(chan *call),
		ready:   make(chan struct{}),
		preinit: make(chan struct{}),
		initErr: make(chan Result, 1),
		closed:  make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", s.handleNext)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", s.handleResponse)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", s.handleError)
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", s.handleInitError)
	mux.HandleFunc("POST /2018-06-01/nimbus/preinit/ready", func(w http.ResponseWriter, r *http.Request) {
		s.preOnce.Do(func() { close(s.preinit) })
		accepted(w)
	})
	mux.HandleFunc("GET /2018-06-01/ping", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "pong") })
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln) // ends when Close closes the listener
	return s, nil
}

// Addr is the host:port for AWS_LAMBDA_RUNTIME_API.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Ready is closed when the runtime first asks for an invocation (its init is done).
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Preinitialised is closed when a pre-started runtime reports that it has
// loaded what it can before it is given a function.
func (s *Server) Preinitialised() <-chan struct{} { return s.preinit }

// InitError delivers the error a runtime posted to /init/error.
func (s *Server) InitError() <-chan Result { return s.initErr }

// Close stops serving and fails any Invoke in progress with ErrClosed.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.srv.Close()
	})
}

// Invoke hands inv to the runtime and waits for its result. It returns ctx's error
// if ctx ends first (the caller must then treat the environment as broken), and
// ErrClosed if the Server is closed.
func (s *Server) Invoke(ctx context.Context, inv *Invocation) (Result, error) {
	c := &call{inv: inv, done: make(chan Result, 1)}
	select {
	case s.next <- c:
	case <-ctx.Done():
		return Result{}, ctx.Err()
	case <-s.closed:
		return Result{}, ErrNotDelivered
	}
	// Whatever ends the call (its own /response, an /error posted while a
	// streamed body is still arriving, the deadline, the close), nothing is
	// written to inv.Stream after Invoke returns.
	if inv.Stream != nil {
		defer c.abandon()
	}
	select {
	case r := <-c.done:
		return r, nil
	case <-ctx.Done():
		c.interrupt()
		return Result{}, ctx.Err()
	case <-s.closed:
		// The answer may have arrived just before the close.
		select {
		case r := <-c.done:
			return r, nil
		default:
			c.interrupt()
			return Result{}, ErrClosed
		}
	}
}

func (s *Server) handleNext(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	busy := s.cur != nil
	s.mu.Unlock()
	if busy {
		writeError(w, http.StatusForbidden, "InvalidStateTransition", "State transition from Invoke to Ready is not allowed: respond to the current invocation first")
		return
	}
	s.readyOnce.Do(func() { close(s.ready) })
	var c *call
	select {
	case c = <-s.next:
	case <-r.Context().Done():
		return
	case <-s.closed:
		// Never let net/http answer the long-poll with an implicit empty 200:
		// the runtime would take it for an invocation without a request id.
		panic(http.ErrAbortHandler)
	}
	s.mu.Lock()
	s.cur = c
	s.mu.Unlock()
	inv := c.inv
	h := w.Header()
	h["Lambda-Runtime-Aws-Request-Id"] = []string{inv.RequestID}
	h["Lambda-Runtime-Deadline-Ms"] = []string{strconv.FormatInt(inv.Deadline.UnixMilli(), 10)}
	h["Lambda-Runtime-Invoked-Function-Arn"] = []string{inv.FunctionARN}
	if inv.TraceID != "" {
		h["Lambda-Runtime-Trace-Id"] = []string{inv.TraceID}
	}
	if len(inv.ClientContext) > 0 {
		h["Lambda-Runtime-Client-Context"] = []string{string(inv.ClientContext)}
	}
	if len(inv.CognitoIdentity) > 0 {
		h["Lambda-Runtime-Cognito-Identity"] = []string{string(inv.CognitoIdentity)}
	}
	ct := inv.ContentType
	if ct == "" {
		ct = "application/json"
	}
	h["Content-Type"] = []string{ct}
	h["Content-Length"] = []string{strconv.Itoa(len(inv.Payload))}
	w.WriteHeader(http.StatusOK)
	w.Write(inv.Payload)
}

// take removes and returns the current call if its request id is id.
func (s *Server) take(id string) *call {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cur
	if c == nil || c.inv.RequestID != id {
		return nil
	}
	s.cur = nil
	return c
}

func (s *Server) current(id string) bool { return s.peek(id) != nil }

// peek returns the current call if its request id is id, leaving it current.
func (s *Server) peek(id string) *call {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil || s.cur.inv.RequestID != id {
		return nil
	}
	return s.cur
}

func (s *Server) handleResponse(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if mode := r.Header.Get(headerMode); mode != "" && mode != "streaming" {
		writeError(w, http.StatusBadRequest, "InvalidFunctionResponseMode", "Invalid function response mode: "+mode)
		return
	}
	c := s.peek(id)
	if c == nil {
		writeError(w, http.StatusBadRequest, "InvalidRequestID", "Invalid request ID: "+id)
		return
	}
	if c.inv.Stream != nil {
		s.streamResponse(w, r, c)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, lambda.MaxResponsePayload+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "TruncatedHTTPRequest", "The request body could not be read")
		if c := s.take(id); c != nil {
			c.done <- errorResult("Runtime.TruncatedResponse", "RequestId: "+id+" Error: Runtime exited without providing a reason")
		}
		return
	}
	if len(body) > lambda.MaxResponsePayload {
		io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
		if c := s.take(id); c != nil {
			c.done <- errorResult(errTypeSizeTooBig, "Response payload size exceeded maximum allowed payload size (6291556 bytes).")
		}
		writeError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "Exceeded maximum allowed payload size (6291556 bytes).")
		return
	}
	res := Result{Payload: body, ContentType: r.Header.Get("Content-Type")}
	if et, ok := trailerError(r); ok {
		res = et
	}
	if c := s.take(id); c != nil {
		c.done <- res
	}
	accepted(w)
}

func (s *Server) handleError(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !s.current(id) {
		writeError(w, http.StatusBadRequest, "InvalidRequestID", "Invalid request ID: "+id)
		return
	}
	res := readError(r)
	if c := s.take(id); c != nil {
		c.done <- res
	}
	accepted(w)
}

func (s *Server) handleInitError(w http.ResponseWriter, r *http.Request) {
	res := readError(r)
	select {
	case s.initErr <- res:
	default: // only the first report counts
	}
	accepted(w)
}

var errorTypeRE = regexp.MustCompile(`^(Runtime|Function)\.[A-Z][a-zA-Z]+$`)

// readError reads an error post: the type comes from the header when present
// (aws-lambda-go and the Node client send none on invoke errors), else from the body.
func readError(r *http.Request) Result {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxErrorBody))
	et := r.Header.Get(headerErrorType)
	if et == "" {
		var e struct {
			ErrorType string `json:"errorType"`
		}
		if json.Unmarshal(body, &e) == nil && e.ErrorType != "" {
			et = e.ErrorType
		}
	}
	if et == "" {
		et = "Runtime.Unknown"
	}
	if !json.Valid(body) || len(body) == 0 {
		msg := string(body)
		if msg == "" {
			msg = "Unknown application error occurred"
		}
		body = errorJSON(et, msg)
	}
	return Result{Payload: body, ContentType: "application/json", ErrorType: et}
}

// NormalizeErrorType maps a reported error type onto the platform's categories the
// way Lambda does (used for metrics and logs, never for the payload).
func NormalizeErrorType(t string) string {
	switch {
	case errorTypeRE.MatchString(t):
		return t
	case strings.HasPrefix(t, "Function."):
		return "Function.Unknown"
	default:
		return "Runtime.Unknown"
	}
}

// ErrorJSON returns Lambda's error document {"errorMessage","errorType"}.
func errorJSON(errType, msg string) []byte {
	b, _ := json.Marshal(struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}{msg, errType})
	return b
}

func errorResult(errType, msg string) Result {
	return Result{Payload: errorJSON(errType, msg), ContentType: "application/json", ErrorType: errType}
}

// ErrorResult builds a platform-reported error result (timeouts, exits).
func ErrorResult(errType, msg string) Result { return errorResult(errType, msg) }

func accepted(w http.ResponseWriter) {
	w.Header()["Content-Type"] = []string{"application/json"}
	w.WriteHeader(http.StatusAccepted)
	io.WriteString(w, `{"status":"OK"}`)
}

func writeError(w http.ResponseWriter, status int, errType, msg string) {
	w.Header()["Content-Type"] = []string{"application/json"}
	w.WriteHeader(status)
	b, _ := json.Marshal(struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}{msg, errType})
	w.Write(b)
}
