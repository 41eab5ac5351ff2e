// Package sched owns the execution environments of every function version on this
// node: it keeps warm pools, starts environments when none is idle, reuses them
// one invocation at a time, replaces them after a crash or timeout, and stops
// idle ones when the keep-alive policy says (scale to zero), or starts them
// ahead of expected invocations when it asks (pre-warming).
//
// A pool belongs to one function version at one revision: updating $LATEST's
// code or configuration retires the old pool (its idle environments stop, busy
// ones stop when they finish), so no invocation ever runs stale code. Admission
// (concurrency limits, throttling) is the caller's business; the scheduler runs
// whatever it is given. Pools are guarded each by its own mutex; no lock is held
// while an environment starts or runs.
//
// A function being debugged (StartDebug, debug.go) bypasses its pools: its
// invocations take turns in one environment started under a debugger, with
// no init or invocation timeout.
package sched

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nimbus-dev/nimbus/internal/artifact"
	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/logs"
	"github.com/nimbus-dev/nimbus/internal/runtimeapi"
	"github.com/nimbus-dev/nimbus/internal/runtimes"
	"github.com/nimbus-dev/nimbus/internal/sandbox"
	"github.com/nimbus-dev/nimbus/internal/sched/keepalive"
)

// Config configures the scheduler.
type Config struct {
	// KeepAlive is how long an idle environment is kept warm when Policy is
	// nil; zero means 10 minutes.
	KeepAlive time.Duration
	// Policy decides, per function version, how long idle environments stay
	// warm and how many to pre-warm; nil means keepalive.Fixed{KeepAlive}.
	Policy keepalive.Policy
	// APIURL is given to functions as AWS_ENDPOINT_URL.
	APIURL string
	// AccessKeyID and SecretAccessKey are given to functions as their credentials.
	AccessKeyID, SecretAccessKey string
	// ScaleUpRate is how many new environments a function may start per 10 s
	// (refilled continuously, not accumulating beyond it); zero means 1000, as Lambda.
	ScaleUpRate int
	// Secrets resolves the secret references ({{resolve:secretsmanager:…}})
	// in an environment variable's value when an environment starts; a
	// *lambda.Error fails the start with its Code as the errorType. Nil
	// leaves values as they are.
	Secrets func(ctx context.Context, value string) (string, error)
	// Prestart is how many interpreters of each managed runtime in use are
	// kept started ahead of demand for cold starts (prestart.go); zero: none.
	Prestart int
	// Now is the clock of everything the keep-alive policy and the pools'
	// expiry see: Arrived, Ended, Prewarm, keep-alive deadlines, the reaper's
	// ticks and the scale-up rate (durations and log lines use the wall
	// clock). Nil means time.Now; tests move a virtual clock and call reap.
	Now func() time.Time
}

type runtimesCommand = runtimes.Command

// Scheduler runs invocations in warm or new environments.
type Scheduler struct {
	cfg      Config
	log      *slog.Logger
	launcher *sandbox.Launcher
	runtimes *runtimes.Catalogue
	code     *artifact.Store
	logs     *logs.Store

	mu      sync.Mutex
	pools   map[poolKey]*pool  // guarded by mu
	buckets map[string]*bucket // guarded by mu: scale-up tokens per function
	stops   sync.WaitGroup     // environments being stopped
	starts  sync.WaitGroup     // environments being pre-warmed or pre-started
	// prestarted are the pre-started environments by runtime (prestart.go).
	prestarted map[string]*runtimePool // guarded by mu
	closed     bool                    // guarded by mu: stopAll began; nothing is pre-started any more

	debug atomic.Pointer[map[string]*debugSlot] // debug sessions by function, copied on write under mu (debug.go)
}

// bucket is a token bucket of new environments.
type bucket struct {
	tokens float64
	at     time.Time
}

