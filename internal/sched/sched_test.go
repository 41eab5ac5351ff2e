package sched

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// An idle environment is reused: the second invocation runs in the same
// process and is not a cold start.
func TestWarmReuse(t *testing.T) {
	s, _ := newScheduler(t, Config{})
	cfg := gofn("warm", "r1")
	first := invoke(t, s, cfg, `{}`)
	if first.Error != "" || !first.Cold || first.InitDuration <= 0 || !first.initReported() {
		t.Fatalf("first invocation: error %q, cold %v, init %v, Init Duration logged %v; want a successful cold start",
			first.Error, first.Cold, first.InitDuration, first.initReported())
	}
	e := idleEnv(t, s)
	if e.id != first.Env {
		t.Fatalf("idle environment %s, but the invocation ran in %s", e.id, first.Env)
	}
	pid := e.proc.Pid()
	second := invoke(t, s, cfg, `{}`)
	if second.Error != "" || second.Cold || second.InitDuration != 0 || second.initReported() {
		t.Errorf("second invocation: error %q, cold %v, init %v, Init Duration logged %v; want a warm start",
			second.Error, second.Cold, second.InitDuration, second.initReported())
	}
	if again := idleEnv(t, s); second.Env != first.Env || again != e || again.proc.Pid() != pid || !running(e.id) {
		t.Errorf("second invocation ran in %s (pid %d), want %s (pid %d), still running", second.Env, again.proc.Pid(), first.Env, pid)
	}
}

// Concurrent invocations each get an environment of their own at once: all
// of them are running at the same time, none waits for another to finish.
func TestPerRequestScaling(t *testing.T) {
	const n = 4
	s, _ := newScheduler(t, Config{})
	cfg := gofn("scale", "r1")
	b := newBarrier(t)
	var results []<-chan result
	for i := range n {
		results = append(results, goInvoke(s, cfg, b.event(fmt.Sprint(i))))
	}
	b.await(t, n) // every invocation is inside its handler
	if st := s.Stats()["scale"]; st.Busy != n || st.Idle != 0 {
		t.Errorf("with %d invocations held: %+v, want %d busy", n, st, n)
	}
	b.release()
	for _, done := range results {
		if r := <-done; r.Error != "" || !r.Cold {
			t.Errorf("invocation: error %q, cold %v; want a successful cold start", r.Error, r.Cold)
		}
	}
	pids := map[int]bool{}
	for _, e := range idleEnvs(s) {
		if running(e.id) {
			pids[e.proc.Pid()] = true
		}
	}
	if len(pids) != n {
		t.Errorf("afterwards %d idle environments with distinct running processes %v, want %d", len(pids), pids, n)
	}
}

// A new revision of the function retires its pool: the next invocation runs
// in a new environment, the idle old one stops at once and a busy old one
// when its invocation ends.
func TestRevisionRetiresPool(t *testing.T) {
	s, _ := newScheduler(t, Config{})
	r1, r2, r3 := gofn("rev", "r1"), gofn("rev", "r2"), gofn("rev", "r3")
	old := invoke(t, s, r1, `{}`)
	next := invoke(t, s, r2, `{}`)
	if next.Error != "" || !next.Cold || next.Env == old.Env {
		t.Errorf("after the revision changed: error %q, cold %v, environment %s (the old one was %s); want a new environment",
			next.Error, next.Cold, next.Env, old.Env)
	}
	waitStopped(t, old.Env, "the old revision's idle environment")
	if e := idleEnv(t, s); e.id != next.Env {
		t.Errorf("idle environment %s, want the new revision's %s", e.id, next.Env)
	}

	// Busy when the revision changes: it finishes, then stops.
	b := newBarrier(t)
	held := goInvoke(s, r2, b.event("held"))
	b.await(t, 1)
	third := invoke(t, s, r3, `{}`)
	if !third.Cold || third.Env == next.Env {
		t.Errorf("revision r3 ran in %s (cold %v), want a new environment", third.Env, third.Cold)
	}
	b.release()
	if r := <-held; r.Error != "" || r.Cold {
		t.Errorf("the held r2 invocation: error %q, cold %v; want success in r2's warm environment %s", r.Error, r.Cold, next.Env)
	}
	waitStopped(t, next.Env, "the retired revision's environment after its invocation")
	if e := idleEnv(t, s); e.id != third.Env {
		t.Errorf("idle environment %s, want r3's %s", e.id, third.Env)
	}
}

