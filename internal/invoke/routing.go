package invoke

import (
	"math"
	"sync"
	"sync/atomic"

	"github.com/nimbus-dev/nimbus/internal/registry"
)

// Weighted aliases are routed by a low-discrepancy sequence rather than a
// random draw: the n-th invocation of an alias whose additional version has
// weight w goes to that version exactly when ⌊n·w⌋ steps up (computed in
// 32-bit fixed point, exactly). So any run of N consecutive invocations at a
// constant weight sends N·w ± 1 of them to the additional version, evenly
// spaced (one every 1/w), where independent random draws would stray
// by √(N·w·(1-w)) and, for 1,000 invocations at 10 %, leave a ±3 % band
// about one run in 500. The counter is per alias and per process; it costs
// one sync.Map load and one atomic add per weighted invocation.

// routers holds one counter per (function, alias) with a routing
// configuration; counters are never removed (an alias is a few bytes).
type routers struct {
	m sync.Map // "function\x00alias" → *atomic.Uint32
}

// pick returns the number in [0,1) that registry.Function.Resolve uses to
// choose among the alias q's versions: 0 (the additional version) or just
// under 1 (the alias's own version). For anything but a weighted alias it
// returns 0, which Resolve ignores.
func (r *routers) pick(name, q string, fn *registry.Function) float64 {
	a, ok := fn.Aliases[q]
	if !ok || a.RoutingConfig == nil || len(a.RoutingConfig.AdditionalVersionWeights) == 0 {
		return 0
	}
	var w float64
	for _, x := range a.RoutingConfig.AdditionalVersionWeights { // at most one (checkAlias)
		w += x
	}
	c, ok := r.m.Load(name + "\x00" + q)
	if !ok {
		c, _ = r.m.LoadOrStore(name+"\x00"+q, new(atomic.Uint32))
	}
	if additional(c.(*atomic.Uint32).Add(1), w) {
		return 0
	}
	return math.Nextafter(1, 0)
}

// additional reports whether the n-th invocation at weight w goes to the
// additional version: whether n·W mod 2³² < W, W = w·2³² (rounded), which
// holds exactly when ⌊n·W/2³²⌋ > ⌊(n-1)·W/2³²⌋. uint32 arithmetic wraps
// modulo 2³², so the test stays exact when n wraps too.
func additional(n uint32, w float64) bool {
	switch {
	case w <= 0:
		return false
	case w >= 1:
		return true
	}
	f := math.Round(w * (1 << 32))
	if f >= 1<<32 {
		return true
	}
	step := uint32(f)
	return n*step < step
}

// versionCounts are one function version's invocation and function-error
// counts since this process started.
type versionCounts struct {
	invocations, errors atomic.Uint64
}

// countVersion records a finished invocation of fn's version.
func (s *Service) countVersion(fn, version string, failed bool) {
	key := fn + "\x00" + version
	c, ok := s.versions.Load(key)
	if !ok {
		c, _ = s.versions.LoadOrStore(key, new(versionCounts))
	}
	vc := c.(*versionCounts)
	vc.invocations.Add(1)
	if failed {
		vc.errors.Add(1)
	}
}

// VersionStats returns how many invocations of a function version finished
// in this process since it started, and how many of them ended in a
// function error (the function's own failure, a timeout, a crash). The
// counts only grow; callers compare two readings.
func (s *Service) VersionStats(fn, version string) (invocations, errors uint64) {
	c, ok := s.versions.Load(fn + "\x00" + version)
	if !ok {
		return 0, 0
	}
	vc := c.(*versionCounts)
	return vc.invocations.Load(), vc.errors.Load()
}
