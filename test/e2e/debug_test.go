package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/rpc"
	"net/rpc/jsonrpc"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// debugSession is the answer of PUT/GET /nimbus/v1/functions/{name}/debug.
type debugSession struct {
	Function     string `json:"function"`
	Runtime      string `json:"runtime"`
	Debugger     string `json:"debugger"`
	Port         int    `json:"port"`
	Instructions string `json:"instructions"`
}

// debugAPI calls the debug endpoint and returns the status and body (with
// an error's X-Amzn-ErrorType in front).
func debugAPI(t *testing.T, s *server, method, name, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, s.API+"/nimbus/v1/functions/"+name+"/debug", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s debug %s: %v", method, name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if typ := resp.Header.Get("X-Amzn-ErrorType"); typ != "" {
		b = append([]byte(typ+" "), b...)
	}
	return resp.StatusCode, b
}

// startDebug enables debugging of name on port and checks the answer.
func startDebug(t *testing.T, s *server, name string, port int, debugger string) debugSession {
	t.Helper()
	code, b := debugAPI(t, s, "PUT", name, fmt.Sprintf(`{"port": %d}`, port))
	if code != 200 {
		t.Fatalf("PUT debug %s: %d %s", name, code, b)
	}
	var sess debugSession
	if err := json.Unmarshal(b, &sess); err != nil {
		t.Fatal(err)
	}
	if sess.Function != name || sess.Debugger != debugger || sess.Port != port || !strings.Contains(sess.Instructions, "launch.json") {
		t.Fatalf("PUT debug %s = %+v, want function %s, debugger %s, port %d and VS Code instructions", name, sess, name, debugger, port)
	}
	if code, b := debugAPI(t, s, "GET", name, ""); code != 200 || !strings.Contains(string(b), `"port":`+strconv.Itoa(port)) {
		t.Fatalf("GET debug %s: %d %s", name, code, b)
	}
	return sess
}

// stopDebug disables debugging of name and checks that GET then says 404.
func stopDebug(t *testing.T, s *server, name string) {
	t.Helper()
	if code, b := debugAPI(t, s, "DELETE", name, ""); code != 204 {
		t.Fatalf("DELETE debug %s: %d %s", name, code, b)
	}
	if code, b := debugAPI(t, s, "GET", name, ""); code != 404 {
		t.Fatalf("GET debug %s after DELETE: %d %s, want 404", name, code, b)
	}
}

// freePort returns a loopback port nobody listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func withTimeout(sec int32) func(*awslambda.CreateFunctionInput) {
	return func(in *awslambda.CreateFunctionInput) { in.Timeout = aws.Int32(sec) }
}

func debugServer(t *testing.T) *server {
	s := startServer(t, t.TempDir())
	t.Cleanup(func() {
		if t.Failed() {
			s.stop()
			t.Logf("server log:\n%s", s.stderr)
		}
	})
	return s
}

