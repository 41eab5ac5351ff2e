package keepalive

import (
	"os"
	"reflect"
	"testing"
	"time"
)

const sampleDir = "/work/shared/traces/azure2019-sample/"

// sample loads one of the Azure sample traces (with durations when asked),
// skipping the test when the file is not on this machine.
func sample(t testing.TB, name string, durations bool) *Trace {
	t.Helper()
	f, err := os.Open(sampleDir + name)
	if err != nil {
		t.Skipf("trace sample not available: %v", err)
	}
	defer f.Close()
	tr, err := ParseInvocations(f)
	if err != nil {
		t.Fatal(err)
	}
	if durations {
		g, err := os.Open(sampleDir + "1000_run.csv")
		if err != nil {
			t.Skipf("durations not available: %v", err)
		}
		defer g.Close()
		if _, err := ParseDurations(tr, g); err != nil {
			t.Fatal(err)
		}
	}
	return tr
}

// synth builds a one-function trace from (minute, count) pairs.
func synth(minutes int, d time.Duration, at ...[2]int) *Trace {
	f := Function{Name: "fn", Counts: make([]uint32, minutes), Duration: d}
	for _, p := range at {
		f.Counts[p[0]] += uint32(p[1])
	}
	return &Trace{Minutes: minutes, Functions: []Function{f}}
}

func TestReplayExact(t *testing.T) {
	m := Model{Duration: time.Second}
	tests := []struct {
		name       string
		tr         *Trace
		p          Policy
		m          Model
		cold, peak int64
		idle       time.Duration
	}{
		{"reused within keep-alive", synth(10, 0, [2]int{0, 1}, [2]int{5, 1}), Fixed{}, m,
			// idle 0:01→5:00, then 5:01→10:00 (the end of the trace)
			1, 1, 2 * (5*time.Minute - time.Second)},
		{"expires on the tick after the keep-alive", synth(10, 0, [2]int{0, 1}, [2]int{5, 1}), Fixed{KeepAlive: 2 * time.Minute}, m,
			// 0:01 + 2m = 2:01 → stopped at the 2:10 tick; again 5:01 → 7:10
			2, 1, 2 * (2*time.Minute + 9*time.Second)},
		{"concurrent invocations need two environments", synth(1, 30*time.Second, [2]int{0, 3}), Fixed{}, Model{},
			// arrivals at 0, 20, 40 s, 30 s each: the second overlaps the
			// first; the third takes the first's environment, idle 30→40 s;
			// the second's is idle 50→60 s; the third ends after the trace
			2, 2, 20 * time.Second},
		{"paper model: a gap of exactly the keep-alive is cold", synth(30, 0, [2]int{0, 1}, [2]int{11, 1}), Fixed{}, PaperModel,
			// 1:00→11:00, stopped on the 11:00 tick before the arrival; 12:00→22:00
			2, 1, 20 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Replay(tt.tr, tt.p, tt.m, 1)
			f := r.Functions[0]
			if f.ColdStarts != tt.cold || int64(f.PeakBusy) != tt.peak || f.Idle != tt.idle {
				t.Errorf("Replay = %d cold, peak %d, idle %v; want %d, %d, %v", f.ColdStarts, f.PeakBusy, f.Idle, tt.cold, tt.peak, tt.idle)
			}
		})
	}
}

// TestReplayReferenceFigures checks the simulator and Hybrid against the
// figures published with the Azure sample (its README), which come from the
// paper's minute model.
func TestReplayReferenceFigures(t *testing.T) {
	tr := sample(t, "1000_inv.csv", false)
	tests := []struct {
		name    string
		p       Policy
		cold    int64
		idleMin float64 // 0: only the ratio is published
		ratio   float64 // idle / fixed 10 min's
	}{
		{"fixed 5 min", Fixed{KeepAlive: 5 * time.Minute}, 16334, 195188, 0.76},
		{"fixed 10 min", Fixed{}, 8819, 256211, 1},
		{"fixed 20 min", Fixed{KeepAlive: 20 * time.Minute}, 5338, 319500, 1.25},
		{"hybrid histogram", new(Hybrid), 2209, 0, 1.81},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Replay(tr, tt.p, PaperModel, 0)
			if r.Invocations != 252581 {
				t.Errorf("Invocations = %d, want 252581 (minutes with invocations)", r.Invocations)
			}
			if r.ColdStarts != tt.cold {
				t.Errorf("ColdStarts = %d, want %d", r.ColdStarts, tt.cold)
			}
			if tt.idleMin != 0 && r.Idle.Minutes() != tt.idleMin {
				t.Errorf("Idle = %.0f min, want %.0f", r.Idle.Minutes(), tt.idleMin)
			}
			if got := r.Idle.Minutes() / 256211; got < tt.ratio-0.01 || got > tt.ratio+0.01 {
				t.Errorf("Idle = %.3f × fixed 10 min, want %.2f", got, tt.ratio)
			}
		})
	}
}

