package sched

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/runtimeapi"
)

// resolveEnv returns cfg's environment variables with their secret
// references resolved by Config.Secrets (unchanged when it is nil). It runs
// at every environment start, so a secret changed since is seen by
// environments started afterwards; warm ones keep what they started with.
func (s *Scheduler) resolveEnv(ctx context.Context, cfg *lambda.Config) (map[string]string, error) {
	vars := cfg.EnvVars()
	if s.cfg.Secrets == nil {
		return vars, nil
	}
	out := make(map[string]string, len(vars))
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		v, err := s.cfg.Secrets(ctx, vars[k])
		if e, ok := lambda.AsError(err); ok {
			return nil, &lambda.Error{Code: e.Code, Status: e.Status, Message: fmt.Sprintf("environment variable %s: %s", k, e.Message)}
		}
		if err != nil {
			return nil, fmt.Errorf("environment variable %s: %w", k, err)
		}
		out[k] = v
	}
	return out, nil
}

// secretFailed reports a reference that cannot be resolved as the
// environment's init error (the invocation answers 200 with a function
// error whose errorType is the resolver's code). Other failures are
// returned as they are (system errors).
func (s *Scheduler) secretFailed(e *env, t0 time.Time, requestID string, err error) error {
	le, ok := lambda.AsError(err)
	if !ok {
		return err
	}
	e.logf("%s", le.Message)
	return s.initFailed(e, t0, requestID, runtimeapi.ErrorResult(le.Code, "RequestId: "+requestID+" Error: "+le.Message))
}
