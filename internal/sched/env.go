package sched

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/nimbus-dev/nimbus/internal/debugger"
	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/runtimeapi"
	"github.com/nimbus-dev/nimbus/internal/sandbox"
)

// Outcome is what one invocation produced.
type Outcome struct {
	Result runtimeapi.Result
	// Log is the invocation's whole log record (init output, START … REPORT).
	Log          []byte
	Duration     time.Duration
	InitDuration time.Duration // non-zero on a cold start
	// ExecutedVersion is the version that ran.
	ExecutedVersion string
	// Cold reports that the invocation started a new environment.
	Cold bool
}

// env is one execution environment: a sandboxed bootstrap process and the
// Runtime API server it talks to. It runs one invocation at a time; whoever took
// it from its pool owns it until it is put back.
type env struct {
	id        string
	cfg       *lambda.Config
	logStream string
	rapi      *runtimeapi.Server
	proc      *sandbox.Process
	initDur   time.Duration // reported with the first invocation, then zeroed
	until     time.Time     // keep-alive deadline while idle; guarded by the pool's mu
	// provisioned environments were initialised ahead of demand and are never reaped.
	provisioned bool
	// debug environments run under a debugger: no timeouts (debug.go).
	debug bool
	// assign is the stdin of a pre-started environment not yet given to a
	// function (prestart.go), else nil.
	assign *os.File

	mu    sync.Mutex
	lines []byte // guarded by mu: output not yet attributed to an invocation
}

func (e *env) output(line []byte) {
	e.mu.Lock()
	e.lines = append(append(e.lines, line...), '\n')
	e.mu.Unlock()
}

func (e *env) logf(format string, args ...any) {
	e.mu.Lock()
	e.lines = fmt.Appendf(e.lines, format, args...)
	e.lines = append(e.lines, '\n')
	e.mu.Unlock()
}

// mark returns the position of the next output line.
func (e *env) mark() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.lines)
}

// insertf inserts a line at a position taken with mark.
func (e *env) insertf(at int, format string, args ...any) {
	e.mu.Lock()
	line := fmt.Appendf(nil, format, args...)
	line = append(line, '\n')
	e.lines = append(e.lines[:at:at], append(line, e.lines[at:]...)...)
	e.mu.Unlock()
}

// takeLog returns and clears the collected output.
func (e *env) takeLog() []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	b := e.lines
	e.lines = nil
	return b
}

// alive reports whether the process is still running.
func (e *env) alive() bool {
	select {
	case <-e.proc.Done():
		return false
	default:
		return true
	}
}

// initError is a failed cold start; its outcome is the invocation's answer.
type initError struct{ out Outcome }

func (e *initError) Error() string { return "init failed: " + e.out.Result.ErrorType }

// start starts an environment for cfg and waits for its runtime to be ready (its
// first /next). An init failure is returned as *initError with the outcome to
// report for the invocation that caused the cold start (requestID).
func (s *Scheduler) start(ctx context.Context, cfg *lambda.Config, requestID string, provisioned bool) (*env, error) {
	return s.launch(ctx, cfg, requestID, provisioned, nil)
}

// launch is start, under debugger dbg when it is not nil (debug.go).
func (s *Scheduler) launch(ctx context.Context, cfg *lambda.Config, requestID string, provisioned bool, dbg *debugger.Session) (*env, error) {
	t0 := time.Now()
	codeDir, err := s.code.Dir(ctx, cfg.CodeSha256)
	if err != nil {
		return nil, err
	}
	// Paths as the environment sees them (/var/task under the sandbox's private root).
	taskRoot := s.launcher.TaskRoot(codeDir)
	cmd, err := s.runtimes.Command(cfg.Runtime, taskRoot, s.launcher.RuntimeDir())
	if err != nil {
		return nil, err
	}
	if dbg != nil {
		cmd = dbg.Command(cmd)
	} else {
		pre, refill := s.takePrestarted(cfg, cmd)
		// Replacements start once this cold start is over, however it
		// started: their interpreters' start-up would compete with it.
		defer refill()
		if pre != nil {
			if e, err := s.assign(ctx, pre, t0, cfg, cmd, codeDir, taskRoot, requestID, provisioned); err != errNotAssigned {
				return e, err
			}
		}
	}
	rapi, err := runtimeapi.Start()
	if err != nil {
		return nil, err
	}
	e := &env{
		id:          lambda.NewHexID(16),
		cfg:         cfg,
		rapi:        rapi,
		provisioned: provisioned,
		debug:       dbg != nil,
	}
	e.logStream = logStreamName(t0, cfg.Version, e.id)
	vars, err := s.resolveEnv(ctx, cfg)
	if err != nil {
		rapi.Close()
		return nil, s.secretFailed(e, t0, requestID, err)
	}
	proc, err := s.launcher.Start(sandbox.Spec{
		ID:          e.id,
		Path:        cmd.Path,
		Args:        cmd.Args,
		Env:         envList(s.environ(cfg, vars, cmd, taskRoot, rapi.Addr(), e.logStream, provisioned)),
		Dir:         taskRoot,
		CodeDir:     codeDir,
		MemoryMB:    cfg.MemorySize,
		EphemeralMB: cfg.EphemeralStorage.Size,
		Output:      e.output,
	})
	if err != nil {
		rapi.Close()
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
			return nil, s.initFailed(e, t0, requestID, runtimeapi.ErrorResult("Runtime.InvalidEntrypoint",
				fmt.Sprintf("RequestId: %s Error: Couldn't find valid bootstrap(s): [%s]", requestID, cmd.Path)))
		}
		return nil, err
	}
	e.proc = proc
	if dbg != nil {
		go dbg.Supervise(proc.Done(), proc.Kill)
	}
	e.closeAPIOnExit()
	return s.awaitInit(ctx, e, t0, requestID, dbg)
}

