package executions

import (
	"context"
	"errors"
	"net/http"

	"github.com/nimbus-dev/nimbus/internal/invoke"
	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/workflow/lambdatask"
)

// InvokeAdapter runs Lambda tasks through the platform's front door
// (invoke.Service), so admission, throttling, logs and metrics apply to
// them as to every other invocation.
//
// A function error is a Response with FunctionError set (the runner turns
// its payload into the task's error); a *lambda.Error (function not found,
// throttled, payload too large, …) becomes a *lambdatask.ServiceError
// with the same code and status (the task fails with Lambda.<Code>); any
// other failure is Lambda.ServiceException.
//
// invoke.Service detaches a running invocation from its caller, so Invoke
// returns when ctx ends (a task timeout, StopExecution, shutdown) while the
// invocation finishes in its own goroutine, bounded by the function's
// timeout and stopped with the scheduler.
type InvokeAdapter struct {
	Service *invoke.Service
}

// Invoke implements lambdatask.Invoker.
func (a InvokeAdapter) Invoke(ctx context.Context, req lambdatask.Request) (lambdatask.Response, error) {
	in := invoke.Request{
		FunctionName:  req.Function,
		Qualifier:     req.Qualifier,
		Type:          lambda.InvocationType(req.InvocationType),
		Payload:       req.Payload,
		ClientContext: req.ClientContext,
		Tail:          req.LogType == "Tail",
	}
	type result struct {
		resp *invoke.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := a.Service.Invoke(ctx, in)
		done <- result{resp, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		return lambdatask.Response{}, ctx.Err()
	}
	if r.err != nil {
		return lambdatask.Response{}, serviceError(r.err)
	}
	return lambdatask.Response{
		StatusCode:      r.resp.Status,
		Payload:         r.resp.Payload,
		FunctionError:   r.resp.FunctionError,
		ExecutedVersion: r.resp.ExecutedVersion,
		LogResult:       r.resp.LogResult,
		RequestID:       r.resp.RequestID,
	}, nil
}

func serviceError(err error) error {
	if e, ok := lambda.AsError(err); ok {
		return &lambdatask.ServiceError{Code: e.Code, Message: e.Message, StatusCode: e.Status, RequestID: lambda.NewRequestID()}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &lambdatask.ServiceError{Code: "ServiceException", Message: "The Lambda service could not run the function.",
		StatusCode: http.StatusInternalServerError, RequestID: lambda.NewRequestID()}
}
