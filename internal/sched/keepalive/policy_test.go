package keepalive

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestFixed(t *testing.T) {
	for _, tt := range []struct {
		f    Fixed
		want time.Duration
	}{{Fixed{}, 10 * time.Minute}, {Fixed{KeepAlive: time.Minute}, time.Minute}} {
		if got := tt.f.Ended("fn", Epoch); got != tt.want {
			t.Errorf("%+v.Ended = %v, want %v", tt.f, got, tt.want)
		}
		if got := tt.f.Prewarm("fn", Epoch); got != 0 {
			t.Errorf("%+v.Prewarm = %d, want 0", tt.f, got)
		}
	}
}

// feed calls p for invocations of fn arriving at the given offsets from Epoch,
// each running d, and returns the time the last one ended.
func feed(p Policy, fn string, d time.Duration, at ...time.Duration) (time.Time, time.Duration) {
	var ka time.Duration
	var end time.Time
	for _, a := range at {
		p.Arrived(fn, Epoch.Add(a))
		end = Epoch.Add(a + d)
		ka = p.Ended(fn, end)
	}
	return end, ka
}

func TestHybridWindows(t *testing.T) {
	// Idle times of 30 min 20 s: head and tail in bin 30, so pre-warm after
	// 27 min (30 less 10 %), warm until 35 min (31 plus 10 %, rounded up).
	var at []time.Duration
	for i := range 8 {
		at = append(at, time.Duration(i)*(30*time.Minute+20*time.Second+time.Second))
	}
	var h Hybrid
	end, ka := feed(&h, "fn", time.Second, at...)
	if ka != 0 {
		t.Errorf("Ended = %v, want 0 (stop now, pre-warm later)", ka)
	}
	for _, tt := range []struct {
		after time.Duration
		want  int
	}{{27*time.Minute - time.Second, 0}, {27 * time.Minute, 1}, {35*time.Minute - time.Second, 1}, {35 * time.Minute, 0}} {
		if got := h.Prewarm("fn", end.Add(tt.after)); got != tt.want {
			t.Errorf("Prewarm(end+%v) = %d, want %d", tt.after, got, tt.want)
		}
	}

	// Too few idle times, or no dominant bin: standard keep-alive of 4 h.
	var few Hybrid
	if _, ka := feed(&few, "fn", time.Second, 0, time.Hour, 2*time.Hour); ka != 4*time.Hour {
		t.Errorf("with 2 idle times, Ended = %v, want 4h", ka)
	}
	var flat Hybrid
	at = at[:0]
	var x time.Duration
	for i := range 60 {
		at = append(at, x)
		x += time.Duration(i*4)*time.Minute + time.Second // one idle time in each of 60 bins
	}
	if _, ka := feed(&flat, "fn", time.Second, at...); ka != 4*time.Hour {
		t.Errorf("with a flat histogram, Ended = %v, want 4h", ka)
	}
}

