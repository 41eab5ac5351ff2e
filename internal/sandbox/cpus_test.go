package sandbox

import (
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func TestPlacerSpreadsAndReleases(t *testing.T) {
	p := &placer{cpus: []int{0, 1, 2, 3}, load: make([]int, 4)}
	masks := map[cpuMask]int{}
	var releases []func()
	for range 8 { // 128 MB each: one CPU each, two per CPU
		m, release := p.place(128)
		masks[m]++
		releases = append(releases, release)
	}
	if len(masks) != 4 {
		t.Fatalf("8 environments on %d distinct CPU sets, want 4: %v", len(masks), masks)
	}
	for m, n := range masks {
		if n != 2 {
			t.Errorf("mask %b has %d environments, want 2", m[0], n)
		}
	}
	releases[0]() // frees one on CPU 0
	releases[0]() // a second release changes nothing
	if !slices.Equal(p.load, []int{1, 2, 2, 2}) {
		t.Fatalf("loads after releasing one environment twice: %v, want [1 2 2 2]", p.load)
	}
	if m, _ := p.place(128); m[0] != 1 {
		t.Errorf("after a release the next environment went to %b, want the freed CPU 0 (0b1)", m[0])
	}
	if m, _ := p.place(4000); popcount(m) != 3 { // ceil(4000/1769) = 3
		t.Errorf("4000 MB got %d CPUs, want 3", popcount(m))
	}
	if m, _ := p.place(10240); popcount(m) != 4 { // 6 wanted, 4 exist
		t.Errorf("10240 MB got %d CPUs, want all 4", popcount(m))
	}
}

func popcount(m cpuMask) (n int) {
	for cpu := range len(m) * 64 {
		if m.has(cpu) {
			n++
		}
	}
	return n
}

// TestCPUPlacement checks real environments: each 128 MB environment is bound
// to one CPU, scheduled SCHED_BATCH, and two of them go to different CPUs.
func TestCPUPlacement(t *testing.T) {
	l := isolated(t, Config{})
	if l.cpus == nil {
		t.Skipf("no CPU placement on this host: %s", strings.Join(l.Layers(), "; "))
	}
	seen := map[string]bool{}
	for range 2 {
		e := startEnv(t, l, Spec{MemoryMB: 128}, "sleep")
		allowed := procStatus(t, e.Pid(), "Cpus_allowed_list")
		if strings.ContainsAny(allowed, ",-") {
			t.Errorf("a 128 MB environment may run on CPUs %q, want one", allowed)
		}
		seen[allowed] = true
		policy, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_GETSCHEDULER, uintptr(e.Pid()), 0, 0)
		if errno != 0 || policy != schedBatch {
			t.Errorf("scheduling policy %d (errno %v), want SCHED_BATCH (%d)", policy, errno, schedBatch)
		}
	}
	if len(seen) != 2 {
		t.Errorf("two environments share CPU %v", seen)
	}
	e := startEnv(t, l, Spec{MemoryMB: 2 * cpusPerVCPU}, "sleep")
	if got := procStatus(t, e.Pid(), "Cpus_allowed_list"); !strings.ContainsAny(got, ",-") {
		t.Errorf("a %d MB environment may run on CPUs %q, want two", 2*cpusPerVCPU, got)
	}
	threadsUnplaced(t)
}

// threadsUnplaced checks that every thread of this process, the spawners
// included, has the process's mask and SCHED_OTHER (back).
func threadsUnplaced(t *testing.T) {
	t.Helper()
	want := procStatus(t, os.Getpid(), "Cpus_allowed_list")
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		tid, _ := strconv.Atoi(task.Name())
		if got := procStatus(t, tid, "Cpus_allowed_list"); got != want {
			t.Errorf("thread %d may run on CPUs %q, the process on %q", tid, got, want)
		}
		if policy, _, _ := syscall.RawSyscall(syscall.SYS_SCHED_GETSCHEDULER, uintptr(tid), 0, 0); policy != schedOther {
			t.Errorf("thread %d has scheduling policy %d, want SCHED_OTHER", tid, policy)
		}
	}
}

func procStatus(t *testing.T, pid int, key string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == key {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %s in /proc/%d/status", key, pid)
	return ""
}

// TestPlacementRefusedStartsUnbound: a mask the kernel refuses (no CPU of it
// exists) does not stop an environment from starting, and the spawner thread
// keeps its own mask.
func TestPlacementRefusedStartsUnbound(t *testing.T) {
	l := isolated(t, Config{})
	if l.cpus == nil {
		t.Skip("no CPU placement on this host")
	}
	var bogus cpuMask
	bogus.set(len(bogus)*64 - 1) // CPU 1023
	req := &spawnReq{cmd: exec.Command("/bin/true"), cpus: &bogus, cpuAll: &l.cpus.all}
	req.cmd.SysProcAttr = &syscall.SysProcAttr{}
	if err := l.sp.spawn(req); err != nil {
		t.Fatalf("start with a refused mask: %v", err)
	}
	if err := req.cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	threadsUnplaced(t)
}
