package keepalive

import (
	"testing"
	"time"
)

func TestRankClass(t *testing.T) {
	for _, tt := range []struct{ k, want int }{
		{1, 0}, {2, 1}, {3, 2}, {4, 3}, {5, 3}, {6, 4}, {7, 4}, {8, 5}, {11, 5}, {12, 6}, {15, 6}, {16, 7},
		{1 << 20, rankClasses - 1},
	} {
		if got := rankClass(tt.k); got != tt.want {
			t.Errorf("rankClass(%d) = %d, want %d", tt.k, got, tt.want)
		}
	}
}

func TestGapBins(t *testing.T) {
	prev := int64(0)
	for i := range gapBins {
		lo, hi := binEdges(i)
		if lo != prev || hi <= lo {
			t.Fatalf("binEdges(%d) = [%v, %v), want to start at %v", i, time.Duration(lo), time.Duration(hi), time.Duration(prev))
		}
		if got := gapBin(lo); got != i {
			t.Errorf("gapBin(%v) = %d, want %d", time.Duration(lo), got, i)
		}
		if i < gapBins-1 {
			if got := gapBin(hi - 1); got != i {
				t.Errorf("gapBin(%v) = %d, want %d", time.Duration(hi-1), got, i)
			}
		}
		prev = hi
	}
}

func TestChoose(t *testing.T) {
	const lead = 30 * time.Second
	tests := []struct {
		name     string
		gaps     []time.Duration
		covered  bool
		prewarm  bool
		lambda   time.Duration
		from, to time.Duration
	}{
		{"reused within seconds: keep briefly", []time.Duration{2 * time.Second, 5 * time.Second, 8 * time.Second}, false, true, time.Hour,
			0, 10 * time.Second},
		{"reused after 3 h: not worth an hour's cold start", []time.Duration{3 * time.Hour, 3*time.Hour + time.Minute}, false, false, time.Hour,
			0, 0},
		{"reused after 3 h, cold starts dear: keep", []time.Duration{3 * time.Hour, 3*time.Hour + time.Minute}, false, false, 10 * time.Hour,
			0, 4 * time.Hour},
		{"clustered at 30 min: pre-warm just before", []time.Duration{30*time.Minute + 5*time.Second, 30*time.Minute + 20*time.Second, 30*time.Minute + 40*time.Second}, false, true, time.Hour,
			30*time.Minute - lead, 31 * time.Minute},
		{"clustered, but pre-warm not allowed yet: keep", []time.Duration{30*time.Minute + 5*time.Second, 30*time.Minute + 20*time.Second}, false, false, time.Hour,
			0, 31 * time.Minute},
		{"covered by the forecast: nothing to keep", []time.Duration{30 * time.Minute, 30 * time.Minute}, true, true, time.Hour,
			0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h gapHist
			for _, g := range tt.gaps {
				h.add(int64(g), tt.covered)
			}
			h.choose(tt.lambda, lead, tt.prewarm)
			if time.Duration(h.from) != tt.from || time.Duration(h.to) != tt.to {
				t.Errorf("choose = [%v, %v), want [%v, %v)", time.Duration(h.from), time.Duration(h.to), tt.from, tt.to)
			}
		})
	}
}

func TestForecast(t *testing.T) {
	tests := []struct {
		name     string
		starts   []time.Duration // episode starts
		periodic bool
		period   time.Duration
	}{
		{"exact", []time.Duration{0, 15 * time.Minute, 30 * time.Minute, 45 * time.Minute}, true, 15 * time.Minute},
		{"a minute of jitter", []time.Duration{0, 16 * time.Minute, 30 * time.Minute, 45 * time.Minute}, true, 15 * time.Minute},
		{"too few episodes", []time.Duration{0, 15 * time.Minute, 30 * time.Minute}, false, 0},
		{"irregular", []time.Duration{0, 15 * time.Minute, 40 * time.Minute, 45 * time.Minute}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewAdaptive(AdaptiveConfig{})
			feed(a, "fn", time.Second, tt.starts...)
			fc := a.fns.get("fn").s.fc
			if fc.periodic != tt.periodic || (tt.periodic && time.Duration(fc.period) != tt.period) {
				t.Errorf("forecast = periodic %v every %v, want %v every %v", fc.periodic, time.Duration(fc.period), tt.periodic, tt.period)
			}
		})
	}

	// A fan-out of 8 every 10 min: 8 environments from lead before the next.
	a := NewAdaptive(AdaptiveConfig{})
	for e := range 5 {
		start := Epoch.Add(time.Duration(e) * 10 * time.Minute)
		for range 8 {
			a.Arrived("fn", start)
		}
		for range 8 {
			a.Ended("fn", start.Add(time.Second))
		}
	}
	next := Epoch.Add(50 * time.Minute)
	for _, tt := range []struct {
		at   time.Duration
		want int
	}{{-time.Minute, 0}, {-30 * time.Second, 8}, {0, 8}} {
		if got := a.Prewarm("fn", next.Add(tt.at)); got != tt.want {
			t.Errorf("Prewarm(next%+v) = %d, want %d", tt.at, got, tt.want)
		}
	}
}
