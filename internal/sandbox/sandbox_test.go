package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// codeDir holds the test child (testdata/child) as a function's code would.
var codeDir string

const helperVar = "NIMBUS_SANDBOX_TEST_PARENT"

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperVar); dir != "" {
		helperParent(dir, os.Args[len(os.Args)-1])
		return
	}
	tmp, err := os.MkdirTemp("", "sandbox-test-")
	if err != nil {
		panic(err)
	}
	os.Chmod(tmp, 0o755)
	codeDir = filepath.Join(tmp, "code")
	cmd := exec.Command("go", "build", "-o", filepath.Join(codeDir, "child"), "./testdata/child")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build child: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(tmp)
	os.Exit(code)
}

// helperParent is a server stand-in for TestReapAfterKill9: it starts one
// isolated environment that sleeps, prints its pid, and waits to be killed.
func helperParent(stateDir, code string) {
	l, err := New(Config{StateDir: stateDir})
	if err != nil {
		panic(err)
	}
	p, err := l.Start(Spec{ID: "survivor", Path: "/var/task/child", Args: []string{"sleep"}, Dir: "/var/task", CodeDir: code, MemoryMB: 64})
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Pid())
	select {}
}

type env struct {
	*Process
	mu  sync.Mutex
	out []string
}

func (e *env) output() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return strings.Join(e.out, "\n")
}

func newLauncher(t testing.TB, cfg Config) *Launcher {
	t.Helper()
	if cfg.StateDir == "" {
		cfg.StateDir = filepath.Join(t.TempDir(), "data", "sandboxes")
	}
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

// isolated returns a launcher with every layer, or skips the test.
func isolated(t testing.TB, cfg Config) *Launcher {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("isolation needs root")
	}
	l := newLauncher(t, cfg)
	if l.root == nil || l.cg == nil {
		t.Fatalf("running as root, but the launcher has no private root or cgroups:\n%s", strings.Join(l.Layers(), "\n"))
	}
	return l
}

var nextID int

func startEnv(t testing.TB, l *Launcher, spec Spec, args ...string) *env {
	t.Helper()
	nextID++
	if spec.ID == "" {
		spec.ID = fmt.Sprintf("env%d-%d", nextID, time.Now().UnixNano())
	}
	if spec.Path == "" {
		spec.CodeDir = codeDir
		spec.Path = filepath.Join(l.TaskRoot(codeDir), "child")
		spec.Dir = l.TaskRoot(codeDir)
	}
	spec.Args = args
	e := &env{}
	spec.Output = func(line []byte) {
		e.mu.Lock()
		e.out = append(e.out, string(line))
		e.mu.Unlock()
	}
	p, err := l.Start(spec)
	if err != nil {
		t.Fatalf("Start %v: %v", args, err)
	}
	e.Process = p
	t.Cleanup(func() {
		p.Kill()
		<-p.Done()
	})
	return e
}

// run starts the child with args and waits for it to end.
func run(t testing.TB, l *Launcher, spec Spec, args ...string) (out, reason string) {
	t.Helper()
	e := startEnv(t, l, spec, args...)
	select {
	case <-e.Done():
	case <-time.After(30 * time.Second):
		t.Fatalf("%v did not end", args)
	}
	return e.output(), e.ExitReason()
}

func TestPlain(t *testing.T) {
	l := newLauncher(t, Config{NoIsolation: true})
	if !slices.Contains(l.Layers(), "pid/mount/ipc/uts namespaces: off (disabled by configuration)") {
		t.Errorf("Layers() = %q", l.Layers())
	}
	if got := l.TaskRoot(codeDir); got != codeDir {
		t.Errorf("TaskRoot = %s, want the host dir %s", got, codeDir)
	}
	out, reason := run(t, l, Spec{}, "echo", "hello")
	if out != "hello" || reason != "" {
		t.Errorf("echo: %q, %q", out, reason)
	}
	if _, reason := run(t, l, Spec{}, "exit", "3"); reason != "exit status 3" {
		t.Errorf("exit 3: reason %q", reason)
	}
	e := startEnv(t, l, Spec{}, "sleep")
	tmp := l.TmpDir(e.id)
	if _, err := os.Stat(tmp); err != nil {
		t.Errorf("TMPDIR: %v", err)
	}
	e.Kill()
	<-e.Done()
	if e.ExitReason() != "signal: killed" {
		t.Errorf("killed: reason %q", e.ExitReason())
	}
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("TMPDIR left behind: %v", err)
	}
}

