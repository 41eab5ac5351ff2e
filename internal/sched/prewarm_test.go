package sched

import (
	"testing"
	"time"

	"github.com/nimbus-dev/nimbus/internal/sched/keepalive"
)

// reaperTick is the reaper's period with a 10-minute keep-alive (Run).
const reaperTick = 10 * time.Second

// arrival is what happened around one invocation of a periodic timeline.
type arrival struct {
	cold, initReported bool
	env                string
	// prewarmed is how long before the invocation its environment was
	// started by the reaper while nothing ran; 0 if it was not pre-warmed.
	prewarmed time.Duration
	// idle is the idle environment-time in the gap before the invocation
	// (idle environments × reaper ticks), on the virtual clock.
	idle time.Duration
	// stopped reports that its environment was stopped when it ended (its
	// processes gone) instead of being kept warm.
	stopped bool
}

// periodic invokes a function once every period, n times, on the virtual
// clock, running the reaper every reaperTick in between as Run would, with
// real environments, and returns what happened at each invocation, and the
// scheduler and its clock (at the last invocation).
func periodic(t *testing.T, policy keepalive.Policy, period time.Duration, n int) ([]arrival, *Scheduler, *clock) {
	s, clk := newScheduler(t, Config{Policy: policy})
	cfg := gofn("periodic", "r1")
	t0 := clk.Now()
	var out []arrival
	prev := "" // the previous invocation's environment
	for i := range n {
		at := t0.Add(time.Duration(i) * period)
		var a arrival
		started := map[string]time.Time{} // environments the reaper started, and when
		for now := at.Add(reaperTick - period); i > 0 && now.Before(at); now = now.Add(reaperTick) {
			clk.set(now)
			tick(s, clk)
			idle := idleEnvs(s)
			a.idle += time.Duration(len(idle)) * reaperTick
			for _, e := range idle {
				if _, ok := started[e.id]; ok || e.id == prev {
					continue
				}
				// A new environment while no invocation runs: a pre-warm.
				if st := s.Stats()["periodic"]; st.Busy != 0 || !running(e.id) {
					t.Fatalf("invocation %d: environment %s appeared at %v before it with %+v, running %v; want a live process and nothing busy",
						i, e.id, at.Sub(now), st, running(e.id))
				}
				started[e.id] = now
			}
		}
		clk.set(at)
		r := invoke(t, s, cfg, `{}`)
		if r.Error != "" {
			t.Fatalf("invocation %d failed: %s", i, r.Error)
		}
		a.cold, a.initReported, a.env = r.Cold, r.initReported(), r.Env
		if st, ok := started[r.Env]; ok {
			a.prewarmed = at.Sub(st)
		}
		s.stops.Wait()
		a.stopped = !running(r.Env)
		if kept := len(idleEnvs(s)) == 1; kept == a.stopped {
			t.Fatalf("invocation %d: environment %s stopped %v, but %d idle", i, r.Env, a.stopped, len(idleEnvs(s)))
		}
		t.Logf("%3v: cold %-5v pre-warmed %-4v ahead, stopped after %-5v, idle environment-time before it %v",
			at.Sub(t0), a.cold, a.prewarmed, a.stopped, a.idle)
		out = append(out, a)
		prev = r.Env
	}
	return out, s, clk
}

// TestAdaptivePrewarm shows the adaptive policy pre-warming a real
// environment ahead of a predictable invocation and stopping it in between,
// on a function invoked every 30 minutes (a timer), three times the fixed
// policy's keep-alive. The policy is documented to learn it: after three
// steady gaps between episodes the forecast calls it periodic and pre-warms
// Lead (30 s) before the next one is due; once MinSamples (6) idle times
// are known, the per-rank window stops paying keep-alive for them
// (keepalive/adaptive.go, forecast.go). The fixed policy, on the same
// pattern, pays 10 minutes of idle environment and a cold start every time.
func TestAdaptivePrewarm(t *testing.T) {
	const period, n, learned = 30 * time.Minute, 12, 4 // the last `learned` arrivals are checked
	t.Run("fixed", func(t *testing.T) {
		as, _, _ := periodic(t, keepalive.Fixed{}, period, n)
		for i, a := range as {
			if !a.cold || a.prewarmed != 0 || (i > 0 && a.idle < keepalive.DefaultKeepAlive-reaperTick) {
				t.Errorf("invocation %d: cold %v, pre-warmed %v ahead, idle %v; want a cold start after ~10 min of idle environment",
					i, a.cold, a.prewarmed, a.idle)
			}
		}
	})
	t.Run("adaptive", func(t *testing.T) {
		lead := 30 * time.Second // AdaptiveConfig.Lead's default
		as, s, clk := periodic(t, keepalive.NewAdaptive(keepalive.AdaptiveConfig{}), period, n)
		for i, a := range as[n-learned:] {
			i += n - learned
			// (a) a real environment was started ahead of the invocation,
			// while nothing ran, no earlier than the lead (plus a tick).
			if a.prewarmed <= 0 || a.prewarmed > lead+reaperTick {
				t.Errorf("invocation %d: pre-warmed %v ahead, want in (0, %v]", i, a.prewarmed, lead+reaperTick)
			}
			// (b) the invocation ran warm in that environment.
			if a.cold || a.initReported {
				t.Errorf("invocation %d: cold %v, Init Duration logged %v; want a warm start in the pre-warmed environment", i, a.cold, a.initReported)
			}
			// (c) and the environment was not kept idle the whole gap.
			if !a.stopped || a.idle > lead+reaperTick {
				t.Errorf("invocation %d: stopped after it %v, idle environment-time before it %v; want stopped, idle ≤ %v",
					i, a.stopped, a.idle, lead+reaperTick)
			}
		}

		// The timer misses a beat: the environment pre-warmed for it is
		// stopped once the expected arrival has passed.
		next := clk.Now().Add(period)
		var pre *env
		for now := clk.Now().Add(reaperTick); now.Before(next.Add(2 * time.Minute)); now = now.Add(reaperTick) {
			clk.set(now)
			tick(s, clk)
			if es := idleEnvs(s); pre == nil && len(es) == 1 {
				pre = es[0]
				if ahead := next.Sub(now); ahead <= 0 || ahead > lead {
					t.Errorf("missed arrival: pre-warmed %v ahead, want in (0, %v]", ahead, lead)
				}
			}
		}
		if pre == nil {
			t.Fatal("missed arrival: nothing was pre-warmed for it")
		}
		if n := len(idleEnvs(s)); n != 0 || running(pre.id) {
			t.Errorf("2 min after the missed arrival: %d idle, pre-warmed environment running %v; want it stopped", n, running(pre.id))
		}
	})
}