// TestDebugNode: under the inspector a 1 s function sleeping 2 s completes,
// the inspector answers on the port, concurrent invocations take turns;
// after DELETE the same invocation times out again and the port is closed.
func TestDebugNode(t *testing.T) {
	s := debugServer(t)
	c := s.client()
	dir := t.TempDir()
	code := `
const envID = Math.random().toString(36).slice(2);
exports.handler = async (event) => {
  await new Promise((resolve) => setTimeout(resolve, event.sleepMs || 0));
  return { slept: event.sleepMs || 0, env: envID, execArgv: process.execArgv };
};
`
	os.WriteFile(filepath.Join(dir, "index.js"), []byte(code), 0o644)
	zip, err := zipDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	createFunction(t, c, "dbgnode", types.RuntimeNodejs20x, "index.handler", zip, withTimeout(1))

	// Errors first: unknown function, bad body, bad port.
	if code, b := debugAPI(t, s, "PUT", "nope", "{}"); code != 404 || !strings.Contains(string(b), "ResourceNotFoundException") {
		t.Fatalf("PUT debug of an unknown function: %d %s", code, b)
	}
	if code, b := debugAPI(t, s, "PUT", "dbgnode", "{"); code != 400 {
		t.Fatalf("PUT debug with a bad body: %d %s", code, b)
	}
	if code, b := debugAPI(t, s, "PUT", "dbgnode", `{"port": 70000}`); code != 400 || !strings.Contains(string(b), "InvalidParameterValueException") {
		t.Fatalf("PUT debug with port 70000: %d %s", code, b)
	}
	if code, b := debugAPI(t, s, "GET", "dbgnode", ""); code != 404 {
		t.Fatalf("GET debug before PUT: %d %s", code, b)
	}

	port := freePort(t)
	startDebug(t, s, "dbgnode", port, "node-inspector")

	out, fnErr, logs := invokeJSON(t, c, "dbgnode", map[string]any{"sleepMs": 2000})
	if fnErr != "" || out["slept"] != 2000.0 {
		t.Fatalf("invoke under the debugger: %s %v\n%s", fnErr, out, logs)
	}
	if args := fmt.Sprint(out["execArgv"]); !strings.Contains(args, "--inspect=127.0.0.1:"+strconv.Itoa(port)) {
		t.Fatalf("execArgv = %s, want --inspect on port %d", args, port)
	}
	targets := inspectorTargets(t, port)
	if len(targets) == 0 || targets[0]["webSocketDebuggerUrl"] == nil {
		t.Fatalf("inspector targets on %d: %v", port, targets)
	}

	// Concurrent invocations share the one environment, in turn.
	var wg sync.WaitGroup
	envs := make([]any, 3)
	for i := range envs {
		wg.Go(func() {
			out, fnErr, _ := invokeJSON(t, c, "dbgnode", map[string]any{"sleepMs": 300})
			if fnErr != "" {
				t.Errorf("concurrent invoke %d: %s %v", i, fnErr, out)
			}
			envs[i] = out["env"]
		})
	}
	wg.Wait()
	if envs[0] != envs[1] || envs[1] != envs[2] || envs[0] != out["env"] {
		t.Fatalf("invocations under the debugger ran in environments %v and %v, want one", envs, out["env"])
	}

	// A code change restarts the environment at once (the IDE re-attaches
	// before the next request): a new inspector target appears by itself.
	os.WriteFile(filepath.Join(dir, "index.js"), []byte(code+"\n// changed\n"), 0o644)
	zip2, err := zipDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateFunctionCode(t.Context(), &awslambda.UpdateFunctionCodeInput{FunctionName: aws.String("dbgnode"), ZipFile: zip2}); err != nil {
		t.Fatal(err)
	}
	first := targets[0]["id"]
	deadline := time.Now().Add(30 * time.Second)
	for {
		if ts, err := listInspector(port); err == nil && len(ts) > 0 && ts[0]["id"] != first {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new inspector target within 30 s of UpdateFunctionCode")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out, fnErr, _ := invokeJSON(t, c, "dbgnode", map[string]any{}); fnErr != "" || out["env"] == envs[0] {
		t.Fatalf("invoke after the code change: %s %v, want a new environment", fnErr, out)
	}

	stopDebug(t, s, "dbgnode")
	if _, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
		t.Fatalf("the inspector port %d still answers after DELETE", port)
	}
	out, fnErr, logs = invokeJSON(t, c, "dbgnode", map[string]any{"sleepMs": 2000})
	if fnErr != "Unhandled" || !strings.Contains(fmt.Sprint(out["errorMessage"]), "timed out") {
		t.Fatalf("invoke after DELETE: %q %v, want a timeout\n%s", fnErr, out, logs)
	}
}