// closeAPIOnExit closes e's Runtime API server when its process has ended.
func (e *env) closeAPIOnExit() {
	go func() {
		<-e.proc.Done()
		e.rapi.Close()
	}()
}

// logStreamName is the log stream of an environment started at t0, as
// Lambda names them (date/[version]id).
func logStreamName(t0 time.Time, version, id string) string {
	return t0.UTC().Format("2006/01/02") + "/[" + version + "]" + id
}

// awaitInit waits for e's runtime to finish its init: its first /next.
func (s *Scheduler) awaitInit(ctx context.Context, e *env, t0 time.Time, requestID string, dbg *debugger.Session) (*env, error) {
	rapi, proc := e.rapi, e.proc
	timer := time.NewTimer(initTimeout(dbg))
	defer timer.Stop()
	select {
	case <-rapi.Ready():
		e.initDur = time.Since(t0)
		return e, nil
	case res := <-rapi.InitError():
		proc.Kill()
		<-proc.Done()
		return nil, s.initFailed(e, t0, requestID, res)
	case <-proc.Done():
		select {
		case res := <-rapi.InitError():
			return nil, s.initFailed(e, t0, requestID, res)
		default:
		}
		return nil, s.initFailed(e, t0, requestID, exitResult(requestID, proc.ExitReason()))
	case <-debugAbort(ctx, dbg):
		kill(e)
		return nil, errSessionEnded
	case <-timer.C:
		proc.Kill()
		<-proc.Done()
		return nil, s.initFailed(e, t0, requestID, runtimeapi.ErrorResult("Sandbox.Timedout",
			fmt.Sprintf("RequestId: %s Error: Init timed out after %.2f seconds", requestID, lambda.InitTimeout.Seconds())))
	}
}

func (s *Scheduler) initFailed(e *env, t0 time.Time, requestID string, res runtimeapi.Result) error {
	if e.proc != nil {
		e.proc.FlushOutput()
	}
	d := time.Since(t0)
	e.logf("INIT_REPORT Init Duration: %.2f ms\tPhase: init\tStatus: error\tError Type: %s", ms(d), res.ErrorType)
	e.logf("START RequestId: %s Version: %s", requestID, e.cfg.Version)
	e.logf("END RequestId: %s", requestID)
	e.logf("REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %d ms\tMemory Size: %d MB\tMax Memory Used: %d MB\tStatus: error\tError Type: %s",
		requestID, ms(d), billed(d), e.cfg.MemorySize, 0, res.ErrorType)
	out := Outcome{Result: res, Log: e.takeLog(), Duration: d, InitDuration: d, ExecutedVersion: e.cfg.Version, Cold: true}
	s.logs.Append(e.cfg.FunctionName, e.logStream, out.Log)
	return &initError{out: out}
}

func exitResult(requestID, reason string) runtimeapi.Result {
	if reason == "" {
		return runtimeapi.ErrorResult("Runtime.ExitError", "RequestId: "+requestID+" Error: Runtime exited without providing a reason")
	}
	return runtimeapi.ErrorResult("Runtime.ExitError", "RequestId: "+requestID+" Error: Runtime exited with error: "+reason)
}

