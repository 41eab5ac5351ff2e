package keepalive

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Epoch is the virtual instant at which a replayed trace's first minute starts.
// It is arbitrary; policies see only differences.
var Epoch = time.Date(2019, 7, 15, 0, 0, 0, 0, time.UTC)

// Spread says where in its minute each of a minute's invocations arrives.
type Spread int

const (
	// Even spaces a minute's n invocations 60s/n apart, the first at the
	// minute's start (a lone invocation, e.g. a timer's, arrives on the minute).
	Even Spread = iota
	// AtMinuteStart has all of a minute's invocations arrive at its start.
	AtMinuteStart
)

// DefaultDuration is how long an invocation runs when neither the Model nor
// the trace says.
const DefaultDuration = time.Second

// DefaultTick is the reaper tick when the Model gives none.
const DefaultTick = 10 * time.Second

// Model says how a trace's per-minute counts become timed invocations and how
// the simulated scheduler behaves. The zero value spreads each minute's
// invocations evenly, runs each for its function's average duration from the
// trace, ticks every DefaultTick and makes pre-warmed environments usable at
// once.
type Model struct {
	Spread Spread
	// OnePerMinute counts a minute with invocations as one invocation.
	OnePerMinute bool
	// Duration, when positive, is how long every invocation runs; otherwise
	// each function's Duration, or DefaultDuration where the trace has none.
	Duration time.Duration
	// Tick is the reaper's period: keep-alives expire and pre-warms start on
	// ticks (multiples of Tick from Epoch).
	Tick time.Duration
	// StartDelay is how long after its tick a pre-warmed environment can take
	// an invocation; it is idle (holding memory) meanwhile. Cold starts are
	// counted, not timed.
	StartDelay time.Duration
}

// PaperModel is the minute-granularity model of Shahrad et al. and of the
// reference figures that come with the Azure sample: one invocation per minute
// with invocations, at its start, occupying the whole minute, so a function
// never needs more than one environment; environments load instantly. Fixed
// and Hybrid act on minute boundaries only, so the tick does not change their
// results.
var PaperModel = Model{Spread: AtMinuteStart, OnePerMinute: true, Duration: time.Minute, Tick: DefaultTick}

// Result is what a replay measured.
type Result struct {
	Invocations int64
	ColdStarts  int64 // invocations that found no warm environment
	Prewarms    int64 // environments started by pre-warming
	// Idle is the total time environments were warm without running an
	// invocation, up to the end of the trace.
	Idle time.Duration
	// Functions holds the same figures per function, in trace order.
	Functions []FunctionResult
}

// FunctionResult is one function's share of a Result.
type FunctionResult struct {
	Invocations, ColdStarts, Prewarms int64
	Idle                              time.Duration
	PeakBusy                          int // most invocations running at once
}

// ColdRate returns ColdStarts/Invocations.
func (r *Result) ColdRate() float64 {
	if r.Invocations == 0 {
		return 0
	}
	return float64(r.ColdStarts) / float64(r.Invocations)
}

// Replay runs tr through policy p (fresh: it should know none of tr's
// functions) on a virtual clock under model m and returns what it measured.
//
// Each function has one pool, simulated as the scheduler runs it: an arriving
// invocation takes the most recently used idle environment or cold-starts a new
// one, which is then busy for the invocation's duration; on reaper ticks idle
// environments past their keep-alive are stopped (least recently used first,
// keeping Prewarm's floor) and missing ones are pre-warmed, usable StartDelay
// later. At one instant, ends come first, then the tick, then arrivals. Idle
// time is counted up to the end of the trace; nothing happens after it. p is
// called as the Policy contract says, in virtual-time order within each
// function, and learns only from the past. Functions are independent and are
// replayed on up to workers goroutines (≤ 0: GOMAXPROCS); the result does not
// depend on how many.
func Replay(tr *Trace, p Policy, m Model, workers int) Result {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if m.Tick <= 0 {
		m.Tick = DefaultTick
	}
	res := Result{Functions: make([]FunctionResult, len(tr.Functions))}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, max(1, len(tr.Functions))) {
		wg.Go(func() {
			s := &sim{p: p, model: m, horizon: int64(tr.Minutes) * int64(time.Minute)}
			for {
				i := int(next.Add(1) - 1)
				if i >= len(tr.Functions) {
					return
				}
				res.Functions[i] = s.run(&tr.Functions[i])
			}
		})
	}
	wg.Wait()
	for _, f := range res.Functions {
		res.Invocations += f.Invocations
		res.ColdStarts += f.ColdStarts
		res.Prewarms += f.Prewarms
		res.Idle += f.Idle
	}
	return res
}

