package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Step Functions end to end: the real server, the aws-sdk-go-v2 sfn client,
// and real Python and Node functions invoked by Task states.

// noHostPrefix keeps StartSyncExecution on the endpoint's host (the SDK
// would send it to "sync-<host>", which does not resolve locally).
func noHostPrefix(s *middleware.Stack) error {
	return s.Initialize.Add(middleware.InitializeMiddlewareFunc("noHostPrefix",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			return next.HandleInitialize(smithyhttp.DisableEndpointHostPrefix(ctx, true), in)
		}), middleware.Before)
}

func (s *server) sfn() *sfn.Client {
	return sfn.New(sfn.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(s.API),
		Credentials:      credentials.NewStaticCredentialsProvider("test", "test", ""),
		RetryMaxAttempts: 1,
		APIOptions:       []func(*middleware.Stack) error{noHostPrefix},
	})
}

const sfnRole = "arn:aws:iam::000000000000:role/sfn-role"

func createSM(t *testing.T, c *sfn.Client, name, def string, typ sfntypes.StateMachineType) string {
	t.Helper()
	out, err := c.CreateStateMachine(context.Background(), &sfn.CreateStateMachineInput{
		Name: aws.String(name), Definition: aws.String(def), RoleArn: aws.String(sfnRole), Type: typ})
	if err != nil {
		t.Fatalf("CreateStateMachine %s: %v", name, err)
	}
	return aws.ToString(out.StateMachineArn)
}

func startExec(t *testing.T, c *sfn.Client, sm, input string) string {
	t.Helper()
	out, err := c.StartExecution(context.Background(), &sfn.StartExecutionInput{StateMachineArn: aws.String(sm), Input: aws.String(input)})
	if err != nil {
		t.Fatalf("StartExecution: %v", err)
	}
	return aws.ToString(out.ExecutionArn)
}

func waitExec(t *testing.T, c *sfn.Client, arn string, d time.Duration) *sfn.DescribeExecutionOutput {
	t.Helper()
	var out *sfn.DescribeExecutionOutput
	waitFor(t, "execution "+arn+" to end", d, func() bool {
		var err error
		out, err = c.DescribeExecution(context.Background(), &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
		if err != nil {
			t.Fatalf("DescribeExecution: %v", err)
		}
		return out.Status != sfntypes.ExecutionStatusRunning
	})
	return out
}

func history(t *testing.T, c *sfn.Client, arn string) []sfntypes.HistoryEvent {
	t.Helper()
	var all []sfntypes.HistoryEvent
	p := sfn.NewGetExecutionHistoryPaginator(c, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn), MaxResults: 100})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("GetExecutionHistory: %v", err)
		}
		all = append(all, page.Events...)
	}
	return all
}

func eventTypes(evs []sfntypes.HistoryEvent) []string {
	var out []string
	for _, e := range evs {
		out = append(out, string(e.Type))
	}
	return out
}

func countType(evs []sfntypes.HistoryEvent, typ sfntypes.HistoryEventType) int {
	n := 0
	for _, e := range evs {
		if e.Type == typ {
			n++
		}
	}
	return n
}

func fnARN(name string) string { return "arn:aws:lambda:us-east-1:000000000000:function:" + name }

