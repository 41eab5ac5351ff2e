package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// envOf returns the id of the environment that ran an invocation of gofn's
// default action (the end of its log stream name: date/[version]id).
func envOf(t testing.TB, payload []byte) string {
	t.Helper()
	env, _ := decodeJSON(t, payload)["env"].(map[string]any)
	stream, _ := env["AWS_LAMBDA_LOG_STREAM_NAME"].(string)
	i := strings.LastIndex(stream, "]")
	if i < 0 {
		t.Fatalf("no log stream in %s", payload)
	}
	return stream[i+1:]
}

// envPid returns the host pid of s's live environment id, 0 if it is not live.
func (s *server) envPid(id string) int {
	b, err := os.ReadFile(filepath.Join(s.dataDir, "sandboxes", "live", id))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// collector is an HTTP endpoint on loopback that records what functions post
// to it (gofn's "post" action): sandboxed functions cannot write host files.
func collector(t testing.TB) (url string, got func() string) {
	var buf lockedBuffer
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		buf.Write(append(b, '\n'))
	}))
	t.Cleanup(srv.Close)
	return srv.URL, buf.String
}

// invokeJSON invokes name with event and returns the response's payload, its
// function error ("" if none) and the log tail.
func invokeJSON(t *testing.T, c *awslambda.Client, name string, event map[string]any) (map[string]any, string, string) {
	t.Helper()
	p, _ := json.Marshal(event)
	out, err := c.Invoke(context.Background(), &awslambda.InvokeInput{FunctionName: aws.String(name), Payload: p, LogType: types.LogTypeTail})
	if err != nil {
		t.Fatalf("invoke %s %v: %v", name, event, err)
	}
	logs, _ := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
	var m map[string]any
	json.Unmarshal(out.Payload, &m)
	return m, aws.ToString(out.FunctionError), string(logs)
}