func TestLayers(t *testing.T) {
	l := newLauncher(t, Config{})
	for _, line := range l.Layers() {
		t.Log(line)
		if !strings.Contains(line, ": on") && !strings.Contains(line, ": off (") {
			t.Errorf("layer %q is neither on nor off with a reason", line)
		}
	}
	if os.Geteuid() != 0 {
		return
	}
	for _, want := range []string{"pid/mount/ipc/uts namespaces: on", "unprivileged user (uid 993, gid 993): on", "own /proc (only the environment's processes): on"} {
		if !slices.Contains(l.Layers(), want) {
			t.Errorf("Layers() has no %q", want)
		}
	}
}

// TestFallback: a layer the launcher cannot build is off, with the reason,
// and environments still start (on the host's file system).
func TestFallback(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to get past the first reason")
	}
	data := filepath.Join(t.TempDir(), "data")
	for _, tc := range []struct {
		ro   string
		want string
	}{
		{"/nonexistent", "private root: off (stat /nonexistent: no such file or directory)"},
		{filepath.Dir(data), "private root: off (the data dir " + data + " is inside " + filepath.Dir(data) + ", which environments see)"},
	} {
		l := newLauncher(t, Config{StateDir: filepath.Join(data, "sandboxes"), ReadOnly: []string{tc.ro}})
		if !slices.Contains(l.Layers(), tc.want) {
			t.Errorf("ReadOnly %s: Layers() = %q, want %q", tc.ro, l.Layers(), tc.want)
		}
		if l.TaskRoot(codeDir) != codeDir {
			t.Errorf("TaskRoot without a private root = %s", l.TaskRoot(codeDir))
		}
		out, reason := run(t, l, Spec{MemoryMB: 64}, "id")
		if reason != "" || !strings.HasPrefix(out, "uid=0 ") {
			t.Errorf("without a private root: %q %q", out, reason)
		}
	}
}

