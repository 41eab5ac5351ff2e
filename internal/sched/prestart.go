package sched

import (
	"context"
	"encoding/json"
	"os"
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
// environment is assigned once and never reused for another function. Every
// take starts a replacement. A runtime pool with no take for the keep-alive
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

// launchPrestarted starts cfg's environment in a pre-started process when
// there is one for its runtime; ok is false when it was not used (the caller
// starts a process of its own). The caller calls refill once its cold start
// is over, to start the processes the runtime's pool is missing.
func (s *Scheduler) launchPrestarted(ctx context.Context, t0 time.Time, cfg *lambda.Config, cmd runtimesCommand, codeDir, taskRoot, requestID string, provisioned bool) (_ *env, _ error, ok bool, refill func()) {
	refill = func() {}
	if s.cfg.Prestart <= 0 || cmd.ExecEnv == "" || !s.launcher.CanDefer() {
		return nil, nil, false, refill
	}
	for k := range cfg.EnvVars() {
		if startupVar(k) {
			return nil, nil, false, refill
		}
	}
	e, refill := s.takePrestarted(cfg.Runtime, cmd)
	if e == nil {
		return nil, nil, false, refill
	}
	e.cfg, e.provisioned = cfg, provisioned
	e.logStream = t0.UTC().Format("2006/01/02") + "/[" + cfg.Version + "]" + e.id
	vars, err := s.resolveEnv(ctx, cfg)
	if err != nil {
		s.stop(e)
		return nil, s.secretFailed(e, t0, requestID, err), true, refill
	}
	if err := e.proc.Assign(sandbox.Assignment{CodeDir: codeDir, MemoryMB: cfg.MemorySize, EphemeralMB: cfg.EphemeralStorage.Size}); err != nil {
		s.log.Warn("pre-started environment could not be assigned; starting a new one", "function", cfg.FunctionName, "err", err)
		s.stop(e)
		return nil, nil, false, refill
	}
	line, err := json.Marshal(struct {
		Env map[string]string `json:"env"`
	}{s.environVars(cfg, vars, cmd, taskRoot, e.rapi.Addr(), e.logStream, provisioned)})
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
	e, err = s.awaitInit(ctx, e, t0, requestID, nil)
	return e, err, true, refill
}

// takePrestarted returns a live pre-started environment of runtime, or nil
// (creating the runtime's pool on first use), and refill, which starts the
// processes the pool is then missing.
func (s *Scheduler) takePrestarted(runtime string, cmd runtimesCommand) (*env, func()) {
	now := s.cfg.Now()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, func() {}
	}
	rp := s.prestarted[runtime]
	if rp == nil {
		rp = &runtimePool{runtime: runtime, cmd: cmd}
		s.prestarted[runtime] = rp
	}
	rp.used = now
	// The first that has finished its pre-init, else the oldest.
	var e *env
	var dead []*env
	keep := rp.idle[:0]
	for _, c := range rp.idle {
		switch {
		case !c.alive():
			dead = append(dead, c)
		case e == nil && preinitialised(c):
			e = c
		default:
			keep = append(keep, c)
		}
	}
	clear(rp.idle[len(keep):])
	rp.idle = keep
	if e == nil && len(rp.idle) > 0 {
		e = rp.idle[0]
		rp.idle = rp.idle[1:]
	}
	s.mu.Unlock()
	for _, d := range dead {
		s.stop(d)
	}
	return e, sync.OnceFunc(func() { s.refill(rp) })
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
	env := make([]string, 0, len(vars))
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	proc, err := s.launcher.Start(sandbox.Spec{
		ID:        e.id,
		Path:      rp.cmd.Path,
		Args:      rp.cmd.Args,
		Env:       env,
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
	go func() {
		<-proc.Done()
		rapi.Close()
	}()
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
		keep := rp.idle[:0]
		for _, e := range rp.idle {
			if e.alive() {
				keep = append(keep, e)
			} else {
				stop = append(stop, e)
			}
		}
		if len(keep) < len(rp.idle) {
			short = append(short, rp)
		}
		clear(rp.idle[len(keep):])
		rp.idle = keep
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
