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
// timeout (a program paused at a breakpoint must not be killed), and the
// deadline the function reads (Lambda-Runtime-Deadline-Ms) is debugDeadline
// from the invocation's start whatever its configured timeout: aws-lambda-go
// derives the handler's context from it, and a context that expired while
// the developer was paused would break the code being debugged. It stays
// warm until the session ends, the program exits, an invocation needs another
// version, or the function's code or configuration changes (Retire), after
// which the new $LATEST environment starts at once. Sessions live in memory
// only: a restarted server has none.

// debugSlot is one function's debug session.
type debugSlot struct {
	sess   *debugger.Session
	latest func() (*lambda.Config, bool) // the function's $LATEST now
	turn   chan struct{}                 // holds a token while an invocation (or a pre-start) uses the slot
	ended  chan struct{}                 // closed when the session ends

	mu   sync.Mutex
	env  *env // guarded by mu: the session's environment, or nil
	over bool // guarded by mu: the session has ended
}

// StartDebug starts sess's debug session (sess.Function), replacing any
// earlier one (whose environment is stopped first, so its port is free
// again) and retiring the function's environments. latest returns the
// function's $LATEST configuration as it is now (false once the function is
// gone): its environment is started in the background, now and again after
// every code or configuration change (Retire), so that a developer can
// attach, or re-attach, before the next invocation.
func (s *Scheduler) StartDebug(sess *debugger.Session, latest func() (*lambda.Config, bool)) {
	d := &debugSlot{sess: sess, latest: latest, turn: make(chan struct{}, 1), ended: make(chan struct{})}
	s.setDebugSlot(sess.Function, d).end()
	s.Retire(sess.Function) // which starts d's environment
}

// prestart starts d's $LATEST environment in the background unless it runs.
func (s *Scheduler) prestart(d *debugSlot) {
	s.starts.Go(func() {
		select {
		case d.turn <- struct{}{}:
		case <-d.ended:
			return
		}
		defer func() { <-d.turn }()
		cfg, ok := d.latest()
		if !ok || d.current(cfg) != nil {
			return
		}
		if _, err := s.startDebug(context.Background(), d, cfg, lambda.NewRequestID()); err != nil && !errors.Is(err, errSessionEnded) {
			s.log.Warn("debug environment did not start", "function", cfg.FunctionName, "err", err)
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

// retireDebugEnv replaces function name's debug environment after a change
// of its code or configuration: an idle one stops now, a busy one when its
// invocation ends, and the new $LATEST environment starts.
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
	s.prestart(d)
}

var errSessionEnded = errors.New("debug session ended")

// debugDeadline is the time to its deadline a function under a debugger is
// given: Lambda's longest timeout.
const debugDeadline = 15 * time.Minute

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
	orig := inv // what runs without the debugger if the session ends
	dinv := *inv
	dinv.Deadline = time.Now().Add(debugDeadline)
	inv = &dinv
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
					return s.Invoke(ctx, cfg, orig, provisioned)
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
	// A session that ends while its environment initialises (maybe paused
	// at a breakpoint in init code, with no init timeout) kills it.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-d.ended:
			cancel()
		case <-ctx.Done():
		}
	}()
	e, err := s.launch(ctx, cfg, requestID, false, d.sess)
	if err != nil {
		select {
		case <-d.ended:
			return nil, errSessionEnded
		default:
			return nil, err
		}
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

// debugAbort is closed when an environment starting under debugger dbg
// must be abandoned (startDebug cancels ctx when the session ends); nil,
// which never fires, for other environments.
func debugAbort(ctx context.Context, dbg *debugger.Session) <-chan struct{} {
	if dbg == nil {
		return nil
	}
	return ctx.Done()
}

// invocationContext bounds one invocation in e: by its deadline, or only by
// ctx under a debugger.
func (e *env) invocationContext(ctx context.Context, deadline time.Time) (context.Context, context.CancelFunc) {
	if e.debug {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, deadline)
}
