package e2e

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
)

// devProcess is a running `nimbus dev` with its embedded server.
type devProcess struct {
	t            testing.TB
	cmd          *exec.Cmd
	out          *lockedBuffer
	exited       chan struct{}
	API, Gateway string
	serverPid    int
}

// exampleApp copies examples/app (without a .nimbus data directory) into a
// temporary directory named app. Its Go function is built from the
// repository's module where it lives; the copy gets a go.mod of its own
// (aws-lambda-go from the module cache, as testdata/app/calc).
func exampleApp(t testing.TB) string {
	t.Helper()
	from := "../../examples/app"
	app := filepath.Join(t.TempDir(), "app")
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			if d.Name() == ".nimbus" {
				return fs.SkipDir
			}
			return os.MkdirAll(filepath.Join(app, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(app, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	gomod := "module example.com/app/add\n\ngo 1.26\n\nrequire github.com/aws/aws-lambda-go v1.55.1\n"
	if err := os.WriteFile(filepath.Join(app, "add", "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile("testdata/app/calc/go.sum")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(app, "add", "go.sum"), sum, 0o644); err != nil {
		t.Fatal(err)
	}
	return app
}

var embeddedPid = regexp.MustCompile(`started an embedded nimbus server \(pid (\d+)`)

// startDev runs `nimbus dev app` with an embedded server on free ports and
// waits until the stack is live.
func startDev(t testing.TB, app string, args ...string) *devProcess {
	t.Helper()
	d := &devProcess{t: t, out: new(lockedBuffer), exited: make(chan struct{})}
	d.cmd = exec.Command(nimbusBin, append([]string{"dev", app, "--api-addr", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0"}, args...)...)
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() {
		select {
		case <-d.exited:
		default:
			d.cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-d.exited:
			case <-time.After(30 * time.Second):
				d.cmd.Process.Kill()
			}
		}
		if t.Failed() {
			t.Logf("nimbus dev output:\n%s", d.out)
		}
	})
	d.waitFor("live: stack", 0)
	out := d.out.String()
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "api: "); ok {
			d.API = v
		}
		if v, ok := strings.CutPrefix(l, "gateway: "); ok {
			d.Gateway = v
		}
	}
	if m := embeddedPid.FindStringSubmatch(out); m != nil {
		d.serverPid, _ = strconv.Atoi(m[1])
	}
	if d.API == "" || d.Gateway == "" || d.serverPid == 0 {
		t.Fatalf("nimbus dev did not say where its embedded server runs:\n%s", out)
	}
	return d
}

// mark is the current end of the output: waitFor looks after it.
func (d *devProcess) mark() int { return len(d.out.String()) }

// waitFor waits until the output after position from contains s, and
// returns the position after it. The deadline is generous: it only bounds a
// failing test.
func (d *devProcess) waitFor(s string, from int) int {
	d.t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		out := d.out.String()
		if i := strings.Index(out[from:], s); i >= 0 {
			return from + i + len(s)
		}
		select {
		case <-d.exited:
			d.t.Fatalf("nimbus dev exited (%v) before printing %q:\n%s", d.cmd.ProcessState, s, out)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("nimbus dev did not print %q:\n%s", s, out)
		}
	}
}

// edit replaces old by new in an app file, as an editor's save would.
func edit(t testing.TB, file, old, new string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not contain %q", file, old)
	}
	if err := os.WriteFile(file, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDev drives `nimbus dev` on a copy of examples/app: it starts an
// embedded server and deploys (Node, Python and Go behind the gateway);
// after an edit of the Node handler and the reload line, the very next
// request runs the new code; a Go syntax error is printed and the old code
// keeps serving; fixing it reloads the Go function; the functions' logs are
// streamed with REPORT lines summarised; SIGINT stops dev and its server.
func TestDev(t *testing.T) {
	app := exampleApp(t)
	d := startDev(t, app)

	code, _, body := request(t, "GET", d.Gateway+"/hello/you", "")
	if code != 200 || string(body) != `{"message":"Hello, you!","runtime":"node"}` {
		t.Fatalf("GET /hello/you: %d %s", code, body)
	}
	code, _, body = request(t, "POST", d.Gateway+"/add", `{"a":2,"b":3}`)
	if code != 200 || string(body) != `{"sum":5,"message":"Added.","runtime":"go"}` {
		t.Fatalf("POST /add: %d %s", code, body)
	}
	inv, err := clientFor(d.API, "test", "test").Invoke(context.Background(), &awslambda.InvokeInput{FunctionName: aws.String("app-Clock")})
	if err != nil || inv.FunctionError != nil || !strings.Contains(string(inv.Payload), `\"runtime\": \"python\"`) {
		t.Fatalf("invoke app-Clock: %v %s", err, inv.Payload)
	}
	// The logs of every function are streamed, REPORT lines summarised.
	d.waitFor("greeting you", 0)
	d.waitFor("⏱", 0)
	d.waitFor("adding 2 and 3", 0)

	// Save a change to the Node handler: once dev says it is reloaded, the
	// next request runs it (one request, no retries).
	at := d.mark()
	edit(t, filepath.Join(app, "hello", "index.js"), `runtime: "node"`, `runtime: "node", edited: true`)
	d.waitFor("reloaded Hello (node) in ", at)
	code, _, body = request(t, "GET", d.Gateway+"/hello/again", "")
	if code != 200 || string(body) != `{"message":"Hello, again!","runtime":"node","edited":true}` {
		t.Fatalf("GET /hello/again after the reload: %d %s", code, body)
	}

	// A Go syntax error: the compiler's message is printed, the old code serves.
	at = d.mark()
	edit(t, filepath.Join(app, "add", "main.go"), `Message: "Added.",`, `Message: "Added." +,`)
	end := d.waitFor("build failed; the previous code keeps serving", at)
	d.waitFor("syntax error", end)
	code, _, body = request(t, "POST", d.Gateway+"/add", `{"a":1,"b":1}`)
	if code != 200 || string(body) != `{"sum":2,"message":"Added.","runtime":"go"}` {
		t.Fatalf("POST /add with a broken build: %d %s", code, body)
	}
	at = d.mark()
	edit(t, filepath.Join(app, "add", "main.go"), `Message: "Added." +,`, `Message: "Added again.",`)
	d.waitFor("reloaded Add (go) in ", at)
	code, _, body = request(t, "POST", d.Gateway+"/add", `{"a":1,"b":1}`)
	if code != 200 || string(body) != `{"sum":2,"message":"Added again.","runtime":"go"}` {
		t.Fatalf("POST /add after the fix: %d %s", code, body)
	}

	// Ctrl-C: dev stops its embedded server, exits 0, and leaves no process.
	d.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-d.exited:
	case <-time.After(time.Minute):
		t.Fatalf("nimbus dev did not exit within a minute of SIGINT:\n%s", d.out)
	}
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("nimbus dev exited %d after SIGINT:\n%s", code, d.out)
	}
	if !strings.Contains(d.out.String(), "stopped the embedded server") {
		t.Errorf("nimbus dev did not say it stopped its server:\n%s", d.out)
	}
	if err := syscall.Kill(d.serverPid, 0); err == nil {
		t.Errorf("the embedded server (pid %d) is still running", d.serverPid)
	}
	if left := processesMentioning(app); len(left) > 0 {
		t.Errorf("processes left that mention %s: %v", app, left)
	}
}

// processesMentioning lists the processes whose command line contains s.
func processesMentioning(s string) []string {
	var out []string
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "cmdline"))
		if err == nil && strings.Contains(string(b), s) {
			out = append(out, filepath.Base(dir)+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return out
}

// BenchmarkSaveToServed measures, for each runtime of examples/app, the time
// from writing a changed handler to the first request through the gateway
// that returns the new output: file watching, debounce, build (Go: `go
// build`), deploy and the new code's cold start. Requests poll every 5 ms;
// each iteration is one save. loopback-echo is the same-run baseline (one
// HTTP round trip on loopback). Nothing fails on the numbers.
//
//	go test ./test/e2e/ -run '^$' -bench SaveToServed -benchtime 10x
func BenchmarkSaveToServed(b *testing.B) {
	app := exampleApp(b)
	d := startDev(b, app)
	c := benchClient()
	b.Run("loopback-echo", func(b *testing.B) {
		srv := echoServer(b)
		var lat latencies
		for b.Loop() {
			t0 := time.Now()
			if _, _, err := post(c, srv.URL, benchPayload, nil); err != nil {
				b.Fatal(err)
			}
			lat.add(time.Since(t0))
		}
		lat.report(b, "", time.Microsecond, "µs")
	})
	// Each save changes one quoted word of a handler's answer: "node" →
	// "node1", "node2", …
	cases := []struct{ name, file, word, method, path string }{
		{"node", "hello/index.js", "node", "GET", "/hello/bench"},
		{"python", "clock/app.py", "python", "GET", "/clock"},
		{"go", "add/main.go", "go", "POST", "/add"},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			file := filepath.Join(app, tc.file)
			orig, err := os.ReadFile(file)
			if err != nil {
				b.Fatal(err)
			}
			var lat, reload latencies
			i := 0
			for b.Loop() {
				i++
				word := fmt.Sprintf("%s%d", tc.word, i)
				at := d.mark()
				t0 := time.Now()
				if err := os.WriteFile(file, []byte(strings.Replace(string(orig), `"`+tc.word+`"`, `"`+word+`"`, 1)), 0o644); err != nil {
					b.Fatal(err)
				}
				for !strings.Contains(gatewayAnswer(b, c, tc.method, d.Gateway+tc.path), `"`+word+`"`) {
					if time.Since(t0) > 2*time.Minute {
						b.Fatalf("%s never served %s:\n%s", tc.name, word, d.out)
					}
					time.Sleep(5 * time.Millisecond)
				}
				lat.add(time.Since(t0))
				// How long dev itself took: "reloaded Hello (node) in 59ms".
				end := d.waitFor(" in ", d.waitFor("reloaded ", at))
				took, err := time.ParseDuration(strings.Fields(d.out.String()[end:])[0])
				if err != nil {
					b.Fatal(err)
				}
				reload.add(took)
			}
			lat.report(b, "", time.Millisecond, "ms")
			reload.report(b, "reload-", time.Millisecond, "ms")
		})
	}
}

// gatewayAnswer is the body of one request through the gateway.
func gatewayAnswer(b *testing.B, c *http.Client, method, url string) string {
	req, _ := http.NewRequest(method, url, strings.NewReader(`{"a":1,"b":2}`))
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	return string(body)
}
func readAll(resp *http.Response) string {
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			return sb.String()
		}
	}
}