// sim replays one function at a time; its buffers are reused. Times are ns
// from Epoch.
type sim struct {
	p       Policy
	model   Model
	horizon int64 // idle time is counted up to here; nothing happens after

	fn   string
	idle []idleEnv // idle environments, least recently used first
	busy []int64   // end times of running invocations, ascending (durations are equal)
	head int       // busy[head:] are running
	tick int64     // the next tick
	// minUntil is at most the earliest keep-alive deadline in idle, so a tick
	// before it with nothing to pre-warm has nothing to do.
	minUntil int64

	r FunctionResult
}

type idleEnv struct {
	since int64 // idle (and holding memory) from
	until int64 // keep-alive deadline
	ready int64 // can take an invocation from
}

func at(ns int64) time.Time { return Epoch.Add(time.Duration(ns)) }

func (s *sim) run(f *Function) FunctionResult {
	s.fn = f.Name
	s.idle, s.busy, s.head, s.tick = s.idle[:0], s.busy[:0], 0, -1
	s.minUntil = math.MaxInt64
	s.r = FunctionResult{}
	d := int64(s.model.Duration)
	if d <= 0 {
		d = int64(f.Duration)
	}
	if d <= 0 {
		d = int64(DefaultDuration)
	}
	minute := int64(time.Minute)
	for m, c := range f.Counts {
		if c == 0 {
			continue
		}
		if s.model.OnePerMinute {
			c = 1
		}
		start := int64(m) * minute
		if s.tick < 0 {
			s.tick = start - start%int64(s.model.Tick) // first tick: at or before the first arrival
		}
		for i := range int64(c) {
			a := start
			if s.model.Spread == Even {
				a += i * minute / int64(c)
			}
			s.advance(a)
			s.arrive(a, d)
		}
	}
	if s.tick >= 0 {
		s.advance(s.horizon - 1)
	}
	for _, e := range s.idle {
		s.account(e, s.horizon)
	}
	return s.r
}

// advance handles, in time order, every end and tick due at or before x.
func (s *sim) advance(x int64) {
	for {
		endDue := s.head < len(s.busy) && s.busy[s.head] <= x
		tickDue := s.tick <= x && s.tick < s.horizon
		switch {
		case endDue && (!tickDue || s.busy[s.head] <= s.tick):
			t := s.busy[s.head]
			s.head++
			s.end(t)
		case tickDue:
			s.reap(s.tick)
			s.tick += int64(s.model.Tick)
		default:
			return
		}
	}
}

// arrive runs an invocation arriving at a for d.
func (s *sim) arrive(a, d int64) {
	s.p.Arrived(s.fn, at(a))
	s.r.Invocations++
	taken := false
	for i := len(s.idle) - 1; i >= 0; i-- {
		if s.idle[i].ready <= a {
			s.account(s.idle[i], a)
			s.idle = append(s.idle[:i], s.idle[i+1:]...)
			taken = true
			break
		}
	}
	if !taken {
		s.r.ColdStarts++
	}
	if s.head > 1024 && 2*s.head > len(s.busy) {
		s.busy = s.busy[:copy(s.busy, s.busy[s.head:])]
		s.head = 0
	}
	s.busy = append(s.busy, a+d)
	s.r.PeakBusy = max(s.r.PeakBusy, len(s.busy)-s.head)
}

// end handles an invocation ending at t: its environment becomes idle for as
// long as the policy says.
func (s *sim) end(t int64) {
	if ka := s.p.Ended(s.fn, at(t)); ka > 0 {
		s.idle = append(s.idle, idleEnv{since: t, until: t + int64(ka), ready: t})
		s.minUntil = min(s.minUntil, t+int64(ka))
	}
}

// reap is the reaper tick at x: stop expired idle environments beyond the
// policy's floor, least recently used first, then start missing ones.
func (s *sim) reap(x int64) {
	floor := s.p.Prewarm(s.fn, at(x))
	n := len(s.busy) - s.head + len(s.idle)
	if x >= s.minUntil && n > floor {
		s.minUntil = math.MaxInt64
		keep := s.idle[:0]
		for _, e := range s.idle {
			if e.until <= x && n > floor {
				s.account(e, x)
				n--
				continue
			}
			keep = append(keep, e)
			s.minUntil = min(s.minUntil, e.until)
		}
		s.idle = keep
	}
	for ; n < floor; n++ {
		s.idle = append(s.idle, idleEnv{since: x, until: x, ready: x + int64(s.model.StartDelay)})
		s.minUntil = min(s.minUntil, x)
		s.r.Prewarms++
	}
}

// account adds the idle time of e up to end (capped at the horizon).
func (s *sim) account(e idleEnv, end int64) {
	if end = min(end, s.horizon); end > e.since {
		s.r.Idle += time.Duration(end - e.since)
	}
}