// TestDebugSlowInit: under a debugger the init limit (10 s) is suspended;
// DELETE while an environment initialises abandons it, and the waiting
// invocation runs in an ordinary environment (where the limit applies).
func TestDebugSlowInit(t *testing.T) {
	s := debugServer(t)
	c := s.client()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "index.mjs"), []byte(`
const ms = Number(process.env.INIT_MS);
await new Promise((resolve) => setTimeout(resolve, ms));
export const handler = async () => ({ initMs: ms });
`), 0o644)
	zip, err := zipDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	createFunction(t, c, "dbginit", types.RuntimeNodejs20x, "index.handler", zip, withTimeout(3), func(in *awslambda.CreateFunctionInput) {
		in.Environment = &types.Environment{Variables: map[string]string{"INIT_MS": "11000"}}
	})
	startDebug(t, s, "dbginit", freePort(t), "node-inspector")
	out, fnErr, logs := invokeJSON(t, c, "dbginit", map[string]any{})
	if fnErr != "" || out["initMs"] != 11000.0 {
		t.Fatalf("invoke with an 11 s init under the debugger: %s %v\n%s", fnErr, out, logs)
	}

	// An init that never ends: the invocation waits until DELETE, then runs
	// without the debugger and meets the init limit.
	if _, err := c.UpdateFunctionConfiguration(t.Context(), &awslambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("dbginit"),
		Environment: &types.Environment{Variables: map[string]string{"INIT_MS": "3600000"}}}); err != nil {
		t.Fatal(err)
	}
	awslambda.NewFunctionUpdatedV2Waiter(c).Wait(t.Context(), &awslambda.GetFunctionInput{FunctionName: aws.String("dbginit")}, time.Minute)
	done := make(chan map[string]any, 1)
	go func() {
		out, _, _ := invokeJSON(t, c, "dbginit", map[string]any{})
		done <- out
	}()
	targets := waitInspector(t, s, done)
	if len(targets) == 0 {
		t.Fatal("no inspector target while the environment initialises")
	}
	stopDebug(t, s, "dbginit")
	if out := <-done; out["errorType"] != "Sandbox.Timedout" || !strings.Contains(fmt.Sprint(out["errorMessage"]), "Init timed out") {
		t.Fatalf("invoke abandoned by DELETE during init: %v, want the ordinary init timeout", out)
	}
}

// waitInspector waits until the session's inspector of the dbginit function
// lists a target (its environment has started), failing if done answers first.
func waitInspector(t *testing.T, s *server, done chan map[string]any) []map[string]any {
	t.Helper()
	_, b := debugAPI(t, s, "GET", "dbginit", "")
	var sess debugSession
	json.Unmarshal(b, &sess)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case out := <-done:
			t.Fatalf("the invocation ended during an endless init under the debugger: %v", out)
		default:
		}
		if targets, err := listInspector(sess.Port); err == nil && len(targets) > 0 {
			return targets
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the inspector did not answer within 30 s")
	return nil
}

func inspectorTargets(t *testing.T, port int) []map[string]any {
	t.Helper()
	targets, err := listInspector(port)
	if err != nil {
		t.Fatalf("inspector /json/list: %v", err)
	}
	return targets
}

// listInspector returns the targets the Node inspector on port lists.
func listInspector(port int) ([]map[string]any, error) {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/json/list", port))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var targets []map[string]any
	err = json.NewDecoder(resp.Body).Decode(&targets)
	return targets, err
}

// findDelve returns the dlv the server will find, or "".
func findDelve() string {
	if p, err := exec.LookPath("dlv"); err == nil {
		return p
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		return ""
	}
	for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
		if p := filepath.Join(dir, "bin", "dlv"); fileExists(p) {
			return p
		}
	}
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// delveState is the part of Delve's DebuggerState the test reads.
type delveState struct {
	Pid               int    `json:"Pid"`
	TargetCommandLine string `json:"TargetCommandLine"`
	Running           bool   `json:"Running"`
	CurrentThread     *struct {
		Function *struct {
			Name string `json:"name"`
		} `json:"function"`
		Breakpoint *struct {
			ID int `json:"id"`
		} `json:"breakPoint"`
	} `json:"currentThread"`
}