// TestStepFunctions covers Task states calling real functions: a direct
// function ARN and lambda:invoke, Retry then Catch on a failing function,
// a .waitForTaskToken round trip, Map and Parallel, and Express
// StartSyncExecution.
func TestStepFunctions(t *testing.T) {
	s := startServer(t, t.TempDir())
	lc := s.client()
	c := s.sfn()
	ctx := context.Background()
	createFunction(t, lc, "sfn-py", types.RuntimePython311, "app.handler", pythonZip)
	createFunction(t, lc, "sfn-node", types.RuntimeNodejs20x, "index.handler", nodeCJS)

	t.Run("task", func(t *testing.T) {
		def := fmt.Sprintf(`{"StartAt":"Direct","States":{
			"Direct":{"Type":"Task","Resource":"%s","ResultSelector":{"runtime.$":"$.runtime","event.$":"$.event"},"ResultPath":"$.direct","Next":"Invoke"},
			"Invoke":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"sfn-node","Payload":{"from.$":"$.direct.runtime"}},
				"ResultSelector":{"status.$":"$.StatusCode","version.$":"$.ExecutedVersion","runtime.$":"$.Payload.runtime","event.$":"$.Payload.event"},"ResultPath":"$.invoke","End":true}}}`, fnARN("sfn-py"))
		sm := createSM(t, c, "task", def, "")
		arn := startExec(t, c, sm, `{"greeting":"hi"}`)
		d := waitExec(t, c, arn, 60*time.Second)
		if d.Status != sfntypes.ExecutionStatusSucceeded {
			t.Fatalf("status %s: %s %s", d.Status, aws.ToString(d.Error), aws.ToString(d.Cause))
		}
		var out struct {
			Direct struct {
				Runtime string
				Event   map[string]any
			}
			Invoke struct {
				Status  int
				Version string
				Runtime string
				Event   map[string]any
			}
		}
		if err := json.Unmarshal([]byte(aws.ToString(d.Output)), &out); err != nil {
			t.Fatal(err)
		}
		if out.Direct.Runtime != "python" || out.Direct.Event["greeting"] != "hi" || out.Invoke.Status != 200 ||
			out.Invoke.Version != "$LATEST" || out.Invoke.Runtime != "node-cjs" || out.Invoke.Event["from"] != "python" {
			t.Fatalf("output %s", aws.ToString(d.Output))
		}
		h := history(t, c, arn)
		for _, want := range []sfntypes.HistoryEventType{"LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionSucceeded", "TaskScheduled", "TaskSucceeded"} {
			if countType(h, want) != 1 {
				t.Errorf("history %v lacks one %s", eventTypes(h), want)
			}
		}
	})

	t.Run("retry-then-catch", func(t *testing.T) {
		def := fmt.Sprintf(`{"StartAt":"Call","States":{
			"Call":{"Type":"Task","Resource":"%s",
				"Retry":[{"ErrorEquals":["ValueError"],"IntervalSeconds":1,"MaxAttempts":2,"BackoffRate":1.5}],
				"Catch":[{"ErrorEquals":["States.ALL"],"ResultPath":"$.error","Next":"Recovered"}],"End":true},
			"Recovered":{"Type":"Pass","End":true}}}`, fnARN("sfn-py"))
		sm := createSM(t, c, "retry", def, "")
		arn := startExec(t, c, sm, `{"action":"error","text":"nope"}`)
		d := waitExec(t, c, arn, 60*time.Second)
		if d.Status != sfntypes.ExecutionStatusSucceeded {
			t.Fatalf("status %s: %s", d.Status, aws.ToString(d.Cause))
		}
		var out struct {
			Error struct{ Error, Cause string }
		}
		json.Unmarshal([]byte(aws.ToString(d.Output)), &out)
		if out.Error.Error != "ValueError" || !strings.Contains(out.Error.Cause, "bad value: nope") {
			t.Fatalf("output %s", aws.ToString(d.Output))
		}
		h := history(t, c, arn)
		if n := countType(h, "LambdaFunctionFailed"); n != 3 {
			t.Errorf("%d failed attempts, want 3 (1 + 2 retries): %v", n, eventTypes(h))
		}
		if d.StopDate.Sub(*d.StartDate) < 2*time.Second {
			t.Errorf("retries took %v, want ≥ 1s + 1.5s", d.StopDate.Sub(*d.StartDate))
		}
	})

	t.Run("wait-for-task-token", func(t *testing.T) {
		def := `{"StartAt":"Ask","States":{"Ask":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken",
			"Parameters":{"FunctionName":"sfn-py","Payload":{"token.$":"$$.Task.Token","question":"ok?"}},"HeartbeatSeconds":600,"End":true}}}`
		sm := createSM(t, c, "callback", def, "")
		arn := startExec(t, c, sm, `{}`)
		var token string
		waitFor(t, "the task to be submitted", 60*time.Second, func() bool {
			h := history(t, c, arn)
			for _, e := range h {
				if e.Type == "TaskScheduled" {
					var p struct{ Payload struct{ Token string } }
					json.Unmarshal([]byte(aws.ToString(e.TaskScheduledEventDetails.Parameters)), &p)
					token = p.Payload.Token
				}
			}
			return countType(h, "TaskSubmitted") == 1 && token != ""
		})
		if _, err := c.SendTaskHeartbeat(ctx, &sfn.SendTaskHeartbeatInput{TaskToken: aws.String(token)}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(token), Output: aws.String(`{"answer":"yes"}`)}); err != nil {
			t.Fatal(err)
		}
		d := waitExec(t, c, arn, 30*time.Second)
		if d.Status != sfntypes.ExecutionStatusSucceeded || aws.ToString(d.Output) != `{"answer":"yes"}` {
			t.Fatalf("%s %s", d.Status, aws.ToString(d.Output))
		}
		_, err := c.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(token), Output: aws.String(`{}`)})
		if _, ok := errors.AsType[*sfntypes.TaskTimedOut](err); !ok {
			t.Errorf("second SendTaskSuccess: %v, want TaskTimedOut", err)
		}
	})

	t.Run("map-and-parallel", func(t *testing.T) {
		def := fmt.Sprintf(`{"StartAt":"Both","States":{"Both":{"Type":"Parallel","Branches":[
			{"StartAt":"Each","States":{"Each":{"Type":"Map","ItemsPath":"$.items","MaxConcurrency":3,
				"ItemSelector":{"n.$":"$$.Map.Item.Value"},
				"ItemProcessor":{"StartAt":"Py","States":{"Py":{"Type":"Task","Resource":"%s","OutputPath":"$.event.n","End":true}}},"End":true}}},
			{"StartAt":"Node","States":{"Node":{"Type":"Task","Resource":"%s","OutputPath":"$.runtime","End":true}}}],"End":true}}}`,
			fnARN("sfn-py"), fnARN("sfn-node"))
		sm := createSM(t, c, "mappar", def, "")
		arn := startExec(t, c, sm, `{"items":[1,2,3,4,5]}`)
		d := waitExec(t, c, arn, 60*time.Second)
		if d.Status != sfntypes.ExecutionStatusSucceeded || aws.ToString(d.Output) != `[[1,2,3,4,5],"node-cjs"]` {
			t.Fatalf("%s %s %s", d.Status, aws.ToString(d.Output), aws.ToString(d.Cause))
		}
		h := history(t, c, arn)
		if countType(h, "MapIterationSucceeded") != 5 || countType(h, "ParallelStateSucceeded") != 1 {
			t.Errorf("history %v", eventTypes(h))
		}
	})

	t.Run("express-sync", func(t *testing.T) {
		def := fmt.Sprintf(`{"StartAt":"Py","States":{"Py":{"Type":"Task","Resource":"%s","OutputPath":"$.event","End":true}}}`, fnARN("sfn-py"))
		sm := createSM(t, c, "express", def, sfntypes.StateMachineTypeExpress)
		out, err := c.StartSyncExecution(ctx, &sfn.StartSyncExecutionInput{StateMachineArn: aws.String(sm), Input: aws.String(`{"x":1}`)})
		if err != nil {
			t.Fatal(err)
		}
		if out.Status != sfntypes.SyncExecutionStatusSucceeded || aws.ToString(out.Output) != `{"x":1}` {
			t.Fatalf("%s %s %s", out.Status, aws.ToString(out.Output), aws.ToString(out.Cause))
		}
	})
}

