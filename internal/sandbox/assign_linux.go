package sandbox

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// Pre-started environments.
//
// A Spec with DeferCode starts its process in a private root whose /var/task
// is still empty, with every other layer as usual: namespaces, the
// unprivileged uid, seccomp, its own cgroup and CPUs. Process.Assign later
// gives it to one function: a spawner thread enters the environment's mount
// namespace and attaches the function's code read-only at /var/task (and
// resizes /tmp), and the cgroup limits and CPU binding become the
// function's. Until then the process has seen no function's code; after it,
// it is that function's environment for the rest of its life (an
// environment is never reassigned). The scheduler uses this to start
// interpreters ahead of demand (sched's runtime pool).

// codeAttrs are the mount attributes of a function's code at /var/task.
const codeAttrs = mountAttrRdonly | mountAttrNosuid | mountAttrNodev

// Assignment is what Process.Assign gives a pre-started environment.
type Assignment struct {
	CodeDir     string // host directory of the code, shown read-only at /var/task
	MemoryMB    int    // memory cap of the whole tree
	EphemeralMB int    // size of /tmp (0: 512)
}

// CanDefer reports whether Start takes Spec.DeferCode: pre-started
// environments need the private root.
func (l *Launcher) CanDefer() bool { return l.root != nil }

// Assign gives a pre-started (DeferCode) environment its function: the code
// at /var/task, /tmp of the function's size, its memory limit, CPU share and
// CPUs. It fails for any other process, or a second time. After an error the
// environment must be discarded.
func (p *Process) Assign(a Assignment) error {
	if !p.deferred.CompareAndSwap(true, false) {
		return errors.New("sandbox: not a pre-started environment, or already assigned")
	}
	code, err := cloneTree(a.CodeDir, codeAttrs)
	if err != nil {
		return err
	}
	defer syscall.Close(code)
	tmpMB := tmpSize(a.EphemeralMB)
	pid, r := p.Pid(), p.l.root
	err = p.l.sp.do(func(broken *error) error {
		ns, err := openat(r.proc, nsPath(pid, "mnt"), syscall.O_RDONLY)
		if err != nil {
			return err
		}
		defer syscall.Close(ns)
		// The pid is the environment's only while it lives: once it has
		// ended and been reaped, the namespace opened may be another
		// process's. Still marked now, it was the environment's then.
		if !ownedBy(pid, p.id) {
			return errors.New("the process has ended")
		}
		if err := setns(ns, syscall.CLONE_NEWNS); err != nil {
			return err
		}
		defer func() {
			if e := r.leave(); e != nil {
				*broken = fmt.Errorf("spawner thread stuck outside the host mount namespace: %w", e)
			}
		}()
		if err := attach(code, taskRoot); err != nil {
			return err
		}
		if tmpMB != p.tmpMB {
			if err := mountTmp(tmpMB, syscall.MS_REMOUNT); err != nil {
				return fmt.Errorf("resize /tmp: %w", err)
			}
			p.tmpMB = tmpMB
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sandbox: assign %s: %w", p.id, err)
	}
	if p.cg != nil {
		if err := p.cg.resize(a.MemoryMB); err != nil {
			return fmt.Errorf("sandbox: assign %s: cgroup: %w", p.id, err)
		}
	}
	p.l.replaceCPUs(p, a.MemoryMB)
	return nil
}

// replaceCPUs binds every thread of p to the CPUs of an environment of memMB
// when that is a different number of CPUs than it has. Like placement at
// start, this is for speed: a refused mask leaves the thread where it was.
func (l *Launcher) replaceCPUs(p *Process, memMB int) {
	p.cpuMu.Lock() // cleanup (an exit meanwhile) releases whatever is placed
	defer p.cpuMu.Unlock()
	if l.cpus == nil || p.unplace == nil || l.cpus.count(memMB) == p.ncpus {
		return
	}
	m, release := l.cpus.place(memMB)
	tids, _ := os.ReadDir("/proc/" + strconv.Itoa(p.Pid()) + "/task")
	for _, t := range tids {
		if tid, err := strconv.Atoi(t.Name()); err == nil {
			setAffinity(tid, &m)
		}
	}
	p.unplace()
	p.unplace, p.ncpus = release, m.count()
}
