package sched

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/runtimeapi"
	"github.com/nimbus-dev/nimbus/internal/sandbox"
)

// Pre-started interpreters.
//
// Most of a Node or Python cold start is the interpreter starting and loading
// the runtime client, none of which depends on the function. For each managed
// runtime that has had a cold start, the scheduler keeps Config.Prestart
// processes of that runtime's bootstrap started ahead of demand: each in a
// sandbox of its own (sandbox.Spec.DeferCode: every isolation layer on, an
// empty /var/task, generic variables only) and blocked in the bootstrap's
// pre-init mode on a line from its stdin. A cold start of a function of that
// runtime takes one: the sandbox attaches the function's code and sets its
// limits (sandbox.Process.Assign), the scheduler writes the function's
// environment variables as one JSON line ({"env":{…}}), and the bootstrap
// sets them, imports the handler and asks for its first invocation. The cold
// start is still a cold start (Init Duration from the assignment on); an
// environment is assigned once and never reused for another function. Once a
// cold start of the runtime is over, the processes its pool is missing are
// started (not before: their start-up would compete with it), and the reaper
// replaces the ones that died. A runtime pool with no take for the keep-alive
// period is stopped (scale to zero), and is started again by its runtime's
// next cold start.
//
// Functions whose variables change how an interpreter starts (NODE_OPTIONS
// and the like, see startupVar) start their own process as before, and so do
// debug sessions and runtimes with their own bootstrap (provided.*).

// prestartMemoryMB is a pre-started environment's cgroup memory cap until
// its assignment: Lambda's smallest MemorySize.
const prestartMemoryMB = 128

// preinitVar puts a bootstrap in its pre-init mode.
const preinitVar = "_NIMBUS_PREINIT"

// runtimePool holds the pre-started environments of one runtime.
type runtimePool struct {
	runtime string
	cmd     runtimesCommand

	// guarded by Scheduler.mu
	idle     []*env // oldest first
	starting int
	used     time.Time // last take (or creation)
}

// startupVar reports whether a customer variable takes effect only when an
// interpreter starts, so a pre-started one would miss it.
func startupVar(k string) bool {
	switch k {
	case "LANG", "TZ", "PATH", "AWS_LAMBDA_EXEC_WRAPPER", "GLIBC_TUNABLES":
		return true
	}
	// UV_THREADPOOL_SIZE: Node starts its thread pool at start-up;
	// OPENSSL_CONF: read at start-up; MALLOC_*: glibc's, read at the first malloc.
	for _, p := range []string{"NODE_", "PYTHON", "LD_", "LC_", "UV_", "OPENSSL_", "MALLOC_"} {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// errNotAssigned reports that a pre-started environment could not be given
// its function; the caller starts a process of its own instead.
var errNotAssigned = errors.New("sched: pre-started environment not assigned")

// takePrestarted returns a live pre-started environment for cfg's cold
// start, or nil if cfg cannot use one (see startupVar) or its runtime has
// none (creating the runtime's pool on first use). Call refill once the cold
// start is over: it starts the processes the pool is then missing.
func (s *Scheduler) takePrestarted(cfg *lambda.Config, cmd runtimesCommand) (e *env, refill func()) {
	refill = func() {}
	if s.cfg.Prestart <= 0 || cmd.ExecEnv == "" || !s.launcher.CanDefer() {
		return nil, refill
	}
	for k := range cfg.EnvVars() {
		if startupVar(k) {
			return nil, refill
		}
	}
	now := s.cfg.Now()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, refill
	}
	rp := s.prestarted[cfg.Runtime]
	if rp == nil {
		rp = &runtimePool{runtime: cfg.Runtime, cmd: cmd}
		s.prestarted[cfg.Runtime] = rp
	}
	rp.used = now
	dead := rp.dropDead()
	// The first that has finished its pre-init, else the oldest.
	if len(rp.idle) > 0 {
		i := max(slices.IndexFunc(rp.idle, preinitialised), 0)
		e = rp.idle[i]
		rp.idle = slices.Delete(rp.idle, i, i+1)
	}
	s.mu.Unlock()
	for _, d := range dead {
		s.stop(d)
	}
	return e, sync.OnceFunc(func() { s.refill(rp) })
}

// dropDead removes and returns the environments whose process ended.
// Called with Scheduler.mu held.
func (rp *runtimePool) dropDead() []*env {
	var dead []*env
	rp.idle = slices.DeleteFunc(rp.idle, func(e *env) bool {
		if !e.alive() {
			dead = append(dead, e)
			return true
		}
		return false
	})
	return dead
}

// assign gives pre-started e to cfg and waits for its init, like launch;
// errNotAssigned means e was stopped and the caller must start its own.
func (s *Scheduler) assign(ctx context.Context, e *env, t0 time.Time, cfg *lambda.Config, cmd runtimesCommand, codeDir, taskRoot, requestID string, provisioned bool) (*env, error) {
	e.cfg, e.provisioned = cfg, provisioned
	e.logStream = logStreamName(t0, cfg.Version, e.id)
	vars, err := s.resolveEnv(ctx, cfg)
	if err != nil {
		s.stop(e)
		return nil, s.secretFailed(e, t0, requestID, err)
	}
	if err := e.proc.Assign(sandbox.Assignment{CodeDir: codeDir, MemoryMB: cfg.MemorySize, EphemeralMB: cfg.EphemeralStorage.Size}); err != nil {
		s.log.Warn("pre-started environment could not be assigned; starting a new one", "function", cfg.FunctionName, "err", err)
		s.stop(e)
		return nil, errNotAssigned
	}
	line, err := json.Marshal(struct {
		Env map[string]string `json:"env"`
	}{s.environ(cfg, vars, cmd, taskRoot, e.rapi.Addr(), e.logStream, provisioned)})
	if err == nil {
		// A process stuck before reading would block a line longer than
		// the pipe's buffer for ever: bound it by the init timeout.
		e.assign.SetWriteDeadline(time.Now().Add(lambda.InitTimeout))
		_, err = e.assign.Write(append(line, '\n'))
	}
	e.assign.Close()
	e.assign = nil
	if err != nil {
		// The process is gone (its stdin is closed): awaitInit reports it
		// as the init failure it is.
		s.log.Warn("pre-started environment did not take its assignment", "function", cfg.FunctionName, "err", err)
	}
	return s.awaitInit(ctx, e, t0, requestID, nil)
}

// refill starts the processes rp is missing.
func (s *Scheduler) refill(rp *runtimePool) {
	s.mu.Lock()
	if !s.closed && s.prestarted[rp.runtime] == rp {
		missing := max(s.cfg.Prestart-len(rp.idle)-rp.starting, 0)
		rp.starting += missing
		// Counted under mu: once stopPrestarted has set closed, stopAll's
		// starts.Wait sees every start begun before it.
		for range missing {
			s.starts.Go(func() { s.prestartOne(rp) })
		}
	}
	s.mu.Unlock()
}

// prestartOne starts one pre-started environment for rp.
func (s *Scheduler) prestartOne(rp *runtimePool) {
	e, err := s.startGeneric(rp)
	s.mu.Lock()
	rp.starting--
	keep := err == nil && !s.closed && s.prestarted[rp.runtime] == rp
	if keep {
		rp.idle = append(rp.idle, e)
	}
	s.mu.Unlock()
	if err != nil {
		s.log.Warn("could not pre-start an environment", "runtime", rp.runtime, "err", err)
	} else if !keep {
		s.stop(e)
	}
}

// startGeneric starts rp's bootstrap in pre-init mode in an environment
// with no code and only the variables that do not depend on a function.
func (s *Scheduler) startGeneric(rp *runtimePool) (*env, error) {
	taskRoot := s.launcher.TaskRoot("")
	rapi, err := runtimeapi.Start()
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		rapi.Close()
		return nil, err
	}
	defer r.Close()
	e := &env{id: lambda.NewHexID(16), rapi: rapi, assign: w}
	vars := baseEnviron(taskRoot)
	vars["AWS_LAMBDA_RUNTIME_API"] = rapi.Addr()
	vars["LAMBDA_TASK_ROOT"] = taskRoot
	vars["LAMBDA_RUNTIME_DIR"] = s.launcher.RuntimeDir()
	vars["AWS_EXECUTION_ENV"] = rp.cmd.ExecEnv
	vars[preinitVar] = "1"
	proc, err := s.launcher.Start(sandbox.Spec{
		ID:        e.id,
		Path:      rp.cmd.Path,
		Args:      rp.cmd.Args,
		Env:       envList(vars),
		Dir:       taskRoot,
		DeferCode: true,
		Stdin:     r,
		MemoryMB:  prestartMemoryMB,
		Output:    e.output,
	})
	if err != nil {
		w.Close()
		rapi.Close()
		return nil, err
	}
	e.proc = proc
	e.closeAPIOnExit()
	return e, nil
}

