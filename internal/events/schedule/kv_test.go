package schedule

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nimbus-dev/nimbus/internal/backbone"
)

// manualClock is a clock the test moves; its timers never fire (the test
// calls fireDue itself).
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}
func (c *manualClock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}
func (c *manualClock) AfterFunc(time.Duration, func()) func() bool {
	return func() bool { return true }
}

// TestStoredOnJetStream: rules and cursors survive a restart of the real
// embedded JetStream, in the documented KV format, and a reopened service
// neither repeats a fire nor loses one.
func TestStoredOnJetStream(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	clock := &manualClock{now: time.Date(2026, 3, 10, 12, 0, 30, 0, time.UTC)}
	rec := newRecorder()
	open := func() (*Service, func()) {
		bb, err := backbone.Start(backbone.Config{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		kv, err := bb.KeyValue(ctx, Bucket)
		if err != nil {
			t.Fatal(err)
		}
		s := New(Config{Clock: clock}, slog.New(slog.DiscardHandler), kv, rec)
		if err := s.Open(ctx); err != nil {
			t.Fatal(err)
		}
		return s, bb.Close
	}

	s, closeBB := open()
	if _, err := s.PutRule(ctx, PutRuleInput{Name: "a.b", ScheduleExpression: "rate(1 minute)", Description: "dots in names"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutTargets(ctx, "a.b", []Target{{ID: "1", ARN: fnARN("f"), Input: `{"k":1}`}}); err != nil {
		t.Fatal(err)
	}
	clock.set(time.Date(2026, 3, 10, 12, 1, 5, 0, time.UTC))
	s.fireDue(ctx)
	closeBB()

	s, closeBB = open()
	defer func() { closeBB() }()
	r, ok := s.Rule("a.b")
	if !ok || r.Description != "dots in names" || len(r.Targets) != 1 || r.Targets[0].Input != `{"k":1}` {
		t.Fatalf("after restart: %+v %v", r, ok)
	}
	clock.set(time.Date(2026, 3, 10, 12, 1, 40, 0, time.UTC))
	s.fireDue(ctx) // 12:01 was stored as fired
	clock.set(time.Date(2026, 3, 10, 12, 2, 0, 0, time.UTC))
	s.fireDue(ctx)
	if got := eventTimes(t, rec.calls("f")); len(got) != 2 {
		t.Fatalf("fires = %d, want 12:01 and 12:02", len(got))
	}
	for i, want := range []time.Time{time.Date(2026, 3, 10, 12, 1, 0, 0, time.UTC), time.Date(2026, 3, 10, 12, 2, 0, 0, time.UTC)} {
		if id := rec.calls("f")[i].req.RequestID; id != DeliveryID("a.b", want, "1") || rec.attemptsOf(id) != 1 {
			t.Errorf("fire %d: id %s sent %d times", i, id, rec.attemptsOf(id))
		}
	}

	// The on-disk format (ARCHITECTURE.md): rules.<name> and fired.<name>, "." written "=2E".
	kve, err := s.kv.Get(ctx, "rules.a=2Eb")
	if err != nil {
		t.Fatal(err)
	}
	var stored map[string]any
	if err := json.Unmarshal(kve.Value(), &stored); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"name", "scheduleExpression", "state", "description", "targets", "created", "anchor", "since"} {
		if _, ok := stored[k]; !ok {
			t.Errorf("stored rule lacks %q: %s", k, kve.Value())
		}
	}
	kve, err = s.kv.Get(ctx, "fired.a=2Eb")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(kve.Value()), `{"through":"2026-03-10T12:02:00Z","lastFire":"2026-03-10T12:02:00Z"}`; got != want {
		t.Errorf("cursor = %s, want %s", got, want)
	}

	// Delete: both keys go; a stray cursor is removed at the next Open.
	if _, err := s.RemoveTargets(ctx, "a.b", []string{"1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRule(ctx, "a.b"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.kv.Put(context.Background(), "fired.gone", []byte(`{"through":"2026-03-10T12:02:00Z"}`)); err != nil {
		t.Fatal(err)
	}
	closeBB()
	s, closeBB = open()
	if keys, _ := s.kv.Keys(ctx); len(keys) != 0 {
		t.Errorf("keys left after delete and reopen: %v", keys)
	}
}