// TestPolicyPatterns replays synthetic one-function days through every policy.
func TestPolicyPatterns(t *testing.T) {
	const day = 1440
	every := func(period, n int) *Trace {
		var at [][2]int
		for m := 0; m < day; m += period {
			at = append(at, [2]int{m, n})
		}
		return synth(day, 0, at...)
	}
	type want struct {
		maxCold int64
		maxIdle float64 // minutes
	}
	tests := []struct {
		name                    string
		tr                      *Trace
		m                       Model
		fixed, hybrid, adaptive want
	}{
		// A 15-minute timer outlives a 10-minute keep-alive: every run is
		// cold. Learning policies pre-warm just before it.
		{"timer every 15 min", every(15, 1), Model{Duration: time.Second},
			want{96, 980}, want{6, 400}, want{3, 150}},
		// A 5-minute timer stays warm under a fixed keep-alive, idle 5 min
		// in 5; pre-warming cuts the idle time.
		{"timer every 5 min", every(5, 1), Model{Duration: time.Second},
			want{1, 1440}, want{2, 600}, want{2, 200}},
		// An hourly fan-out of 600 20-s invocations needs 200 environments
		// at once; predicting it removes the cold starts after the first
		// few hours.
		{"hourly fan-out", every(60, 600), Model{Duration: 20 * time.Second},
			want{4800, 48500}, want{4800, 10000}, want{800, 8000}},
		// Invocations hours apart cannot be predicted from one day: all
		// cold; adaptive keeps no more than fixed, hybrid keeps 4 h.
		{"rare", synth(day, 0, [2]int{100, 1}, [2]int{700, 2}, [2]int{1300, 1}), Model{Duration: time.Second},
			want{3, 31}, want{3, 700}, want{3, 31}},
		// Always busy: one cold start, idle only between invocations.
		{"steady", every(1, 30), Model{Duration: time.Second},
			want{1, 720}, want{1, 720}, want{1, 720}},
		// Irregular bursts: the learning policies may lose a few cold
		// starts but must not waste time.
		{"bursty", synth(day, 0, [2]int{10, 50}, [2]int{11, 80}, [2]int{200, 30}, [2]int{207, 5}, [2]int{600, 120},
			[2]int{601, 10}, [2]int{900, 60}, [2]int{1200, 90}, [2]int{1203, 40}), Model{Duration: 10 * time.Second},
			want{64, 670}, want{70, 200}, want{75, 300}},
	}
	for _, tt := range tests {
		for _, p := range []struct {
			name string
			p    Policy
			want want
		}{{"fixed", Fixed{}, tt.fixed}, {"hybrid", new(Hybrid), tt.hybrid}, {"adaptive", NewAdaptive(AdaptiveConfig{}), tt.adaptive}} {
			t.Run(tt.name+"/"+p.name, func(t *testing.T) {
				r := Replay(tt.tr, p.p, tt.m, 1)
				if r.ColdStarts > p.want.maxCold || r.Idle.Minutes() > p.want.maxIdle {
					t.Errorf("Replay = %d cold starts, %.1f idle min; want ≤ %d, ≤ %.0f", r.ColdStarts, r.Idle.Minutes(), p.want.maxCold, p.want.maxIdle)
				}
			})
		}
	}
}

// TestPolicyConcurrent runs the policies' methods from many goroutines, for
// shared and separate functions (go test -race finds the races).
func TestPolicyConcurrent(t *testing.T) {
	for _, p := range []Policy{Fixed{}, new(Hybrid), NewAdaptive(AdaptiveConfig{})} {
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				fn := fmt.Sprint("fn", g%3)
				now := Epoch
				for i := range 2000 {
					now = now.Add(time.Duration(i%7) * time.Second)
					p.Arrived(fn, now)
					if ka := p.Ended(fn, now.Add(time.Second)); ka < 0 {
						t.Errorf("%T.Ended = %v < 0", p, ka)
					}
					if n := p.Prewarm(fn, now); n < 0 {
						t.Errorf("%T.Prewarm = %d < 0", p, n)
					}
					if i%500 == 0 && g == 0 {
						p.Forget("fn1")
					}
				}
			})
		}
		wg.Wait()
	}
}

func TestAdaptiveForget(t *testing.T) {
	a := NewAdaptive(AdaptiveConfig{})
	var at []time.Duration
	for i := range 20 {
		at = append(at, time.Duration(i)*15*time.Minute)
	}
	end, _ := feed(a, "fn", time.Second, at...)
	if n := a.Prewarm("fn", end.Add(15*time.Minute-20*time.Second)); n != 1 {
		t.Fatalf("Prewarm before the next timer = %d, want 1", n)
	}
	a.Forget("fn")
	if n := a.Prewarm("fn", end.Add(15*time.Minute-20*time.Second)); n != 0 {
		t.Errorf("after Forget, Prewarm = %d, want 0", n)
	}
	if _, ka := feed(a, "fn", time.Second, 24*time.Hour); ka != DefaultKeepAlive {
		t.Errorf("after Forget, Ended = %v, want the default %v", ka, DefaultKeepAlive)
	}
}
