// Command gofn is a Lambda function built with aws-lambda-go for nimbus's
// end-to-end tests. The event's "action" selects a behaviour.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type event struct {
	Action string `json:"action"`
	Sleep  int    `json:"sleepMs"`
	Size   int    `json:"size"`
	Code   int    `json:"code"`
	File   string `json:"file"`
	Text   string `json:"text"`
	URL    string `json:"url"`
	// API Gateway events: the action may come in the request body.
	RawPath        string            `json:"rawPath,omitempty"`
	RouteKey       string            `json:"routeKey,omitempty"`
	PathParameters map[string]string `json:"pathParameters,omitempty"`
	Body           string            `json:"body,omitempty"`
}

type seen struct {
	Version       string            `json:"version"`
	RequestID     string            `json:"requestId"`
	FunctionArn   string            `json:"functionArn"`
	RemainingMs   int64             `json:"remainingMs"`
	ClientContext map[string]string `json:"clientCustom,omitempty"`
	Env           map[string]string `json:"env"`
	Pid           int               `json:"pid"`
	GOMAXPROCS    int               `json:"gomaxprocs"`
	// SleptFrom and SleptTo (Unix µs) bracket a "sleep" action.
	SleptFrom int64 `json:"sleptFrom,omitempty"`
	SleptTo   int64 `json:"sleptTo,omitempty"`
	Event     event `json:"event"`
}

const version = "v1"

func handle(ctx context.Context, ev event) (any, error) {
	lc, _ := lambdacontext.FromContext(ctx)
	var started, ended time.Time
	if ev.Action == "" && ev.RouteKey != "" && ev.Body != "" {
		var inner event
		if json.Unmarshal([]byte(ev.Body), &inner) == nil {
			ev.Action, ev.Text, ev.Sleep, ev.Size = inner.Action, inner.Text, inner.Sleep, inner.Size
		}
	}
	switch ev.Action {
	case "error":
		return nil, errors.New("boom: " + ev.Text)
	case "panic":
		panic("panic: " + ev.Text)
	case "exit":
		fmt.Println("about to exit")
		os.Exit(ev.Code)
	case "sleep":
		started = time.Now()
		time.Sleep(time.Duration(ev.Sleep) * time.Millisecond)
		ended = time.Now()
	case "big":
		return strings.Repeat("x", ev.Size), nil
	case "print":
		fmt.Println(ev.Text)
		fmt.Fprintln(os.Stderr, "stderr: "+ev.Text)
	case "write":
		time.Sleep(time.Duration(ev.Sleep) * time.Millisecond)
		f, err := os.OpenFile(ev.File, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, err
		}
		fmt.Fprintln(f, ev.Text)
		f.Close()
	case "ps": // the processes this environment can see
		ents, err := os.ReadDir("/proc")
		if err != nil {
			return nil, err
		}
		pids := []int{}
		for _, e := range ents {
			if pid, err := strconv.Atoi(e.Name()); err == nil {
				pids = append(pids, pid)
			}
		}
		return map[string]any{"pid": os.Getpid(), "ppid": os.Getppid(), "pids": pids}, nil
	case "syscalls": // the errno of kernel interfaces the sandbox's seccomp filter denies
		out := map[string]string{}
		try := func(name string, nr uintptr, args ...uintptr) {
			a := append(args, 0, 0, 0)
			_, _, e := syscall.RawSyscall(nr, a[0], a[1], a[2])
			out[name] = e.Error()
			if e == 0 {
				out[name] = "allowed"
			}
		}
		try("unshare(CLONE_NEWUSER)", syscall.SYS_UNSHARE, syscall.CLONE_NEWUSER)
		try("io_uring_setup", 425, 1, 0)
		try("bpf", 321, 0, 0, 0)
		try("keyctl", syscall.SYS_KEYCTL, 0)
		try("getpid", syscall.SYS_GETPID)
		return out, nil
	case "whoami":
		return map[string]any{"uid": os.Getuid(), "gid": os.Getgid()}, nil
	case "readfile": // a file's content, or why it cannot be read
		b, err := os.ReadFile(ev.File)
		if err != nil {
			return map[string]any{"error": err.Error()}, nil
		}
		return map[string]any{"content": string(b)}, nil
	case "listdir":
		ents, err := os.ReadDir(ev.File)
		if err != nil {
			return map[string]any{"error": err.Error()}, nil
		}
		names := []string{}
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return map[string]any{"names": names}, nil
	case "writefile":
		if err := os.WriteFile(ev.File, []byte(ev.Text), 0o644); err != nil {
			return map[string]any{"error": err.Error()}, nil
		}
		return map[string]any{"written": ev.File}, nil
	case "alloc": // touch Size MB of memory
		var keep [][]byte
		for range ev.Size {
			b := make([]byte, 1<<20)
			for j := 0; j < len(b); j += 4096 {
				b[j] = 1
			}
			keep = append(keep, b)
		}
		return map[string]any{"allocatedMB": len(keep)}, nil
	case "spin": // Size rounds of CPU work (a hash chain), no system calls
		h := uint64(14695981039346656037)
		for range ev.Size * 1_000_000 {
			h = (h ^ 0x2f) * 1099511628211
		}
		return map[string]any{"hash": h}, nil
	case "forkbomb": // start processes until that fails; they are left running
		for n := 0; ; n++ {
			if err := exec.Command("sleep", "600").Start(); err != nil {
				return nil, fmt.Errorf("fork bomb stopped after %d processes: %w", n, err)
			}
		}
	case "post": // after sleepMs, POST Text to URL (how a sandboxed function reports to a test)
		time.Sleep(time.Duration(ev.Sleep) * time.Millisecond)
		resp, err := http.Post(ev.URL, "text/plain", bytes.NewBufferString(ev.Text))
		if err != nil {
			return nil, err
		}
		resp.Body.Close()
		return map[string]any{"posted": ev.Text}, nil
	}
	deadline, _ := ctx.Deadline()
	s := seen{Version: version, RequestID: lc.AwsRequestID, FunctionArn: lc.InvokedFunctionArn,
		RemainingMs: time.Until(deadline).Milliseconds(), Pid: os.Getpid(), GOMAXPROCS: runtime.GOMAXPROCS(0), Event: ev, Env: map[string]string{}}
	if !started.IsZero() {
		s.SleptFrom, s.SleptTo = started.UnixMicro(), ended.UnixMicro()
	}
	if lc.ClientContext.Custom != nil {
		s.ClientContext = lc.ClientContext.Custom
	}
	for _, k := range []string{"AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
		"AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_REGION", "_HANDLER", "LAMBDA_TASK_ROOT",
		"_LAMBDA_SERVER_PORT", "AWS_LAMBDA_RUNTIME_API", "AWS_ENDPOINT_URL", "MY_VAR", "TZ", "_X_AMZN_TRACE_ID", "AWS_LAMBDA_INITIALIZATION_TYPE"} {
		if v, ok := os.LookupEnv(k); ok {
			s.Env[k] = v
		}
	}
	return s, nil
}

func main() { lambda.Start(handle) }