func TestReplayInvariants(t *testing.T) {
	tr := sample(t, "100_inv.csv", false)
	policies := map[string]func() Policy{
		"fixed":    func() Policy { return Fixed{} },
		"hybrid":   func() Policy { return new(Hybrid) },
		"adaptive": func() Policy { return NewAdaptive(AdaptiveConfig{}) },
	}
	models := map[string]Model{
		"concurrent 1s":   {Duration: time.Second},
		"concurrent 40s":  {Duration: 40 * time.Second, StartDelay: 5 * time.Second},
		"at minute start": {Spread: AtMinuteStart, Duration: 5 * time.Second},
		"paper":           PaperModel,
	}
	for mname, m := range models {
		for pname, newPolicy := range policies {
			t.Run(mname+"/"+pname, func(t *testing.T) {
				r := Replay(tr, newPolicy(), m, 4)
				var sum Result
				for i, f := range r.Functions {
					want := int64(0)
					for _, c := range tr.Functions[i].Counts {
						if m.OnePerMinute {
							c = min(c, 1)
						}
						want += int64(c)
					}
					if f.Invocations != want {
						t.Errorf("function %d: Invocations = %d, want %d", i, f.Invocations, want)
					}
					if want > 0 && (f.ColdStarts < 1 || f.ColdStarts > f.Invocations) {
						t.Errorf("function %d: ColdStarts = %d, want in [1, %d] (the first is always cold)", i, f.ColdStarts, f.Invocations)
					}
					if envs := f.ColdStarts + f.Prewarms; envs < int64(f.PeakBusy) {
						t.Errorf("function %d: %d environments started, fewer than the peak %d running", i, envs, f.PeakBusy)
					}
					maxIdle := time.Duration(f.ColdStarts+f.Prewarms) * time.Duration(tr.Minutes) * time.Minute
					if f.Idle < 0 || f.Idle > maxIdle {
						t.Errorf("function %d: Idle = %v, want in [0, %v]", i, f.Idle, maxIdle)
					}
					sum.Invocations += f.Invocations
					sum.ColdStarts += f.ColdStarts
					sum.Prewarms += f.Prewarms
					sum.Idle += f.Idle
				}
				if sum.Invocations != r.Invocations || sum.ColdStarts != r.ColdStarts || sum.Prewarms != r.Prewarms || sum.Idle != r.Idle {
					t.Errorf("totals %+v do not add up to the functions' %+v", r, sum)
				}
				if !m.OnePerMinute && r.Invocations != tr.Invocations() {
					t.Errorf("Invocations = %d, want the trace's %d", r.Invocations, tr.Invocations())
				}
				// Deterministic: again, on one worker, with a fresh policy.
				if again := Replay(tr, newPolicy(), m, 1); !reflect.DeepEqual(again, r) {
					t.Errorf("a second replay on 1 worker differs: %d cold %v idle, then %d cold %v idle",
						r.ColdStarts, r.Idle, again.ColdStarts, again.Idle)
				}
			})
		}
	}
}

// TestReplayKeepForever: when no environment ever stops, the only cold starts
// are the ones that raise a function's concurrency to a new peak.
func TestReplayKeepForever(t *testing.T) {
	tr := sample(t, "100_inv.csv", false)
	r := Replay(tr, Fixed{KeepAlive: 48 * time.Hour}, Model{Duration: 20 * time.Second}, 0)
	for i, f := range r.Functions {
		if f.ColdStarts != int64(f.PeakBusy) {
			t.Errorf("function %d: ColdStarts = %d, want its peak concurrency %d", i, f.ColdStarts, f.PeakBusy)
		}
	}
}

// TestReplayAdaptiveGoal records where Adaptive stands against fixed 10 min
// on the 1000-function sample, so a change that loses ground shows up.
func TestReplayAdaptiveGoal(t *testing.T) {
	if testing.Short() {
		t.Skip("replays the 1000-function day three times")
	}
	tests := []struct {
		name             string
		m                Model
		durations        bool
		maxCold, maxIdle float64 // × fixed 10 min
	}{
		{"paper model", PaperModel, false, 0.50, 1.00},
		{"concurrent, 1 s", Model{Duration: time.Second}, false, 0.60, 1.00},
		{"concurrent, trace durations", Model{}, true, 0.80, 1.00},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := sample(t, "1000_inv.csv", tt.durations)
			base := Replay(tr, Fixed{}, tt.m, 0)
			r := Replay(tr, NewAdaptive(AdaptiveConfig{}), tt.m, 0)
			cold := float64(r.ColdStarts) / float64(base.ColdStarts)
			idle := r.Idle.Minutes() / base.Idle.Minutes()
			t.Logf("adaptive: %.3f× cold starts, %.3f× idle of fixed 10 min", cold, idle)
			if cold > tt.maxCold || idle > tt.maxIdle {
				t.Errorf("adaptive = %.3f× cold, %.3f× idle; want ≤ %.2f×, ≤ %.2f×", cold, idle, tt.maxCold, tt.maxIdle)
			}
		})
	}
}
