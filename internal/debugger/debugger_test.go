package debugger

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/runtimes"
)

// fakeDelve puts an executable dlv in a directory that becomes the only PATH.
func fakeDelve(t *testing.T, content string) string {
	t.Helper()
	bin := t.TempDir()
	p := filepath.Join(bin, "dlv")
	if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	return p
}

func newTest(t *testing.T) (*Debuggers, string) {
	host := t.TempDir()
	return New(Config{HostDir: filepath.Join(host, "debug"), EnvDir: "/var/runtime/debug", TaskRoot: "/var/task"}), host
}

func TestCommand(t *testing.T) {
	fakeDelve(t, "#!/bin/sh\n")
	d, _ := newTest(t)
	tests := []struct {
		runtime string
		port    int
		in      runtimes.Command
		want    []string // path, then args
	}{
		{"provided.al2023", 0, runtimes.Command{Path: "/var/task/bootstrap"},
			[]string{"/var/runtime/debug/dlv", "exec", "/var/task/bootstrap", "--headless", "--listen=127.0.0.1:2345", "--api-version=2", "--accept-multiclient", "--only-same-user=false", "--"}},
		{"nodejs20.x", 9229, runtimes.Command{Path: "/usr/bin/node", Args: []string{"/var/runtime/bootstrap.mjs"}},
			[]string{"/usr/bin/node", "--inspect=127.0.0.1:9229", "/var/runtime/bootstrap.mjs"}},
		{"nodejs22.x", 0, runtimes.Command{Path: "/usr/bin/node", Args: []string{"/var/runtime/bootstrap.mjs"}},
			[]string{"/usr/bin/node", "--inspect=127.0.0.1:5858", "/var/runtime/bootstrap.mjs"}},
	}
	for _, tt := range tests {
		s, err := d.Prepare(t.Context(), Request{Function: "f", Runtime: tt.runtime, Port: tt.port})
		if err != nil {
			t.Fatalf("Prepare(%s): %v", tt.runtime, err)
		}
		got := s.Command(tt.in)
		if g := append([]string{got.Path}, got.Args...); !slices.Equal(g, tt.want) {
			t.Errorf("Command(%s) = %q, want %q", tt.runtime, g, tt.want)
		}
		if len(tt.in.Args) > 0 && tt.in.Args[0] != tt.want[len(tt.want)-1] {
			t.Errorf("Command(%s) changed its input's arguments: %q", tt.runtime, tt.in.Args)
		}
	}
	// debugpy goes after the interpreter's flags, before the script; -S
	// (no site-packages at start) would hide it.
	s := &Session{Debugger: Debugpy, Port: 5678}
	got := s.Command(runtimes.Command{Path: "/usr/bin/python3.11", Args: []string{"-S", "-u", "/var/runtime/bootstrap.py"}})
	want := []string{"-u", "-m", "debugpy", "--listen", "127.0.0.1:5678", "/var/runtime/bootstrap.py"}
	if !slices.Equal(got.Args, want) {
		t.Errorf("debugpy Command = %q, want %q", got.Args, want)
	}
}

func TestPrepareErrors(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no dlv, no go
	d, _ := newTest(t)
	tests := []struct {
		req  Request
		code string
		msg  string
	}{
		{Request{Function: "f", Runtime: "provided.al2023"}, "InvalidParameterValueException", "go install github.com/go-delve/delve/cmd/dlv@"},
		{Request{Function: "f", Runtime: "python3.11", Interpreter: "/bin/false"}, "InvalidParameterValueException", "pip install debugpy"},
		{Request{Function: "f", Runtime: "java21"}, "InvalidParameterValueException", "cannot be debugged"},
		{Request{Function: "f", Runtime: "nodejs20.x", Port: 65536}, "InvalidParameterValueException", "port must be between"},
		{Request{Function: "f", Runtime: "nodejs20.x", Port: -1}, "InvalidParameterValueException", "port must be between"},
	}
	for _, tt := range tests {
		_, err := d.Prepare(t.Context(), tt.req)
		e, ok := lambda.AsError(err)
		if !ok || e.Code != tt.code || !strings.Contains(e.Message, tt.msg) {
			t.Errorf("Prepare(%+v) = %v, want %s containing %q", tt.req, err, tt.code, tt.msg)
		}
	}
}

func TestPlaceDelve(t *testing.T) {
	src := fakeDelve(t, "#!/bin/sh\necho one\n")
	d, host := newTest(t)
	s, err := d.Prepare(t.Context(), Request{Function: "f", Runtime: "provided.al2"})
	if err != nil {
		t.Fatal(err)
	}
	if s.dlv != "/var/runtime/debug/dlv" || s.Port != DelvePort {
		t.Fatalf("session = %+v, want dlv at /var/runtime/debug/dlv on %d", s, DelvePort)
	}
	placed := filepath.Join(host, "debug", "dlv")
	if b, err := os.ReadFile(placed); err != nil || string(b) != "#!/bin/sh\necho one\n" {
		t.Fatalf("placed dlv = %q, %v", b, err)
	}
	if fi, _ := os.Stat(placed); fi.Mode().Perm()&0o005 != 0o005 {
		t.Fatalf("placed dlv mode %v: environments run as another user and must be able to run it", fi.Mode())
	}
	// A newer dlv on the host replaces the copy.
	os.Remove(src)
	os.WriteFile(src, []byte("#!/bin/sh\necho two, longer\n"), 0o755)
	later := time.Now().Add(time.Minute)
	os.Chtimes(src, later, later)
	if _, err := d.Prepare(t.Context(), Request{Function: "f", Runtime: "provided.al2"}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(placed); string(b) != "#!/bin/sh\necho two, longer\n" {
		t.Fatalf("placed dlv after an update = %q", b)
	}
}

func TestInstructions(t *testing.T) {
	fakeDelve(t, "#!/bin/sh\n")
	d, _ := newTest(t)
	for rt, want := range map[string][]string{
		"provided.al2023": {`"type": "go"`, `"mode": "remote"`, `"port": 2345`, "Go Remote", "go install github.com/go-delve/delve/cmd/dlv@" + DelveVersion, "-gcflags"},
		"nodejs20.x":      {`"type": "node"`, `"port": 5858`, `"remoteRoot": "/var/task"`, "Attach to Node.js"},
	} {
		s, err := d.Prepare(t.Context(), Request{Function: "hello", Runtime: rt})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range append(want, "hello", "launch.json") {
			if !strings.Contains(s.Instructions, w) {
				t.Errorf("instructions for %s lack %q:\n%s", rt, w, s.Instructions)
			}
		}
	}
	s := &Session{Function: "hello", Runtime: "python3.12", Debugger: Debugpy, Port: 5678}
	if in := instructions(s, ""); !strings.Contains(in, `"type": "debugpy"`) || !strings.Contains(in, "unpacked code directory") {
		t.Errorf("debugpy instructions without a private root:\n%s", in)
	}
}