// TestIsolation looks at an environment from inside a function: what the
// contract's Isolation section promises a function can and cannot observe.
func TestIsolation(t *testing.T) {
	s := startServer(t, t.TempDir())
	t.Cleanup(func() {
		if t.Failed() {
			s.stop()
			t.Logf("server log:\n%s", s.stderr)
		}
	})
	c := s.client()
	createFunction(t, c, "iso", types.RuntimeProvidedal2023, "bootstrap", goZip)

	ps, fnErr, _ := invokeJSON(t, c, "iso", map[string]any{"action": "ps"})
	if fnErr != "" {
		t.Fatalf("ps: %s %v", fnErr, ps)
	}
	if ps["pid"] != 1.0 {
		s.stop()
		layers := regexp.MustCompile(`(?m)^sandbox: .*$`).FindAllString(s.stderr.String(), -1)
		if os.Geteuid() != 0 || !slices.Contains(layers, "sandbox: pid/mount/ipc/uts namespaces: on") {
			t.Skipf("this host gives no isolation:\n%s", strings.Join(layers, "\n"))
		}
		t.Skipf("the server isolates, but the scheduler does not give the sandbox the code dir (sandbox.Spec.CodeDir) yet:\n%s", strings.Join(layers, "\n"))
	}

	t.Run("it sees only its own processes", func(t *testing.T) {
		if pids, _ := ps["pids"].([]any); len(pids) != 1 || pids[0] != 1.0 || ps["ppid"] != 0.0 {
			t.Errorf("ps = %v, want only itself as pid 1", ps)
		}
	})
	t.Run("it runs unprivileged", func(t *testing.T) {
		if id, _, _ := invokeJSON(t, c, "iso", map[string]any{"action": "whoami"}); id["uid"] == 0.0 || id["gid"] == 0.0 {
			t.Errorf("whoami = %v", id)
		}
	})
	t.Run("seccomp denies kernel interfaces it never needs", func(t *testing.T) {
		if !strings.Contains(s.stderr.String(), "sandbox: seccomp: on") {
			t.Skip("the server reports seccomp off on this host")
		}
		got, _, _ := invokeJSON(t, c, "iso", map[string]any{"action": "syscalls"})
		want := map[string]any{
			"unshare(CLONE_NEWUSER)": syscall.EPERM.Error(),
			"io_uring_setup":         syscall.ENOSYS.Error(),
			"bpf":                    syscall.EPERM.Error(),
			"keyctl":                 syscall.EPERM.Error(),
			"getpid":                 "allowed",
		}
		if !maps.Equal(got, want) {
			t.Errorf("syscalls = %v, want %v", got, want)
		}
	})
	t.Run("its code is read-only at /var/task", func(t *testing.T) {
		out, _, _ := invokeJSON(t, c, "iso", map[string]any{})
		if root := out["env"].(map[string]any)["LAMBDA_TASK_ROOT"]; root != "/var/task" {
			t.Errorf("LAMBDA_TASK_ROOT = %v", root)
		}
		if ls, _, _ := invokeJSON(t, c, "iso", map[string]any{"action": "listdir", "file": "/var/task"}); !slices.Equal(ls["names"].([]any), []any{"bootstrap"}) {
			t.Errorf("/var/task: %v", ls)
		}
		if w, _, _ := invokeJSON(t, c, "iso", map[string]any{"action": "writefile", "file": "/var/task/bootstrap", "text": "x"}); !strings.Contains(w["error"].(string), "read-only file system") {
			t.Errorf("overwriting its bootstrap: %v", w)
		}
	})
	t.Run("it is bound to one CPU, and its Go runtime sizes itself to it", func(t *testing.T) {
		if !strings.Contains(s.stderr.String(), "sandbox: CPU placement (") {
			t.Skip("the server reports CPU placement off on this host")
		}
		r, _, _ := invokeJSON(t, c, "iso", map[string]any{"action": "readfile", "file": "/proc/self/status"})
		status, _ := r["content"].(string)
		allowed := regexp.MustCompile(`(?m)^Cpus_allowed_list:\s*(\S+)$`).FindStringSubmatch(status)
		if allowed == nil || strings.ContainsAny(allowed[1], ",-") {
			t.Errorf("a 128 MB function may run on CPUs %v, want exactly one:\n%s", allowed, status)
		}
		out, _, _ := invokeJSON(t, c, "iso", map[string]any{})
		if got := out["gomaxprocs"]; got != 1.0 {
			t.Errorf("GOMAXPROCS inside the function = %v, want 1", got)
		}
	})
	t.Run("the server's data dir is invisible", func(t *testing.T) {
		for _, p := range []string{s.dataDir, filepath.Join(s.dataDir, "LOCK"), filepath.Join(s.dataDir, "jetstream")} {
			r, _, _ := invokeJSON(t, c, "iso", map[string]any{"action": "readfile", "file": p})
			if e, _ := r["error"].(string); !strings.Contains(e, "no such file or directory") {
				t.Errorf("read %s: %v", p, r)
			}
		}
	})
	t.Run("another function's code and /tmp are invisible", func(t *testing.T) {
		createFunction(t, c, "other", types.RuntimeNodejs20x, "index.handler", nodeCJS)
		if _, fnErr, _ := invokeJSON(t, c, "other", map[string]any{}); fnErr != "" {
			t.Fatalf("other: %s", fnErr)
		}
		theirs, _ := filepath.Glob(filepath.Join(s.dataDir, "code", "*", "index.js"))
		if len(theirs) != 1 {
			t.Fatalf("the other function's code on the host: %v", theirs)
		}
		r, _, _ := invokeJSON(t, c, "iso", map[string]any{"action": "readfile", "file": theirs[0]})
		if e, _ := r["error"].(string); !strings.Contains(e, "no such file or directory") {
			t.Errorf("read %s: %v", theirs[0], r)
		}
		createFunction(t, c, "iso2", types.RuntimeProvidedal2023, "bootstrap", goZip)
		if w, _, _ := invokeJSON(t, c, "iso2", map[string]any{"action": "writefile", "file": "/tmp/secret", "text": "mine"}); w["written"] == nil {
			t.Fatalf("write /tmp/secret: %v", w)
		}
		if r, _, _ := invokeJSON(t, c, "iso2", map[string]any{"action": "readfile", "file": "/tmp/secret"}); r["content"] != "mine" {
			t.Errorf("its own /tmp: %v", r)
		}
		if r, _, _ := invokeJSON(t, c, "iso", map[string]any{"action": "readfile", "file": "/tmp/secret"}); r["error"] == nil {
			t.Errorf("another function's /tmp: %v", r)
		}
	})
	t.Run("memory is capped at MemorySize", func(t *testing.T) {
		createFunction(t, c, "hog", types.RuntimeProvidedal2023, "bootstrap", goZip, func(in *awslambda.CreateFunctionInput) {
			in.MemorySize = aws.Int32(128)
		})
		first, _, _ := invokeJSON(t, c, "hog", map[string]any{})
		r, fnErr, logs := invokeJSON(t, c, "hog", map[string]any{"action": "alloc", "size": 512})
		if fnErr != "Unhandled" || r["errorType"] != "Runtime.ExitError" || !strings.Contains(r["errorMessage"].(string), "signal: killed") {
			t.Errorf("allocating 512 MB in 128: %s %v", fnErr, r)
		}
		if m := regexp.MustCompile(`Max Memory Used: (\d+) MB`).FindStringSubmatch(logs); m == nil {
			t.Errorf("no REPORT for the killed invocation: %q", logs)
		} else if used, _ := strconv.Atoi(m[1]); used < 100 || used > 128 {
			t.Errorf("Max Memory Used: %d MB, want the whole tree's peak, near 128: %q", used, logs)
		}
		next, fnErr, _ := invokeJSON(t, c, "hog", map[string]any{})
		if fnErr != "" {
			t.Fatalf("the invocation after: %s %v", fnErr, next)
		}
		b1, _ := json.Marshal(first)
		b2, _ := json.Marshal(next)
		if envOf(t, b1) == envOf(t, b2) {
			t.Error("the invocation after the kill ran in the killed environment")
		}
		if r, fnErr, _ := invokeJSON(t, c, "hog", map[string]any{"action": "alloc", "size": 64}); fnErr != "" || r["allocatedMB"] != 64.0 {
			t.Errorf("64 MB in 128: %s %v", fnErr, r)
		}
	})
	t.Run("a fork bomb harms only itself", func(t *testing.T) {
		// Enough memory that the pids cap, not the memory cap, stops it.
		createFunction(t, c, "bomb", types.RuntimeProvidedal2023, "bootstrap", goZip, func(in *awslambda.CreateFunctionInput) {
			in.Timeout = aws.Int32(30)
			in.MemorySize = aws.Int32(2048)
		})
		r, fnErr, _ := invokeJSON(t, c, "bomb", map[string]any{"action": "forkbomb"})
		msg, _ := r["errorMessage"].(string)
		n, _ := strconv.Atoi(strings.Fields(strings.TrimPrefix(msg+" x", "fork bomb stopped after "))[0])
		if fnErr != "Unhandled" || !strings.HasSuffix(msg, "resource temporarily unavailable") || n < 100 || n > 1024 {
			t.Errorf("fork bomb: %q %v, want a function error after at most 1024 processes", fnErr, r)
		}
		// The server and the host carry on.
		if out, fnErr, _ := invokeJSON(t, c, "iso", map[string]any{"action": "ps"}); fnErr != "" {
			t.Errorf("another function after the fork bomb: %s %v", fnErr, out)
		}
		resp, err := http.Get(s.API + "/healthz")
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("healthz after the fork bomb: %v", err)
		} else {
			resp.Body.Close()
		}
		if err := exec.Command("/bin/true").Run(); err != nil {
			t.Errorf("the host cannot start processes: %v", err)
		}
	})

	s.stop()
	for _, want := range []string{"sandbox: pid/mount/ipc/uts namespaces: on", "sandbox: own /proc (only the environment's processes): on"} {
		if !strings.Contains(s.stderr.String(), want+"\n") {
			t.Errorf("start-up report has no %q:\n%s", want, s.stderr)
		}
	}
}
