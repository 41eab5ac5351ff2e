// Package dev is `nimbus dev`: the developer loop. It deploys a SAM template
// to a server, watches the sources, and on every save rebuilds what changed
// and redeploys it, while it streams the stack's function logs to the
// terminal.
//
// # Contract
//
//   - The server is the one answering at Config.Endpoint, or else one that
//     Run starts as a child process (`nimbus server`, StartEmbedded) and
//     stops when it returns. Run returns when ctx ends (Ctrl-C, SIGTERM),
//     after it turned off the debugger it turned on and stopped the
//     embedded server; or when the embedded server dies.
//   - Deploys are `nimbus deploy`'s (package deploy, diff-based): the stack
//     named by the plan, its packages built by package build. Only the
//     functions whose sources changed are rebuilt (packages are cached by
//     their Build; a change invalidates the packages whose directory holds
//     it); a change anywhere else (the template, a state machine's
//     DefinitionUri file) re-plans the template, and the deploy applies
//     whatever differs. A change that alters nothing deploys nothing.
//   - A change is live when "reloaded NAME (KIND) in N ms" is printed: the
//     deploy has returned, so every function it updated is Active with the
//     new code, and every invocation that arrives from then on runs it (the
//     server's registry reads its own writes, and a scheduler pool belongs
//     to one revision of a function: see packages registry and sched).
//   - A template or build error is printed and the loop goes on: what was
//     deployed last keeps serving, and the next save tries again.
//   - Sources are watched with inotify (fsnotify), recursively, from the
//     template's directory and every function's CodeUri; version control,
//     .nimbus, build outputs and editors' temporary files are ignored, and
//     node_modules is watched one level deep. Bursts of events are debounced
//     (40 ms of quiet, at most 500 ms).
//   - Logs: every function of the stack is followed
//     (GET /nimbus/v1/functions/{name}/logs?follow=true), each line prefixed
//     with its logical id (in its own colour on a terminal); START/END lines
//     are dropped and REPORT lines summarised.
//   - Config.Debug runs one function under a debugger: its Go code is built
//     with optimisations off, and after each deploy of it Run asks the
//     server (PUT /nimbus/v1/functions/{name}/debug) and prints how to
//     attach; it turns debugging off (DELETE) when it returns.
package dev

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nimbus-dev/nimbus/internal/deploy"
	"github.com/nimbus-dev/nimbus/internal/template"
)

// Config configures the loop. Load and Template are required.
type Config struct {
	// Load reads and plans the template afresh; it is called at start and
	// after every change, with the server's API URL.
	Load func(endpoint string) (*template.Plan, error)
	// Template is the template file; its directory is watched.
	Template string
	// Endpoint is the server to use if one answers there; "" means always
	// start an embedded server.
	Endpoint string
	// Embedded is how to start a server when none answers.
	Embedded EmbeddedConfig
	// AccessKeyID and SecretAccessKey sign requests.
	AccessKeyID, SecretAccessKey string
	// Debug is the function (logical id or name) to run under a debugger;
	// DebugPort its port (zero: the runtime's default).
	Debug     string
	DebugPort int
	// Out is the terminal; Color says whether it takes ANSI colours.
	Out   io.Writer
	Color bool
	// Progress prints deploy events (nimbus deploy's format); nil: none.
	Progress func(deploy.Event)
}

// Run runs the loop until ctx ends. Its error is for what stops the loop
// (no server, a dead embedded server); build and deploy errors are printed.
func Run(ctx context.Context, cfg Config) error {
	t := &terminal{w: cfg.Out, color: cfg.Color}
	srv, err := server(ctx, cfg, t)
	if err != nil {
		return err
	}
	defer func() {
		if err := srv.Stop(); err != nil {
			t.printf("nimbus dev: %v", err)
		} else if srv.Embedded {
			t.printf("stopped the embedded server")
		}
	}()
	w, err := newWatcher(func(p string) bool { return srv.Embedded && within(p, cfg.Embedded.DataDir) })
	if err != nil {
		return fmt.Errorf("watching the sources: %w", err)
	}
	defer w.close()
	d := deploy.New(deploy.Config{Endpoint: srv.API, AccessKeyID: cfg.AccessKeyID, SecretAccessKey: cfg.SecretAccessKey})
	c := &client{d}
	l := &loop{
		cfg: cfg, t: t, srv: srv, w: w, c: c,
		deployer: d,
		pk:       newPackages(""),
		logs:     &followers{c: c, t: t, since: time.Now(), running: map[string]context.CancelFunc{}, colors: map[string]int{}},
	}
	// The loop stops when ctx ends or the embedded server dies.
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	died := make(chan struct{})
	go func() {
		select {
		case <-srv.Exited():
			close(died)
			cancel()
		case <-lctx.Done():
		}
	}()
	defer l.logs.stop()
	defer l.debugOff(ctx)
	l.cycle(lctx, batch{first: time.Now()})
	if lctx.Err() == nil {
		t.printf("watching %s for changes (Ctrl-C stops)", filepath.Dir(cfg.Template))
	}
	for {
		b, err := w.next(lctx)
		select {
		case <-died:
			return fmt.Errorf("the embedded server exited; its log: %s\n%s", srv.Log, tail(srv.Log, 20))
		default:
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("watching the sources: %w", err)
		}
		l.cycle(lctx, b)
	}
}