// TestDebugGo: a provided.al2023 function under Delve. A client on the
// headless server sees the function's process, stops it at a breakpoint
// for longer than its timeout, and the invocation still completes; the
// program's exit ends the environment (no hang); DELETE restores timeouts.
func TestDebugGo(t *testing.T) {
	if findDelve() == "" {
		t.Skip("dlv is not installed: go install github.com/go-delve/delve/cmd/dlv@v1.27.2 (.ci/run does)")
	}
	s := debugServer(t)
	c := s.client()
	createFunction(t, c, "dbggo", types.RuntimeProvidedal2023, "bootstrap", goZip, withTimeout(1))
	port := freePort(t)
	startDebug(t, s, "dbggo", port, "delve")

	out, fnErr, logs := invokeJSON(t, c, "dbggo", map[string]any{"action": "sleep", "sleepMs": 2000})
	if fnErr != "" {
		t.Fatalf("invoke under Delve: %s %v\n%s", fnErr, out, logs)
	}

	conn, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("Delve's headless server on %d: %v", port, err)
	}
	dlv := jsonrpc.NewClient(conn)
	defer dlv.Close()
	// Like an IDE: halt the running program to look at it and set a breakpoint.
	var halted struct{ State delveState }
	if err := dlv.Call("RPCServer.Command", map[string]any{"name": "halt"}, &halted); err != nil {
		t.Fatalf("halt: %v", err)
	}
	var pid struct{ Pid int }
	if err := dlv.Call("RPCServer.ProcessPid", map[string]any{}, &pid); err != nil || pid.Pid <= 0 || pid.Pid != halted.State.Pid {
		t.Fatalf("RPCServer.ProcessPid: %v %v (halted: %+v)", pid, err, halted.State)
	}
	if !strings.HasSuffix(halted.State.TargetCommandLine, "/bootstrap") {
		t.Fatalf("Delve debugs %q, want the function's bootstrap", halted.State.TargetCommandLine)
	}
	var fns struct{ Funcs []string }
	if err := dlv.Call("RPCServer.ListFunctions", map[string]any{"Filter": "^main\\.handle$"}, &fns); err != nil || len(fns.Funcs) != 1 {
		t.Fatalf("RPCServer.ListFunctions main.handle: %v %v", fns.Funcs, err)
	}
	var bp struct{ Breakpoint struct{ ID int } }
	if err := dlv.Call("RPCServer.CreateBreakpoint", map[string]any{"Breakpoint": map[string]any{"functionName": "main.handle"}}, &bp); err != nil {
		t.Fatalf("RPCServer.CreateBreakpoint: %v", err)
	}
	var stopped struct{ State delveState }
	cont := dlv.Go("RPCServer.Command", map[string]any{"name": "continue"}, &stopped, make(chan *rpc.Call, 1))

	// An invocation stops at the breakpoint for longer than the function's 1 s timeout.
	type result struct {
		out   map[string]any
		fnErr string
	}
	done := make(chan result, 1)
	go func() {
		out, fnErr, _ := invokeJSON(t, c, "dbggo", map[string]any{"action": "print", "text": "after the breakpoint"})
		done <- result{out, fnErr}
	}()
	if call := <-cont.Done; call.Error != nil {
		t.Fatalf("continue: %v", call.Error)
	}
	if th := stopped.State.CurrentThread; th == nil || th.Breakpoint == nil || th.Function == nil || th.Function.Name != "main.handle" {
		t.Fatalf("Delve stopped at %+v, want the breakpoint in main.handle", stopped.State.CurrentThread)
	}
	time.Sleep(1500 * time.Millisecond) // paused past the function's timeout
	select {
	case r := <-done:
		t.Fatalf("the invocation ended while paused at a breakpoint: %s %v", r.fnErr, r.out)
	default:
	}
	if err := dlv.Call("RPCServer.ClearBreakpoint", map[string]any{"Id": bp.Breakpoint.ID}, new(json.RawMessage)); err != nil {
		t.Fatalf("RPCServer.ClearBreakpoint: %v", err)
	}
	dlv.Go("RPCServer.Command", map[string]any{"name": "continue"}, new(json.RawMessage), make(chan *rpc.Call, 1))
	// The handler's context outlived the pause: its deadline is not the 1 s timeout.
	if r := <-done; r.fnErr != "" || r.out["remainingMs"].(float64) < 60_000 {
		t.Fatalf("invoke after continuing from the breakpoint: %s %v, want success with the debugging deadline", r.fnErr, r.out)
	}

	// The program exiting ends the environment: the invocation reports it.
	out, fnErr, logs = invokeJSON(t, c, "dbggo", map[string]any{"action": "exit", "code": 3})
	if fnErr != "Unhandled" || out["errorType"] != "Runtime.ExitError" {
		t.Fatalf("exit under Delve: %q %v\n%s", fnErr, out, logs)
	}
	if out, fnErr, logs := invokeJSON(t, c, "dbggo", map[string]any{"action": "sleep", "sleepMs": 1500}); fnErr != "" {
		t.Fatalf("invoke after the exit, in a new environment under Delve: %s %v\n%s", fnErr, out, logs)
	}

	stopDebug(t, s, "dbggo")
	out, fnErr, logs = invokeJSON(t, c, "dbggo", map[string]any{"action": "sleep", "sleepMs": 2000})
	if fnErr != "Unhandled" || out["errorType"] != "Sandbox.Timedout" {
		t.Fatalf("invoke after DELETE: %q %v, want a timeout\n%s", fnErr, out, logs)
	}
}