func TestIsolation(t *testing.T) {
	l := isolated(t, Config{PidsMax: 64, RuntimeDir: t.TempDir()})
	dataDir := filepath.Dir(l.cfg.StateDir)
	secret := filepath.Join(dataDir, "code", "other", "secret")
	os.MkdirAll(filepath.Dir(secret), 0o755)
	os.WriteFile(secret, []byte("do not read"), 0o644)
	os.WriteFile(filepath.Join(l.cfg.RuntimeDir, "bootstrap.py"), []byte("print(1)"), 0o644)

	for _, tc := range []struct {
		name string
		spec Spec
		args []string
		want string // prefix of the output
	}{
		{"its own processes only", Spec{}, []string{"ps"}, "pid=1 ppid=0 procs=1"},
		{"unprivileged", Spec{}, []string{"id"}, "uid=993 gid=993 groups=[]"},
		{"code at /var/task", Spec{}, []string{"ls", "/var/task"}, "ok: child"},
		{"code read-only", Spec{}, []string{"write", "/var/task/x"}, "error: open /var/task/x: read-only file system"},
		{"root read-only", Spec{}, []string{"write", "/x"}, "error: open /x: read-only file system"},
		{"/usr read-only", Spec{}, []string{"write", "/usr/x"}, "error: open /usr/x: read-only file system"},
		{"runtime bootstraps", Spec{}, []string{"read", "/var/runtime/bootstrap.py"}, `ok: "print(1)"`},
		{"tmp writable", Spec{}, []string{"write", "/tmp/x"}, "ok"},
		{"tmp capped", Spec{EphemeralMB: 8}, []string{"fill", "32"}, "wrote 8 MB: error: write /tmp/fill: no space left on device"},
		{"data dir invisible", Spec{}, []string{"ls", dataDir}, "error: open " + dataDir + ": no such file or directory"},
		{"other code invisible", Spec{}, []string{"read", secret}, "error: open " + secret + ": no such file or directory"},
		{"host /root invisible", Spec{}, []string{"ls", "/root"}, "error: open /root: no such file or directory"},
		{"minimal /dev", Spec{}, []string{"ls", "/dev"}, "ok: fd,full,null,random,stderr,stdin,stdout,tty,urandom,zero"},
		{"TMPDIR", Spec{}, []string{"env"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, reason := run(t, l, tc.spec, tc.args...)
			if reason != "" {
				t.Errorf("exit reason %q; output %q", reason, out)
			}
			if tc.name == "TMPDIR" {
				if !strings.Contains(out, "TMPDIR=/tmp\n") {
					t.Errorf("environment has no TMPDIR=/tmp:\n%s", out)
				}
				return
			}
			if !strings.HasPrefix(out, tc.want) {
				t.Errorf("%v: %q, want %q…", tc.args, out, tc.want)
			}
		})
	}

	t.Run("memory capped", func(t *testing.T) {
		e := startEnv(t, l, Spec{MemoryMB: 32}, "alloc", "256")
		<-e.Done()
		if e.ExitReason() != "signal: killed" {
			t.Errorf("exit reason %q, want signal: killed; output %q", e.ExitReason(), e.output())
		}
		if rss := e.MaxRSS() >> 20; rss < 16 || rss > 32 {
			t.Errorf("MaxRSS = %d MB, want the cgroup's peak, near 32", rss)
		}
		checkGone(t, l, e)
	})

	t.Run("memory within the cap", func(t *testing.T) {
		out, reason := run(t, l, Spec{MemoryMB: 128}, "alloc", "64")
		if reason != "" || out != "allocated 64 MB" {
			t.Errorf("%q, %q", out, reason)
		}
	})

	t.Run("fork bomb contained", func(t *testing.T) {
		e := startEnv(t, l, Spec{}, "forkbomb")
		deadline := time.After(30 * time.Second)
		for !strings.HasPrefix(e.output(), "started ") {
			select {
			case <-deadline:
				t.Fatalf("no result: %q", e.output())
			case <-time.After(10 * time.Millisecond):
			}
		}
		out := e.output()
		n, _ := strconv.Atoi(strings.Fields(strings.TrimPrefix(out, "started "))[0])
		if !strings.Contains(out, "resource temporarily unavailable") || n >= 64 {
			t.Errorf("fork bomb: %q, want it stopped below 64 processes", out)
		}
		// The bootstrap has exited; its namespace died with it.
		<-e.Done()
		// The host can still start processes.
		if err := exec.Command("/bin/true").Run(); err != nil {
			t.Errorf("host: %v", err)
		}
		checkGone(t, l, e)
	})

	t.Run("stop without a SIGTERM handler", func(t *testing.T) {
		e := startEnv(t, l, Spec{}, "sleep")
		t0 := time.Now()
		e.Stop(10 * time.Second)
		// Killed at once, not after the 10 s grace: the bound leaves a loaded
		// machine several seconds and still tells the two apart.
		if d := time.Since(t0); d > 5*time.Second {
			t.Errorf("Stop took %v: pid 1 cannot receive an unhandled SIGTERM, it should be killed at once", d)
		}
		checkGone(t, l, e)
	})

	t.Run("stop with a SIGTERM handler", func(t *testing.T) {
		e := startEnv(t, l, Spec{}, "term")
		for e.output() != "waiting" {
			time.Sleep(time.Millisecond)
		}
		e.Stop(10 * time.Second)
		if e.ExitReason() != "" || !strings.Contains(e.output(), "got SIGTERM") {
			t.Errorf("%q, %q", e.output(), e.ExitReason())
		}
	})

	t.Run("kill", func(t *testing.T) {
		e := startEnv(t, l, Spec{MemoryMB: 64}, "sleep")
		if e.MaxRSS() <= 0 {
			t.Errorf("MaxRSS of a live environment = %d", e.MaxRSS())
		}
		e.Kill()
		<-e.Done()
		if e.ExitReason() != "signal: killed" {
			t.Errorf("exit reason %q", e.ExitReason())
		}
		checkGone(t, l, e)
	})

	t.Run("missing bootstrap", func(t *testing.T) {
		_, err := l.Start(Spec{ID: "missing", Path: "/var/task/nope", Dir: "/var/task", CodeDir: codeDir})
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Start of a missing bootstrap: %v, want ErrNotExist", err)
		}
		checkCgroupGone(t, l, "missing")
	})

	t.Run("host paths without CodeDir", func(t *testing.T) {
		out, reason := run(t, l, Spec{Path: filepath.Join(codeDir, "child"), Dir: codeDir}, "ps")
		if reason != "" || strings.HasPrefix(out, "pid=1 ") {
			t.Errorf("without CodeDir the process should run on the host: %q %q", out, reason)
		}
	})
}

