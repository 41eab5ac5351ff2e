package sandbox

import (
	"os"
	"syscall"
	"unsafe"
)

// The seccomp layer: a deny-list filter that every environment inherits from
// the spawner thread that forks it (see spawners). It takes away kernel
// interfaces a function never needs and that are reachable without privileges,
// so they are the usual way out of a container: io_uring, eBPF, perf events,
// userfaultfd, the kernel keyrings, kernel modules and kexec, and new user
// namespaces (unshare or clone with CLONE_NEWUSER). Everything else is allowed:
// runtimes, debuggers (ptrace) and shells work as on Lambda.
//
// The filter is installed on the spawner thread itself (a filter cannot be
// put between fork and execve with os/exec), together with no_new_privs, so
// setuid programs inside an environment cannot gain privileges either. The
// spawner never needs any denied call. clone3 passes its flags in memory that
// a filter cannot read: it answers ENOSYS (glibc and the Go runtime fall back
// to clone, which is checked) unless the spawner itself forks with clone3,
// which os/exec does for CLONE_INTO_CGROUP on cgroup v2 hosts; there clone3
// stays allowed and new user namespaces through clone3 are not blocked.

const (
	auditArchX86_64 = 0xC000003E
	x32SyscallBit   = 0x40000000

	seccompSetModeFilter = 1
	prSetNoNewPrivs      = 38

	retAllow = 0x7fff0000
	retErrno = 0x00050000

	bpfLdWAbs  = 0x20 // BPF_LD | BPF_W | BPF_ABS
	bpfJeqK    = 0x15 // BPF_JMP | BPF_JEQ | BPF_K
	bpfJgeK    = 0x35 // BPF_JMP | BPF_JGE | BPF_K
	bpfJsetK   = 0x45 // BPF_JMP | BPF_JSET | BPF_K
	bpfRetK    = 0x06 // BPF_RET | BPF_K
	offNr      = 0
	offArch    = 4
	offArg0Low = 16
)

// deniedEPERM are refused with EPERM, deniedENOSYS with ENOSYS (what callers
// with a fallback path expect when a kernel lacks the call).
var (
	deniedEPERM = []uint32{
		321,           // bpf
		298,           // perf_event_open
		323,           // userfaultfd
		248, 249, 250, // add_key, request_key, keyctl
		246, 320, // kexec_load, kexec_file_load
		175, 313, 176, // init_module, finit_module, delete_module
	}
	deniedENOSYS = []uint32{425, 426, 427} // io_uring_setup, io_uring_enter, io_uring_register
)

const (
	sysClone   = 56
	sysUnshare = 272
	sysClone3  = 435
	sysSeccomp = 317
)

type sockFilter struct {
	code uint16
	jt   uint8
	jf   uint8
	k    uint32
}

type sockFprog struct {
	len    uint16
	filter *sockFilter
}

// seccompFilter builds the program. Jumps are relative, so the program is
// assembled with the three shared tails (allow, EPERM, ENOSYS) at its end.
func seccompFilter(denyClone3 bool) []sockFilter {
	enosys := deniedENOSYS
	if denyClone3 {
		enosys = append(enosys[:len(enosys):len(enosys)], sysClone3)
	}
	type check struct {
		nr   uint32
		tail int // 0 EPERM, 1 ENOSYS, 2 the CLONE_NEWUSER test
	}
	var checks []check
	for _, nr := range deniedEPERM {
		checks = append(checks, check{nr, 0})
	}
	for _, nr := range enosys {
		checks = append(checks, check{nr, 1})
	}
	checks = append(checks, check{sysUnshare, 2}, check{sysClone, 2})

	// Layout: [0] ld arch, [1] jeq arch, [2] ld nr, [3] jge x32, [4..4+n) checks,
	// then: allow, newuser test (ld arg0, jset), allow, eperm, enosys.
	n := len(checks)
	allow := 4 + n
	newuser := allow + 1
	allow2 := newuser + 2
	eperm := allow2 + 1
	enosysAt := eperm + 1
	jump := func(from, to int) uint8 { return uint8(to - from - 1) }

	prog := make([]sockFilter, 0, enosysAt+1)
	prog = append(prog,
		sockFilter{code: bpfLdWAbs, k: offArch},
		sockFilter{code: bpfJeqK, k: auditArchX86_64, jt: 0, jf: jump(1, eperm)},
		sockFilter{code: bpfLdWAbs, k: offNr},
		sockFilter{code: bpfJgeK, k: x32SyscallBit, jt: jump(3, eperm), jf: 0},
	)
	for i, c := range checks {
		at := 4 + i
		to := []int{eperm, enosysAt, newuser}[c.tail]
		prog = append(prog, sockFilter{code: bpfJeqK, k: c.nr, jt: jump(at, to), jf: 0})
	}
	prog = append(prog,
		sockFilter{code: bpfRetK, k: retAllow},                                           // allow
		sockFilter{code: bpfLdWAbs, k: offArg0Low},                                       // newuser
		sockFilter{code: bpfJsetK, k: syscall.CLONE_NEWUSER, jt: jump(newuser+1, eperm)}, // jf: 0 → allow2
		sockFilter{code: bpfRetK, k: retAllow},
		sockFilter{code: bpfRetK, k: retErrno | uint32(syscall.EPERM)},
		sockFilter{code: bpfRetK, k: retErrno | uint32(syscall.ENOSYS)},
	)
	return prog
}

// installSeccomp puts the filter on the calling thread (which must be locked
// to its goroutine) and sets no_new_privs on it.
func installSeccomp(denyClone3 bool) error {
	if _, _, e := syscall.RawSyscall6(syscall.SYS_PRCTL, prSetNoNewPrivs, 1, 0, 0, 0, 0); e != 0 {
		return os.NewSyscallError("prctl(PR_SET_NO_NEW_PRIVS)", e)
	}
	prog := seccompFilter(denyClone3)
	fprog := sockFprog{len: uint16(len(prog)), filter: &prog[0]}
	if _, _, e := syscall.RawSyscall(sysSeccomp, seccompSetModeFilter, 0, uintptr(unsafe.Pointer(&fprog))); e != 0 {
		return os.NewSyscallError("seccomp(SECCOMP_SET_MODE_FILTER)", e)
	}
	return nil
}

// seccompDescription is the start-up report line of an installed filter.
func seccompDescription(denyClone3 bool) string {
	s := "seccomp: on (denied: io_uring, bpf, perf_event_open, userfaultfd, keyrings, kernel modules, kexec, new user namespaces; no_new_privs)"
	if !denyClone3 {
		s += "; clone3 allowed (cgroup v2 placement needs it), so user namespaces through clone3 are not blocked"
	}
	return s
}
