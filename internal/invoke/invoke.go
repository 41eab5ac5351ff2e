// Package invoke is the front door for every invocation: the Lambda Invoke API,
// and later the gateway, event sources and workflows, all call Service.Invoke, so
// validation, admission, logs and (later) metering and metrics are uniform.
//
// Sync invokes resolve the function version from the registry's cache and run in
// the scheduler. Event invokes are written to JetStream and acknowledged (202)
// only after the write is durable; a worker (see async.go) consumes them and runs
// them through the same path. A function's own failure is never an error of
// Invoke: it is a Response with FunctionError set (HTTP 200 at the API).
package invoke

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-dev/nimbus/internal/concurrency"
	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/metrics"
	"github.com/nimbus-dev/nimbus/internal/registry"
	"github.com/nimbus-dev/nimbus/internal/runtimeapi"
	"github.com/nimbus-dev/nimbus/internal/sched"
)

// Config configures the service.
type Config struct {
	// AsyncRetryBase is the delay before the first retry of a failed async
	// invocation (the second waits twice as long); zero means one minute.
	AsyncRetryBase time.Duration
	// AsyncWorkers bounds concurrent async invocations on this node; zero means 64.
	AsyncWorkers int
}

// Metrics receives one observation per finished or throttled invocation.
type Metrics interface {
	Invoked(metrics.Observation)
	Throttled(fn, reason string)
	AsyncReceived(fn string, age time.Duration)
	AsyncDropped(fn string)
	DeadLetterError(fn string)
	DestinationFailure(fn string)
}

// Request is one invocation request.
type Request struct {
	FunctionName string // name, name:qualifier, partial or full ARN
	Qualifier    string
	Type         lambda.InvocationType // empty means RequestResponse
	Payload      []byte
	ContentType  string
	// ClientContext is X-Amz-Client-Context: base64 of a JSON document.
	ClientContext string
	// Tail asks for the last 4 KB of the log (X-Amz-Log-Type: Tail).
	Tail      bool
	RequestID string // optional; generated when empty

	sink StreamSink // set by InvokeStream: where a streamed response goes
}

// Response is the answer to a Request.
type Response struct {
	Status          int // 200, 202 or 204
	RequestID       string
	Payload         []byte
	ContentType     string
	FunctionError   string // "Unhandled" for a function error
	LogResult       string // base64 of the log tail
	ExecutedVersion string
	// ErrorType is the function error's type (InvokeWithResponseStream's
	// InvokeComplete.ErrorCode); set with FunctionError.
	ErrorType string
	// Streamed reports that InvokeStream began the stream (called Begin).
	Streamed bool
}

// Service is the invocation front door.
type Service struct {
	cfg     Config
	log     *slog.Logger
	reg     *registry.Registry
	sched   *sched.Scheduler
	lim     *concurrency.Limiter
	metrics Metrics
	js      jetstream.JetStream
	cons    jetstream.Consumer

	senders map[string]Sender // by ARN service; set before Run

	reconcile chan struct{} // wakes the provisioner; buffered 1
	pmu       sync.Mutex
	pstatus   map[pkey]provisionedStatus // guarded by pmu

	routes   routers  // weighted alias routing (routing.go)
	versions sync.Map // "function\x00version" → *versionCounts (routing.go)
}

// New returns the service; Open must be called before async invocations.
func New(cfg Config, log *slog.Logger, reg *registry.Registry, s *sched.Scheduler, lim *concurrency.Limiter, m Metrics, js jetstream.JetStream) *Service {
	if cfg.AsyncRetryBase <= 0 {
		cfg.AsyncRetryBase = time.Minute
	}
	if cfg.AsyncWorkers <= 0 {
		cfg.AsyncWorkers = 64
	}
	return &Service{cfg: cfg, log: log, reg: reg, sched: s, lim: lim, metrics: m, js: js,
		reconcile: make(chan struct{}, 1), pstatus: map[pkey]provisionedStatus{}, senders: map[string]Sender{}}
}

// target is a resolved function version.
type target struct {
	cfg        *lambda.Config
	invokedARN string
}

