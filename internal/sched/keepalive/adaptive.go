package keepalive

import "time"

// AdaptiveConfig tunes Adaptive; zero values mean the documented defaults.
type AdaptiveConfig struct {
	// ColdStartCost is what one cold start is worth in idle environment time
	// (λ): an environment is kept warm, or pre-warmed, only where the cold
	// starts that is expected to save are worth more than the idle time it
	// is expected to cost. It sets where on the cold-start/idle trade-off the
	// policy sits; 60 min.
	ColdStartCost time.Duration
	// KeepAlive is the keep-alive of a rank whose idle times are not known
	// yet; 10 min.
	KeepAlive time.Duration
	// MinSamples is how many idle times a rank class needs before the policy
	// pre-warms it after a pause rather than only keeping it warm; 6.
	MinSamples int
	// EpisodeGap: an arrival this long after the previous one starts a new
	// episode (see the forecast); 2 min.
	EpisodeGap time.Duration
	// Lead is how early a pre-warm is placed before the expected use, to
	// absorb the reaper's tick and the environment's start; 30 s.
	Lead time.Duration
}

// Adaptive learns each function's pattern and keeps its environments warm
// where, and only where, that is expected to pay. It combines two mechanisms:
//
//   - Per-rank windows (reactive). When the level of concurrency falls from k
//     to k-1, the k-th environment idles until the level is back at k. The
//     policy keeps a histogram of those idle times per class of ranks and
//     gives the freed environment the window [from, to) that minimises
//     ColdStartCost·P(cold start) + E[idle time] over it: a plain keep-alive
//     (from = 0) for a function used again soon or at unpredictable times, no
//     keep-alive where a reuse is too unlikely to be worth waiting for, or,
//     when its idle times cluster, stopping it and pre-warming one again just
//     before the cluster (the hybrid histogram policy's head and tail, chosen
//     by cost instead of fixed percentiles, per rank instead of per function).
//   - A periodic forecast (predictive). Invocations come in episodes
//     (separated by EpisodeGap of silence); when the last episodes started at
//     a steady period — timers, cron-like batch fan-outs — the forecast has
//     as many environments ready as recent episodes needed, each from shortly
//     before the point in the episode at which it was needed until the
//     expected peak. Idle times that such a pre-warm covered are recorded as
//     such, so the per-rank windows stop paying keep-alive for them.
//
// Until a rank class has seen an idle time it gets KeepAlive (today's
// behaviour); until MinSamples it is only kept warm, never pre-warmed.
//
// State per function: a few KB of histograms per rank class in use, eight
// episodes, and two words per rank up to the peak concurrency seen (like the
// pool itself). Arrived, Ended and Prewarm take the function's lock, and
// allocate only when a function reaches a new peak or a rank class is first
// used.
type Adaptive struct {
	cfg AdaptiveConfig
	fns table[adaptiveState]
}

// NewAdaptive returns an Adaptive policy.
func NewAdaptive(cfg AdaptiveConfig) *Adaptive {
	if cfg.ColdStartCost <= 0 {
		cfg.ColdStartCost = 60 * time.Minute
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = DefaultKeepAlive
	}
	if cfg.MinSamples <= 0 {
		cfg.MinSamples = 6
	}
	if cfg.EpisodeGap <= 0 {
		cfg.EpisodeGap = 2 * time.Minute
	}
	if cfg.Lead <= 0 {
		cfg.Lead = 30 * time.Second
	}
	return &Adaptive{cfg: cfg}
}

type adaptiveState struct {
	running int // invocations arrived and not ended: the level
	// drop[k-1] is when the k-th environment last became idle (the level fell
	// from k to k-1); 0 once the level was back at k. warm[k-1] is the window
	// in which it is to be pre-warmed, if any.
	drop []int64
	warm []window
	gaps [rankClasses]*gapHist // allocated on a class's first idle time

	lastArrival int64 // Unix ns; 0 before the first
	cur         episode
	eps         [adaptiveEpisodes]episode // finished episodes, a ring
	nEps        int                       // finished episodes ever
	fc          forecast
}