// reapPrestarted stops the runtime pools that had no take for the
// keep-alive period, and replaces the pre-started processes that died.
func (s *Scheduler) reapPrestarted(now time.Time) {
	var stop []*env
	var short []*runtimePool
	s.mu.Lock()
	for name, rp := range s.prestarted {
		if now.Sub(rp.used) >= s.cfg.KeepAlive {
			stop = append(stop, rp.idle...)
			delete(s.prestarted, name)
			continue
		}
		if dead := rp.dropDead(); len(dead) > 0 {
			stop = append(stop, dead...)
			short = append(short, rp)
		}
	}
	s.mu.Unlock()
	for _, e := range stop {
		s.stop(e)
	}
	for _, rp := range short {
		s.refill(rp)
	}
}

// stopPrestarted stops every pre-started environment; none start after it.
func (s *Scheduler) stopPrestarted() {
	s.mu.Lock()
	s.closed = true
	var stop []*env
	for _, rp := range s.prestarted {
		stop = append(stop, rp.idle...)
	}
	s.prestarted = map[string]*runtimePool{}
	s.mu.Unlock()
	for _, e := range stop {
		s.stop(e)
	}
}

// preinitialised reports whether e's bootstrap has loaded what it can
// before it is given a function.
func preinitialised(e *env) bool {
	select {
	case <-e.rapi.Preinitialised():
		return true
	default:
		return false
	}
}

// PrestartStats counts one runtime's pre-started environments not yet given
// to a function: Ready have finished their pre-init, Starting have not.
type PrestartStats struct{ Ready, Starting int }

// Prestarted counts the pre-started environments by runtime.
func (s *Scheduler) Prestarted() map[string]PrestartStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]PrestartStats, len(s.prestarted))
	for name, rp := range s.prestarted {
		st := PrestartStats{Starting: rp.starting}
		for _, e := range rp.idle {
			if preinitialised(e) {
				st.Ready++
			} else {
				st.Starting++
			}
		}
		out[name] = st
	}
	return out
}