// server finds or starts the server.
func server(ctx context.Context, cfg Config, t *terminal) (*Server, error) {
	if cfg.Endpoint != "" && Probe(ctx, cfg.Endpoint) {
		t.printf("using the nimbus server at %s", cfg.Endpoint)
		return &Server{API: cfg.Endpoint}, nil
	}
	srv, err := StartEmbedded(ctx, cfg.Embedded)
	if err != nil {
		return nil, err
	}
	t.printf("api: %s\ngateway: %s\nready", srv.API, srv.Gateway)
	t.printf("started an embedded nimbus server (pid %d, data in %s, log in %s)", srv.Pid, cfg.Embedded.DataDir, srv.Log)
	return srv, nil
}

// loop is the state of Run's goroutine.
type loop struct {
	cfg      Config
	t        *terminal
	srv      *Server
	w        *watcher
	c        *client
	deployer *deploy.Deployer
	pk       *packages
	logs     *followers

	last       *template.Plan // the last plan deployed (CodeSHA256 set)
	debugging  string         // the function the server runs under a debugger
	debugText  string         // the instructions printed last
	summarised string         // the URLs and ARNs printed last
}

// cycle handles one batch of changes (the empty first batch deploys).
func (l *loop) cycle(ctx context.Context, b batch) {
	plan, err := l.cfg.Load(l.srv.API)
	if err != nil {
		l.t.printf("%s\n(what was deployed last keeps serving; save again to retry)", err)
		return
	}
	l.watch(plan)
	l.pk.debug = l.debugName(plan)
	l.pk.invalidate(b.paths)
	if l.last == nil {
		l.t.printf("deploying stack %s from %s to %s", plan.Stack, l.cfg.Template, l.srv.API)
		for _, w := range plan.Warnings {
			l.t.printf("warning: %s", w)
		}
	}
	pkgs, ok, err := l.pk.ensure(ctx, plan)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		if ok {
			l.t.printf("build failed; the previous code keeps serving:\n%s", indent(err.Error()))
		} else {
			l.t.printf("build failed; nothing deployed:\n%s", indent(err.Error()))
			return
		}
	}
	if changes := template.Diff(l.last, plan); l.last != nil && changes.Empty() {
		return // nothing that is deployed changed (a comment, a README)
	}
	zips := map[string][]byte{}
	kinds := map[string]template.BuildKind{}
	for _, p := range pkgs {
		zips[p.Name] = p.Zip
		kinds[p.Name] = p.Kind
	}
	first := l.last == nil
	var reloaded []deploy.Event
	others := 0 // other resources changed
	progress := func(e deploy.Event) {
		switch {
		case e.Action == deploy.ActionBuild:
		case e.Kind == "Function" && !first && (e.Action == deploy.ActionUpdate || e.Action == deploy.ActionCreate || e.Action == deploy.ActionReplace):
			reloaded = append(reloaded, e)
		case first || e.Action != deploy.ActionUnchanged:
			others++
			if l.cfg.Progress != nil {
				l.cfg.Progress(e)
			}
		}
	}
	res, err := l.deployer.Deploy(ctx, plan, deploy.Options{Packages: zips, Progress: progress})
	if err != nil {
		if ctx.Err() == nil {
			l.t.printf("deploy of stack %s failed: %s\n(what was deployed last keeps serving; save again to retry)", plan.Stack, err)
		}
		return
	}
	l.last = plan
	took := time.Since(b.first).Round(time.Millisecond)
	for _, e := range reloaded {
		l.t.printf("reloaded %s (%s) in %s", e.LogicalID, kinds[e.PhysicalID], took)
	}
	if !first && others > 0 {
		l.t.printf("redeployed stack %s in %s", plan.Stack, took)
	}
	l.summary(res, took, first)
	l.debug(ctx, plan, first || slices.ContainsFunc(reloaded, func(e deploy.Event) bool { return e.PhysicalID == l.pk.debug }))
	l.logs.set(ctx, functions(plan))
}