// admitScaleUp takes a scale-up token for fn or throttles.
func (s *Scheduler) admitScaleUp(fn string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	capacity := float64(s.cfg.ScaleUpRate)
	b := s.buckets[fn]
	if b == nil {
		b = &bucket{tokens: capacity, at: now}
		s.buckets[fn] = b
	}
	b.tokens = min(capacity, b.tokens+now.Sub(b.at).Seconds()*capacity/10)
	b.at = now
	if b.tokens < 1 {
		return lambda.TooManyRequests("FunctionInvocationRateLimitExceeded", 1)
	}
	b.tokens--
	return nil
}

type poolKey struct{ name, version string }

type pool struct {
	revision string
	key      string         // the policy's name for it: function:version
	cfg      *lambda.Config // what pre-warmed environments run

	mu       sync.Mutex
	idle     []*env // guarded by mu; on-demand, most recently used last
	provIdle []*env // guarded by mu; provisioned and idle
	provLive int    // guarded by mu; provisioned environments alive (idle or busy)
	busy     int    // guarded by mu; environments running an invocation or starting for one
	starting int    // guarded by mu; environments being pre-warmed
	retired  bool   // guarded by mu
}

// New returns a scheduler.
func New(cfg Config, log *slog.Logger, l *sandbox.Launcher, rt *runtimes.Catalogue, code *artifact.Store, ls *logs.Store) *Scheduler {
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = 10 * time.Minute
	}
	if cfg.ScaleUpRate <= 0 {
		cfg.ScaleUpRate = 1000
	}
	if cfg.Policy == nil {
		cfg.Policy = keepalive.Fixed{KeepAlive: cfg.KeepAlive}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Scheduler{cfg: cfg, log: log, launcher: l, runtimes: rt, code: code, logs: ls, pools: map[poolKey]*pool{}, buckets: map[string]*bucket{},
		prestarted: map[string]*runtimePool{}}
}

// Invoke runs inv on the version cfg describes, on a provisioned environment if
// the caller was granted provisioned capacity (falling back to on-demand if none
// is idle at this instant). A failed cold start is reported in the Outcome like
// any function error; the error result is for platform failures only (code
// missing, no process could be started).
func (s *Scheduler) Invoke(ctx context.Context, cfg *lambda.Config, inv *runtimeapi.Invocation, provisioned bool) (Outcome, error) {
	if d := s.debugSlot(cfg.FunctionName); d != nil {
		return s.invokeDebug(ctx, d, cfg, inv, provisioned)
	}
	p := s.pool(cfg)
	s.cfg.Policy.Arrived(p.key, s.cfg.Now())
	for {
		e := p.take(provisioned)
		cold := e == nil
		if cold {
			var err error
			if err := s.admitScaleUp(cfg.FunctionName); err != nil {
				s.ended(p)
				return Outcome{}, err
			}
			e, err = s.start(ctx, cfg, inv.RequestID, false)
			if ie, ok := errors.AsType[*initError](err); ok {
				s.ended(p)
				return ie.out, nil
			}
			if err != nil {
				s.ended(p)
				return Outcome{}, err
			}
		}
		out, delivered := s.invoke(ctx, e, inv)
		if !delivered {
			// The environment died before its runtime took the invocation
			// (idle, or while starting): run it in another one.
			s.release(p, e, 0)
			continue
		}
		out.Cold = cold
		s.release(p, e, s.cfg.Policy.Ended(p.key, s.cfg.Now()))
		return out, nil
	}
}

// ended ends an invocation that got no environment.
func (s *Scheduler) ended(p *pool) {
	p.done()
	s.cfg.Policy.Ended(p.key, s.cfg.Now())
}

// release returns e to its pool, warm for keepAlive (provisioned environments
// regardless), or stops it if it died, keepAlive ≤ 0 or the pool is retired.
func (s *Scheduler) release(p *pool, e *env, keepAlive time.Duration) {
	p.mu.Lock()
	p.busy--
	p.mu.Unlock()
	if !e.alive() || (!e.provisioned && keepAlive <= 0) || !p.put(e, s.cfg.Now().Add(keepAlive)) {
		if e.provisioned {
			p.mu.Lock()
			p.provLive--
			p.mu.Unlock()
		}
		s.stop(e)
	}
}

