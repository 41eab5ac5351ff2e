// Package sandbox starts and stops the process trees of execution environments.
//
// It is the seam between the scheduler and the operating system: the scheduler
// describes what to run (Spec) and gets a Process it can wait on, kill and read
// output from. Isolation layers live here and nowhere else. Every environment
// gets its own process group (killed as a whole), a parent-death signal
// (environments never outlive the server), and a marker in its environment so
// that a restarted server can find and kill leftovers of a previous run
// (Launcher.Reap). Where the host allows it (root, Linux), it also gets:
//
//   - pid, mount, ipc and uts namespaces; its bootstrap is pid 1 and its /proc
//     shows only its own processes;
//   - a private root: the host's /usr, /bin, /lib*, /etc (and Config.ReadOnly)
//     read-only, its code read-only at /var/task, the runtime bootstraps at
//     /var/runtime, a tmpfs /tmp capped at Spec.EphemeralMB (its pages count
//     towards the memory cap), a minimal /dev, nothing of the data dir or of
//     other functions;
//   - an unprivileged uid/gid (Config.UID, 993 like Lambda's sbx_user1051);
//   - a cgroup (v1, or v2) under <the server's cgroup>/nimbus-<hash of
//     StateDir>: memory = Spec.MemoryMB (swap included, page cache included),
//     CPU share proportional to memory, at most Config.PidsMax processes and
//     threads (and half the host's pid space for all environments together).
//   - its share of the CPUs: bound to ceil(MemorySize/1769 MB) of them, the
//     least used first, and scheduled SCHED_BATCH (cpus_linux.go; off with
//     Config.NoCPUPlacement).
//
// Each layer is detected once in New and reported by Layers, on or off with
// the reason; a server without the privileges runs every environment as a
// plain process group, as before.
//
// How: the parent sets everything up itself, on a few OS threads of its own
// ("spawners", see spawn_linux.go): a spawner enters a fresh copy of a
// prepared skeleton mount namespace, mounts the code and /tmp, moves itself
// into the environment's cgroups, forks the bootstrap into new namespaces with
// PTRACE_TRACEME so that it stops right after execve, mounts its /proc (procfs
// pidns=, Linux 6.18) while it is stopped, then lets it run and goes home. No
// user instruction runs before all of that is in place, and nothing but the
// bootstrap runs in the environment. The usual alternative, re-executing this
// binary as a small init inside the namespaces, was measured at ~6 ms per
// start (the Go runtime and the package initialisers of the whole server
// binary), more than the whole cold-start budget; this way adds a few hundred
// microseconds, nearly all of it the cgroups (see BenchmarkStart). The price:
// the bootstrap is pid 1 of its namespace, so orphaned grandchildren are not
// reaped until the environment stops, and SIGTERM reaches it only if it
// handles SIGTERM (Stop then kills at once).
package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Config configures a Launcher. Zero values are the defaults.
type Config struct {
	// StateDir holds one file per live environment (for Reap), the
	// environments' /tmp directories when there is no private root, and the
	// mount point of the skeleton root ("root", only mounted inside a mount
	// namespace of the launcher's). Its parent is the server's data dir,
	// which environments must not see.
	StateDir string
	// RuntimeDir is the host directory of the embedded runtime bootstraps;
	// isolated environments see it read-only at /var/runtime (RuntimeDir method).
	RuntimeDir string
	// ReadOnly lists further host directories isolated environments see
	// read-only at the same path, such as the install prefixes of the managed
	// runtimes' interpreters (/root/.pyenv/versions/3.11.7).
	ReadOnly []string
	// NoIsolation turns every isolation layer off: environments are plain
	// process groups on the host's file system.
	NoIsolation bool
	// UID and GID isolated environments run as; zero means 993.
	UID, GID int
	// PidsMax caps the processes and threads of one environment; zero means 1024.
	PidsMax int
	// NoCPUPlacement lets environments run on every CPU, scheduled like any
	// process, instead of binding each to its share (see placer).
	NoCPUPlacement bool
}

// Spec describes one environment's process.
type Spec struct {
	ID string // unique environment id
	// Path, Args, Env and Dir are as the process sees the file system: under
	// the private root its code is at Launcher.TaskRoot and the runtime
	// bootstraps at Launcher.RuntimeDir.
	Path string   // executable
	Args []string // argv[1:]
	Env  []string // complete environment
	Dir  string   // working directory
	// CodeDir is the host directory holding the function's code, shown
	// read-only at /var/task under the private root. Without it (and without
	// DeferCode) the process runs on the host's file system, without
	// namespaces, private root or uid change (cgroup limits still apply).
	CodeDir string
	// DeferCode starts the process isolated with /var/task still empty: a
	// pre-started environment that Process.Assign gives a function later
	// (assign_linux.go). Only when Launcher.CanDefer.
	DeferCode bool
	// Stdin is the process's standard input (nil: /dev/null).
	Stdin *os.File
	// MemoryMB caps the memory of the whole tree (0: no cap).
	MemoryMB int
	// EphemeralMB is the size of its /tmp under the private root (0: 512).
	EphemeralMB int
	// Output receives every line the process writes to stdout or stderr, without
	// the newline, from one goroutine at a time. The slice is valid only during the call.
	Output func(line []byte)
}