// watch adds the plan's source directories to the watcher.
func (l *loop) watch(plan *template.Plan) {
	roots := []string{filepath.Dir(l.cfg.Template)}
	for i := range plan.Resources {
		f := plan.Resources[i].Function
		switch {
		case f == nil || f.Build.Dir == "":
		case f.Build.Kind == template.BuildZip:
			roots = append(roots, filepath.Dir(f.Build.Dir))
		default:
			roots = append(roots, f.Build.Dir)
		}
	}
	for _, r := range roots {
		if err := l.w.add(r); err != nil {
			l.t.printf("warning: cannot watch %s: %v", r, err)
		}
	}
}

// summary prints where the stack is served and what it holds: after the
// first deploy, and after any deploy that changed it (not after a reload
// that changed only code, which keeps every URL and ARN).
func (l *loop) summary(res *deploy.Result, took time.Duration, first bool) {
	var s strings.Builder
	tw := tabwriter.NewWriter(&s, 0, 4, 2, ' ', 0)
	for _, e := range res.Endpoints {
		where := e.URL
		if where == "" {
			where = e.Path
		}
		fmt.Fprintf(tw, "  %s\t%s\t-> %s\n", e.Method, where, e.Function)
	}
	for i := range res.Plan.Resources {
		if f := res.Plan.Resources[i].Function; f != nil {
			fmt.Fprintf(tw, "  %s\t%s\n", res.Plan.Resources[i].LogicalID, f.ARN)
		}
	}
	tw.Flush()
	for _, u := range res.Unsupported {
		fmt.Fprintf(&s, "  not deployed: %s (%s): %s\n", u.LogicalID, u.Type, u.Reason)
	}
	if first {
		l.t.printf("live: stack %s deployed in %s (%d created, %d updated, %d unchanged)\n%s",
			res.Stack, took, res.Created, res.Updated, res.Unchanged, s.String())
	} else if s.String() != l.summarised {
		l.t.printf("%s", s.String())
	}
	l.summarised = s.String()
}

// functions are the plan's functions with their logical ids as labels.
func functions(plan *template.Plan) []function {
	var out []function
	for i := range plan.Resources {
		if f := plan.Resources[i].Function; f != nil {
			out = append(out, function{name: f.Name, label: plan.Resources[i].LogicalID})
		}
	}
	return out
}

// debugName is the physical name of the function Config.Debug names ("" if none).
func (l *loop) debugName(plan *template.Plan) string {
	if l.cfg.Debug == "" {
		return ""
	}
	for i := range plan.Resources {
		r := &plan.Resources[i]
		if r.Function != nil && (r.LogicalID == l.cfg.Debug || r.Function.Name == l.cfg.Debug) {
			return r.Function.Name
		}
	}
	if l.last == nil {
		l.t.printf("warning: --debug %s: the stack has no such function (give its logical id or name)", l.cfg.Debug)
	}
	return ""
}

// debug turns the debugger on for the debugged function after a deploy of
// it, and prints how to attach (in full when it changed).
func (l *loop) debug(ctx context.Context, plan *template.Plan, deployed bool) {
	name := l.pk.debug
	if name == "" || !deployed {
		return
	}
	s, err := l.c.debugOn(ctx, name, l.cfg.DebugPort)
	switch {
	case errors.Is(err, errNoDebugger):
		if l.debugText != err.Error() {
			l.t.printf("--debug %s: %v", l.cfg.Debug, err)
			l.debugText = err.Error()
		}
		return
	case err != nil:
		l.t.printf("--debug %s: %v", l.cfg.Debug, err)
		return
	}
	l.debugging = name
	if s.Instructions != l.debugText {
		l.t.printf("debugger: %s runs under %s on port %d\n%s", name, s.Debugger, s.Port, indent(s.Instructions))
		l.debugText = s.Instructions
	} else {
		l.t.printf("debugger: %s runs under %s on port %d (attach again)", name, s.Debugger, s.Port)
	}
}

// debugOff turns the debugger off again, also when ctx has ended.
func (l *loop) debugOff(ctx context.Context) {
	if l.debugging == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := l.c.debugOff(ctx, l.debugging); err != nil {
		l.t.printf("--debug %s: turning the debugger off: %v", l.cfg.Debug, err)
	}
}

// indent indents every non-empty line of s by two spaces.
func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, " \t\n"), "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) != "" {
			lines[i] = "  " + l
		} else {
			lines[i] = ""
		}
	}
	return strings.Join(lines, "\n")
}