// invoke runs one invocation in e. The environment is dead afterwards if the
// invocation timed out or the process ended (the pool then discards it).
// delivered is false if the process had ended before its runtime took the
// invocation; nothing ran and nothing was logged.
func (s *Scheduler) invoke(ctx context.Context, e *env, inv *runtimeapi.Invocation) (out Outcome, delivered bool) {
	id := inv.RequestID
	at := e.mark()
	start := time.Now()
	ictx, cancel := e.invocationContext(ctx, inv.Deadline)
	res, err := e.rapi.Invoke(ictx, inv)
	cancel()
	d := time.Since(start)
	if errors.Is(err, runtimeapi.ErrNotDelivered) {
		return Outcome{}, false
	}
	e.insertf(at, "START RequestId: %s Version: %s", id, e.cfg.Version)
	switch {
	case err == nil:
	case errors.Is(err, runtimeapi.ErrClosed):
		<-e.proc.Done()
		res = exitResult(id, e.proc.ExitReason())
		e.proc.FlushOutput()
		e.logf("%s Error: Runtime exited with error: %s\nRuntime.ExitError", id, orUnknown(e.proc.ExitReason()))
	case ictx.Err() == context.DeadlineExceeded && ctx.Err() == nil:
		e.proc.Kill()
		e.proc.FlushOutput()
		msg := fmt.Sprintf("Task timed out after %.2f seconds", float64(e.cfg.Timeout))
		e.logf("%s %s %s", time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), id, msg)
		res = runtimeapi.ErrorResult("Sandbox.Timedout", "RequestId: "+id+" Error: "+msg)
	default: // the caller's context ended (server shutting down)
		e.proc.Kill()
		res = runtimeapi.ErrorResult("Sandbox.Failure", "RequestId: "+id+" Error: the invocation was cancelled")
	}
	if err == nil {
		e.proc.FlushOutput()
	}
	mem := e.proc.MaxRSS() >> 20
	e.logf("END RequestId: %s", id)
	report := fmt.Sprintf("REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %d ms\tMemory Size: %d MB\tMax Memory Used: %d MB",
		id, ms(d), billed(d), e.cfg.MemorySize, mem)
	initDur := e.initDur
	if initDur > 0 {
		report += fmt.Sprintf("\tInit Duration: %.2f ms", ms(initDur))
		e.initDur = 0
	}
	if res.ErrorType == "Sandbox.Timedout" {
		report += "\tStatus: timeout"
	}
	e.logf("%s", report)
	out = Outcome{Result: res, Log: e.takeLog(), Duration: d, InitDuration: initDur, ExecutedVersion: e.cfg.Version}
	s.logs.Append(e.cfg.FunctionName, e.logStream, out.Log)
	return out, true
}

func orUnknown(s string) string {
	if s == "" {
		return "exit status 0"
	}
	return s
}

// envList is vars as a process environment (NAME=value).
func envList(vars map[string]string) []string {
	out := make([]string, 0, len(vars))
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	return out
}

// baseEnviron is the part of every environment's variables that customers
// may override.
func baseEnviron(taskRoot string) map[string]string {
	return map[string]string{
		"LANG":            "en_US.UTF-8",
		"PATH":            "/usr/local/bin:/usr/bin:/bin:/opt/bin",
		"LD_LIBRARY_PATH": "/lib64:/usr/lib64:" + taskRoot + ":" + taskRoot + "/lib:/opt/lib",
		"TZ":              ":UTC",
	}
}

// environ builds the bootstrap's environment: the customer's variables, then
// what Lambda reserves (which customers cannot override).
func (s *Scheduler) environ(cfg *lambda.Config, customer map[string]string, cmd runtimesCommand, taskRoot, rapiAddr, logStream string, provisioned bool) map[string]string {
	initType := "on-demand"
	if provisioned {
		initType = "provisioned-concurrency"
	}
	vars := baseEnviron(taskRoot)
	for k, v := range customer {
		vars[k] = v
	}
	reserved := map[string]string{
		"AWS_REGION":                      lambda.Region,
		"AWS_DEFAULT_REGION":              lambda.Region,
		"AWS_LAMBDA_FUNCTION_NAME":        cfg.FunctionName,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(cfg.MemorySize),
		"AWS_LAMBDA_FUNCTION_VERSION":     cfg.Version,
		"AWS_LAMBDA_RUNTIME_API":          rapiAddr,
		"AWS_LAMBDA_LOG_GROUP_NAME":       lambda.LogGroup(cfg.FunctionName),
		"AWS_LAMBDA_LOG_STREAM_NAME":      logStream,
		"AWS_LAMBDA_INITIALIZATION_TYPE":  initType,
		"_HANDLER":                        cfg.Handler,
		"LAMBDA_TASK_ROOT":                taskRoot,
		"LAMBDA_RUNTIME_DIR":              s.launcher.RuntimeDir(),
		"AWS_ACCESS_KEY_ID":               s.cfg.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":           s.cfg.SecretAccessKey,
		"AWS_ENDPOINT_URL":                s.cfg.APIURL,
		"AWS_XRAY_CONTEXT_MISSING":        "LOG_ERROR",
	}
	if cmd.ExecEnv != "" {
		reserved["AWS_EXECUTION_ENV"] = cmd.ExecEnv
	}
	for k, v := range reserved {
		vars[k] = v
	}
	delete(vars, preinitVar) // nimbus's own: a customer's would hold a normal start waiting for an assignment
	return vars
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func billed(d time.Duration) int64 { return int64(math.Ceil(float64(d) / float64(time.Millisecond))) }
