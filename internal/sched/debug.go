package sched

import (
	"context"
	"errors"
	"maps"
	"math"
	"sync"
	"time"

	"github.com/nimbus-dev/nimbus/internal/debugger"
	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/runtimeapi"
)

// Debugging a function (StartDebug … StopDebug): its invocations, of $LATEST
// and of every version, run one at a time in a single environment started
// under the session's debugger; concurrent invocations queue for it, in no
// particular order, for as long as their callers wait (admission has already
// counted them). That environment has no init timeout and no invocation
// timeout (a program paused at a breakpoint must not be killed); the deadline
// the function reads (Lambda-Runtime-Deadline-Ms) stays its configured
// timeout. It stays warm until the session ends, the function's code or
// configuration changes (Retire), or an invocation needs another version.
// Sessions live in memory only: a restarted server has none.

// debugSlot is one function's debug session.
type debugSlot struct {
	sess  *debugger.Session
	turn  chan struct{} // holds a token while an invocation (or the first start) uses the slot
	ended chan struct{} // closed when the session ends

	mu   sync.Mutex
	env  *env // guarded by mu: the session's environment, or nil
	over bool // guarded by mu: the session has ended
}

// StartDebug starts function latest.FunctionName's debug session sess,
// replacing any earlier one (whose environment is stopped first, so its port
// is free again) and retiring the function's environments. It starts the
// environment of latest ($LATEST) in the background, so a developer can
// attach before the first invocation.
func (s *Scheduler) StartDebug(latest *lambda.Config, sess *debugger.Session) {
	d := &debugSlot{sess: sess, turn: make(chan struct{}, 1), ended: make(chan struct{})}
	old := s.setDebugSlot(latest.FunctionName, d)
	old.end()
	s.Retire(latest.FunctionName)
	s.starts.Go(func() {
		select {
		case d.turn <- struct{}{}:
		case <-d.ended:
			return
		}
		defer func() { <-d.turn }()
		if d.current(latest) == nil {
			if _, err := s.startDebug(context.Background(), d, latest, lambda.NewRequestID()); err != nil && !errors.Is(err, errSessionEnded) {
				s.log.Warn("debug environment did not start", "function", latest.FunctionName, "err", err)
			}
		}
	})
}

// StopDebug ends function name's debug session, if any; its environment is
// stopped at once, even mid-invocation (that invocation fails with
// Runtime.ExitError). Later invocations run in ordinary environments.
func (s *Scheduler) StopDebug(name string) {
	s.setDebugSlot(name, nil).end()
}

// Debugging returns function name's debug session, or nil.
func (s *Scheduler) Debugging(name string) *debugger.Session {
	if d := s.debugSlot(name); d != nil {
		return d.sess
	}
	return nil
}

// DebugSessions returns every debug session.
func (s *Scheduler) DebugSessions() []*debugger.Session {
	var out []*debugger.Session
	if m := s.debug.Load(); m != nil {
		for _, d := range *m {
			out = append(out, d.sess)
		}
	}
	return out
}

// debugSlot returns function name's debug session, or nil. It takes no lock:
// it is on every invocation's path.
func (s *Scheduler) debugSlot(name string) *debugSlot {
	if m := s.debug.Load(); m != nil {
		return (*m)[name]
	}
	return nil
}

// setDebugSlot makes d (nil: none) function name's debug session and returns the previous one.
func (s *Scheduler) setDebugSlot(name string, d *debugSlot) *debugSlot {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]*debugSlot{}
	if old := s.debug.Load(); old != nil {
		maps.Copy(m, *old)
	}
	prev := m[name]
	if d != nil {
		m[name] = d
	} else {
		delete(m, name)
	}
	if len(m) == 0 {
		s.debug.Store(nil)
	} else {
		s.debug.Store(&m)
	}
	return prev
}

// stopDebugging ends every debug session (the server is stopping).
func (s *Scheduler) stopDebugging() {
	s.mu.Lock()
	m := s.debug.Swap(nil)
	s.mu.Unlock()
	if m != nil {
		for _, d := range *m {
			d.end()
		}
	}
}

