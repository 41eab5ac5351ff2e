package keepalive

import (
	"slices"
	"time"
)

// An episode is a run of a function's invocations with no pause of
// EpisodeGap or more: a timer's single invocation, a batch fan-out, a busy
// hour. Many functions start episodes at a fixed period (timers, cron-like
// batch jobs); for those the forecast pre-warms, shortly before the next one
// is due, as many environments as recent episodes needed, each at the point of
// the episode at which it was needed.
type episode struct {
	start int64 // Unix ns of its first arrival
	rise  int64 // ns from start to its peak
	peak  int32 // most invocations running at once
	// covered is how many environments the forecast had pre-warmed for it.
	covered int32
	// reach[i] is when (ns from start) the level first reached 2^i; -1: never.
	reach [reachLevels]int64
}

const (
	reachLevels      = 16
	adaptiveEpisodes = 8 // finished episodes remembered
	periodicEpisodes = 3 // consistent gaps needed to call a function periodic
)

func newEpisode(start int64) episode {
	e := episode{start: start}
	for i := range e.reach {
		e.reach[i] = -1
	}
	return e
}

// forecast is a periodic function's expected next episodes.
type forecast struct {
	periodic bool
	period   int64 // ns between episode starts
	jitter   int64 // ns: how far recent gaps strayed from period
	rise     int64 // ns from an episode's start to its peak, the longest recently
	count    int32 // environments to have ready: the largest recent peak
	// reach[i] is the earliest recent time from start at which 2^i
	// environments were busy; -1: none of the recent episodes got there.
	reach [reachLevels]int64
}

// past returns the i-th most recent finished episode (0 = latest).
func (s *adaptiveState) past(i int) *episode {
	return &s.eps[(s.nEps-1-i)%adaptiveEpisodes]
}

// refresh recomputes the forecast as the current episode starts: periodic if
// the gaps between the last periodicEpisodes+1 starts are all within
// max(10 %, 1 min) of their median.
func (f *forecast) refresh(s *adaptiveState) {
	f.periodic = false
	const n = periodicEpisodes
	if s.nEps < n {
		return
	}
	var g [n]int64
	next := s.cur.start
	for i := range n {
		p := s.past(i)
		g[i] = next - p.start
		next = p.start
	}
	sorted := g
	slices.Sort(sorted[:])
	period := sorted[n/2]
	var dev int64
	for _, x := range g {
		dev = max(dev, abs(x-period))
	}
	if period <= 0 || dev > max(period/10, int64(time.Minute)) {
		return
	}
	*f = forecast{periodic: true, period: period, jitter: dev}
	for j := range f.reach {
		f.reach[j] = -1
	}
	for i := range n {
		p := s.past(i)
		f.rise = max(f.rise, p.rise)
		f.count = max(f.count, p.peak)
		for j, r := range p.reach {
			if r >= 0 && (f.reach[j] < 0 || r < f.reach[j]) {
				f.reach[j] = r
			}
		}
	}
}

// floor returns how many environments the forecast wants at now, given the
// current episode: for the current episode (until it has used them all) and
// the next two expected ones, from lead (plus the jitter) before the point at
// which each level was first needed until the peak is due, else 0.
func (f *forecast) floor(cur *episode, now int64, lead time.Duration) int {
	if !f.periodic {
		return 0
	}
	margin := f.jitter + int64(lead)
	for k := range int64(3) {
		if k == 0 && cur.peak >= f.count {
			continue // the current episode has used all it was given
		}
		at := cur.start + k*f.period
		if now < at-margin || now >= at+f.rise+margin {
			continue
		}
		if now >= at+f.rise-margin {
			return int(f.count)
		}
		n := 0
		for i, r := range f.reach {
			if r >= 0 && now >= at+r-margin {
				n = 1 << i
			}
		}
		return min(n, int(f.count))
	}
	return 0
}

// expected reports whether an episode starting at now, after one that started
// at start, is one the forecast predicted (and so pre-warmed for).
func (f *forecast) expected(start, now int64, lead time.Duration) bool {
	if !f.periodic {
		return false
	}
	margin := f.jitter + int64(lead)
	for k := int64(1); k <= 2; k++ {
		if at := start + k*f.period; at-margin <= now && now < at+f.rise+margin {
			return true
		}
	}
	return false
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