type window struct{ from, to int64 } // Unix ns

// Arrived implements Policy.
func (a *Adaptive) Arrived(fn string, t time.Time) {
	e := a.fns.get(fn)
	e.mu.Lock()
	defer e.mu.Unlock()
	s := &e.s
	now := t.UnixNano()
	if s.lastArrival == 0 || now-s.lastArrival >= int64(a.cfg.EpisodeGap) {
		covered := s.lastArrival != 0 && s.fc.expected(s.cur.start, now, a.cfg.Lead)
		if s.lastArrival != 0 {
			s.eps[s.nEps%adaptiveEpisodes] = s.cur
			s.nEps++
		}
		s.cur = newEpisode(now)
		if covered {
			s.cur.covered = s.fc.count
		}
		s.fc.refresh(s)
	}
	s.lastArrival = max(s.lastArrival, now)
	s.running++
	k := s.running
	if int32(k) > s.cur.peak {
		s.cur.peak, s.cur.rise = int32(k), now-s.cur.start
		if k&(k-1) == 0 {
			if i := log2(k); i < reachLevels {
				s.cur.reach[i] = now - s.cur.start
			}
		}
	}
	if k > len(s.drop) {
		s.drop = append(s.drop, 0)
		s.warm = append(s.warm, window{})
	}
	if d := s.drop[k-1]; d != 0 {
		c := rankClass(k)
		if s.gaps[c] == nil {
			s.gaps[c] = new(gapHist)
		}
		// An idle time ending in a predicted episode, at a rank the forecast
		// pre-warmed, would not have been a cold start anyway.
		s.gaps[c].add(max(0, now-d), d < s.cur.start && k <= int(s.cur.covered))
		s.drop[k-1] = 0
	}
	s.warm[k-1] = window{}
}

func log2(k int) int {
	i := 0
	for k > 1 {
		k >>= 1
		i++
	}
	return i
}

// Ended implements Policy.
func (a *Adaptive) Ended(fn string, t time.Time) time.Duration {
	e := a.fns.get(fn)
	e.mu.Lock()
	defer e.mu.Unlock()
	s := &e.s
	if s.running <= 0 { // an end we did not see arrive
		return a.cfg.KeepAlive
	}
	k := s.running
	s.running--
	now := t.UnixNano()
	s.drop[k-1] = now
	h := s.gaps[rankClass(k)]
	if h == nil {
		return a.cfg.KeepAlive
	}
	if h.stale(now) {
		enough := int(h.count) >= a.cfg.MinSamples
		h.choose(a.cfg.ColdStartCost, a.cfg.Lead, enough)
		h.chosenAt = now
		if !enough {
			h.to = max(h.to, int64(a.cfg.KeepAlive))
		}
	}
	if h.from == 0 {
		return time.Duration(h.to)
	}
	if !s.fc.periodic || int32(k) > s.fc.count {
		s.warm[k-1] = window{now + h.from, now + h.to}
	} // else the forecast pre-warms this rank, closer to its use
	return 0
}

// Prewarm implements Policy: the busy environments, the idle ranks inside
// their pre-warm windows, and at least what the forecast wants.
func (a *Adaptive) Prewarm(fn string, t time.Time) int {
	e := a.fns.get(fn)
	e.mu.Lock()
	defer e.mu.Unlock()
	s := &e.s
	now := t.UnixNano()
	n := s.running
	for _, w := range s.warm[min(s.running, len(s.warm)):] {
		if w.from <= now && now < w.to {
			n++
		}
	}
	return max(n, s.fc.floor(&s.cur, now, a.cfg.Lead))
}

// Forget implements Policy.
func (a *Adaptive) Forget(fn string) { a.fns.forget(fn) }
