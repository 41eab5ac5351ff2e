// Package lambdatask runs the Lambda Task resources of state machines: a
// function ARN used directly as Resource, and the arn:aws:states:::lambda:invoke
// integration (with its .waitForTaskToken form). It implements
// engine.TaskRunner on top of an Invoker, shaping requests, results and
// errors exactly as Step Functions does:
//
//   - a direct function ARN sends the state's effective input as the payload
//     and returns the function's response payload; a function error becomes
//     the error named by the payload's errorType (Lambda.Unknown without one)
//     with the error payload, as the function wrote it, as cause;
//   - lambda:invoke reads {FunctionName, Payload, Qualifier, InvocationType,
//     LogType, ClientContext} and returns {ExecutedVersion, Payload,
//     SdkHttpMetadata, SdkResponseMetadata, StatusCode}; function errors
//     carry the error payload re-encoded compactly; Lambda API errors become
//     Lambda.<Code> with the Java SDK's message format.
//
// Other resources go to Next.
package lambdatask

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nimbus-dev/nimbus/internal/workflow/asl"
	"github.com/nimbus-dev/nimbus/internal/workflow/engine"
	"github.com/nimbus-dev/nimbus/internal/workflow/jsonv"
)

// Invoker invokes Lambda functions (the Lambda Invoke API).
type Invoker interface {
	// Invoke calls a function. Function errors are reported in the
	// Response (FunctionError set), not as an error; an error is a failure
	// of the Invoke call itself, preferably a *ServiceError.
	Invoke(ctx context.Context, req Request) (Response, error)
}

// Request is an Invoke call.
type Request struct {
	Function       string // name, ARN or partial ARN, possibly with ":qualifier"
	Qualifier      string
	Payload        []byte // nil: no payload (the function receives {})
	InvocationType string // RequestResponse (default), Event or DryRun
	LogType        string // None or Tail
	ClientContext  string
}

// Response is an Invoke call's answer.
type Response struct {
	StatusCode      int
	Payload         []byte
	FunctionError   string // "Unhandled" or "Handled" when the function failed
	ExecutedVersion string
	LogResult       string // base64 log tail with LogType Tail
	RequestID       string
}

// ServiceError is a Lambda API error (the function did not run).
type ServiceError struct {
	Code       string // e.g. ResourceNotFoundException
	Message    string // e.g. "Function not found: arn:aws:lambda:…:function:f:$LATEST"
	StatusCode int
	RequestID  string
}

func (e *ServiceError) Error() string { return e.Code + ": " + e.Message }

// Runner is an engine.TaskRunner for Lambda resources.
type Runner struct {
	Invoker Invoker
	Next    engine.TaskRunner // for other resources; nil: they fail
	Now     func() time.Time  // for the Date header; nil: time.Now
}

// RunTask implements engine.TaskRunner.
func (r *Runner) RunTask(ctx context.Context, req engine.TaskRequest) (json.RawMessage, error) {
	res := req.Resource
	switch {
	case res.Kind == asl.ResourceLambda:
		return r.direct(ctx, req)
	case res.Kind == asl.ResourceService && res.Service == "lambda" && res.Action == "invoke":
		return r.invoke(ctx, req)
	case r.Next != nil:
		return r.Next.RunTask(ctx, req)
	}
	return nil, &engine.TaskError{Name: "States.Runtime", Cause: "The resource " + res.ARN + " is not supported."}
}

func (r *Runner) direct(ctx context.Context, req engine.TaskRequest) (json.RawMessage, error) {
	fn := req.Resource.ARN
	resp, err := r.Invoker.Invoke(ctx, Request{Function: fn, Payload: req.Input})
	if err != nil {
		return nil, serviceTaskError(err)
	}
	v, perr := jsonv.Parse(resp.Payload)
	if resp.FunctionError != "" {
		return nil, &engine.TaskError{Name: errorType(v), Cause: string(resp.Payload)}
	}
	if len(resp.Payload) == 0 {
		return json.RawMessage("null"), nil
	}
	if perr != nil {
		return jsonv.Marshal(string(resp.Payload)), nil
	}
	return resp.Payload, nil
}

func errorType(v any) string {
	if o, ok := v.(*jsonv.Object); ok {
		if t, ok := o.Get("errorType"); ok {
			if s, ok := t.(string); ok && s != "" {
				return s
			}
		}
	}
	return "Lambda.Unknown"
}

