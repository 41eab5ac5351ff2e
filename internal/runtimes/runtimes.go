// Package runtimes is the catalogue of Lambda runtimes nimbus can run and the
// small bootstraps of its own that it embeds for the managed ones.
//
// provided.al2023 and provided.al2 run the function's own executable `bootstrap`.
// nodejs20.x/nodejs22.x and python3.11/python3.12 run an embedded bootstrap
// (standard library only, written against the Runtime API) on the matching
// interpreter found on the host at start-up. The interpreters' real paths are
// resolved once (no shims on the cold-start path). An operator may map a runtime
// onto another one's interpreter (python3.12=python3.11) when it is missing.
package runtimes

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

//go:embed node/bootstrap.mjs
var nodeBootstrap []byte

//go:embed python/bootstrap.py
var pythonBootstrap []byte

// Modules the Node bootstrap imports in its pre-init mode, to compile the
// module loader's paths before a function's handler needs them.
var (
	//go:embed node/warm.cjs
	nodeWarmCJS []byte
	//go:embed node/warm.mjs
	nodeWarmESM []byte
)

// Config configures the catalogue.
type Config struct {
	// Dir is where the embedded bootstraps are written at start.
	Dir string
	// Map maps a runtime to another runtime whose interpreter it should use.
	Map map[string]string
}

type managed struct {
	family  string // "node" or "python"
	version string // major (node) or major.minor (python)
	binary  string // what to look up on PATH
}

var managedRuntimes = map[string]managed{
	"nodejs20.x": {"node", "20", "node"},
	"nodejs22.x": {"node", "22", "node"},
	"python3.11": {"python", "3.11", "python3.11"},
	"python3.12": {"python", "3.12", "python3.12"},
}

var providedRuntimes = []string{"provided.al2023", "provided.al2"}

// Command is how to start one environment's bootstrap.
type Command struct {
	Path    string
	Args    []string
	ExecEnv string // AWS_EXECUTION_ENV; empty for provided runtimes
}

// Catalogue knows which runtimes are available here and how to start them.
type Catalogue struct {
	interp map[string]string // runtime → absolute interpreter path, for available managed runtimes
	found  map[string]string // what was detected, for messages: runtime → version text
	dir    string
}

// New detects the interpreters on this host and writes the bootstraps to cfg.Dir.
func New(ctx context.Context, cfg Config) (*Catalogue, error) {
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	for name, b := range map[string][]byte{"bootstrap.mjs": nodeBootstrap, "bootstrap.py": pythonBootstrap,
		"warm.cjs": nodeWarmCJS, "warm.mjs": nodeWarmESM} {
		if err := os.WriteFile(filepath.Join(cfg.Dir, name), b, 0o644); err != nil {
			return nil, err
		}
	}
	c := &Catalogue{interp: map[string]string{}, found: map[string]string{}, dir: cfg.Dir}
	probed := map[string][2]string{} // binary → {path, version}
	for rt, m := range managedRuntimes {
		p, ok := probed[m.binary]
		if !ok {
			path, version := probe(ctx, m)
			p = [2]string{path, version}
			probed[m.binary] = p
		}
		if p[0] != "" && versionMatches(m, p[1]) {
			c.interp[rt] = p[0]
			c.found[rt] = p[1]
		}
	}
	for from, to := range cfg.Map {
		if _, ok := managedRuntimes[from]; !ok {
			return nil, fmt.Errorf("runtime map: unknown runtime %q", from)
		}
		if managedRuntimes[from].family != managedRuntimes[to].family {
			return nil, fmt.Errorf("runtime map: %s cannot run on %s", from, to)
		}
		path, ok := c.interp[to]
		if !ok {
			return nil, fmt.Errorf("runtime map: %s is not installed here", to)
		}
		c.interp[from] = path
		c.found[from] = c.found[to] + " (mapped from " + to + ")"
	}
	return c, nil
}

// probe finds a managed runtime's interpreter and asks it for its real path and version.
func probe(ctx context.Context, m managed) (path, version string) {
	bin, err := exec.LookPath(m.binary)
	if err != nil {
		return "", ""
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var cmd *exec.Cmd
	if m.family == "node" {
		cmd = exec.CommandContext(ctx, bin, "-e", "process.stdout.write(process.execPath+'\\n'+process.versions.node)")
	} else {
		cmd = exec.CommandContext(ctx, bin, "-c", "import sys;print(sys.executable);print('%d.%d.%d'%sys.version_info[:3])")
	}
	out, err := cmd.Output()
	if err != nil {
		return "", ""
	}
	f := strings.Fields(string(out))
	if len(f) != 2 {
		return "", ""
	}
	return f[0], f[1]
}

func versionMatches(m managed, v string) bool {
	return v == m.version || strings.HasPrefix(v, m.version+".")
}

// Available lists the runtimes that can run here, sorted.
func (c *Catalogue) Available() []string {
	out := slices.Clone(providedRuntimes)
	for rt := range c.interp {
		out = append(out, rt)
	}
	slices.Sort(out)
	return out
}

// Describe returns one line per available managed runtime for the start-up report.
func (c *Catalogue) Describe() []string {
	var out []string
	for _, rt := range c.Available() {
		if v, ok := c.found[rt]; ok {
			out = append(out, fmt.Sprintf("%s: %s %s", rt, c.interp[rt], v))
		} else {
			out = append(out, rt+": function's own bootstrap")
		}
	}
	return out
}

// Validate checks that runtime can run here; the error names what is installed.
func (c *Catalogue) Validate(runtime string) error {
	if slices.Contains(providedRuntimes, runtime) {
		return nil
	}
	if _, ok := managedRuntimes[runtime]; !ok {
		return lambda.InvalidParameter("Value %s at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: %s", runtime, strings.Join(c.known(), ", "))
	}
	if _, ok := c.interp[runtime]; !ok {
		return lambda.InvalidParameter("The runtime parameter of %s is not available on this nimbus server: its interpreter is not installed. Installed runtimes: %s. An operator can map it onto an installed one with --runtime-map.", runtime, strings.Join(c.Available(), ", "))
	}
	return nil
}

func (c *Catalogue) known() []string {
	out := slices.Clone(providedRuntimes)
	for rt := range managedRuntimes {
		out = append(out, rt)
	}
	slices.Sort(out)
	return out
}

// Command returns how to start an environment of runtime that sees its code
// at taskRoot and the embedded bootstraps (Config.Dir) at runtimeDir.
func (c *Catalogue) Command(runtime, taskRoot, runtimeDir string) (Command, error) {
	if slices.Contains(providedRuntimes, runtime) {
		return Command{Path: filepath.Join(taskRoot, "bootstrap")}, nil
	}
	m, ok := managedRuntimes[runtime]
	interp, installed := c.interp[runtime]
	if !ok || !installed {
		return Command{}, c.Validate(runtime)
	}
	cmd := Command{Path: interp, ExecEnv: "AWS_Lambda_" + runtime}
	if m.family == "node" {
		cmd.Args = []string{filepath.Join(runtimeDir, "bootstrap.mjs")}
	} else {
		cmd.Args = []string{"-S", "-u", filepath.Join(runtimeDir, "bootstrap.py")}
	}
	return cmd, nil
}

// Prefixes returns the install prefixes of the interpreters in use (the
// directory holding their bin/), which sandboxed environments must see.
func (c *Catalogue) Prefixes() []string {
	var out []string
	for _, p := range c.interp {
		if d := filepath.Dir(filepath.Dir(p)); !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return out
}
