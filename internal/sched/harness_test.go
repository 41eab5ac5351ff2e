package sched

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nimbus-dev/nimbus/internal/artifact"
	"github.com/nimbus-dev/nimbus/internal/backbone"
	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/logs"
	"github.com/nimbus-dev/nimbus/internal/runtimeapi"
	"github.com/nimbus-dev/nimbus/internal/runtimes"
	"github.com/nimbus-dev/nimbus/internal/sandbox"
)

// The parts a scheduler is built from, as internal/app builds them, shared by
// every test: a backbone for the code and log stores, the runtime catalogue,
// the sandbox launcher (isolated when the tests run as root), and the code of
// test/e2e/testdata/gofn, a real aws-lambda-go function.
var parts struct {
	launcher *sandbox.Launcher
	runtimes *runtimes.Catalogue
	code     *artifact.Store
	logs     *logs.Store
	gofn     string // CodeSha256 of gofn's zip
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sched-test-")
	if err != nil {
		panic(err)
	}
	os.Chmod(dir, 0o755) // isolated environments run as an unprivileged uid
	code := func() int {
		stop, err := setup(dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, "sched test setup:", err)
			return 1
		}
		defer stop()
		return m.Run()
	}()
	os.RemoveAll(dir)
	os.Exit(code)
}

func setup(dir string) (stop func(), err error) {
	boot := filepath.Join(dir, "gofn", "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", boot, "../../test/e2e/testdata/gofn")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build gofn: %v\n%s", err, out)
	}
	zipped, err := zipFile(boot)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	bb, err := backbone.Start(backbone.Config{DataDir: dir})
	if err != nil {
		return nil, err
	}
	stops := []func(){bb.Close}
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	obj, err := bb.ObjectStore(ctx, artifact.Bucket)
	if err != nil {
		return nil, err
	}
	if parts.code, err = artifact.New(obj, filepath.Join(dir, "code")); err != nil {
		return nil, err
	}
	c, err := parts.code.Put(ctx, zipped)
	if err != nil {
		return nil, err
	}
	parts.gofn = c.Sha256
	if parts.logs, err = logs.Open(ctx, bb.JetStream(), logs.Config{}); err != nil {
		return nil, err
	}
	logCtx, stopLogs := context.WithCancel(ctx)
	logsDone := make(chan struct{})
	go func() { parts.logs.Run(logCtx); close(logsDone) }()
	stops = append(stops, func() { stopLogs(); <-logsDone })
	runtimeDir := filepath.Join(dir, "runtimes")
	if parts.runtimes, err = runtimes.New(ctx, runtimes.Config{Dir: runtimeDir}); err != nil {
		return nil, err
	}
	if parts.launcher, err = sandbox.New(sandbox.Config{StateDir: filepath.Join(dir, "sandboxes"), RuntimeDir: runtimeDir, ReadOnly: parts.runtimes.Prefixes()}); err != nil {
		return nil, err
	}
	stops = append(stops, parts.launcher.Close)
	for _, l := range parts.launcher.Layers() {
		fmt.Fprintln(os.Stderr, "sandbox:", l)
	}
	return stop, nil
}

// zipFile zips one executable as a deployment package holds it.
func zipFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: filepath.Base(path), Method: zip.Deflate}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err != nil {
		return nil, err
	}
	w.Write(b)
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// clock is a virtual clock for Config.Now; it moves only when a test says.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

func (c *clock) advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// newScheduler returns a scheduler on the shared parts and a virtual clock
// (cfg.Now is set to it). Its reaper does not run: tests call tick. Every
// environment is stopped when the test ends.
func newScheduler(t *testing.T, cfg Config) (*Scheduler, *clock) {
	t.Helper()
	clk := newClock()
	cfg.Now = clk.Now
	s := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), parts.launcher, parts.runtimes, parts.code, parts.logs)
	t.Cleanup(s.stopAll)
	return s, clk
}

// tick runs one reaper tick at the clock's time and waits for the
// environments it pre-warms to be ready and the ones it stops to be gone.
func tick(s *Scheduler, clk *clock) {
	s.reap(context.Background(), clk.Now())
	s.starts.Wait()
	s.stops.Wait()
}

// gofn returns the configuration of a function name running gofn at revision rev.
func gofn(name, rev string) *lambda.Config {
	return &lambda.Config{
		FunctionName: name, FunctionArn: lambda.FunctionARN(name), Runtime: "provided.al2023", Handler: "bootstrap",
		Timeout: 30, MemorySize: 128, CodeSha256: parts.gofn, Version: lambda.Latest, RevisionId: rev,
		EphemeralStorage: lambda.EphemeralStorage{Size: 512},
	}
}

// result is what gofn answered, and the environment that ran it.
type result struct {
	Outcome
	Env   string // the environment's id (from its log stream name); "" if the answer does not show it (action post)
	Error string // errorType, if the invocation failed
}

