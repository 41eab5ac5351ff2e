package engine

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/nimbus-dev/nimbus/internal/workflow/asl"
	"github.com/nimbus-dev/nimbus/internal/workflow/jsonv"
)

func mustDef(t testing.TB, src string) *asl.Definition {
	t.Helper()
	d, err := asl.Parse([]byte(src), asl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func config(def *asl.Definition, input string) Config {
	return Config{
		Definition:       def,
		ExecutionARN:     "arn:aws:states:us-east-1:111111111111:execution:sm:exec1",
		ExecutionName:    "exec1",
		StateMachineARN:  "arn:aws:states:us-east-1:111111111111:stateMachine:sm",
		StateMachineName: "sm",
		RoleARN:          "arn:aws:iam::111111111111:role/r",
		Input:            json.RawMessage(input),
	}
}

// runnerFunc adapts a function to TaskRunner.
type runnerFunc func(ctx context.Context, req TaskRequest) (json.RawMessage, error)

func (f runnerFunc) RunTask(ctx context.Context, req TaskRequest) (json.RawMessage, error) {
	return f(ctx, req)
}

func eventTypes(evs []Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

func jsonEq(t *testing.T, got []byte, want string) {
	t.Helper()
	g, err := jsonv.Parse(got)
	if err != nil {
		t.Fatalf("output %q: %v", got, err)
	}
	w, err := jsonv.ParseString(want)
	if err != nil {
		t.Fatal(err)
	}
	if !jsonv.Equal(g, w) {
		t.Errorf("output = %s, want %s", got, want)
	}
}

func TestDataFlow(t *testing.T) {
	tests := []struct {
		name, def, input, want string
	}{
		{"input and output paths null", `{"StartAt":"P","States":{"P":{"Type":"Pass","InputPath":null,"Parameters":{"in.$":"$"},"End":true}}}`, `{"a":1}`, `{"in":{}}`},
		{"result path merges into raw input", `{"StartAt":"P","States":{"P":{"Type":"Pass","InputPath":"$.a","Result":"r","ResultPath":"$.x.y","End":true}}}`, `{"a":1}`, `{"a":1,"x":{"y":"r"}}`},
		{"result path null keeps input", `{"StartAt":"P","States":{"P":{"Type":"Pass","Result":"r","ResultPath":null,"End":true}}}`, `{"a":1}`, `{"a":1}`},
		{"Result is literal", `{"StartAt":"P","States":{"P":{"Type":"Pass","Result":{"x.$":"$.a"},"End":true}}}`, `{"a":1}`, `{"x.$":"$.a"}`},
		{"intrinsics", `{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"f.$":"States.Format('{} and {}', $.a, States.Array(1,'x'))","s.$":"States.StringSplit('a,,b', ',')"},"End":true}}}`, `{"a":{"k":1}}`, `{"f":"{k=1} and [1, x]","s":["a","b"]}`},
		{"indefinite path matching nothing", `{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"v.$":"$.items[*].x"},"End":true}}}`, `{}`, `{"v":[]}`},
		{"variables read entry values", `{"StartAt":"A","States":{"A":{"Type":"Pass","Assign":{"x":1,"y":2},"Next":"B"},"B":{"Type":"Pass","Assign":{"x.$":"$y","y.$":"$x"},"Next":"C"},"C":{"Type":"Pass","Parameters":{"x.$":"$x","y.$":"$y"},"End":true}}}`, `{}`, `{"x":2,"y":1}`},
		{"choice and or not", `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"And":[{"Variable":"$.a","NumericGreaterThan":1},{"Not":{"Variable":"$.s","StringMatches":"x*z"}}],"Next":"Yes"}],"Default":"No"},"Yes":{"Type":"Pass","Result":"yes","End":true},"No":{"Type":"Pass","Result":"no","End":true}}}`, `{"a":2,"s":"xyz"}`, `"no"`},
		{"map with item selector", `{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.xs","ItemSelector":{"i.$":"$$.Map.Item.Index","v.$":"$$.Map.Item.Value","k.$":"$.k"},"ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}}}`, `{"xs":["a","b"],"k":7}`, `[{"i":0,"v":"a","k":7},{"i":1,"v":"b","k":7}]`},
		{"parallel keeps branch order", `{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":5,"Next":"A"},"A":{"Type":"Pass","Result":1,"End":true}}},{"StartAt":"B","States":{"B":{"Type":"Pass","Result":2,"End":true}}}],"End":true}}}`, `{}`, `[1,2]`},
		{"map batching", `{"StartAt":"M","States":{"M":{"Type":"Map","ItemBatcher":{"MaxItemsPerBatch":2,"BatchInput":{"b":1}},"ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"STANDARD"},"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}}}`, `[1,2,3]`, `[{"BatchInput":{"b":1},"Items":[1,2]},{"BatchInput":{"b":1},"Items":[3]}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				x, err := New(config(mustDef(t, tt.def), tt.input), nil, SystemClock{}, nil)
				if err != nil {
					t.Fatal(err)
				}
				r, err := x.Run(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if r.Status != StatusSucceeded {
					t.Fatalf("status %s: %s %s", r.Status, r.Error, r.Cause)
				}
				jsonEq(t, r.Output, tt.want)
			})
		})
	}
}

func TestRuntimeErrorsAreNotCaught(t *testing.T) {
	def := mustDef(t, `{"StartAt":"T","States":{
		"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:111111111111:function:f","OutputPath":"$.missing.x",
			"Catch":[{"ErrorEquals":["States.ALL"],"Next":"C"}],"End":true},
		"C":{"Type":"Pass","End":true}}}`)
	ok := runnerFunc(func(context.Context, TaskRequest) (json.RawMessage, error) { return json.RawMessage(`{}`), nil })
	synctest.Test(t, func(t *testing.T) {
		x, _ := New(config(def, `{}`), ok, SystemClock{}, nil)
		r, err := x.Run(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		want := "An error occurred while executing the state 'T' (entered at the event id #2). Invalid path '$.missing.x' : Missing property in path $['missing']"
		if r.Status != StatusFailed || r.Error != "States.Runtime" || r.Cause != want {
			t.Errorf("got %s %s %q", r.Status, r.Error, r.Cause)
		}
	})
}

func TestRetryBackoff(t *testing.T) {
	def := mustDef(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke",
		"Retry":[{"ErrorEquals":["Boom"],"IntervalSeconds":3,"BackoffRate":2,"MaxAttempts":3,"MaxDelaySeconds":10}],"End":true}}}`)
	synctest.Test(t, func(t *testing.T) {
		var times []time.Duration
		start := time.Now()
		fail := runnerFunc(func(context.Context, TaskRequest) (json.RawMessage, error) {
			times = append(times, time.Since(start))
			return nil, &TaskError{Name: "Boom", Cause: "c"}
		})
		x, _ := New(config(def, `{}`), fail, SystemClock{}, nil)
		r, err := x.Run(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != StatusFailed || r.Error != "Boom" || r.Cause != "c" {
			t.Fatalf("result %+v", r)
		}
		want := []time.Duration{0, 3 * time.Second, 9 * time.Second, 19 * time.Second}
		if !slices.Equal(times, want) {
			t.Errorf("attempts at %v, want %v", times, want)
		}
	})
}

func TestTaskTimeout(t *testing.T) {
	def := mustDef(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","TimeoutSeconds":5,
		"Catch":[{"ErrorEquals":["States.Timeout"],"Next":"C"}],"End":true},"C":{"Type":"Pass","End":true}}}`)
	synctest.Test(t, func(t *testing.T) {
		slow := runnerFunc(func(ctx context.Context, _ TaskRequest) (json.RawMessage, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		})
		x, _ := New(config(def, `{}`), slow, SystemClock{}, nil)
		r, err := x.Run(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		jsonEq(t, r.Output, `{"Error":"States.Timeout","Cause":""}`)
		want := []string{"ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskTimedOut", "TaskStateExited", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"}
		if got := eventTypes(x.Events()); !slices.Equal(got, want) {
			t.Errorf("events %v", got)
		}
	})
}

func TestWaitForTaskToken(t *testing.T) {
	def := mustDef(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken",
		"HeartbeatSeconds":10,"Parameters":{"FunctionName":"f","Payload":{"token.$":"$$.Task.Token"}},
		"Catch":[{"ErrorEquals":["States.HeartbeatTimeout"],"Next":"HB"}],"End":true},"HB":{"Type":"Pass","Result":"heartbeat timeout","End":true}}}`)
	for _, mode := range []string{"success", "failure", "heartbeat"} {
		t.Run(mode, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tokens := make(chan string, 1)
				send := runnerFunc(func(_ context.Context, req TaskRequest) (json.RawMessage, error) {
					var in struct{ Payload struct{ Token string } }
					json.Unmarshal(req.Input, &in)
					if in.Payload.Token == "" || in.Payload.Token != req.Token {
						t.Errorf("token %q in payload, %q in request", in.Payload.Token, req.Token)
					}
					tokens <- req.Token
					return json.RawMessage(`{"StatusCode":202}`), nil
				})
				x, _ := New(config(def, `{}`), send, SystemClock{}, nil)
				done := make(chan *Result)
				go func() {
					r, _ := x.Run(t.Context())
					done <- r
				}()
				token := <-tokens
				if arn, ok := TokenExecution(token); !ok || arn != x.cfg.ExecutionARN {
					t.Errorf("TokenExecution = %q, %v", arn, ok)
				}
				time.Sleep(8 * time.Second)
				if err := x.SendTaskHeartbeat(token); err != nil {
					t.Fatal(err)
				}
				time.Sleep(8 * time.Second) // 16s in: alive thanks to the heartbeat
				switch mode {
				case "success":
					if err := x.SendTaskSuccess(token, json.RawMessage(`{"ok":true}`)); err != nil {
						t.Fatal(err)
					}
				case "failure":
					if err := x.SendTaskFailure(token, "MyError", "why"); err != nil {
						t.Fatal(err)
					}
				}
				r := <-done
				switch mode {
				case "success":
					jsonEq(t, r.Output, `{"ok":true}`)
					want := []string{"ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskSucceeded", "TaskStateExited", "ExecutionSucceeded"}
					if got := eventTypes(x.Events()); !slices.Equal(got, want) {
						t.Errorf("events %v", got)
					}
				case "failure":
					if r.Status != StatusFailed || r.Error != "MyError" || r.Cause != "why" {
						t.Errorf("result %+v", r)
					}
				case "heartbeat":
					jsonEq(t, r.Output, `"heartbeat timeout"`)
				}
				if err := x.SendTaskSuccess(token, json.RawMessage(`{}`)); !errors.Is(err, ErrTaskDoesNotExist) {
					t.Errorf("late SendTaskSuccess: %v", err)
				}
			})
		})
	}
}