// Provision makes cfg's pool hold n provisioned environments, starting missing
// ones (initialised ahead, AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency)
// and stopping idle extra ones. It returns how many are alive, and the first
// init failure if any.
func (s *Scheduler) Provision(ctx context.Context, cfg *lambda.Config, n int) (int, error) {
	p := s.pool(cfg)
	p.mu.Lock()
	missing := n - p.provLive
	var extra []*env
	for missing < 0 && len(p.provIdle) > 0 {
		extra = append(extra, p.provIdle[len(p.provIdle)-1])
		p.provIdle = p.provIdle[:len(p.provIdle)-1]
		p.provLive--
		missing++
	}
	if missing > 0 {
		p.provLive += missing // reserved now so concurrent calls do not overshoot
	}
	p.mu.Unlock()
	for _, e := range extra {
		s.stop(e)
	}
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for range max(missing, 0) {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			e, err := s.start(ctx, cfg, lambda.NewRequestID(), true)
			if err == nil {
				e.initDur = 0 // initialised ahead: no invocation waited for it
			}
			if err == nil && !p.put(e, time.Time{}) {
				err = errors.New("pool retired")
				s.stop(e)
			}
			if err != nil {
				p.mu.Lock()
				p.provLive--
				p.mu.Unlock()
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.provLive, firstErr
}

// pool returns the pool for cfg's version at cfg's revision, retiring an older one.
func (s *Scheduler) pool(cfg *lambda.Config) *pool {
	k := poolKey{cfg.FunctionName, cfg.Version}
	s.mu.Lock()
	p := s.pools[k]
	if p != nil && p.revision == cfg.RevisionId {
		s.mu.Unlock()
		return p
	}
	np := &pool{revision: cfg.RevisionId, key: cfg.FunctionName + ":" + cfg.Version, cfg: cfg}
	s.pools[k] = np
	s.mu.Unlock()
	if p != nil {
		s.retire(p)
	}
	return np
}

// take returns an idle environment (a provisioned one first if asked), or nil.
func (p *pool) take(provisioned bool) *env {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.busy++ // the caller runs an invocation here or in a new environment
	if provisioned {
		if e := popAlive(&p.provIdle, &p.provLive); e != nil {
			return e
		}
	}
	var none int
	return popAlive(&p.idle, &none)
}

func popAlive(stack *[]*env, live *int) *env {
	for n := len(*stack); n > 0; n = len(*stack) {
		e := (*stack)[n-1]
		*stack = (*stack)[:n-1]
		if e.alive() {
			return e
		}
		*live--
	}
	return nil
}

// put returns e to the idle set, warm until until (ignored for provisioned
// environments); false if the pool is retired.
func (p *pool) put(e *env, until time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.retired {
		return false
	}
	e.until = until
	if e.provisioned {
		p.provIdle = append(p.provIdle, e)
	} else {
		p.idle = append(p.idle, e)
	}
	return true
}

func (s *Scheduler) retire(p *pool) {
	p.mu.Lock()
	p.retired = true
	idle := append(p.idle, p.provIdle...)
	p.idle, p.provIdle, p.provLive = nil, nil, 0
	p.mu.Unlock()
	for _, e := range idle {
		s.stop(e)
	}
}

// Retire stops every environment of function name (all versions), e.g. after it
// was deleted. Busy environments stop when their invocation ends.
func (s *Scheduler) Retire(name string) {
	s.mu.Lock()
	var ps []*pool
	for k, p := range s.pools {
		if k.name == name {
			ps = append(ps, p)
			delete(s.pools, k)
		}
	}
	s.mu.Unlock()
	s.retireDebugEnv(name)
	for _, p := range ps {
		s.cfg.Policy.Forget(p.key)
	}
	for _, p := range ps {
		s.retire(p)
	}
}

// stop shuts e down in the background (SIGTERM, then SIGKILL after 2 s as Lambda does).
func (s *Scheduler) stop(e *env) {
	if e.assign != nil {
		e.assign.Close() // a pre-started bootstrap ends at end of file
	}
	s.stops.Go(func() {
		e.proc.Stop(2 * time.Second)
		e.rapi.Close()
	})
}

// Run reaps idle environments and pre-warms new ones until ctx ends, then
// stops all environments.
func (s *Scheduler) Run(ctx context.Context) error {
	tick := min(max(s.cfg.KeepAlive/10, 100*time.Millisecond), 10*time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.stopAll()
			return nil
		case <-t.C:
			s.reap(ctx, s.cfg.Now())
		}
	}
}

// maxPrewarmsPerTick bounds what one tick starts for one pool, whatever the
// policy asks.
const maxPrewarmsPerTick = 64

// reap stops the idle environments whose keep-alive has passed, least recently
// used first, while each pool keeps more than its policy floor, and starts the
// environments missing below the floor.
func (s *Scheduler) reap(ctx context.Context, now time.Time) {
	s.reapPrestarted(now)
	s.mu.Lock()
	ps := make([]*pool, 0, len(s.pools))
	for _, p := range s.pools {
		ps = append(ps, p)
	}
	s.mu.Unlock()
	for _, p := range ps {
		floor := s.cfg.Policy.Prewarm(p.key, now) // no I/O under p.mu
		p.mu.Lock()
		have := p.busy + len(p.idle) + p.starting
		keep := p.idle[:0]
		var expired []*env
		for _, e := range p.idle {
			if !e.alive() || (!now.Before(e.until) && have > floor) {
				expired = append(expired, e)
				have--
			} else {
				keep = append(keep, e)
			}
		}
		clear(p.idle[len(keep):])
		p.idle = keep
		missing := 0
		if !p.retired && ctx.Err() == nil {
			missing = min(max(floor-have, 0), maxPrewarmsPerTick)
			p.starting += missing
		}
		p.mu.Unlock()
		for _, e := range expired {
			s.stop(e)
		}
		for range missing {
			s.starts.Go(func() { s.prewarm(ctx, p) })
		}
	}
}

// prewarm starts an environment for p's version ahead of demand; it stays
// idle until an invocation takes it, held only by the policy's floor.
func (s *Scheduler) prewarm(ctx context.Context, p *pool) {
	defer func() {
		p.mu.Lock()
		p.starting--
		p.mu.Unlock()
	}()
	if s.admitScaleUp(p.cfg.FunctionName) != nil {
		return // pre-warms count against the scale-up rate too
	}
	e, err := s.start(ctx, p.cfg, lambda.NewRequestID(), false)
	if err != nil {
		s.log.Warn("pre-warm failed", "function", p.cfg.FunctionName, "version", p.cfg.Version, "err", err)
		return
	}
	e.initDur = 0 // initialised ahead: its first invocation is not a cold start
	if ctx.Err() != nil || !p.put(e, s.cfg.Now()) {
		s.stop(e)
	}
}

func (s *Scheduler) stopAll() {
	s.stopDebugging()
	s.mu.Lock()
	ps := s.pools
	s.pools = map[poolKey]*pool{}
	s.mu.Unlock()
	for _, p := range ps {
		s.retire(p)
	}
	s.stopPrestarted()
	s.starts.Wait() // a pre-warm finishing now finds its pool retired and stops its environment
	s.stops.Wait()
}

// done ends a take that found no environment to release.
func (p *pool) done() {
	p.mu.Lock()
	p.busy--
	p.mu.Unlock()
}

// EnvStats counts one function's environments by state.
type EnvStats struct{ Idle, Busy, ProvisionedIdle int }

// Stats returns environment counts per function.
func (s *Scheduler) Stats() map[string]EnvStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]EnvStats{}
	for k, p := range s.pools {
		p.mu.Lock()
		st := out[k.name]
		st.Idle += len(p.idle)
		st.ProvisionedIdle += len(p.provIdle)
		st.Busy += p.busy
		out[k.name] = st
		p.mu.Unlock()
	}
	return out
}

// Idle returns the number of idle environments (for tests and metrics).
func (s *Scheduler) Idle() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, p := range s.pools {
		p.mu.Lock()
		n += len(p.idle) + len(p.provIdle)
		p.mu.Unlock()
	}
	return n
}
