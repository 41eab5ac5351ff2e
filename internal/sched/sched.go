// Package sched owns the execution environments of every function version on this
// node: it keeps warm pools, starts environments when none is idle, reuses them
// one invocation at a time, replaces them after a crash or timeout, and stops
// them after KeepAlive of idleness (scale to zero).
//
// A pool belongs to one function version at one revision: updating $LATEST's
// code or configuration retires the old pool (its idle environments stop, busy
// ones stop when they finish), so no invocation ever runs stale code. Admission
// (concurrency limits, throttling) is the caller's business; the scheduler runs
// whatever it is given. Pools are guarded each by its own mutex; no lock is held
// while an environment starts or runs.
package sched

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nimbus-dev/nimbus/internal/artifact"
	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/logs"
	"github.com/nimbus-dev/nimbus/internal/runtimeapi"
	"github.com/nimbus-dev/nimbus/internal/runtimes"
	"github.com/nimbus-dev/nimbus/internal/sandbox"
)

// Config configures the scheduler.
type Config struct {
	// KeepAlive is how long an idle environment is kept warm; zero means 10 minutes.
	KeepAlive time.Duration
	// APIURL is given to functions as AWS_ENDPOINT_URL.
	APIURL string
	// AccessKeyID and SecretAccessKey are given to functions as their credentials.
	AccessKeyID, SecretAccessKey string
	// RuntimeDir is LAMBDA_RUNTIME_DIR.
	RuntimeDir string
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

	mu    sync.Mutex
	pools map[poolKey]*pool // guarded by mu
	stops sync.WaitGroup    // environments being stopped
}

type poolKey struct{ name, version string }

type pool struct {
	revision string

	mu      sync.Mutex
	idle    []*env // guarded by mu; most recently used last
	retired bool   // guarded by mu
}

// New returns a scheduler.
func New(cfg Config, log *slog.Logger, l *sandbox.Launcher, rt *runtimes.Catalogue, code *artifact.Store, ls *logs.Store) *Scheduler {
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = 10 * time.Minute
	}
	return &Scheduler{cfg: cfg, log: log, launcher: l, runtimes: rt, code: code, logs: ls, pools: map[poolKey]*pool{}}
}

// Invoke runs inv on the version cfg describes. A failed cold start is reported
// in the Outcome like any function error; the error result is for platform
// failures only (code missing, no process could be started).
func (s *Scheduler) Invoke(ctx context.Context, cfg *lambda.Config, inv *runtimeapi.Invocation) (Outcome, error) {
	p := s.pool(cfg)
	for {
		e := p.take()
		if e == nil {
			var err error
			e, err = s.start(ctx, cfg, inv.RequestID)
			if ie, ok := errors.AsType[*initError](err); ok {
				return ie.out, nil
			}
			if err != nil {
				return Outcome{}, err
			}
		}
		out, delivered := s.invoke(ctx, e, inv)
		if !e.alive() || !p.put(e) {
			s.stop(e)
		}
		if delivered {
			return out, nil
		}
		// The environment died while idle, before its runtime took the
		// invocation: run it in another one.
	}
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
	np := &pool{revision: cfg.RevisionId}
	s.pools[k] = np
	s.mu.Unlock()
	if p != nil {
		s.retire(p)
	}
	return np
}

func (p *pool) take() *env {
	p.mu.Lock()
	defer p.mu.Unlock()
	for n := len(p.idle); n > 0; n = len(p.idle) {
		e := p.idle[n-1]
		p.idle = p.idle[:n-1]
		if e.alive() {
			return e
		}
	}
	return nil
}

// put returns e to the idle set; false if the pool is retired.
func (p *pool) put(e *env) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.retired {
		return false
	}
	e.lastUsed = time.Now()
	p.idle = append(p.idle, e)
	return true
}

func (s *Scheduler) retire(p *pool) {
	p.mu.Lock()
	p.retired = true
	idle := p.idle
	p.idle = nil
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
	for _, p := range ps {
		s.retire(p)
	}
}

// stop shuts e down in the background (SIGTERM, then SIGKILL after 2 s as Lambda does).
func (s *Scheduler) stop(e *env) {
	s.stops.Go(func() {
		e.proc.Stop(2 * time.Second)
		e.rapi.Close()
	})
}

// Run reaps idle environments until ctx ends, then stops all environments.
func (s *Scheduler) Run(ctx context.Context) error {
	tick := min(max(s.cfg.KeepAlive/10, 100*time.Millisecond), 30*time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.stopAll()
			return nil
		case now := <-t.C:
			s.reap(now)
		}
	}
}

func (s *Scheduler) reap(now time.Time) {
	s.mu.Lock()
	ps := make([]*pool, 0, len(s.pools))
	for _, p := range s.pools {
		ps = append(ps, p)
	}
	s.mu.Unlock()
	for _, p := range ps {
		p.mu.Lock()
		keep := p.idle[:0]
		var expired []*env
		for _, e := range p.idle {
			if now.Sub(e.lastUsed) >= s.cfg.KeepAlive || !e.alive() {
				expired = append(expired, e)
			} else {
				keep = append(keep, e)
			}
		}
		clear(p.idle[len(keep):])
		p.idle = keep
		p.mu.Unlock()
		for _, e := range expired {
			s.stop(e)
		}
	}
}

func (s *Scheduler) stopAll() {
	s.mu.Lock()
	ps := s.pools
	s.pools = map[poolKey]*pool{}
	s.mu.Unlock()
	for _, p := range ps {
		s.retire(p)
	}
	s.stops.Wait()
}

// Idle returns the number of idle environments (for tests and metrics).
func (s *Scheduler) Idle() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, p := range s.pools {
		p.mu.Lock()
		n += len(p.idle)
		p.mu.Unlock()
	}
	return n
}