// retireDebugEnv stops function name's idle debug environment (its code or
// configuration changed); a busy one is replaced by the next invocation.
func (s *Scheduler) retireDebugEnv(name string) {
	d := s.debugSlot(name)
	if d == nil {
		return
	}
	select {
	case d.turn <- struct{}{}:
		d.mu.Lock()
		e := d.env
		d.env = nil
		d.mu.Unlock()
		if e != nil {
			kill(e)
		}
		<-d.turn
	default:
	}
}

var errSessionEnded = errors.New("debug session ended")

// invokeDebug runs inv in d's environment, waiting for its turn. If the
// session ends meanwhile, inv runs as if there had been none.
func (s *Scheduler) invokeDebug(ctx context.Context, d *debugSlot, cfg *lambda.Config, inv *runtimeapi.Invocation, provisioned bool) (Outcome, error) {
	select {
	case d.turn <- struct{}{}:
	case <-d.ended:
		return s.Invoke(ctx, cfg, inv, provisioned)
	case <-ctx.Done():
		return Outcome{}, ctx.Err()
	}
	for {
		e := d.current(cfg)
		cold := e == nil
		if cold {
			var err error
			e, err = s.startDebug(ctx, d, cfg, inv.RequestID)
			if ie, ok := errors.AsType[*initError](err); ok {
				<-d.turn
				return ie.out, nil
			}
			if err != nil {
				<-d.turn
				if errors.Is(err, errSessionEnded) {
					return s.Invoke(ctx, cfg, inv, provisioned)
				}
				return Outcome{}, err
			}
		}
		out, delivered := s.invoke(ctx, e, inv)
		if !delivered {
			continue // it died before taking inv; current starts another
		}
		<-d.turn
		out.Cold = cold
		return out, nil
	}
}

// current returns d's environment if it is alive and runs cfg's version at
// cfg's revision; otherwise it stops it (waiting until its port is free) and
// returns nil. The caller holds d's turn.
func (d *debugSlot) current(cfg *lambda.Config) *env {
	d.mu.Lock()
	e := d.env
	if e != nil && e.alive() && e.cfg.Version == cfg.Version && e.cfg.RevisionId == cfg.RevisionId {
		d.mu.Unlock()
		return e
	}
	d.env = nil
	d.mu.Unlock()
	if e != nil {
		kill(e)
	}
	return nil
}

// startDebug starts cfg's environment under d's debugger and makes it d's.
// The caller holds d's turn.
func (s *Scheduler) startDebug(ctx context.Context, d *debugSlot, cfg *lambda.Config, requestID string) (*env, error) {
	if !d.sess.Serves(cfg.Runtime) {
		return nil, lambda.Conflict("Function %s now has runtime %s, but its debug session is for %s: enable debugging again", cfg.FunctionName, cfg.Runtime, d.sess.Runtime)
	}
	e, err := s.launch(ctx, cfg, requestID, false, d.sess)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	if d.over {
		d.mu.Unlock()
		kill(e)
		return nil, errSessionEnded
	}
	d.env = e
	d.mu.Unlock()
	return e, nil
}

// end ends the session and stops its environment, waiting until it is gone.
func (d *debugSlot) end() {
	if d == nil {
		return
	}
	d.mu.Lock()
	if d.over {
		d.mu.Unlock()
		return
	}
	d.over = true
	close(d.ended)
	e := d.env
	d.env = nil
	d.mu.Unlock()
	if e != nil {
		kill(e)
	}
}

// kill kills e's process tree and waits until it is gone (its Runtime API
// server closes with it, see start).
func kill(e *env) {
	e.proc.Kill()
	<-e.proc.Done()
}

// initTimeout is how long an environment may take to initialise: no limit
// under a debugger (a developer may be stepping through the init code).
func initTimeout(dbg *debugger.Session) time.Duration {
	if dbg != nil {
		return math.MaxInt64
	}
	return lambda.InitTimeout
}

// invocationContext bounds one invocation in e: by its deadline, or only by
// ctx under a debugger.
func (e *env) invocationContext(ctx context.Context, deadline time.Time) (context.Context, context.CancelFunc) {
	if e.debug {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, deadline)
}