// waitDef waits 4 seconds between two Pass states: long enough for the
// server to be restarted in the middle.
const waitDef = `{"StartAt":"Before","States":{
	"Before":{"Type":"Pass","Result":"before","ResultPath":"$.before","Next":"Sleep"},
	"Sleep":{"Type":"Wait","Seconds":4,"Next":"After"},
	"After":{"Type":"Pass","Result":"after","ResultPath":"$.after","End":true}}}`

// TestSFNWaitSurvivesRestart: a Standard execution in a Wait when the server
// stops (SIGTERM, then SIGKILL) continues after a restart on the same data
// dir and succeeds, with one unbroken history and the wait honoured.
func TestSFNWaitSurvivesRestart(t *testing.T) {
	for _, how := range []string{"sigterm", "kill9"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			s := startServer(t, dir)
			c := s.sfn()
			sm := createSM(t, c, "waiter", waitDef, "")
			arn := startExec(t, c, sm, `{"id":7}`)
			waitFor(t, "the Wait to be entered", 10*time.Second, func() bool {
				return countType(history(t, c, arn), "WaitStateEntered") == 1
			})
			if how == "kill9" {
				s.kill9()
			} else {
				s.stop()
			}
			s2 := startServer(t, dir)
			c2 := s2.sfn()
			d := waitExec(t, c2, arn, 30*time.Second)
			if d.Status != sfntypes.ExecutionStatusSucceeded || aws.ToString(d.Output) != `{"id":7,"before":"before","after":"after"}` {
				t.Fatalf("%s %s %s", d.Status, aws.ToString(d.Output), aws.ToString(d.Cause))
			}
			if waited := d.StopDate.Sub(*d.StartDate); waited < 4*time.Second {
				t.Errorf("the Wait was cut short: %v", waited)
			}
			h := history(t, c2, arn)
			want := []string{"ExecutionStarted", "PassStateEntered", "PassStateExited", "WaitStateEntered", "WaitStateExited", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"}
			if got := eventTypes(h); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("history %v", got)
			}
			for i, e := range h {
				if e.Id != int64(i+1) {
					t.Fatalf("event %d has id %d", i, e.Id)
				}
			}
		})
	}
}