// TestDebugPython: a python3.11 function under debugpy (skipped when debugpy
// is not importable by the interpreter the runtime uses).
func TestDebugPython(t *testing.T) {
	switch {
	case exec.Command("python3.11", "-c", "import debugpy").Run() == nil:
	case exec.Command("/usr/bin/python3.11", "-c", "import debugpy").Run() == nil:
		// Debian's python3-debugpy: the server runs python3.11 functions on Debian's python.
		t.Setenv("PATH", "/usr/bin:"+os.Getenv("PATH"))
	default:
		t.Skip("debugpy is not importable by python3.11: python3.11 -m pip install debugpy, or apt-get install python3-debugpy")
	}
	s := debugServer(t)
	c := s.client()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "app.py"), []byte(`
import sys, time

def handler(event, context):
    time.sleep(event.get("sleepMs", 0) / 1000)
    return {"slept": event.get("sleepMs", 0), "debugpy": "debugpy" in sys.modules}
`), 0o644)
	zip, err := zipDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	createFunction(t, c, "dbgpy", types.RuntimePython311, "app.handler", zip, withTimeout(1))
	port := freePort(t)
	startDebug(t, s, "dbgpy", port, "debugpy")
	out, fnErr, logs := invokeJSON(t, c, "dbgpy", map[string]any{"sleepMs": 2000})
	if fnErr != "" || out["slept"] != 2000.0 || out["debugpy"] != true {
		t.Fatalf("invoke under debugpy: %s %v\n%s", fnErr, out, logs)
	}
	if caps := dapInitialize(t, port); caps["supportsConfigurationDoneRequest"] != true {
		t.Fatalf("debugpy's initialize answer on %d: %v", port, caps)
	}
	stopDebug(t, s, "dbgpy")
	out, fnErr, _ = invokeJSON(t, c, "dbgpy", map[string]any{"sleepMs": 2000})
	if fnErr != "Unhandled" {
		t.Fatalf("invoke after DELETE: %q %v, want a timeout", fnErr, out)
	}
}

// dapInitialize sends a Debug Adapter Protocol initialize request to the
// adapter on port and returns the capabilities it answers with.
func dapInitialize(t *testing.T, port int) map[string]any {
	t.Helper()
	conn, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("debug adapter on %d: %v", port, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	req := `{"seq":1,"type":"request","command":"initialize","arguments":{"adapterID":"nimbus-test","clientID":"nimbus-test"}}`
	fmt.Fprintf(conn, "Content-Length: %d\r\n\r\n%s", len(req), req)
	r := bufio.NewReader(conn)
	for {
		var n int
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("reading the debug adapter's answer: %v", err)
			}
			if line == "\r\n" {
				break
			}
			fmt.Sscanf(line, "Content-Length: %d", &n)
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			t.Fatal(err)
		}
		var msg struct {
			Type    string         `json:"type"`
			Command string         `json:"command"`
			Success bool           `json:"success"`
			Body    map[string]any `json:"body"`
		}
		json.Unmarshal(body, &msg)
		if msg.Type == "response" && msg.Command == "initialize" {
			if !msg.Success {
				t.Fatalf("initialize failed: %s", body)
			}
			return msg.Body
		}
	}
}
