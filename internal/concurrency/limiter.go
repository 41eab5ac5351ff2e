// Package concurrency decides whether an invocation may run now: it holds the
// account's concurrency limit, each function's reserved concurrency, provisioned
// capacity per version, and the counts of what is running, and applies Lambda's
// admission order:
//
//  1. a free provisioned slot of the invoked version (READY capacity) is taken first;
//  2. otherwise, a function with reserved concurrency runs on demand while
//     reserved − Σprovisioned − running on demand > 0, and is throttled with
//     ReservedFunctionConcurrentInvocationLimitExceeded otherwise;
//  3. otherwise the function draws on the account's unreserved pool
//     (limit − Σreserved), shared by on-demand executions and the provisioned
//     capacity of functions without reservations, and is throttled with
//     ConcurrentInvocationLimitExceeded when it is used up.
//
// Limits hold exactly: every decision and count change happens under one mutex,
// held for a few map operations and never across I/O. A Grant must be released
// exactly once when its invocation ends.
package concurrency

import (
	"sync"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// NoReservation is the reserved value of a function without reserved concurrency.
const NoReservation = -1

// Limiter is the admission controller of one node. The zero value is not usable; call New.
type Limiter struct {
	mu            sync.Mutex
	limit         int                 // guarded by mu
	reservedTotal int                 // guarded by mu: Σ reserved over functions with a reservation
	unreserved    int                 // guarded by mu: unreserved pool in use
	fns           map[string]*fnState // guarded by mu
}

type fnState struct {
	reserved    int // NoReservation or ≥ 0
	onDemand    int
	provCap     int                 // Σ capacity over versions
	provisioned map[string]*pcState // version → provisioned slots
}

type pcState struct {
	capacity int // ready environments
	inUse    int
}

// Grant is an admitted invocation. Provisioned reports whether it runs on
// provisioned capacity; Spillover that its version has provisioned capacity,
// all of it in use, so it runs on demand.
type Grant struct {
	fn          *fnState
	pc          *pcState
	Provisioned bool
	Spillover   bool
}

// New returns a limiter with an account limit.
func New(limit int) *Limiter {
	return &Limiter{limit: limit, fns: map[string]*fnState{}}
}

func (l *Limiter) fnLocked(name string) *fnState {
	f := l.fns[name]
	if f == nil {
		f = &fnState{reserved: NoReservation, provisioned: map[string]*pcState{}}
		l.fns[name] = f
	}
	return f
}

// usesPool is how much of the unreserved pool f holds.
func usesPool(f *fnState) int {
	if f.reserved != NoReservation {
		return 0
	}
	return f.onDemand + f.provCap
}

// Limit returns the account limit.
func (l *Limiter) Limit() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.limit
}

// Unreserved returns the size of the unreserved pool (limit − Σreserved).
func (l *Limiter) Unreserved() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.limit - l.reservedTotal
}

// SetReserved sets (or with NoReservation clears) a function's reserved concurrency.
func (l *Limiter) SetReserved(name string, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.fnLocked(name)
	l.unreserved -= usesPool(f)
	if f.reserved != NoReservation {
		l.reservedTotal -= f.reserved
	}
	f.reserved = n
	if n != NoReservation {
		l.reservedTotal += n
	}
	l.unreserved += usesPool(f)
}

// Reserved returns a function's reserved concurrency (NoReservation if none).
func (l *Limiter) Reserved(name string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f := l.fns[name]; f != nil {
		return f.reserved
	}
	return NoReservation
}

// SetProvisioned sets the ready provisioned capacity of a function version.
func (l *Limiter) SetProvisioned(name, version string, capacity int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.fnLocked(name)
	l.unreserved -= usesPool(f)
	pc := f.provisioned[version]
	if pc == nil {
		pc = &pcState{}
		f.provisioned[version] = pc
	}
	f.provCap += capacity - pc.capacity
	pc.capacity = capacity
	if capacity == 0 && pc.inUse == 0 {
		delete(f.provisioned, version)
	}
	l.unreserved += usesPool(f)
}

// Forget clears a deleted function's reservation and provisioned capacity.
// Invocations still running release their grants normally.
func (l *Limiter) Forget(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.fns[name]
	if f == nil {
		return
	}
	l.unreserved -= usesPool(f)
	if f.reserved != NoReservation {
		l.reservedTotal -= f.reserved
	}
	f.reserved = NoReservation
	f.provCap = 0
	for _, pc := range f.provisioned {
		pc.capacity = 0
	}
	l.unreserved += usesPool(f)
}

// Acquire admits an invocation of a function version or throttles it.
func (l *Limiter) Acquire(name, version string) (Grant, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.fnLocked(name)
	pc := f.provisioned[version]
	if pc != nil && pc.inUse < pc.capacity {
		pc.inUse++
		return Grant{fn: f, pc: pc, Provisioned: true}, nil
	}
	spill := pc != nil && pc.capacity > 0
	if f.reserved != NoReservation {
		if f.reserved-f.provCap-f.onDemand <= 0 {
			return Grant{}, lambda.TooManyRequests("ReservedFunctionConcurrentInvocationLimitExceeded", 1)
		}
		f.onDemand++
		return Grant{fn: f, Spillover: spill}, nil
	}
	if l.unreserved >= l.limit-l.reservedTotal {
		return Grant{}, lambda.TooManyRequests("ConcurrentInvocationLimitExceeded", 1)
	}
	f.onDemand++
	l.unreserved++
	return Grant{fn: f, Spillover: spill}, nil
}

// Release ends a granted invocation. The invariant kept by every method:
// unreserved == Σ usesPool(f) over all functions.
func (l *Limiter) Release(g Grant) {
	if g.fn == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if g.pc != nil {
		g.pc.inUse--
		return
	}
	g.fn.onDemand--
	if g.fn.reserved == NoReservation {
		l.unreserved--
	}
}

// Stats is a snapshot for metrics and GetAccountSettings.
type Stats struct {
	Limit, Unreserved, UnreservedInUse int
	Functions                          map[string]FunctionStats
}

// FunctionStats is one function's counts.
type FunctionStats struct {
	Reserved, OnDemand, ProvisionedCapacity, ProvisionedInUse int
}

// Snapshot returns the current counts.
func (l *Limiter) Snapshot() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := Stats{Limit: l.limit, Unreserved: l.limit - l.reservedTotal, UnreservedInUse: l.unreserved, Functions: map[string]FunctionStats{}}
	for n, f := range l.fns {
		fs := FunctionStats{Reserved: f.reserved, OnDemand: f.onDemand, ProvisionedCapacity: f.provCap}
		for _, pc := range f.provisioned {
			fs.ProvisionedInUse += pc.inUse
		}
		s.Functions[n] = fs
	}
	return s
}