// invoke runs event on cfg and decodes gofn's answer; a platform error fails the test.
func invoke(t *testing.T, s *Scheduler, cfg *lambda.Config, event string) result {
	t.Helper()
	r, err := tryInvoke(s, cfg, event, false)
	if err != nil {
		t.Fatalf("Invoke(%s): %v", event, err)
	}
	return r
}

// tryInvoke runs event on cfg (on a provisioned environment if provisioned)
// and decodes gofn's answer.
func tryInvoke(s *Scheduler, cfg *lambda.Config, event string, provisioned bool) (result, error) {
	inv := &runtimeapi.Invocation{RequestID: lambda.NewRequestID(), Deadline: time.Now().Add(time.Duration(cfg.Timeout) * time.Second),
		FunctionARN: cfg.FunctionArn, ContentType: "application/json", Payload: []byte(event)}
	out, err := s.Invoke(context.Background(), cfg, inv, provisioned)
	if err != nil {
		return result{}, err
	}
	r := result{Outcome: out, Error: out.Result.ErrorType}
	if r.Error == "" {
		var seen struct {
			Env map[string]string `json:"env"`
		}
		if err := json.Unmarshal(out.Result.Payload, &seen); err != nil {
			return r, fmt.Errorf("answer %q: %v", out.Result.Payload, err)
		}
		stream := seen.Env["AWS_LAMBDA_LOG_STREAM_NAME"]
		r.Env = stream[strings.LastIndexByte(stream, ']')+1:]
	}
	return r, nil
}

// goInvoke runs event on cfg in the background; a platform error is
// reported as the result's Error.
func goInvoke(s *Scheduler, cfg *lambda.Config, event string) <-chan result {
	done := make(chan result, 1)
	go func() {
		r, err := tryInvoke(s, cfg, event, false)
		if err != nil {
			r.Error = err.Error()
		}
		done <- r
	}()
	return done
}

// initReported reports whether the invocation's REPORT line carries an Init Duration.
func (r result) initReported() bool { return bytes.Contains(r.Log, []byte("Init Duration")) }

// idleEnvs returns the idle on-demand environments of every pool.
func idleEnvs(s *Scheduler) []*env {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*env
	for _, p := range s.pools {
		p.mu.Lock()
		out = append(out, p.idle...)
		p.mu.Unlock()
	}
	return out
}

// idleEnv returns the only idle environment, failing the test if there is not exactly one.
func idleEnv(t *testing.T, s *Scheduler) *env {
	t.Helper()
	es := idleEnvs(s)
	if len(es) != 1 {
		t.Fatalf("%d idle environments, want 1 (stats %v)", len(es), s.Stats())
	}
	return es[0]
}

// pidsOf returns the host pids of the processes carrying environment id's
// sandbox marker: its bootstrap and anything it started.
func pidsOf(id string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err == nil && bytes.Contains(b, []byte("\x00NIMBUS_SANDBOX_ID="+id+"\x00")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// running reports whether environment id has a process on the host.
func running(id string) bool { return len(pidsOf(id)) > 0 }

// waitStopped waits (generously) until no process of environment id is left.
func waitStopped(t *testing.T, id, why string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); running(id); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: environment %s still has processes %v after 30 s", why, id, pidsOf(id))
		}
	}
}

// barrier holds the gofn invocations that POST to its URL (action "post")
// until it is released, so a test knows they all run at once.
type barrier struct {
	*httptest.Server
	arrived chan string // the text of each held request

	mu   sync.Mutex
	gate chan struct{} // guarded by mu: closed to let the held requests go
}

func newBarrier(t *testing.T) *barrier {
	b := &barrier{arrived: make(chan string, 64), gate: make(chan struct{})}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		text, _ := io.ReadAll(r.Body)
		b.mu.Lock()
		gate := b.gate
		b.mu.Unlock()
		b.arrived <- string(text)
		select {
		case <-gate:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { b.release(); b.Close() })
	return b
}

// event returns the payload of an invocation held at the barrier.
func (b *barrier) event(text string) string {
	return fmt.Sprintf(`{"action":"post","url":%q,"text":%q}`, b.URL, text)
}

// await waits (generously) until n more invocations are held, and returns their texts.
func (b *barrier) await(t *testing.T, n int) []string {
	t.Helper()
	var got []string
	deadline := time.After(60 * time.Second)
	for len(got) < n {
		select {
		case s := <-b.arrived:
			got = append(got, s)
		case <-deadline:
			t.Fatalf("only %d of %d invocations reached the barrier within 60 s: %v", len(got), n, got)
		}
	}
	return got
}

// release lets every held invocation go; later ones are held again.
func (b *barrier) release() {
	b.mu.Lock()
	close(b.gate)
	b.gate = make(chan struct{})
	b.mu.Unlock()
}