func TestStopAndExecutionTimeout(t *testing.T) {
	def := mustDef(t, `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":60,"End":true}}}`)
	synctest.Test(t, func(t *testing.T) {
		x, _ := New(config(def, `{}`), nil, SystemClock{}, nil)
		done := make(chan *Result)
		go func() {
			r, _ := x.Run(t.Context())
			done <- r
		}()
		synctest.Wait()
		x.Stop("Bye", "stopped")
		r := <-done
		if r.Status != StatusAborted || r.Error != "Bye" {
			t.Errorf("result %+v", r)
		}
		if got := eventTypes(x.Events()); !slices.Equal(got, []string{"ExecutionStarted", "WaitStateEntered", "ExecutionAborted"}) {
			t.Errorf("events %v", got)
		}
	})
	def = mustDef(t, `{"TimeoutSeconds":5,"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":60,"End":true}}}`)
	synctest.Test(t, func(t *testing.T) {
		x, _ := New(config(def, `{}`), nil, SystemClock{}, nil)
		start := time.Now()
		r, _ := x.Run(t.Context())
		if r.Status != StatusTimedOut || time.Since(start) != 5*time.Second {
			t.Errorf("result %+v after %v", r, time.Since(start))
		}
	})
}

func TestMapConcurrencyAndFailure(t *testing.T) {
	def := mustDef(t, `{"StartAt":"M","States":{"M":{"Type":"Map","MaxConcurrency":2,
		"ItemProcessor":{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","End":true}}},
		"Catch":[{"ErrorEquals":["Bad"],"Next":"C"}],"End":true},"C":{"Type":"Pass","End":true}}}`)
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		running, peak := 0, 0
		r := runnerFunc(func(ctx context.Context, req TaskRequest) (json.RawMessage, error) {
			mu.Lock()
			running++
			peak = max(peak, running)
			mu.Unlock()
			defer func() { mu.Lock(); running--; mu.Unlock() }()
			if string(req.Input) == "3" {
				return nil, &TaskError{Name: "Bad", Cause: "three"}
			}
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			return req.Input, nil
		})
		x, _ := New(config(def, `[1,2,3,4,5]`), r, SystemClock{}, nil)
		res, err := x.Run(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if peak != 2 {
			t.Errorf("peak concurrency %d, want 2", peak)
		}
		if res.Status != StatusSucceeded {
			t.Fatalf("result %+v", res)
		}
		types := eventTypes(x.Events())
		if !slices.Contains(types, "MapIterationFailed") || !slices.Contains(types, "MapStateFailed") {
			t.Errorf("events %v", types)
		}
	})
}