// checkGone checks that nothing of environment e is left: processes, cgroups, live file.
func checkGone(t *testing.T, l *Launcher, e *env) {
	t.Helper()
	if pids := leftovers(e.id); len(pids) > 0 {
		t.Errorf("processes left: %v", pids)
	}
	if _, err := os.Stat(filepath.Join(l.cfg.StateDir, "live", e.id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("live file left: %v", err)
	}
	checkCgroupGone(t, l, e.id)
}

func checkCgroupGone(t *testing.T, l *Launcher, id string) {
	t.Helper()
	for _, p := range l.cg.parents {
		if _, err := os.Stat(filepath.Join(p, id)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup %s left: %v", filepath.Join(p, id), err)
		}
	}
}

// leftovers lists the processes carrying environment id's marker.
func leftovers(id string) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil && ownedBy(pid, id) {
			out = append(out, pid)
		}
	}
	return out
}

// TestReapAfterKill9 kills a server stand-in with SIGKILL: its environment
// dies with it (parent-death signal), and Reap removes what is left on disk.
func TestReapAfterKill9(t *testing.T) {
	l := isolated(t, Config{})
	stateDir := l.cfg.StateDir
	l.Close()
	cmd := exec.Command(os.Args[0], codeDir)
	cmd.Env = append(os.Environ(), helperVar+"="+stateDir)
	cmd.Stderr = os.Stderr
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		cmd.Process.Kill()
		t.Fatal("helper printed nothing")
	}
	pid, _ := strconv.Atoi(sc.Text())
	if !ownedBy(pid, "survivor") {
		t.Fatalf("environment pid %d not running", pid)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for len(leftovers("survivor")) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("environment outlived its server: %v", leftovers("survivor"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	l2 := isolated(t, Config{StateDir: stateDir})
	if _, err := os.Stat(filepath.Join(l2.cg.parents[0], "survivor")); err != nil {
		t.Fatalf("the dead server's cgroup should still be there before Reap: %v", err)
	}
	l2.Reap()
	checkCgroupGone(t, l2, "survivor")
	if ents, _ := os.ReadDir(filepath.Join(stateDir, "live")); len(ents) > 0 {
		t.Errorf("live files left after Reap: %v", ents)
	}
}

// BenchmarkStart measures spawn → first connection (what a runtime's first
// /next is) for each combination of layers, and the bare loopback baseline.
func BenchmarkStart(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	conns := make(chan net.Conn, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			bufio.NewReader(c).ReadString('\n')
			conns <- c
		}
	}()
	addr := ln.Addr().String()
	cases := []struct {
		name  string
		setup func(*Launcher)
		spec  Spec
	}{
		{"plain", nil, Spec{}},
		{"cgroups", nil, Spec{Path: filepath.Join(codeDir, "child"), Dir: codeDir, MemoryMB: 128}},
		{"namespaces+root", func(l *Launcher) { l.cg = nil }, Spec{MemoryMB: 128}},
		{"full", nil, Spec{MemoryMB: 128}},
	}
	b.Run("loopback-baseline", func(b *testing.B) {
		for b.Loop() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			c.Write([]byte("ready\n"))
			(<-conns).Close()
			c.Close()
		}
	})
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			var l *Launcher
			if tc.name == "plain" {
				l = newLauncher(b, Config{NoIsolation: true})
			} else {
				l = isolated(b, Config{})
				if tc.setup != nil {
					cg := l.cg
					tc.setup(l)
					b.Cleanup(func() { l.cg = cg })
				}
			}
			var ds []time.Duration
			for b.Loop() {
				t0 := time.Now()
				e := startEnv(b, l, tc.spec, "ready", addr)
				c := <-conns
				ds = append(ds, time.Since(t0))
				b.StopTimer()
				c.Close()
				e.Kill()
				<-e.Done()
				b.StartTimer()
			}
			slices.Sort(ds)
			b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(ds[len(ds)*9/10].Microseconds())/1000, "p90-ms")
			b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