// resolve resolves ref for an invocation that runs now: a weighted alias's
// routing advances.
func (s *Service) resolve(ref, qualifier string) (target, error) {
	name, q, fn, err := s.function(ref, qualifier)
	if err != nil {
		return target{}, err
	}
	return s.target(name, q, fn, true)
}

// function returns the function ref names, and the qualifier.
func (s *Service) function(ref, qualifier string) (name, q string, fn *registry.Function, err error) {
	name, q, err = lambda.ParseFunctionRef(ref, qualifier)
	if err != nil {
		return "", "", nil, err
	}
	fn, ok := s.reg.Get(name)
	if !ok {
		return "", "", nil, lambda.NotFound("Function not found: %s", notFoundARN(name, q))
	}
	return name, q, fn, nil
}

// target resolves fn's qualifier q. Only an invocation that runs now may
// route (advance a weighted alias's sequence): one that is queued is routed
// by the worker that runs it, and one that is refused or a DryRun is not an
// invocation of either version. Unrouted, an alias resolves to its own version.
func (s *Service) target(name, q string, fn *registry.Function, route bool) (target, error) {
	pick := 1.0 // no weight (≤ 1) exceeds it: the alias's own version
	if route {
		pick = s.routes.pick(name, q, fn)
	}
	cfg, ok := fn.Resolve(q, pick)
	if !ok {
		return target{}, lambda.NotFound("Function not found: %s", notFoundARN(name, q))
	}
	return target{cfg: cfg, invokedARN: arnFor(name, q)}, nil
}

// notFoundARN is the ARN Lambda names in an invoke's ResourceNotFoundException:
// unqualified invokes are reported against $LATEST.
func notFoundARN(name, q string) string {
	if q == "" {
		q = lambda.Latest
	}
	return lambda.QualifiedARN(name, q)
}

func arnFor(name, q string) string {
	if q == "" {
		return lambda.FunctionARN(name)
	}
	return lambda.QualifiedARN(name, q)
}

// Invoke validates and runs (or enqueues) one invocation.
func (s *Service) Invoke(ctx context.Context, req Request) (*Response, error) {
	t, clientContext, err := s.prepare(&req)
	if err != nil {
		return nil, err
	}
	switch req.Type {
	case lambda.DryRun:
		return &Response{Status: http.StatusNoContent, RequestID: req.RequestID, ExecutedVersion: t.cfg.Version}, nil
	case lambda.Event:
		if err := s.enqueue(ctx, t, req); err != nil {
			return nil, err
		}
		return &Response{Status: http.StatusAccepted, RequestID: req.RequestID}, nil
	}
	out, err := s.run(ctx, t, req, clientContext)
	if err != nil {
		return nil, err
	}
	return syncResponse(req, out), nil
}

// prepare resolves and validates req, giving it a request id and a payload;
// it returns the decoded client context.
func (s *Service) prepare(req *Request) (target, []byte, error) {
	name, q, fn, err := s.function(req.FunctionName, req.Qualifier)
	if err != nil {
		return target{}, nil, err
	}
	t, err := s.target(name, q, fn, false)
	if err != nil {
		return target{}, nil, err
	}
	if req.RequestID == "" {
		req.RequestID = lambda.NewRequestID()
	}
	switch req.Type {
	case "", lambda.RequestResponse:
		if len(req.Payload) > lambda.MaxSyncPayload {
			return target{}, nil, lambda.RequestTooLarge("Request must be smaller than %d bytes for the InvokeFunction operation", lambda.MaxSyncPayload)
		}
	case lambda.Event:
		if len(req.Payload) > lambda.MaxAsyncPayload {
			return target{}, nil, lambda.RequestTooLarge("Request must be smaller than %d bytes for the InvokeAsync operation", lambda.MaxAsyncPayload)
		}
	case lambda.DryRun:
	default:
		return target{}, nil, lambda.InvalidParameter("1 validation error detected: Value '%s' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]", req.Type)
	}
	if len(req.Payload) == 0 {
		req.Payload = []byte("{}")
	} else if !json.Valid(req.Payload) {
		return target{}, nil, lambda.InvalidRequestContent("Could not parse request body into json: Could not parse payload into json: Unexpected character: was expecting a JSON value")
	}
	var clientContext []byte
	if req.ClientContext != "" {
		if len(req.ClientContext) > lambda.MaxClientContext {
			return target{}, nil, lambda.InvalidParameter("Client context must be less than %d bytes", lambda.MaxClientContext)
		}
		clientContext, err = base64.StdEncoding.DecodeString(req.ClientContext)
		if err != nil || !json.Valid(clientContext) {
			return target{}, nil, lambda.InvalidRequestContent("Client context must be a valid Base64-encoded JSON object.")
		}
	}
	if a, isAlias := fn.Aliases[q]; isAlias && a.RoutingConfig != nil && (req.Type == "" || req.Type == lambda.RequestResponse) {
		// Routed only now that the invocation is valid and runs here.
		if t, err = s.target(name, q, fn, true); err != nil {
			return target{}, nil, err
		}
	}
	return t, clientContext, nil
}