// memJournal keeps what the execution commits.
type memJournal struct {
	mu     sync.Mutex
	events []Event
	snap   []byte
	onSnap func(*Snapshot)
}

func (j *memJournal) Commit(_ context.Context, evs []Event, s *Snapshot) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	j.mu.Lock()
	j.events = append(j.events, evs...)
	j.snap = b
	f := j.onSnap
	j.mu.Unlock()
	if f != nil {
		f(s)
	}
	return nil
}

func TestResumeFromSnapshot(t *testing.T) {
	def := mustDef(t, `{"StartAt":"A","States":{
		"A":{"Type":"Pass","Assign":{"v":"kept"},"Next":"P"},
		"P":{"Type":"Parallel","Branches":[
			{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"x.$":"$.x"},"End":true}}},
			{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":100,"Next":"V"},"V":{"Type":"Pass","Parameters":{"v.$":"$v"},"End":true}}}],
			"Next":"M"},
		"M":{"Type":"Map","ItemsPath":"$[0].list","ItemProcessor":{"StartAt":"T2","States":{"T2":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","End":true}}},"End":true}}}`)
	synctest.Test(t, func(t *testing.T) {
		// First run: stop (a "crash") while the first task runs.
		j := &memJournal{}
		started := make(chan struct{}, 1)
		blocked := runnerFunc(func(ctx context.Context, req TaskRequest) (json.RawMessage, error) {
			started <- struct{}{}
			<-ctx.Done()
			return nil, ctx.Err()
		})
		x, _ := New(config(def, `{"x":1}`), blocked, SystemClock{}, j)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() {
			_, err := x.Run(ctx)
			done <- err
		}()
		<-started
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Run: %v", err)
		}
		committed := len(j.events)
		if got := eventTypes(j.events); !slices.Equal(got, []string{"ExecutionStarted", "PassStateEntered", "PassStateExited", "ParallelStateEntered", "ParallelStateStarted", "TaskStateEntered", "TaskScheduled", "WaitStateEntered"}) {
			t.Fatalf("committed %v", got)
		}
		// Restart from the stored snapshot, with a working runner.
		var snap Snapshot
		if err := json.Unmarshal(j.snap, &snap); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var ids []string
		echo := runnerFunc(func(_ context.Context, req TaskRequest) (json.RawMessage, error) {
			mu.Lock()
			ids = append(ids, req.ID)
			mu.Unlock()
			if strings.Contains(string(req.Input), `"x"`) {
				return json.RawMessage(`{"list":[10,20]}`), nil
			}
			return req.Input, nil
		})
		y, err := Resume(config(def, `{"x":1}`), &snap, echo, SystemClock{}, j)
		if err != nil {
			t.Fatal(err)
		}
		r, err := y.Run(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != StatusSucceeded {
			t.Fatalf("result %+v", r)
		}
		jsonEq(t, r.Output, `[10,20]`)
		if ids[0] != x.cfg.ExecutionARN+"/7" {
			t.Errorf("resumed task id %q, want the original attempt's", ids[0])
		}
		for i, e := range j.events {
			if e.ID != int64(i+1) {
				t.Fatalf("event %d has id %d", i, e.ID)
			}
		}
		rest := eventTypes(j.events[committed:])
		if rest[0] != "TaskStarted" || rest[len(rest)-1] != "ExecutionSucceeded" {
			t.Errorf("after resume %v", rest)
		}
	})
}

