// Package sandbox starts and stops the process trees of execution environments.
//
// It is the seam between the scheduler and the operating system: the scheduler
// describes what to run (Spec) and gets a Process it can wait on, kill and read
// output from. Isolation layers live here and nowhere else. Today every
// environment gets its own process group (killed as a whole), a parent-death
// signal (environments never outlive the server), its own working /tmp, and a
// marker in its environment so that a restarted server can find and kill
// leftovers of a previous run (Launcher.Reap). Namespaces, a private root and
// cgroup limits are added here by the sandboxing work; callers do not change.
package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Config configures a Launcher.
type Config struct {
	// StateDir holds one file per live environment (for Reap) and the
	// environments' private /tmp directories.
	StateDir string
}

// Spec describes one environment's process.
type Spec struct {
	ID   string   // unique environment id
	Path string   // executable
	Args []string // argv[1:]
	Env  []string // complete environment
	Dir  string   // working directory
	// Output receives every line the process writes to stdout or stderr, without
	// the newline, from one goroutine at a time. The slice is valid only during the call.
	Output func(line []byte)
}

// Launcher starts sandboxed processes.
type Launcher struct {
	cfg Config
}

const markerVar = "NIMBUS_SANDBOX_ID"

// New returns a Launcher after creating its state directories.
func New(cfg Config) (*Launcher, error) {
	for _, d := range []string{cfg.StateDir, filepath.Join(cfg.StateDir, "live"), filepath.Join(cfg.StateDir, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	return &Launcher{cfg: cfg}, nil
}

// Layers describes the isolation in force, one line per layer, for the server's start-up report.
func (l *Launcher) Layers() []string {
	return []string{
		"process group per environment: on",
		"parent-death signal: on",
		"private /tmp per environment: on (TMPDIR)",
		"pid/mount/ipc/uts namespaces: off (not implemented yet)",
		"cgroup memory/cpu/pids limits: off (not implemented yet)",
	}
}

// TmpDir returns the private temporary directory of environment id.
func (l *Launcher) TmpDir(id string) string { return filepath.Join(l.cfg.StateDir, "tmp", id) }

// Reap kills the process groups of environments left by a previous server
// (after kill -9) and removes their state. Call it before starting any environment.
func (l *Launcher) Reap() (killed int) {
	live := filepath.Join(l.cfg.StateDir, "live")
	ents, _ := os.ReadDir(live)
	for _, e := range ents {
		id := e.Name()
		b, err := os.ReadFile(filepath.Join(live, id))
		if err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 && ownedBy(pid, id) {
				syscall.Kill(-pid, syscall.SIGKILL)
				killed++
			}
		}
		os.Remove(filepath.Join(live, id))
	}
	os.RemoveAll(filepath.Join(l.cfg.StateDir, "tmp"))
	os.MkdirAll(filepath.Join(l.cfg.StateDir, "tmp"), 0o755)
	return killed
}

// ownedBy reports whether process pid carries environment id's marker, so a
// recycled pid of an unrelated process is never killed.
func ownedBy(pid int, id string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return false
	}
	for _, kv := range strings.Split(string(b), "\x00") {
		if kv == markerVar+"="+id {
			return true
		}
	}
	return false
}

// Process is a running environment process tree.
type Process struct {
	id   string
	l    *Launcher
	cmd  *exec.Cmd
	out  *output
	done chan struct{}
	err  error // set before done is closed
}

// Start starts spec's process in its own process group.
func (l *Launcher) Start(spec Spec) (*Process, error) {
	tmp := l.TmpDir(spec.ID)
	if err := os.MkdirAll(tmp, 0o1777); err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Dir = spec.Dir
	cmd.Env = append(append(spec.Env[:len(spec.Env):len(spec.Env)], "TMPDIR="+tmp), markerVar+"="+spec.ID)
	cmd.Stdout = w
	cmd.Stderr = w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		os.RemoveAll(tmp)
		return nil, err
	}
	w.Close()
	os.WriteFile(filepath.Join(l.cfg.StateDir, "live", spec.ID), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)
	p := &Process{id: spec.ID, l: l, cmd: cmd, done: make(chan struct{})}
	p.out, err = newOutput(r, spec.Output)
	if err != nil {
		p.Kill()
		cmd.Wait()
		return nil, err
	}
	go p.wait()
	return p, nil
}

func (p *Process) wait() {
	err := p.cmd.Wait()
	// The bootstrap is gone; anything else left in its group goes with it.
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	p.out.wait(2 * time.Second)
	os.Remove(filepath.Join(p.l.cfg.StateDir, "live", p.id))
	os.RemoveAll(p.l.TmpDir(p.id))
	if err == nil {
		err = errors.New("exited")
	}
	p.err = err
	close(p.done)
}

// Pid is the process id of the environment's bootstrap.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the bootstrap has exited and its group was killed.
func (p *Process) Done() <-chan struct{} { return p.done }

// ExitReason describes how the process ended, e.g. "exit status 42" or
// "signal: killed"; "" for a clean exit 0. Valid after Done.
func (p *Process) ExitReason() string {
	if ee, ok := errors.AsType[*exec.ExitError](p.err); ok {
		return ee.ProcessState.String()
	}
	return ""
}

// Kill kills the whole process group. Done is closed once it is gone.
func (p *Process) Kill() {
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
}

// Stop asks the process group to end (SIGTERM), and kills it after grace.
func (p *Process) Stop(grace time.Duration) {
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.Kill()
		<-p.done
	}
}

// FlushOutput delivers every byte the process has written so far to Output.
// Anything written before the process made a request that the caller has seen
// is therefore delivered before FlushOutput returns.
func (p *Process) FlushOutput() { p.out.flush() }

// MaxRSS returns the peak resident memory of the bootstrap process in bytes (0 if unknown).
func (p *Process) MaxRSS() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.Index(s, "VmHWM:")
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+6:])
	if len(f) == 0 {
		return 0
	}
	kb, _ := strconv.ParseInt(f[0], 10, 64)
	return kb << 10
}
