package schedule

import (
	"container/heap"
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/nimbus-dev/nimbus/internal/invoke"
	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// Run fires due rules until ctx ends. It holds one timer, set for the
// earliest due rule, and wakes early when a rule changes.
func (s *Service) Run(ctx context.Context) error {
	var stop func() bool
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	for {
		next := s.fireDue(ctx)
		if stop != nil {
			stop()
			stop = nil
		}
		if ctx.Err() != nil {
			return nil
		}
		if !next.IsZero() {
			stop = s.clock.AfterFunc(next.Sub(s.clock.Now()), s.poke)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		}
	}
}

// poke wakes Run.
func (s *Service) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// fireDue handles every rule that is due and returns when the next one is
// (zero if none).
func (s *Service) fireDue(ctx context.Context) time.Time {
	for ctx.Err() == nil {
		now := s.clock.Now().UTC()
		s.mu.Lock()
		if len(s.due) == 0 {
			s.mu.Unlock()
			return time.Time{}
		}
		e := s.due[0]
		if next := e.dueAt; next.After(now) {
			s.mu.Unlock()
			return next
		}
		heap.Pop(&s.due)
		r, sch := e.rule, e.sched
		lower := latest(r.Since, e.through)
		s.mu.Unlock()

		at, skipped := pick(sch, lower, now, s.cfg.Grace)
		if !skipped.IsZero() {
			s.log.Warn("schedule: missed occurrences skipped", "rule", r.Name, "first_skipped", skipped.UTC(),
				"fired", !at.IsZero(), "grace", s.cfg.Grace)
		}
		retry := false
		if !at.IsZero() {
			retry = s.fire(ctx, r, at)
		}

		s.mu.Lock()
		if s.rules[r.Name] != e {
			s.mu.Unlock() // deleted while it fired
			continue
		}
		if retry {
			e.retries++
			e.retryAt = now.Add(min(time.Second<<min(e.retries-1, 5), 30*time.Second))
			s.rescheduleLocked(e)
			s.mu.Unlock()
			continue
		}
		e.retries, e.retryAt = 0, time.Time{}
		e.through = latest(e.through, now)
		if !at.IsZero() {
			e.lastFire = at.UTC()
		}
		c := cursor{Through: e.through, LastFire: e.lastFire}
		s.rescheduleLocked(e)
		s.mu.Unlock()
		s.persist(ctx, r.Name, c)
	}
	return time.Time{}
}

// pick applies the missed-fire rule to the occurrences in (lower, now]: the
// latest fires (at) if it is at most grace old; skipped is the first of the
// others, if any.
func pick(sch Schedule, lower, now time.Time, grace time.Duration) (at, skipped time.Time) {
	first := sch.Next(lower)
	if first.IsZero() || first.After(now) {
		return time.Time{}, time.Time{}
	}
	from := lower
	if oldest := now.Add(-grace - time.Nanosecond); oldest.After(from) {
		from = oldest
	}
	// Occurrences are at least a minute apart: this loop runs at most grace/minute+1 times.
	for t := sch.Next(from); !t.IsZero() && !t.After(now); t = sch.Next(t) {
		at = t
	}
	if !first.Equal(at) {
		skipped = first
	}
	return at, skipped
}

// persist stores a rule's cursor. A failure is logged: memory still holds
// the cursor, and a restart re-fires at most the last occurrence, with the
// same ids (see the package comment).
func (s *Service) persist(ctx context.Context, name string, c cursor) {
	b, _ := json.Marshal(c)
	if _, err := s.kv.Put(context.WithoutCancel(ctx), firedKeys+keyName(name), b); err != nil {
		s.log.Error("schedule: store cursor", "rule", name, "err", err)
	}
}

// fire delivers occurrence at of r to every target. It reports whether a
// target failed in a way worth retrying (a system error, not a client one).
func (s *Service) fire(ctx context.Context, r Rule, at time.Time) (retry bool) {
	event := Event(r.Name, at)
	for _, t := range r.Targets {
		payload := event
		if t.Input != "" {
			payload = []byte(t.Input)
		}
		id := DeliveryID(r.Name, at, t.ID)
		err := s.deliver(ctx, t.ARN, id, payload)
		if err == nil {
			s.log.Debug("schedule: fired", "rule", r.Name, "at", at.UTC(), "target", t.ARN, "id", id)
			continue
		}
		if e, ok := lambda.AsError(err); ok && e.Status < 500 {
			s.log.Warn("schedule: target failed", "rule", r.Name, "at", at.UTC(), "target", t.ARN, "code", e.Code, "message", e.Message)
			continue
		}
		s.log.Warn("schedule: target failed; will retry", "rule", r.Name, "at", at.UTC(), "target", t.ARN, "err", err)
		retry = true
	}
	return retry
}

// deliver sends one fire to one target.
func (s *Service) deliver(ctx context.Context, arn, id string, payload []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	switch {
	case strings.HasPrefix(arn, "arn:aws:lambda:"):
		_, err := s.inv.Invoke(ctx, invoke.Request{FunctionName: arn, Type: lambda.Event, Payload: payload, RequestID: id})
		return err
	case strings.HasPrefix(arn, "arn:aws:states:") && s.sfn != nil:
		return s.sfn.StartExecution(ctx, arn, id, string(payload))
	}
	return apiError(CodeValidation, "target %s cannot be delivered to", arn)
}

// rescheduleLocked sets when Run next handles e and keeps the heap in order.
// Callers that change a rule wake Run afterwards (poke).
func (s *Service) rescheduleLocked(e *entry) {
	var due time.Time
	if e.rule.State == Enabled {
		due = e.sched.Next(latest(e.rule.Since, e.through))
		if !due.IsZero() && e.retryAt.After(due) {
			due = e.retryAt
		}
	}
	e.dueAt = due
	switch {
	case due.IsZero():
		s.unqueueLocked(e)
	case e.index >= 0:
		heap.Fix(&s.due, e.index)
	default:
		heap.Push(&s.due, e)
	}
}

func (s *Service) unqueueLocked(e *entry) {
	if e.index >= 0 {
		heap.Remove(&s.due, e.index)
	}
	e.dueAt = time.Time{}
}

// dueHeap orders entries by due time.
type dueHeap []*entry

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].dueAt.Before(h[j].dueAt) }
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *dueHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *dueHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	e.index = -1
	*h = old[:len(old)-1]
	return e
}