func TestHistoryJSON(t *testing.T) {
	e := Event{ID: 3, PreviousEventID: 2, Timestamp: time.Unix(0, 0), Type: "TaskScheduled", ResourceType: "lambda", Resource: "invoke",
		Region: "us-east-1", Parameters: jsonv.NewObject(0), Timeout: 5}
	b, _ := json.Marshal(e)
	want := `{"id":3,"previousEventId":2,"timestamp":"1970-01-01T00:00:00.000Z","type":"TaskScheduled","taskScheduledEventDetails":{"resourceType":"lambda","resource":"invoke","region":"us-east-1","parameters":"{}","timeoutInSeconds":5}}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}

func TestSyncTaskSubmitted(t *testing.T) {
	def := mustDef(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::states:startExecution.sync:2","Parameters":{"StateMachineArn":"arn:aws:states:us-east-1:111111111111:stateMachine:child"},"End":true}}}`)
	synctest.Test(t, func(t *testing.T) {
		child := runnerFunc(func(_ context.Context, req TaskRequest) (json.RawMessage, error) {
			if req.Resource.Service != "states" || req.Resource.Pattern != asl.PatternSync2 {
				t.Errorf("resource %+v", req.Resource)
			}
			req.Submitted(json.RawMessage(`{"ExecutionArn":"arn:child"}`))
			time.Sleep(time.Minute)
			return json.RawMessage(`{"Output":{"done":true}}`), nil
		})
		x, _ := New(config(def, `{}`), child, SystemClock{}, nil)
		r, err := x.Run(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		jsonEq(t, r.Output, `{"Output":{"done":true}}`)
		want := []string{"ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskSucceeded", "TaskStateExited", "ExecutionSucceeded"}
		if got := eventTypes(x.Events()); !slices.Equal(got, want) {
			t.Errorf("events %v", got)
		}
	})
}

func TestWildcardMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*.log", "a.log", true}, {"*.log", "a.txt", false}, {"a*b*c", "aXbYc", true}, {"a*b*c", "aXbY", false},
		{`a\*b`, "a*b", true}, {`a\*b`, "aXb", false}, {`a\\b`, `a\b`, true}, {"*", "", true}, {"", "", true}, {"x", "", false},
	}
	for _, tt := range tests {
		if got := wildcardMatch(tt.pattern, tt.s); got != tt.want {
			t.Errorf("wildcardMatch(%q, %q) = %v", tt.pattern, tt.s, got)
		}
	}
}

func TestChoiceAssign(t *testing.T) {
	def := mustDef(t, `{"StartAt":"C","States":{"C":{"Type":"Choice","Assign":{"a":"state","b":"state"},
		"Choices":[{"Variable":"$.x","NumericEquals":1,"Assign":{"b":"rule"},"Next":"D"}],"Default":"D"},
		"D":{"Type":"Pass","Parameters":{"a.$":"$a","b.$":"$b"},"End":true}}}`)
	for input, want := range map[string]string{`{"x":1}`: `{"a":"state","b":"rule"}`, `{"x":2}`: `{"a":"state","b":"state"}`} {
		x, _ := New(config(def, input), nil, SystemClock{}, nil)
		r, err := x.Run(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		jsonEq(t, r.Output, want)
	}
}