// syncResponse is the answer to a finished synchronous invocation.
func syncResponse(req Request, out sched.Outcome) *Response {
	resp := &Response{
		Status:          http.StatusOK,
		RequestID:       req.RequestID,
		Payload:         out.Result.Payload,
		ContentType:     out.Result.ContentType,
		ExecutedVersion: out.ExecutedVersion,
	}
	if out.Result.ErrorType != "" {
		resp.FunctionError = "Unhandled"
		resp.ErrorType = out.Result.ErrorType
		resp.ContentType = "application/json"
	}
	if resp.ContentType == "" || resp.ContentType == "application/octet-stream" {
		resp.ContentType = "application/json"
	}
	if req.Tail {
		log := out.Log
		if len(log) > lambda.TailBytes {
			log = log[len(log)-lambda.TailBytes:]
		}
		resp.LogResult = base64.StdEncoding.EncodeToString(log)
	}
	return resp
}

// run executes one synchronous invocation of t. The invocation is detached from
// ctx's cancellation: a caller that goes away does not abort a running function.
func (s *Service) run(ctx context.Context, t target, req Request, clientContext []byte) (sched.Outcome, error) {
	now := time.Now()
	inv := &runtimeapi.Invocation{
		RequestID:     req.RequestID,
		Deadline:      now.Add(time.Duration(t.cfg.Timeout) * time.Second),
		FunctionARN:   t.invokedARN,
		TraceID:       lambda.NewTraceID(now),
		ClientContext: clientContext,
		ContentType:   req.ContentType,
		Payload:       req.Payload,
		Stream:        req.sink,
	}
	grant, err := s.lim.Acquire(t.cfg.FunctionName, t.cfg.Version)
	if err != nil {
		if e, ok := lambda.AsError(err); ok {
			s.metrics.Throttled(t.cfg.FunctionName, e.Reason)
		}
		return sched.Outcome{}, err
	}
	out, err := s.sched.Invoke(context.WithoutCancel(ctx), t.cfg, inv, grant.Provisioned)
	s.lim.Release(grant)
	if e, ok := lambda.AsError(err); ok { // throttled by the scale-up rate
		s.metrics.Throttled(t.cfg.FunctionName, e.Reason)
		return out, err
	}
	if err == nil {
		s.countVersion(t.cfg.FunctionName, t.cfg.Version, out.Result.ErrorType != "")
		s.metrics.Invoked(metrics.Observation{Function: t.cfg.FunctionName, Duration: out.Duration, InitDuration: out.InitDuration,
			Failed: out.Result.ErrorType != "", Cold: out.Cold, Provisioned: grant.Provisioned, Spillover: grant.Spillover})
	}
	if err != nil {
		s.log.Error("invoke failed", "function", t.cfg.FunctionName, "request_id", req.RequestID, "err", err)
		return out, fmt.Errorf("invoke %s: %w", t.cfg.FunctionName, err)
	}
	return out, nil
}
