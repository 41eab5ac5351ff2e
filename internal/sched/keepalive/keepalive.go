// Package keepalive decides, per function, how long the scheduler keeps idle
// execution environments warm and how many it starts ahead of expected
// invocations (pre-warming), and replays invocation traces through those
// decisions on a virtual clock to measure them (Replay, cmd/nimbus-replay).
//
// A Policy learns only from the invocations it is told about, as they happen:
// the replay calls it exactly as the scheduler does, in virtual-time order, so
// it cannot see the future. Every Policy here is safe for concurrent use, keeps
// per function a bounded state (Adaptive: also two words per environment of its
// peak concurrency), and in steady state does not allocate.
//
// Fixed is the scheduler's behaviour before policies (every idle environment
// stays 10 minutes). Hybrid is the hybrid histogram policy of Shahrad et al.,
// "Serverless in the Wild" (USENIX ATC '20), kept as the published reference.
// Adaptive is ours: cost-chosen windows per rank of concurrency plus a
// forecast of periodic episodes.
package keepalive

import "time"

// Policy decides how long a function's idle environments stay warm and how
// many environments to have ready ahead of demand. fn names what one pool
// serves (the scheduler passes function name and version); a policy learns
// per fn.
//
// The scheduler calls Arrived when an invocation of fn arrives at t, before it
// takes an idle environment (a warm start) or starts one (a cold start). It
// calls Ended when the invocation ends at t and its environment becomes idle:
// the environment stays warm until t plus the answer unless an invocation
// takes it first; an answer ≤ 0 stops it at once.
//
// On every reaper tick at t the scheduler calls Prewarm and treats the answer
// as a floor on the pool's environments, busy or idle: idle environments past
// their keep-alive are stopped, least recently used first, only while the pool
// has more than the floor; if it has fewer, it starts the missing ones
// (pre-warming), which are then held by the floor alone. A policy that
// pre-warms must ask early enough for the start to finish before the use.
//
// Calls for one fn may come from several goroutines; times from different
// goroutines may arrive slightly out of order, and a policy must tolerate it.
// Every Ended should follow an Arrived for the same fn. Forget drops what the
// policy learnt about fn (it was deleted); a later call starts afresh.
type Policy interface {
	Arrived(fn string, t time.Time)
	Ended(fn string, t time.Time) (keepAlive time.Duration)
	Prewarm(fn string, t time.Time) int
	Forget(fn string)
}

// DefaultKeepAlive is Fixed's keep-alive when none is given, as AWS Lambda.
const DefaultKeepAlive = 10 * time.Minute

// Fixed keeps every idle environment warm for KeepAlive and never pre-warms:
// the scheduler's behaviour before policies. The zero value keeps environments
// DefaultKeepAlive.
type Fixed struct {
	KeepAlive time.Duration
}

// Arrived does nothing: a fixed policy learns nothing.
func (Fixed) Arrived(string, time.Time) {}

// Ended returns KeepAlive.
func (f Fixed) Ended(string, time.Time) time.Duration {
	if f.KeepAlive <= 0 {
		return DefaultKeepAlive
	}
	return f.KeepAlive
}

// Prewarm returns 0.
func (Fixed) Prewarm(string, time.Time) int { return 0 }

// Forget does nothing.
func (Fixed) Forget(string) {}
