// Package debugger knows how to run each runtime's bootstrap under its
// debugger and how a developer attaches to it: Delve (dlv) for provided.*
// runtimes (Go), the V8 inspector for Node.js, debugpy for Python.
//
// Prepare checks that the debugger is installed where environments can use
// it and returns a Session: what the API shows (function, runtime, debugger,
// port, attach instructions) and how to wrap an environment's command line
// (Session.Command), and for Delve a supervisor that lets the program run and
// ends the environment when the program exits (Session.Supervise). Delve is looked up on the host (PATH, then
// $(go env GOBIN) and $(go env GOPATH)/bin) and a copy (a hard link when
// possible) is placed in Config.HostDir, which sandboxed environments see
// read-only at Config.EnvDir; debugpy must be importable by the runtime's own
// interpreter. Every debugger listens on 127.0.0.1 only: environments share
// the host's network, so the port is reachable from the host and nowhere else.
//
// The package starts nothing and holds no state beyond the dlv copy; the
// scheduler runs the wrapped commands (sched.Scheduler.Debug).
package debugger

import (
	"context"
	"os/exec"
	"slices"
	"strconv"
	"time"

	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/runtimes"
)

// DelveVersion is the Delve release the instructions recommend installing.
const DelveVersion = "v1.27.2"

// Names of the debuggers, as the API shows them.
const (
	Delve     = "delve"
	Inspector = "node-inspector"
	Debugpy   = "debugpy"
)

// Default ports, as each debugger's tools expect them.
const (
	DelvePort     = 2345
	InspectorPort = 5858
	DebugpyPort   = 5678
)

// Config configures Prepare.
type Config struct {
	// HostDir is a host directory that isolated environments see read-only
	// at EnvDir (the same path when environments run on the host's file
	// system); Prepare puts its copy of dlv there.
	HostDir, EnvDir string
	// TaskRoot is where environments see their code (/var/task under the
	// private root), for the path mappings in the instructions; empty when
	// it is the unpacked code directory on the host.
	TaskRoot string
}

// Debuggers prepares debug sessions.
type Debuggers struct{ cfg Config }

// New returns a Debuggers.
func New(cfg Config) *Debuggers { return &Debuggers{cfg: cfg} }

// Session is one function's debug session.
type Session struct {
	Function     string `json:"function"`
	Runtime      string `json:"runtime"`
	Debugger     string `json:"debugger"`
	Port         int    `json:"port"`
	Instructions string `json:"instructions"`

	dlv string // Delve's path as environments see it
}

// Request is what Prepare needs to know about the function.
type Request struct {
	Function, Runtime string
	// Port is where the debugger listens; zero means the debugger's default.
	Port int
	// Interpreter is the host path of the runtime's interpreter (managed
	// runtimes), used to check that debugpy is importable.
	Interpreter string
}

// Prepare checks that req's runtime can be debugged here and returns its session.
func (d *Debuggers) Prepare(ctx context.Context, req Request) (*Session, error) {
	if req.Port < 0 || req.Port > 65535 {
		return nil, lambda.InvalidParameter("port must be between 1 and 65535, got %d", req.Port)
	}
	s := &Session{Function: req.Function, Runtime: req.Runtime, Port: req.Port}
	switch lambda.RuntimeFamily(req.Runtime) {
	case lambda.FamilyProvided:
		s.Debugger = Delve
		dlv, err := d.placeDelve(ctx)
		if err != nil {
			return nil, err
		}
		s.dlv = dlv
	case lambda.FamilyNode:
		s.Debugger = Inspector
	case lambda.FamilyPython:
		s.Debugger = Debugpy
		if err := checkDebugpy(ctx, req.Interpreter, req.Runtime); err != nil {
			return nil, err
		}
	default:
		return nil, lambda.InvalidParameter("Functions of runtime %s cannot be debugged: nimbus debugs provided.* (Delve), nodejs* and python* functions", req.Runtime)
	}
	if s.Port == 0 {
		s.Port = defaultPort(s.Debugger)
	}
	s.Instructions = instructions(s, d.cfg.TaskRoot)
	return s, nil
}

func defaultPort(debugger string) int {
	switch debugger {
	case Delve:
		return DelvePort
	case Inspector:
		return InspectorPort
	}
	return DebugpyPort
}

// Serves reports whether the session can debug an environment of runtime
// (a function whose runtime changed to another family needs a new session).
func (s *Session) Serves(runtime string) bool {
	return lambda.RuntimeFamily(runtime) == lambda.RuntimeFamily(s.Runtime)
}

// Command wraps cmd, an environment's command line as runtimes.Catalogue.Command
// returned it, so that the bootstrap runs under the session's debugger. The
// program starts at once (no --inspect-brk, no --wait-for-client; Delve's
// program is continued by Supervise, as --continue would): a developer
// attaches whenever they like and the next invocation stops at their
// breakpoints.
func (s *Session) Command(cmd runtimes.Command) runtimes.Command {
	addr := "127.0.0.1:" + strconv.Itoa(s.Port)
	out := cmd
	switch s.Debugger {
	case Delve:
		// Delve runs as the environment's user and the developer connects
		// as another one: --only-same-user would refuse them.
		out.Path = s.dlv
		out.Args = append([]string{"exec", cmd.Path, "--headless", "--listen=" + addr, "--api-version=2",
			"--accept-multiclient", "--only-same-user=false", "--"}, cmd.Args...)
	case Inspector:
		out.Args = beforeScript(cmd.Args, "--inspect="+addr)
	case Debugpy:
		// -S (no site module at start; the bootstrap adds site-packages
		// later) would hide debugpy from -m.
		args := slices.DeleteFunc(slices.Clone(cmd.Args), func(a string) bool { return a == "-S" })
		out.Args = beforeScript(args, "-m", "debugpy", "--listen", addr)
	}
	return out
}

// beforeScript inserts flags before the last argument (the bootstrap script),
// after the interpreter's own flags.
func beforeScript(args []string, flags ...string) []string {
	n := len(args) - 1
	return slices.Concat(args[:n:n], flags, args[n:])
}

// checkDebugpy checks that interp can import debugpy.
func checkDebugpy(ctx context.Context, interp, runtime string) error {
	if interp == "" {
		return lambda.InvalidParameter("The %s runtime is not installed on this nimbus server", runtime)
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := exec.CommandContext(ctx, interp, "-c", "import debugpy").Run(); err != nil {
		return lambda.InvalidParameter("debugpy is not importable by %s, the %s runtime's interpreter on the nimbus server's host. "+
			"Install it for that interpreter with `%s -m pip install debugpy` (or `apt-get install python3-debugpy` when it is Debian's python3), then enable debugging again.",
			interp, runtime, interp)
	}
	return nil
}
