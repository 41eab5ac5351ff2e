package sandbox

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// preStart starts the test child pre-started (DeferCode) from /var/runtime,
// acting on args once it reads a line from stdin; it returns the env and the
// pipe's write end.
func preStart(t *testing.T, l *Launcher, spec Spec, args ...string) (*env, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	spec.DeferCode, spec.Stdin = true, r
	spec.Path, spec.Dir = "/var/runtime/child", "/var/task"
	e := startEnv(t, l, spec, append([]string{"preinit"}, args...)...)
	r.Close()
	waitOutput(t, e, "waiting")
	return e, w
}

func waitOutput(t *testing.T, e *env, want string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(e.output(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("output %q has no %q", e.output(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return e.output()
}

// memLimit reads g's memory cap in bytes from its control file (0 if unknown).
func (g *cgroup) memLimit() int {
	file := "memory.limit_in_bytes"
	if g.cgs.v2 {
		file = "memory.max"
	}
	b, err := os.ReadFile(filepath.Join(g.mem, file))
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

func TestAssign(t *testing.T) {
	rt := t.TempDir()
	l := isolated(t, Config{RuntimeDir: rt})
	child, err := os.ReadFile(filepath.Join(codeDir, "child"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rt, "child"), child, 0o755); err != nil {
		t.Fatal(err)
	}

	// Before its assignment a pre-started environment sees no code.
	if out, reason := run(t, l, Spec{DeferCode: true, Path: "/var/runtime/child", Dir: "/"}, "ls", "/var/task"); out != "ok: " || reason != "" {
		t.Errorf("unassigned /var/task: %q (%s), want empty", out, reason)
	}

	// After it: the code, read-only, with the function's memory cap.
	e, w := preStart(t, l, Spec{MemoryMB: 128}, "ls", "/var/task")
	if err := e.Assign(Assignment{CodeDir: codeDir, MemoryMB: 256}); err != nil {
		t.Fatal(err)
	}
	if got := e.cg.memLimit(); got != 256<<20 {
		t.Errorf("memory limit %d, want %d", got, 256<<20)
	}
	w.WriteString("go\n")
	if out := waitOutput(t, e, "ok: "); !strings.HasSuffix(out, "ok: child") {
		t.Errorf("assigned /var/task: %q", out)
	}
	if err := e.Assign(Assignment{CodeDir: codeDir, MemoryMB: 256}); err == nil {
		t.Error("a second Assign succeeded")
	}
	if plain := startEnv(t, l, Spec{MemoryMB: 128}, "sleep"); plain.Assign(Assignment{CodeDir: codeDir}) == nil {
		t.Error("Assign of an environment started with its code succeeded")
	}

	e, w = preStart(t, l, Spec{MemoryMB: 128}, "write", "/var/task/x")
	if err := e.Assign(Assignment{CodeDir: codeDir, MemoryMB: 128}); err != nil {
		t.Fatal(err)
	}
	w.WriteString("go\n")
	if out := waitOutput(t, e, "error"); !strings.Contains(out, "read-only file system") {
		t.Errorf("write to assigned code: %q", out)
	}

	// /tmp and CPUs follow the function's size; a smaller memory cap too.
	e, w = preStart(t, l, Spec{MemoryMB: 2 * cpusPerVCPU}, "fill", "32")
	if err := e.Assign(Assignment{CodeDir: codeDir, MemoryMB: 1024, EphemeralMB: 8}); err != nil {
		t.Fatal(err)
	}
	if got := e.cg.memLimit(); got != 1024<<20 {
		t.Errorf("memory limit %d after shrinking, want %d", got, 1024<<20)
	}
	if l.cpus != nil {
		if got := procStatus(t, e.Pid(), "Cpus_allowed_list"); strings.ContainsAny(got, ",-") {
			t.Errorf("a 1024 MB environment may run on CPUs %q, want one", got)
		}
		if e.ncpus != 1 {
			t.Errorf("ncpus = %d, want 1", e.ncpus)
		}
	}
	w.WriteString("go\n")
	if out := waitOutput(t, e, "wrote"); !strings.Contains(out, "wrote 8 MB") {
		t.Errorf("fill of an 8 MB /tmp: %q", out)
	}

	// An environment that ended cannot be assigned.
	e, w = preStart(t, l, Spec{MemoryMB: 128}, "sleep")
	e.Kill()
	<-e.Done()
	if err := e.Assign(Assignment{CodeDir: codeDir, MemoryMB: 128}); err == nil {
		t.Error("Assign of an ended environment succeeded")
	}

	// Closing stdin of an unassigned environment ends it, cgroup and all.
	e, w = preStart(t, l, Spec{MemoryMB: 128}, "sleep")
	w.Close()
	select {
	case <-e.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("an unassigned environment did not end when its stdin closed")
	}
	checkCgroupGone(t, l, e.id)
}
