package executions

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nimbus-dev/nimbus/internal/backbone"
	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/workflow/lambdatask"
)

// fakeLambda is a working stand-in for the invoke path: functions are Go
// funcs keyed by name.
type fakeLambda struct {
	mu    sync.Mutex
	fns   map[string]func(ctx context.Context, payload []byte) ([]byte, string)
	calls map[string]int
}

func newFakeLambda() *fakeLambda {
	return &fakeLambda{fns: map[string]func(context.Context, []byte) ([]byte, string){}, calls: map[string]int{}}
}

func (f *fakeLambda) set(name string, fn func(ctx context.Context, payload []byte) ([]byte, string)) {
	f.mu.Lock()
	f.fns[name] = fn
	f.mu.Unlock()
}

func (f *fakeLambda) count(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[name]
}

func (f *fakeLambda) Invoke(ctx context.Context, req lambdatask.Request) (lambdatask.Response, error) {
	name := req.Function
	if i := strings.Index(name, ":function:"); i >= 0 {
		name = name[i+len(":function:"):]
	}
	f.mu.Lock()
	fn := f.fns[name]
	f.calls[name]++
	f.mu.Unlock()
	if fn == nil {
		return lambdatask.Response{}, &lambdatask.ServiceError{Code: "ResourceNotFoundException", Message: "Function not found: " + lambda.FunctionARN(name), StatusCode: 404, RequestID: "r"}
	}
	out, fnErr := fn(ctx, req.Payload)
	return lambdatask.Response{StatusCode: 200, Payload: out, FunctionError: fnErr, ExecutedVersion: "$LATEST", RequestID: lambda.NewRequestID()}, nil
}

func echo(_ context.Context, p []byte) ([]byte, string) { return p, "" }

// instance is a Service over a real embedded JetStream in dir.
type instance struct {
	*Service
	bb     *backbone.Backbone
	cancel context.CancelFunc
	done   chan error
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// open starts a Service on dir and runs it; close stops it (a clean
// shutdown, like SIGTERM: executions stay as last committed).
func open(tb testing.TB, dir string, inv lambdatask.Invoker) *instance {
	tb.Helper()
	bb, err := backbone.Start(backbone.Config{DataDir: dir})
	if err != nil {
		tb.Fatal(err)
	}
	s := New(Config{}, quietLog(), bb.JetStream(), inv)
	if err := s.Open(context.Background()); err != nil {
		bb.Close()
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{Service: s, bb: bb, cancel: cancel, done: make(chan error, 1)}
	go func() { in.done <- s.Run(ctx) }()
	tb.Cleanup(in.close)
	return in
}

func (in *instance) close() {
	if in.cancel == nil {
		return
	}
	in.cancel()
	<-in.done
	in.bb.Close()
	in.cancel = nil
}

func createMachine(tb testing.TB, s *Service, name, def string, typ string) string {
	tb.Helper()
	m, err := s.CreateMachine(context.Background(), CreateMachineInput{Name: name, Definition: def, RoleARN: "arn:aws:iam::000000000000:role/r", Type: typ})
	if err != nil {
		tb.Fatalf("CreateMachine %s: %v", name, err)
	}
	return m.ARN
}

func start(tb testing.TB, s *Service, machine, name, input string) Execution {
	tb.Helper()
	e, err := s.Start(context.Background(), StartInput{MachineARN: machine, Name: name, Input: &input})
	if err != nil {
		tb.Fatalf("Start: %v", err)
	}
	return e
}

// waitStatus polls DescribeExecution until the execution is no longer RUNNING.
func waitStatus(tb testing.TB, s *Service, arn string) Execution {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		e, err := s.Describe(context.Background(), arn)
		if err != nil {
			tb.Fatalf("Describe: %v", err)
		}
		if e.Status != "RUNNING" {
			return e
		}
		time.Sleep(5 * time.Millisecond)
	}
	tb.Fatalf("%s still running after 20s", arn)
	return Execution{}
}

// historyTypes returns the event types of an execution's committed history.
func historyTypes(tb testing.TB, s *Service, arn string) []string {
	tb.Helper()
	evs, _, err := s.History(context.Background(), HistoryInput{ARN: arn, MaxResults: 1000})
	if err != nil {
		tb.Fatalf("History: %v", err)
	}
	var out []string
	for _, e := range evs {
		var ev struct{ Type string }
		json.Unmarshal(e, &ev)
		out = append(out, ev.Type)
	}
	return out
}

// waitEvent polls the committed history until it holds an event of typ.
func waitEvent(tb testing.TB, s *Service, arn, typ string) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, t := range historyTypes(tb, s, arn) {
			if t == typ {
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	tb.Fatalf("%s: no %s event after 20s: %v", arn, typ, historyTypes(tb, s, arn))
}

func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}