func serviceTaskError(err error) error {
	if se, ok := errors.AsType[*ServiceError](err); ok {
		return &engine.TaskError{
			Name: "Lambda." + se.Code,
			Cause: fmt.Sprintf("%s (Service: AWSLambda; Status Code: %d; Error Code: %s; Request ID: %s; Proxy: null)",
				se.Message, se.StatusCode, se.Code, se.RequestID),
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &engine.TaskError{Name: "Lambda.ServiceException", Cause: "The Lambda service could not run the function."}
}

func (r *Runner) invoke(ctx context.Context, req engine.TaskRequest) (json.RawMessage, error) {
	v, err := jsonv.Parse(req.Input)
	if err != nil {
		return nil, &engine.TaskError{Name: "States.Runtime", Cause: "The Parameters of a lambda:invoke task must be an object."}
	}
	params, ok := v.(*jsonv.Object)
	if !ok {
		return nil, &engine.TaskError{Name: "States.Runtime", Cause: "The Parameters of a lambda:invoke task must be an object."}
	}
	in := Request{}
	str := func(k string) string {
		x, _ := params.Get(k)
		s, _ := x.(string)
		return s
	}
	in.Function = str("FunctionName")
	in.Qualifier = str("Qualifier")
	in.InvocationType = str("InvocationType")
	in.LogType = str("LogType")
	in.ClientContext = str("ClientContext")
	if in.Function == "" {
		return nil, &engine.TaskError{Name: "States.Runtime", Cause: "The field 'FunctionName' is required for a lambda:invoke task."}
	}
	if p, ok := params.Get("Payload"); ok && p != nil {
		if s, isStr := p.(string); isStr {
			in.Payload = []byte(s) // a string payload is sent as it is
		} else {
			in.Payload = jsonv.Marshal(p)
		}
	}
	resp, err := r.Invoker.Invoke(ctx, in)
	if err != nil {
		return nil, serviceTaskError(err)
	}
	if resp.FunctionError != "" {
		cause := string(resp.Payload)
		pv, err := jsonv.Parse(resp.Payload)
		if err == nil {
			cause = jsonv.String(pv)
		}
		return nil, &engine.TaskError{Name: errorType(pv), Cause: cause}
	}
	return r.invokeOutput(resp), nil
}

// invokeOutput shapes a successful Invoke as the lambda:invoke result.
func (r *Runner) invokeOutput(resp Response) json.RawMessage {
	version := resp.ExecutedVersion
	if version == "" {
		version = "$LATEST"
	}
	status := resp.StatusCode
	if status == 0 {
		status = 200
	}
	var payload any
	if len(resp.Payload) > 0 {
		if v, err := jsonv.Parse(resp.Payload); err == nil {
			payload = v
		} else {
			payload = string(resp.Payload)
		}
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	at := now()
	date := strings.Replace(at.UTC().Format(time.RFC1123), "UTC", "GMT", 1)
	length := strconv.Itoa(len(resp.Payload))
	id := strings.ReplaceAll(resp.RequestID, "-", "")
	trace := "Root=1-" + strconv.FormatInt(at.Unix(), 16) + "-" + id[:min(24, len(id))]

	all := jsonv.NewObject(9)
	list := func(s string) []any { return []any{s} }
	if resp.LogResult != "" {
		all.Set("X-Amz-Log-Result", list(resp.LogResult))
	}
	all.Set("X-Amz-Executed-Version", list(version))
	all.Set("x-amzn-Remapped-Content-Length", list("0"))
	all.Set("Connection", list("keep-alive"))
	all.Set("x-amzn-RequestId", list(resp.RequestID))
	all.Set("Content-Length", list(length))
	all.Set("Date", list(date))
	all.Set("X-Amzn-Trace-Id", list(trace))
	all.Set("Content-Type", list("application/json"))
	hdr := jsonv.NewObject(9)
	hdr.Set("Connection", "keep-alive")
	hdr.Set("Content-Length", length)
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Date", date)
	hdr.Set("X-Amz-Executed-Version", version)
	if resp.LogResult != "" {
		hdr.Set("X-Amz-Log-Result", resp.LogResult)
	}
	hdr.Set("x-amzn-Remapped-Content-Length", "0")
	hdr.Set("x-amzn-RequestId", resp.RequestID)
	hdr.Set("X-Amzn-Trace-Id", trace)
	meta := jsonv.NewObject(3)
	meta.Set("AllHttpHeaders", all)
	meta.Set("HttpHeaders", hdr)
	meta.Set("HttpStatusCode", jsonv.Int(200))
	rm := jsonv.NewObject(1)
	rm.Set("RequestId", resp.RequestID)

	out := jsonv.NewObject(6)
	out.Set("ExecutedVersion", version)
	if resp.LogResult != "" {
		out.Set("LogResult", resp.LogResult)
	}
	out.Set("Payload", payload)
	out.Set("SdkHttpMetadata", meta)
	out.Set("SdkResponseMetadata", rm)
	out.Set("StatusCode", jsonv.Int(int64(status)))
	return jsonv.Marshal(out)
}

// LogTail encodes the last 4 KB of a log as Invoke's LogResult does.
func LogTail(log []byte) string {
	if len(log) > 4096 {
		log = log[len(log)-4096:]
	}
	return base64.StdEncoding.EncodeToString(log)
}
