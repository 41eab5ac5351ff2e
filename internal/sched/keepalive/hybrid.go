package keepalive

import (
	"math"
	"time"
)

// Hybrid is the hybrid histogram policy of Shahrad et al., "Serverless in the
// Wild" (USENIX ATC '20, §4.2), as published; it is here as the reference the
// other policies are measured against. The zero value is ready to use.
//
// Per function it keeps a histogram of idle times (from the end of the last
// invocation to the next arrival; 0 while another invocation still runs) in
// 1-minute bins up to 4 hours. When the histogram is representative — at least
// 5 idle times in range and a coefficient of variation of the bin counts of at
// least 2 (one dominant peak) — the pre-warm window is the 5th percentile's bin
// less 10 % and the environment stays warm until the 99th percentile's bin's
// upper edge plus 10 %, both rounded to whole minutes. Otherwise the function
// gets the standard keep-alive: no pre-warm, warm for the histogram's range
// (4 h). The paper's policy is per application with one instance; here, with
// no pre-warm window every freed environment stays warm for the keep-alive
// window, and with one, freed environments stop and a single one is
// pre-warmed.
//
// The paper forecasts with ARIMA the functions whose idle times mostly exceed
// the range; that branch is not implemented (such functions get the standard
// keep-alive; a one-day trace holds at most five such idle times per
// function). Under the paper's model (PaperModel) it reproduces the reference
// figures published with the 1000-function Azure sample: the same 2,209 cold
// starts, and 1.817× fixed-10-min's idle time against the published 1.81×.
type Hybrid struct {
	fns table[hybridState]
}

const (
	hybridBins     = 240 // 1-minute bins: 4 hours
	hybridMinCount = 5
	hybridMinCV    = 2.0
)

type hybridState struct {
	bins    [hybridBins]uint32
	n       uint32 // idle times in range
	oob     uint32 // idle times beyond the range
	sumSq   uint64 // sum of the squared bin counts
	running int32  // invocations arrived and not yet ended
	lastEnd int64  // Unix ns of the latest end; 0 before the first
	dirty   bool   // the histogram changed since pw, ka were computed
	pw, ka  time.Duration
	// warm is the pre-warm window [from, to) in Unix ns; empty if from == to.
	warmFrom, warmTo int64
}

// Arrived records the idle time before the invocation arriving at t.
func (h *Hybrid) Arrived(fn string, t time.Time) {
	e := h.fns.get(fn)
	e.mu.Lock()
	s := &e.s
	if s.lastEnd != 0 || s.running > 0 {
		var it int64
		if s.running == 0 {
			it = max(0, t.UnixNano()-s.lastEnd)
		}
		if b := it / int64(time.Minute); b < hybridBins {
			c := uint64(s.bins[b])
			s.sumSq += 2*c + 1
			s.bins[b]++
			s.n++
		} else {
			s.oob++
		}
		s.dirty = true
	}
	s.running++
	e.mu.Unlock()
}

// Ended applies fn's current windows to the invocation ending at t: with no
// pre-warm window the environment stays warm for the keep-alive window;
// otherwise it stops now and one environment is pre-warmed for the keep-alive
// window after the pre-warm window (replacing any earlier such plan).
func (h *Hybrid) Ended(fn string, t time.Time) time.Duration {
	e := h.fns.get(fn)
	e.mu.Lock()
	defer e.mu.Unlock()
	s := &e.s
	s.running = max(0, s.running-1)
	now := t.UnixNano()
	s.lastEnd = max(s.lastEnd, now)
	if s.dirty || s.ka == 0 {
		s.pw, s.ka = s.windows()
		s.dirty = false
	}
	if s.pw == 0 {
		s.warmFrom, s.warmTo = 0, 0
		return s.ka
	}
	s.warmFrom = now + int64(s.pw)
	s.warmTo = s.warmFrom + int64(s.ka)
	return 0
}

// Prewarm returns 1 inside fn's pre-warm window, else 0.
func (h *Hybrid) Prewarm(fn string, t time.Time) int {
	e := h.fns.get(fn)
	e.mu.Lock()
	defer e.mu.Unlock()
	if now := t.UnixNano(); e.s.warmFrom <= now && now < e.s.warmTo {
		return 1
	}
	return 0
}

func (s *hybridState) windows() (prewarm, keepAlive time.Duration) {
	if s.n < hybridMinCount || binCV(s.n, s.sumSq, hybridBins) < hybridMinCV {
		return 0, hybridBins * time.Minute
	}
	head := int64(percentileBin(s.bins[:], s.n, 5))
	tail := int64(percentileBin(s.bins[:], s.n, 99))
	pw := head * 9 / 10             // head less 10 %, whole minutes down
	until := (11*(tail+1) + 9) / 10 // tail's upper edge plus 10 %, whole minutes up
	return time.Duration(pw) * time.Minute, time.Duration(until-pw) * time.Minute
}

// binCV is the coefficient of variation of the counts of nb bins holding n
// samples whose squared counts sum to sumSq (sample standard deviation).
func binCV(n uint32, sumSq uint64, nb int) float64 {
	if n == 0 {
		return 0
	}
	mean := float64(n) / float64(nb)
	v := (float64(sumSq) - float64(n)*mean) / float64(nb-1)
	return math.Sqrt(max(v, 0)) / mean
}

// percentileBin returns the first bin at which the cumulative count reaches
// pct % of n.
func percentileBin(bins []uint32, n uint32, pct uint64) int {
	want := (uint64(n)*pct + 99) / 100
	var c uint64
	for i, b := range bins {
		c += uint64(b)
		if c >= want {
			return i
		}
	}
	return len(bins) - 1
}

// Forget drops fn's histogram.
func (h *Hybrid) Forget(fn string) { h.fns.forget(fn) }
