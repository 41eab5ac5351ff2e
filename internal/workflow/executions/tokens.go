package executions

import (
	"context"
	"errors"
	"strings"

	"github.com/nimbus-dev/nimbus/internal/workflow/engine"
	"github.com/nimbus-dev/nimbus/internal/workflow/jsonv"
)

// The task-token calls (SendTaskSuccess, SendTaskFailure,
// SendTaskHeartbeat) route a token to its execution with
// engine.TokenExecution. Success and failure answer once the task's
// completion is committed; an acknowledged call is never lost by a crash.
// Errors, as Step Functions names them: a malformed token is InvalidToken;
// one of an execution that does not exist is TaskDoesNotExist; one whose
// task is no longer waiting (completed, timed out, execution ended) is
// TaskTimedOut.

const maxTokenLen = 2048

func (s *Service) tokenTarget(ctx context.Context, token string) (*live, error) {
	if token == "" || len(token) > maxTokenLen {
		return nil, apiError(CodeInvalidToken, "Invalid Token: 'Invalid token'")
	}
	arn, ok := engine.TokenExecution(token)
	if !ok || !strings.HasPrefix(arn, s.arns.prefix()) {
		return nil, apiError(CodeInvalidToken, "Invalid Token: 'Invalid token'")
	}
	if l, ok := s.liveFor(arn); ok {
		return l, nil
	}
	r, err := s.record(ctx, arn)
	if err != nil {
		if isAPIError(err, CodeExecutionDoesNotExist) || isAPIError(err, CodeInvalidArn) {
			return nil, apiError(CodeTaskDoesNotExist, "Task Does Not Exist: the task token names no execution")
		}
		return nil, err
	}
	if r.Status == engine.StatusRunning {
		return nil, unavailable() // being resumed, or stopping with the server
	}
	return nil, taskClosed()
}

func taskClosed() error {
	return apiError(CodeTaskTimedOut, "Task Timed Out: 'Provided task does not exist anymore'")
}

// SendTaskSuccess completes the .waitForTaskToken task holding token.
func (s *Service) SendTaskSuccess(ctx context.Context, token, output string) error {
	if _, err := jsonv.ParseString(output); err != nil {
		return apiError(CodeInvalidOutput, "Invalid Output: '"+jacksonMessage(output, err)+"'")
	}
	return s.complete(ctx, token, func(x *engine.Execution) error { return x.SendTaskSuccess(token, []byte(output)) })
}

// SendTaskFailure fails the .waitForTaskToken task holding token.
func (s *Service) SendTaskFailure(ctx context.Context, token, errName, cause string) error {
	return s.complete(ctx, token, func(x *engine.Execution) error { return x.SendTaskFailure(token, errName, cause) })
}

func (s *Service) complete(ctx context.Context, token string, send func(*engine.Execution) error) error {
	l, err := s.tokenTarget(ctx, token)
	if err != nil {
		return err
	}
	ch := l.j.wait(token)
	if err := send(l.x); err != nil {
		l.j.unwait(token, ch)
		return tokenError(err)
	}
	select {
	case ok := <-ch:
		if !ok {
			return unavailable()
		}
		return nil
	case <-ctx.Done():
		l.j.unwait(token, ch)
		return ctx.Err()
	}
}

// SendTaskHeartbeat resets the heartbeat timeout of the task holding token.
func (s *Service) SendTaskHeartbeat(ctx context.Context, token string) error {
	l, err := s.tokenTarget(ctx, token)
	if err != nil {
		return err
	}
	return tokenError(l.x.SendTaskHeartbeat(token))
}

func tokenError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, engine.ErrInvalidToken):
		return apiError(CodeInvalidToken, "Invalid Token: 'Invalid token'")
	case errors.Is(err, engine.ErrTaskDoesNotExist):
		return taskClosed()
	case errors.Is(err, engine.ErrInvalidOutput):
		return apiError(CodeInvalidOutput, "Invalid Output: 'The output is not valid JSON'")
	}
	return err
}