// BenchmarkSFNExpressTask compares, on one server in one run, a warm Lambda
// Invoke of the Go function (the invoke path) with a StartSyncExecution of
// an Express state machine whose one Task calls that function, and of one
// whose one state is a Pass (the Step Functions API's own cost). Raw HTTP
// with the same keep-alive client for all three.
func BenchmarkSFNExpressTask(b *testing.B) {
	s := benchServer(b, "sfnb-", benchRuntimes[:1])
	c := s.sfn()
	ctx := context.Background()
	task := fmt.Sprintf(`{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"%s","End":true}}}`, fnARN("sfnb-go"))
	machines := map[string]string{}
	for name, def := range map[string]string{"task": task, "pass": `{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`} {
		out, err := c.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("bench-" + name), Definition: aws.String(def),
			RoleArn: aws.String(sfnRole), Type: sfntypes.StateMachineTypeExpress})
		if err != nil {
			b.Fatal(err)
		}
		machines[name] = aws.ToString(out.StateMachineArn)
	}
	hc := benchClient()
	startSync := func(arn string) func() error {
		body := []byte(`{"stateMachineArn":"` + arn + `","input":"{}"}`)
		hdr := http.Header{"X-Amz-Target": {"AWSStepFunctions.StartSyncExecution"}, "Content-Type": {"application/x-amz-json-1.0"}}
		return func() error {
			out, _, err := post(hc, s.API+"/", body, hdr)
			if err == nil && !bytes.Contains(out, []byte(`"status":"SUCCEEDED"`)) {
				err = fmt.Errorf("execution did not succeed: %s", out)
			}
			return err
		}
	}
	b.Run("invoke", func(b *testing.B) {
		url := invokeURL(s, "sfnb-go")
		serial(b, func() error { _, _, err := post(hc, url, benchPayload, nil); return err })
	})
	b.Run("express-task", func(b *testing.B) { serial(b, startSync(machines["task"])) })
	b.Run("express-pass", func(b *testing.B) { serial(b, startSync(machines["pass"])) })
}