// Launcher starts sandboxed processes. Close it after every Process is done.
type Launcher struct {
	cfg    Config
	layers []string
	root   *rootfs   // nil: no private root, no namespaces
	cg     *cgroups  // nil: no cgroup limits
	sp     *spawners // nil: plain starts only
	cpus   *placer   // nil: environments may run on every CPU
	close  sync.Once
}

const markerVar = "NIMBUS_SANDBOX_ID"

// New returns a Launcher after creating its state directories and detecting
// which isolation layers this host allows.
func New(cfg Config) (*Launcher, error) {
	for _, d := range []string{cfg.StateDir, filepath.Join(cfg.StateDir, "live"), filepath.Join(cfg.StateDir, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	if cfg.UID == 0 {
		cfg.UID = 993
	}
	if cfg.GID == 0 {
		cfg.GID = 993
	}
	if cfg.PidsMax == 0 {
		cfg.PidsMax = 1024
	}
	l := &Launcher{cfg: cfg}
	l.detect()
	return l, nil
}

// detect sets up every layer the host allows and describes all of them.
func (l *Launcher) detect() {
	off := func(why string) string { return "off (" + why + ")" }
	rootWhy, cgWhy, procWhy := "", "", ""
	switch {
	case l.cfg.NoIsolation:
		rootWhy = "disabled by configuration"
		cgWhy = rootWhy
	case os.Geteuid() != 0:
		rootWhy = fmt.Sprintf("needs root, running as uid %d; user namespaces are not used", os.Geteuid())
		cgWhy = rootWhy
	default:
		var err error
		if l.cg, err = newCgroups(l.cfg.StateDir, l.cfg.PidsMax); err != nil {
			cgWhy = err.Error()
		}
		denyClone3 := l.cg == nil || !l.cg.v2 // v2 placement forks with clone3
		if l.sp, err = startSpawners(max(2, runtime.GOMAXPROCS(0)), true, denyClone3); err != nil {
			rootWhy = err.Error()
			cgWhy = "needs the spawner threads: " + err.Error()
			l.cg, l.sp = nil, nil
			break
		}
		err = l.sp.do(func(*error) error {
			var err error
			l.root, err = buildRoot(&l.cfg, filepath.Join(l.cfg.StateDir, "root"))
			return err
		})
		if err != nil {
			rootWhy = err.Error()
		}
	}
	l.layers = []string{"process group per environment: on", "parent-death signal: on"}
	if l.root != nil {
		procWhy = l.root.procWhy
		l.layers = append(l.layers,
			"pid/mount/ipc/uts namespaces: on",
			"private root (/var/task read-only, tmpfs /tmp of EphemeralStorage, minimal /dev, no data dir): on",
			fmt.Sprintf("unprivileged user (uid %d, gid %d): on", l.cfg.UID, l.cfg.GID))
		if l.root.ownPID {
			l.layers = append(l.layers, "own /proc (only the environment's processes): on")
		} else {
			l.layers = append(l.layers, "own /proc (only the environment's processes): "+off(procWhy+"; no /proc is mounted"))
		}
	} else {
		l.layers = append(l.layers,
			"pid/mount/ipc/uts namespaces: "+off(rootWhy),
			"private root: "+off(rootWhy),
			"unprivileged user: "+off("needs the private root"),
			"private /tmp per environment: on (TMPDIR, not size-capped)")
	}
	if l.cg != nil {
		l.layers = append(l.layers, l.cg.describe())
	} else {
		l.layers = append(l.layers, "cgroup limits (memory, cpu, pids): "+off(cgWhy))
	}
	l.layers = append(l.layers,
		"network namespace: off (functions use the host's network: the Runtime API and nimbus's API are on loopback)",
		"landlock: off (the private root already limits what the file system shows)")
	switch {
	case l.sp == nil:
		l.layers = append(l.layers, "CPU placement: "+off("needs the spawner threads: "+rootWhy))
	case l.cfg.NoCPUPlacement:
		l.layers = append(l.layers, "CPU placement: "+off("disabled by configuration"))
	default:
		var err error
		if l.cpus, err = newPlacer(); err != nil {
			l.layers = append(l.layers, "CPU placement: "+off(err.Error()))
		} else {
			l.layers = append(l.layers, l.cpus.describe())
		}
	}
	switch {
	case l.sp == nil:
		l.layers = append(l.layers, "seccomp: "+off("needs the spawner threads: "+rootWhy))
	case l.sp.seccompErr != nil:
		l.layers = append(l.layers, "seccomp: "+off(l.sp.seccompErr.Error()))
	default:
		l.layers = append(l.layers, seccompDescription(l.cg == nil || !l.cg.v2))
	}
}

// Layers describes the isolation in force, one line per layer, for the server's start-up report.
func (l *Launcher) Layers() []string { return l.layers }

// TaskRoot is where an environment started with Spec.CodeDir = codeDir sees
// its code: /var/task under the private root, codeDir otherwise.
func (l *Launcher) TaskRoot(codeDir string) string {
	if l.root != nil {
		return taskRoot
	}
	return codeDir
}

// RuntimeDir is where environments see Config.RuntimeDir: /var/runtime under
// the private root, the host directory otherwise.
func (l *Launcher) RuntimeDir() string {
	if l.root != nil && l.cfg.RuntimeDir != "" {
		return runtimeRoot
	}
	return l.cfg.RuntimeDir
}

// TmpDir returns the host directory used as the /tmp (TMPDIR) of environment
// id when it runs without a private root.
func (l *Launcher) TmpDir(id string) string { return filepath.Join(l.cfg.StateDir, "tmp", id) }

// Close stops the launcher's threads. Environments still running are killed
// (their parent-death signal fires).
func (l *Launcher) Close() {
	l.close.Do(func() {
		if l.sp != nil {
			l.sp.close()
		}
		if l.root != nil {
			l.root.close()
		}
		if l.cg != nil {
			l.cg.close()
		}
	})
}

// Reap kills the process groups of environments left by a previous server
// (after kill -9) and removes their state and cgroups. Call it before
// starting any environment.
func (l *Launcher) Reap() (killed int) {
	live := filepath.Join(l.cfg.StateDir, "live")
	ents, _ := os.ReadDir(live)
	for _, e := range ents {
		id := e.Name()
		b, err := os.ReadFile(filepath.Join(live, id))
		if err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 && ownedBy(pid, id) {
				syscall.Kill(-pid, syscall.SIGKILL)
				syscall.Kill(pid, syscall.SIGKILL)
				killed++
			}
		}
		os.Remove(filepath.Join(live, id))
	}
	if l.cg != nil {
		l.cg.sweep()
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
	id      string
	l       *Launcher
	cmd     *exec.Cmd
	out     *output
	cg      *cgroup    // nil without cgroup limits
	pid1    bool       // the bootstrap is pid 1 of its own namespace
	tmp     string     // host TMPDIR to remove, or ""
	cpuMu   sync.Mutex // guards unplace and ncpus: Assign may meet cleanup
	unplace func()     // releases its CPUs (placer.place), or nil
	ncpus   int        // how many CPUs it is bound to (with unplace)
	tmpMB   int        // size of its /tmp (isolated)
	// deferred is set while a DeferCode environment awaits its Assign.
	deferred atomic.Bool
	done     chan struct{}
	err      error        // set before done is closed
	peak     atomic.Int64 // the cgroup's final peak, saved before it is removed
}

// Start starts spec's process with every isolation layer the launcher has.
func (l *Launcher) Start(spec Spec) (*Process, error) {
	if spec.DeferCode && !l.CanDefer() {
		return nil, errors.New("sandbox: a pre-started environment needs the private root")
	}
	isolated := l.root != nil && (spec.CodeDir != "" || spec.DeferCode)
	p := &Process{id: spec.ID, l: l, pid1: isolated, done: make(chan struct{})}
	p.deferred.Store(spec.DeferCode)
	tmpEnv := "/tmp"
	if !isolated {
		p.tmp = l.TmpDir(spec.ID)
		tmpEnv = p.tmp
		if err := os.MkdirAll(p.tmp, 0o1777); err != nil {
			return nil, err
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		p.cleanup()
		return nil, err
	}
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Dir = spec.Dir
	cmd.Env = append(append(spec.Env[:len(spec.Env):len(spec.Env)], "TMPDIR="+tmpEnv), markerVar+"="+spec.ID)
	cmd.Stdout = w
	cmd.Stderr = w
	if spec.Stdin != nil {
		cmd.Stdin = spec.Stdin
	}
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.SysProcAttr = attr
	p.cmd = cmd
	if l.cg != nil {
		if p.cg, err = l.cg.create(spec.ID, spec.MemoryMB); err != nil {
			r.Close()
			w.Close()
			p.cleanup()
			return nil, fmt.Errorf("cgroup: %w", err)
		}
	}
	switch {
	case isolated:
		attr.Cloneflags = syscall.CLONE_NEWPID | syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS
		attr.Credential = &syscall.Credential{Uid: uint32(l.cfg.UID), Gid: uint32(l.cfg.GID), Groups: []uint32{}}
		tmpMB := tmpSize(spec.EphemeralMB)
		p.tmpMB = tmpMB
		code := -1 // DeferCode: /var/task stays empty until Assign
		if !spec.DeferCode {
			code, err = cloneTree(spec.CodeDir, codeAttrs)
		}
		if err == nil {
			req := &spawnReq{cmd: cmd, root: l.root, code: code, tmpMB: tmpMB}
			p.cg.placement(req)
			l.placeCPUs(p, req, spec.MemoryMB)
			err = l.sp.spawn(req)
			if code >= 0 {
				syscall.Close(code)
			}
		}
	case p.cg != nil:
		req := &spawnReq{cmd: cmd}
		p.cg.placement(req)
		l.placeCPUs(p, req, spec.MemoryMB)
		err = l.sp.spawn(req)
	default:
		err = cmd.Start()
	}
	w.Close()
	if err != nil {
		r.Close()
		if cmd.Process != nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		p.cleanup()
		return nil, err
	}
	p.cg.started()
	os.WriteFile(filepath.Join(l.cfg.StateDir, "live", spec.ID), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)
	p.out, err = newOutput(r, spec.Output)
	if err != nil {
		p.Kill()
		cmd.Wait()
		p.cleanup()
		return nil, err
	}
	go p.wait()
	return p, nil
}

func (p *Process) wait() {
	err := p.cmd.Wait()
	// The bootstrap is gone; anything else left in its group goes with it.
	// (In its own pid namespace, the kernel has killed everything else already.)
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	p.cleanup()
	p.out.wait(2 * time.Second)
	os.Remove(filepath.Join(p.l.cfg.StateDir, "live", p.id))
	if err == nil {
		err = errors.New("exited")
	}
	p.err = err
	close(p.done)
}

// placeCPUs binds the environment p starts with req to its CPUs (see placer).
func (l *Launcher) placeCPUs(p *Process, req *spawnReq, memMB int) {
	if l.cpus == nil {
		return
	}
	m, release := l.cpus.place(memMB)
	req.cpus, req.cpuAll, p.unplace, p.ncpus = &m, &l.cpus.all, release, m.count()
}

// cleanup removes the cgroup (killing what is left in it) and the host TMPDIR,
// and releases its CPUs.
func (p *Process) cleanup() {
	p.cpuMu.Lock()
	if p.unplace != nil {
		p.unplace()
		p.unplace = nil
	}
	p.cpuMu.Unlock()
	if p.cg != nil {
		p.peak.Store(p.cg.peak())
		p.cg.destroy()
	}
	if p.tmp != "" {
		os.RemoveAll(p.tmp)
	}
}

// Pid is the process id of the environment's bootstrap (in the server's pid namespace).
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

// Stop asks the process group to end (SIGTERM), and kills it after grace. A
// bootstrap that is pid 1 of its namespace and has no SIGTERM handler would
// never see the SIGTERM, so it is killed at once.
func (p *Process) Stop(grace time.Duration) {
	if p.pid1 && !catches(p.cmd.Process.Pid, syscall.SIGTERM) {
		p.Kill()
		<-p.done
		return
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.Kill()
		<-p.done
	}
}

// catches reports whether process pid has a handler for sig.
func catches(pid int, sig syscall.Signal) bool {
	v, ok := statusField(pid, "SigCgt:")
	if !ok {
		return false
	}
	mask, err := strconv.ParseUint(v, 16, 64)
	return err == nil && mask&(1<<(uint(sig)-1)) != 0
}

// FlushOutput delivers every byte the process has written so far to Output.
// Anything written before the process made a request that the caller has seen
// is therefore delivered before FlushOutput returns.
func (p *Process) FlushOutput() { p.out.flush() }

// MaxRSS returns the peak memory of the environment in bytes (0 if unknown):
// of its whole tree (the cgroup's peak, page cache included) with cgroup
// limits, of the bootstrap process alone (VmHWM) without.
func (p *Process) MaxRSS() int64 {
	if p.cg != nil {
		if n := p.cg.peak(); n > 0 {
			return n
		}
		return p.peak.Load()
	}
	v, ok := statusField(p.cmd.Process.Pid, "VmHWM:")
	if !ok {
		return 0
	}
	kb, _ := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
	return kb << 10
}

// statusField returns the value of a field of /proc/pid/status.
func statusField(pid int, name string) (string, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "", false
	}
	s := string(b)
	i := strings.Index(s, name)
	if i < 0 {
		return "", false
	}
	f := strings.Fields(s[i+len(name):])
	if len(f) == 0 {
		return "", false
	}
	return f[0], true
}
