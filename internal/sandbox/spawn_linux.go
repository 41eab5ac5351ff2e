package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// A spawner is a goroutine locked to an OS thread of its own that starts
// environments whose setup must happen between fork and the first instruction
// of the user's code: the thread enters a fresh copy of the skeleton root
// (setns + unshare: the child inherits the thread's root and mount
// namespace) and the environment's cgroups (see cgroup.placement), forks the
// child with PTRACE_TRACEME so that it stops right after execve, mounts its
// /proc while it is stopped, lets it go (PTRACE_DETACH), and returns to the
// host's namespace and cgroups.
//
// The thread has an fs_struct of its own (unshare(CLONE_FS)), so its root and
// namespace changes are invisible to the rest of the process; the Go runtime
// never clones new threads from a locked one. The thread is the parent of
// every child it starts, so it lives as long as the launcher: the children's
// parent-death signal fires when it exits (Launcher.Close) or when the server dies.
type spawners struct {
	reqs chan *spawnReq
	// seccompErr is why a spawner thread could not install the seccomp
	// filter (nil: every thread has it, and so has every child).
	seccompErr error
	wg         sync.WaitGroup
	close      func() // stops the spawners (once); children still running get their parent-death signal
}

type spawnReq struct {
	cmd    *exec.Cmd
	root   *rootfs    // isolated start: the skeleton to enter; nil otherwise
	code   int        // detached mount of the code (isolated start)
	tmpMB  int        // size of /tmp (isolated start)
	join   []*os.File // v1 cgroup tasks files the thread moves into to fork
	home   []*os.File // and those it moves back to
	cpus   *cpuMask   // CPUs the child is bound to (nil: the thread's own)
	cpuAll *cpuMask   // the thread's own mask, restored after the fork
	done   chan error
	// thread, when set, runs on the thread instead of starting cmd. If it
	// cannot leave the thread as it found it, it sets *broken.
	thread func(broken *error) error
}

// startSpawners starts n spawners, each with the seccomp filter when
// seccomp is set (see installSeccomp), and checks that they work.
func startSpawners(n int, seccomp, denyClone3 bool) (*spawners, error) {
	s := &spawners{reqs: make(chan *spawnReq)}
	s.close = sync.OnceFunc(func() {
		close(s.reqs)
		s.wg.Wait()
	})
	installed := make(chan error, n)
	for range n {
		s.wg.Go(func() { s.run(seccomp, denyClone3, installed) })
	}
	for range n {
		if err := <-installed; err != nil && s.seccompErr == nil {
			s.seccompErr = err
		}
	}
	if err := s.do(func(*error) error { return nil }); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *spawners) run(seccomp, denyClone3 bool, installed chan<- error) {
	// Never unlocked: when this goroutine returns, the thread exits with it.
	runtime.LockOSThread()
	unshareErr := syscall.Unshare(syscall.CLONE_FS)
	if unshareErr != nil {
		unshareErr = &os.SyscallError{Syscall: "unshare(CLONE_FS)", Err: unshareErr}
	}
	if seccomp {
		installed <- installSeccomp(denyClone3)
	} else {
		installed <- errSeccompOff
	}
	var broken error // the thread could not return to the host namespace
	for req := range s.reqs {
		switch {
		case unshareErr != nil:
			req.done <- unshareErr
		case broken != nil:
			req.done <- broken
		case req.thread != nil:
			req.done <- req.thread(&broken)
		default:
			req.done <- start(req, &broken)
		}
	}
}

// spawn runs req on a spawner thread.
func (s *spawners) spawn(req *spawnReq) error {
	req.done = make(chan error, 1)
	s.reqs <- req
	return <-req.done
}

// do runs f on a spawner thread; f must leave the thread as it found it, or
// set *broken to say why it could not (the thread then refuses further work).
func (s *spawners) do(f func(broken *error) error) error {
	return s.spawn(&spawnReq{thread: f})
}

// start runs on a spawner thread. On error after the child was created, the
// child is killed; the caller still waits for it (cmd.Wait).
func start(req *spawnReq, broken *error) error {
	zero := []byte("0")
	for _, f := range req.join {
		if _, err := f.Write(zero); err != nil {
			req.join = nil
			goHome(req, broken)
			return fmt.Errorf("join cgroup: %w", err)
		}
	}
	defer goHome(req, broken)
	if req.cpus != nil {
		// Placement is for speed, not isolation: if the kernel refuses the
		// mask (its CPUs went offline, the server's cpuset shrank), the
		// environment starts unbound rather than not at all.
		placeThread(req.cpus, schedBatch)
		defer func() {
			if err := placeThread(req.cpuAll, schedOther); err != nil {
				*broken = fmt.Errorf("spawner thread stuck on an environment's CPUs: %w", err)
			}
		}()
	}
	r := req.root
	if r != nil {
		err := r.enter(req.code, req.tmpMB)
		defer func() {
			if e := r.leave(); e != nil {
				*broken = fmt.Errorf("spawner thread stuck outside the host mount namespace: %w", e)
			}
		}()
		if err != nil {
			return err
		}
	}
	if r == nil || !r.ownPID {
		return req.cmd.Start()
	}
	// Stop the child right after execve to mount its /proc.
	req.cmd.SysProcAttr.Ptrace = true
	if err := req.cmd.Start(); err != nil {
		return err
	}
	pid := req.cmd.Process.Pid
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, syscall.WALL, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			req.cmd.Process.Kill()
			return &os.SyscallError{Syscall: "wait4", Err: err}
		}
		break
	}
	if !ws.Stopped() {
		// It died between execve and its first instruction (e.g. killed):
		// already reaped here, so cmd.Wait will report an error.
		return fmt.Errorf("the environment's process ended before it started (wait status %#x)", uint32(ws))
	}
	mountErr := r.mountProc(pid)
	if mountErr != nil {
		syscall.Kill(pid, syscall.SIGKILL)
		mountErr = fmt.Errorf("mount /proc: %w", mountErr)
	}
	if err := syscall.PtraceDetach(pid); err != nil && mountErr == nil {
		syscall.Kill(pid, syscall.SIGKILL)
		return &os.SyscallError{Syscall: "ptrace(PTRACE_DETACH)", Err: err}
	}
	return mountErr
}

// goHome moves the spawner thread back to the server's cgroups.
func goHome(req *spawnReq, broken *error) {
	if len(req.join) == 0 {
		return
	}
	for _, f := range req.home {
		if _, err := f.Write([]byte("0")); err != nil {
			*broken = fmt.Errorf("spawner thread stuck in an environment's cgroup: %w", err)
		}
	}
}

var errSeccompOff = errors.New("disabled")
