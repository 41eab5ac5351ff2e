package invoke

import (
	"context"
	"io"
	"net/http"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// StreamSink receives a streamed invocation response (InvokeWithResponseStream,
// RESPONSE_STREAM function URLs) as the function produces it.
//
// Begin is called exactly once, before the first Write, with the content type
// of the function's response. Write receives body bytes in the order the
// function sent them; the caller flushes them to its client as they arrive.
// A Write error (the client went away) does not stop the function: the rest
// of its response is dropped. No call happens after InvokeStream returns.
type StreamSink interface {
	Begin(contentType string)
	io.Writer
}

// VersionSink is optionally implemented by a StreamSink that wants to know the
// version that runs (X-Amz-Executed-Version) before Begin.
type VersionSink interface {
	ExecutedVersion(version string)
}

// InvokeStream runs one synchronous invocation whose response goes to sink as
// the function produces it, with the same resolution, validation, admission,
// scheduling, logs and metrics as Invoke. req.Type may be RequestResponse
// (or empty) or DryRun.
//
// A function that streams has its bytes written to sink (Begin first); one that
// answers in buffered mode is delivered as Begin and one Write. Either way the
// Response has Streamed set and no Payload, unless the function failed after
// the stream began (including a timeout or crash mid-stream): FunctionError
// and ErrorType say so and Payload holds the error JSON. A failure before any
// byte (no Begin) is a Response like Invoke's: FunctionError, ErrorType and the
// error payload, Streamed false. Errors returned are those of Invoke
// (not found, throttled, invalid request), all before any call to sink.
func (s *Service) InvokeStream(ctx context.Context, req Request, sink StreamSink) (*Response, error) {
	switch req.Type {
	case "", lambda.RequestResponse, lambda.DryRun:
	default:
		return nil, lambda.InvalidParameter("1 validation error detected: Value '%s' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [RequestResponse, DryRun]", req.Type)
	}
	t, clientContext, err := s.prepare(&req)
	if err != nil {
		return nil, err
	}
	if req.Type == lambda.DryRun {
		return &Response{Status: http.StatusNoContent, RequestID: req.RequestID, ExecutedVersion: t.cfg.Version}, nil
	}
	if vs, ok := sink.(VersionSink); ok {
		vs.ExecutedVersion(t.cfg.Version)
	}
	ts := &trackedSink{StreamSink: sink}
	req.sink = ts
	out, err := s.run(ctx, t, req, clientContext)
	if err != nil {
		return nil, err
	}
	resp := syncResponse(req, out)
	switch {
	case ts.begun: // bytes went out; a timeout or crash after them still counts here
		resp.Streamed = true
		if resp.FunctionError == "" {
			resp.Payload = nil
		}
	case resp.FunctionError == "": // a buffered answer
		sink.Begin(resp.ContentType)
		if len(resp.Payload) > 0 {
			sink.Write(resp.Payload)
		}
		resp.Streamed = true
		resp.Payload = nil
	}
	return resp, nil
}

// trackedSink remembers whether the stream began. The runtime API never calls
// it after the invocation returned, so begun is read without a lock afterwards.
type trackedSink struct {
	StreamSink
	begun bool
}

func (t *trackedSink) Begin(contentType string) {
	t.begun = true
	t.StreamSink.Begin(contentType)
}

// Interrupt passes runtimeapi's interruption of a stalled write on to a sink
// that supports it (runtimeapi.Interrupter).
func (t *trackedSink) Interrupt() {
	if i, ok := t.StreamSink.(interface{ Interrupt() }); ok {
		i.Interrupt()
	}
}