// An environment whose process exits mid-invocation is not reused; the next
// invocation gets a new one and succeeds.
func TestCrashReplaced(t *testing.T) {
	s, _ := newScheduler(t, Config{})
	cfg := gofn("crash", "r1")
	first := invoke(t, s, cfg, `{}`)
	crash := invoke(t, s, cfg, `{"action":"exit","code":3}`)
	if crash.Error != "Runtime.ExitError" || crash.Cold {
		t.Errorf("exit: error %q, cold %v; want Runtime.ExitError in the warm environment", crash.Error, crash.Cold)
	}
	waitStopped(t, first.Env, "the crashed environment")
	if n := len(idleEnvs(s)); n != 0 {
		t.Errorf("%d idle environments after the crash, want 0", n)
	}
	next := invoke(t, s, cfg, `{}`)
	if next.Error != "" || !next.Cold || next.Env == first.Env {
		t.Errorf("after the crash: error %q, cold %v, environment %s (crashed: %s); want success in a new one",
			next.Error, next.Cold, next.Env, first.Env)
	}
}

// New environments are admitted at ScaleUpRate per 10 s of the scheduler's
// clock; beyond it an invocation that needs one is throttled, one that finds
// an idle environment is not.
func TestScaleUpRate(t *testing.T) {
	s, clk := newScheduler(t, Config{ScaleUpRate: 2})
	cfg := gofn("rate", "r1")
	b := newBarrier(t)
	hold := func(n int) []<-chan result {
		var held []<-chan result
		for i := range n {
			held = append(held, goInvoke(s, cfg, b.event(fmt.Sprint(i))))
		}
		b.await(t, n)
		return held
	}
	refused := func(when string) {
		t.Helper()
		_, err := tryInvoke(s, cfg, `{}`, false)
		le, ok := lambda.AsError(err)
		if !ok || le.Code != "TooManyRequestsException" || le.Status != 429 || le.Reason != "FunctionInvocationRateLimitExceeded" {
			t.Fatalf("%s: Invoke = %v, want TooManyRequestsException (429) FunctionInvocationRateLimitExceeded", when, err)
		}
		if st := s.Stats()["rate"]; st.Busy != 2 {
			t.Errorf("%s: %+v after the refusal, want the 2 held invocations busy", when, st)
		}
	}
	finish := func(held []<-chan result) []result {
		b.release()
		var rs []result
		for _, done := range held {
			rs = append(rs, <-done)
		}
		return rs
	}

	held := hold(2) // both tokens
	refused("a third start at once")
	for _, r := range finish(held) {
		if r.Error != "" || !r.Cold {
			t.Errorf("held invocation: error %q, cold %v; want a successful cold start", r.Error, r.Cold)
		}
	}
	held = hold(2) // warm: no tokens needed
	refused("a third start, the clock not moved")
	clk.advance(5 * time.Second) // one token back
	third := invoke(t, s, cfg, `{}`)
	if third.Error != "" || !third.Cold {
		t.Errorf("after 5 s: error %q, cold %v; want a cold start admitted", third.Error, third.Cold)
	}
	for _, r := range finish(held) {
		if r.Error != "" || r.Cold {
			t.Errorf("second round: error %q, cold %v; want warm", r.Error, r.Cold)
		}
	}
}

// With the fixed policy an idle environment stays warm for the keep-alive
// (on the scheduler's clock) and is stopped by the first tick after it.
func TestFixedKeepAliveExpiry(t *testing.T) {
	s, clk := newScheduler(t, Config{KeepAlive: 10 * time.Minute})
	cfg := gofn("expiry", "r1")
	first := invoke(t, s, cfg, `{}`)
	clk.advance(10*time.Minute - time.Second)
	tick(s, clk)
	if e := idleEnv(t, s); e.id != first.Env || !running(e.id) {
		t.Fatalf("just before the keep-alive: idle %s (running %v), want %s", e.id, running(e.id), first.Env)
	}
	clk.advance(time.Second)
	tick(s, clk)
	if n := len(idleEnvs(s)); n != 0 {
		t.Errorf("at the keep-alive: %d idle environments, want 0", n)
	}
	waitStopped(t, first.Env, "the expired environment")
	if next := invoke(t, s, cfg, `{}`); !next.Cold {
		t.Errorf("after expiry: a warm start in %s, want a cold start", next.Env)
	}
}

// A provisioned environment was initialised ahead of demand: its first
// invocation is not a cold start and reports no Init Duration (AWS reports
// it only on cold starts).
func TestProvisionedNotCold(t *testing.T) {
	s, _ := newScheduler(t, Config{})
	cfg := gofn("prov", "r1")
	cfg.Version = "1"
	if n, err := s.Provision(context.Background(), cfg, 1); n != 1 || err != nil {
		t.Fatalf("Provision = %d, %v; want 1", n, err)
	}
	r, err := tryInvoke(s, cfg, `{}`, true)
	if err != nil {
		t.Fatal(err)
	}
	if r.Error != "" || r.Cold || r.InitDuration != 0 || r.initReported() {
		t.Errorf("first provisioned invocation: error %q, cold %v, init %v, Init Duration logged %v; want a warm start without Init Duration",
			r.Error, r.Cold, r.InitDuration, r.initReported())
	}
	if st := s.Stats()["prov"]; st != (EnvStats{ProvisionedIdle: 1}) {
		t.Errorf("after it: %+v, want 1 provisioned idle", st)
	}
}
