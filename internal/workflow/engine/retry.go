package engine

import (
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/nimbus-dev/nimbus/internal/workflow/asl"
)

// matches reports whether a Retry or Catch entry's ErrorEquals covers name.
func matches(errorEquals []string, f *failure) bool {
	for _, e := range errorEquals {
		switch {
		case e == "States.ALL":
			return true
		case e == "States.TaskFailed" && f.Name != "States.Timeout" && f.Name != "States.HeartbeatTimeout" && f.HasName:
			return true
		case e == f.Name && f.HasName:
			return true
		}
	}
	return false
}

// retryDelay is the wait before retry number attempt+1.
func retryDelay(r *asl.Retrier, attempt int64) time.Duration {
	secs := float64(r.IntervalSeconds) * math.Pow(r.BackoffRate, float64(attempt))
	if r.MaxDelaySeconds > 0 {
		secs = math.Min(secs, float64(r.MaxDelaySeconds))
	}
	if r.JitterStrategy == "FULL" {
		secs = rand.Float64() * secs
	}
	return time.Duration(secs * float64(time.Second))
}

// handleError retries, catches or propagates t.err.
func (x *Execution) handleError(t *thread) {
	st := t.st
	f := t.err
	t.err = nil
	if f.runtime || !asl.IsTaskLike(st.Type) {
		t.phase = phFinished
		x.threadFailed(t, f)
		return
	}
	for i, r := range st.Retry {
		if !matches(r.ErrorEquals, f) {
			continue
		}
		if len(t.retries) < len(st.Retry) {
			t.retries = slices.Grow(t.retries[:0], len(st.Retry))[:len(st.Retry)]
		}
		if t.retries[i] >= r.MaxAttempts {
			break
		}
		d := retryDelay(r, t.retries[i])
		t.retries[i]++
		t.retryCount++
		if d <= 0 {
			t.phase = phRetryWait
			x.wakeThread(t)
			return
		}
		t.phase = phRetryWait
		t.timerAt = x.clock.Now().Add(d)
		t.timer = x.startTimer(t.timerAt, t, nil, false)
		return
	}
	x.stateFailedEvent(t)
	for _, k := range st.Catch {
		if !matches(k.ErrorEquals, f) {
			continue
		}
		errOut := f.errorOutput()
		assigned, af := x.assign(t, k.Assign, errOut)
		if af != nil {
			x.fail(t, af)
			return
		}
		out, rf := x.resultPath(t, k.ResultPath, t.input, errOut)
		if rf != nil {
			x.fail(t, rf)
			return
		}
		x.exit(t, out, assigned, k.Next)
		return
	}
	t.phase = phFinished
	x.threadFailed(t, f)
}

// stateFailedEvent records ParallelStateFailed or MapStateFailed when a
// Parallel or Map state gives up.
func (x *Execution) stateFailedEvent(t *thread) {
	switch t.st.Type {
	case asl.Parallel:
		x.emit(t, Event{Type: EvParallelStateFailed})
	case asl.Map:
		x.emit(t, Event{Type: EvMapStateFailed})
	}
}
