package executions

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

const passDef = `{"StartAt":"P","States":{"P":{"Type":"Pass","Result":{"Arg1":"argument1"},"End":true}}}`

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	e, ok := lambda.AsError(err)
	if !ok || e.Code != code {
		t.Fatalf("error %v, want %s", err, code)
	}
}

func TestMachinesCRUD(t *testing.T) {
	s := open(t, t.TempDir(), newFakeLambda())
	ctx := context.Background()
	arn := createMachine(t, s.Service, "sm1", passDef, "")
	if arn != "arn:aws:states:us-east-1:000000000000:stateMachine:sm1" {
		t.Fatalf("arn %s", arn)
	}
	// Creating it again identically returns it; differently is an error.
	if _, err := s.CreateMachine(ctx, CreateMachineInput{Name: "sm1", Definition: passDef, RoleARN: "arn:aws:iam::000000000000:role/r"}); err != nil {
		t.Fatalf("identical create: %v", err)
	}
	_, err := s.CreateMachine(ctx, CreateMachineInput{Name: "sm1", Definition: passDef + " ", RoleARN: "arn:aws:iam::000000000000:role/r"})
	wantCode(t, err, CodeStateMachineAlreadyExist)
	_, err = s.CreateMachine(ctx, CreateMachineInput{Name: "bad", Definition: `{"StartAt":"X"}`, RoleARN: "r"})
	wantCode(t, err, CodeInvalidDefinition)
	if !strings.Contains(err.Error(), "SCHEMA_VALIDATION_FAILED: These fields are required: [States] at /") {
		t.Errorf("message %v", err)
	}
	_, err = s.CreateMachine(ctx, CreateMachineInput{Name: "has space", Definition: passDef, RoleARN: "r"})
	wantCode(t, err, CodeInvalidName)

	m, err := s.DescribeMachine(ctx, arn)
	if err != nil || m.Definition != passDef || m.Status != "ACTIVE" || m.Type != "STANDARD" || m.RevisionID != "" || m.Logging.Level != "OFF" {
		t.Fatalf("describe %+v %v", m, err)
	}
	newDef := strings.Replace(passDef, "argument1", "after", 1)
	u, err := s.UpdateMachine(ctx, UpdateMachineInput{ARN: arn, Definition: &newDef, Publish: true})
	if err != nil || u.RevisionID == "" || u.VersionARN != arn+":1" {
		t.Fatalf("update %+v %v", u, err)
	}
	u2, err := s.UpdateMachine(ctx, UpdateMachineInput{ARN: arn, Definition: &newDef})
	if err != nil || u2.RevisionID != u.RevisionID {
		t.Fatalf("an update changing nothing changed the revision: %+v %v", u2, err)
	}
	_, err = s.UpdateMachine(ctx, UpdateMachineInput{ARN: arn})
	wantCode(t, err, CodeMissingRequiredParameter)
	v, err := s.DescribeMachine(ctx, arn+":1")
	if err != nil || v.Definition != newDef || v.ARN != arn+":1" {
		t.Fatalf("version %+v %v", v, err)
	}
	for i := range 5 {
		createMachine(t, s.Service, "list"+string(rune('a'+i)), passDef, "")
	}
	page, next, err := s.ListMachines(ctx, 4, "")
	if err != nil || len(page) != 4 || next == "" || page[0].Name != "lista" {
		t.Fatalf("page 1 %v %q %v", page, next, err)
	}
	page2, next2, err := s.ListMachines(ctx, 4, next)
	if err != nil || len(page2) != 2 || next2 != "" || page2[1].Name != "sm1" {
		t.Fatalf("page 2 %v %q %v", page2, next2, err)
	}
	if err := s.DeleteMachine(ctx, arn); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMachine(ctx, arn); err != nil {
		t.Fatalf("deleting twice: %v", err)
	}
	_, err = s.DescribeMachine(ctx, arn)
	wantCode(t, err, CodeStateMachineDoesNotExist)
	_, err = s.DescribeMachine(ctx, "not_a_valid_arn")
	wantCode(t, err, CodeInvalidArn)
	if err.(*lambda.Error).Message != "Invalid Arn: 'Invalid ARN prefix: not_a_valid_arn'" {
		t.Errorf("message %q", err.(*lambda.Error).Message)
	}
}

func TestExecutionLifecycle(t *testing.T) {
	s := open(t, t.TempDir(), newFakeLambda())
	ctx := context.Background()
	sm := createMachine(t, s.Service, "sm", passDef, "")
	e := start(t, s.Service, sm, "run-1", `{}`)
	if e.ARN != "arn:aws:states:us-east-1:000000000000:execution:sm:run-1" {
		t.Fatalf("arn %s", e.ARN)
	}
	got := waitStatus(t, s.Service, e.ARN)
	if got.Status != "SUCCEEDED" || str(got.Output) != `{"Arg1":"argument1"}` || got.Stop.IsZero() {
		t.Fatalf("%+v", got)
	}
	if h := historyTypes(t, s.Service, e.ARN); !slices.Equal(h, []string{"ExecutionStarted", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"}) {
		t.Fatalf("history %v", h)
	}
	rev, _, err := s.History(ctx, HistoryInput{ARN: e.ARN, ReverseOrder: true, MaxResults: 3})
	if err != nil || len(rev) != 3 || !strings.Contains(string(rev[0]), `"ExecutionSucceeded"`) {
		t.Fatalf("reverse %s %v", rev, err)
	}
	var ev struct {
		Timestamp json.Number `json:"timestamp"`
	}
	if json.Unmarshal(rev[0], &ev) != nil || !strings.Contains(ev.Timestamp.String(), ".") {
		t.Errorf("timestamp is not epoch seconds: %s", rev[0])
	}
	// Same name, same input after it ended: ExecutionAlreadyExists.
	in := `{}`
	_, err = s.Start(ctx, StartInput{MachineARN: sm, Name: "run-1", Input: &in})
	wantCode(t, err, CodeExecutionAlreadyExists)
	bad := `{'a': 1}`
	_, err = s.Start(ctx, StartInput{MachineARN: sm, Input: &bad})
	wantCode(t, err, CodeInvalidExecutionInput)
	if msg := err.(*lambda.Error).Message; msg != "Invalid State Machine Execution Input: 'Unexpected character (''' (code 39)): was expecting double-quote to start field name'" {
		t.Errorf("message %q", msg)
	}
	notJSON := "not json"
	_, err = s.Start(ctx, StartInput{MachineARN: sm, Input: &notJSON})
	if msg := err.(*lambda.Error).Message; msg != "Invalid State Machine Execution Input: 'Unrecognized token 'not': was expecting (JSON String, Number, Array, Object or token 'null', 'true' or 'false')'" {
		t.Errorf("message %q", msg)
	}
	for i := range 5 {
		start(t, s.Service, sm, "more-"+string(rune('a'+i)), `1`)
	}
	for i := range 5 {
		waitStatus(t, s.Service, strings.Replace(e.ARN, "run-1", "more-"+string(rune('a'+i)), 1))
	}
	// List reads the in-memory index, which the runner updates just after
	// writing the record that Describe (waitStatus) reads: wait for it too.
	var running []Execution
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		running, _, _ = s.List(ctx, ListInput{MachineARN: sm, StatusFilter: "RUNNING"})
		if len(running) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(running) != 0 {
		t.Errorf("running %v", running)
	}
	list, next, err := s.List(ctx, ListInput{MachineARN: sm, MaxResults: 4})
	if err != nil || len(list) != 4 || next == "" || list[0].Name != "more-e" {
		t.Fatalf("list %+v %q %v", list, next, err)
	}
	list2, next2, err := s.List(ctx, ListInput{MachineARN: sm, MaxResults: 4, NextToken: next})
	if err != nil || len(list2) != 2 || next2 != "" || list2[1].Name != "run-1" {
		t.Fatalf("list 2 %+v %q %v", list2, next2, err)
	}
	_, _, err = s.List(ctx, ListInput{MachineARN: sm, StatusFilter: "succeeded"})
	wantCode(t, err, CodeValidation)
	_, err = s.Describe(ctx, strings.Replace(e.ARN, "run-1", "nope", 1))
	wantCode(t, err, CodeExecutionDoesNotExist)
	m, err := s.MachineForExecution(ctx, e.ARN)
	if err != nil || m.Definition != passDef || m.Updated.IsZero() {
		t.Fatalf("machine for execution %+v %v", m, err)
	}
}

const waitDef = `{"StartAt":"W","States":{
	"W":{"Type":"Wait","Seconds":1,"Next":"P"},
	"P":{"Type":"Pass","Parameters":{"waited.$":"$.x"},"End":true}}}`

// TestWaitSurvivesRestart: an execution in a Wait when the server stops
// continues from its snapshot after a restart on the same data and
// succeeds, with one unbroken history.
func TestWaitSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, newFakeLambda())
	sm := createMachine(t, s.Service, "waiter", waitDef, "")
	e := start(t, s.Service, sm, "w1", `{"x":7}`)
	waitEvent(t, s.Service, e.ARN, "WaitStateEntered")
	s.close()

	s2 := open(t, dir, newFakeLambda())
	got := waitStatus(t, s2.Service, e.ARN)
	if got.Status != "SUCCEEDED" || str(got.Output) != `{"waited":7}` {
		t.Fatalf("%+v", got)
	}
	h := historyTypes(t, s2.Service, e.ARN)
	if !slices.Equal(h, []string{"ExecutionStarted", "WaitStateEntered", "WaitStateExited", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"}) {
		t.Fatalf("history %v", h)
	}
	if d := got.Stop.Sub(got.Start); d < time.Second {
		t.Errorf("the wait was cut short: %v", d)
	}
}

const retryCatchDef = `{"StartAt":"Call","States":{
	"Call":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:000000000000:function:flaky",
		"Retry":[{"ErrorEquals":["ValueError"],"IntervalSeconds":1,"MaxAttempts":2,"BackoffRate":1}],
		"Catch":[{"ErrorEquals":["States.ALL"],"ResultPath":"$.err","Next":"Handled"}],"End":true},
	"Handled":{"Type":"Pass","End":true}}}`

// TestRetryDelaySurvivesRestart: a retry delay in progress at shutdown is
// honoured after the restart, then Catch takes over.
func TestRetryDelaySurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	fail := func(context.Context, []byte) ([]byte, string) {
		return []byte(`{"errorMessage":"bad","errorType":"ValueError","stackTrace":[]}`), "Unhandled"
	}
	fl := newFakeLambda()
	fl.set("flaky", fail)
	s := open(t, dir, fl)
	sm := createMachine(t, s.Service, "retrier", retryCatchDef, "")
	e := start(t, s.Service, sm, "r1", `{"in":1}`)
	waitEvent(t, s.Service, e.ARN, "LambdaFunctionFailed")
	s.close()
	fl2 := newFakeLambda()
	fl2.set("flaky", fail)
	s2 := open(t, dir, fl2)
	got := waitStatus(t, s2.Service, e.ARN)
	if got.Status != "SUCCEEDED" || !strings.Contains(str(got.Output), `"Error":"ValueError"`) {
		t.Fatalf("%+v", got)
	}
	if n := fl.count("flaky") + fl2.count("flaky"); n != 3 {
		t.Errorf("function called %d times, want 3 (1 + 2 retries)", n)
	}
}

const tokenDef = `{"StartAt":"Ask","States":{
	"Ask":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken",
		"Parameters":{"FunctionName":"asker","Payload":{"token.$":"$$.Task.Token","q.$":"$.q"}},
		"HeartbeatSeconds":60,"End":true}}}`

func TestTaskTokenRoundTrip(t *testing.T) {
	dir := t.TempDir()
	tokens := make(chan string, 4)
	asker := func(_ context.Context, p []byte) ([]byte, string) {
		var in struct{ Token string }
		json.Unmarshal(p, &in)
		tokens <- in.Token
		return []byte(`null`), ""
	}
	fl := newFakeLambda()
	fl.set("asker", asker)
	s := open(t, dir, fl)
	ctx := context.Background()
	sm := createMachine(t, s.Service, "asks", tokenDef, "")
	e := start(t, s.Service, sm, "t1", `{"q":"why"}`)
	tok := <-tokens
	waitEvent(t, s.Service, e.ARN, "TaskSubmitted")

	wantCode(t, s.SendTaskSuccess(ctx, "garbage", `{}`), CodeInvalidToken)
	if err := s.SendTaskHeartbeat(ctx, tok); err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
	// A restart while the task waits: the token still works afterwards.
	s.close()
	s2 := open(t, dir, fl)
	if err := s2.SendTaskSuccess(ctx, tok, `{"answer":42}`); err != nil {
		t.Fatalf("SendTaskSuccess: %v", err)
	}
	// Acknowledged means committed: the history already has it.
	if h := historyTypes(t, s2.Service, e.ARN); !slices.Contains(h, "TaskSucceeded") {
		t.Fatalf("SendTaskSuccess answered before its effect was committed: %v", h)
	}
	got := waitStatus(t, s2.Service, e.ARN)
	if got.Status != "SUCCEEDED" || str(got.Output) != `{"answer":42}` {
		t.Fatalf("%+v", got)
	}
	wantCode(t, s2.SendTaskSuccess(ctx, tok, `{}`), CodeTaskTimedOut)
	wantCode(t, s2.SendTaskFailure(ctx, tok, "E", "c"), CodeTaskTimedOut)
	if n := fl.count("asker"); n != 1 {
		t.Errorf("asker invoked %d times", n)
	}

	// Failure path.
	e2 := start(t, s2.Service, sm, "t2", `{"q":"how"}`)
	tok2 := <-tokens
	if err := s2.SendTaskFailure(ctx, tok2, "Nope", "no reason"); err != nil {
		t.Fatal(err)
	}
	got = waitStatus(t, s2.Service, e2.ARN)
	if got.Status != "FAILED" || str(got.Error) != "Nope" || str(got.Cause) != "no reason" {
		t.Fatalf("%+v", got)
	}
}

func TestStopExecution(t *testing.T) {
	s := open(t, t.TempDir(), newFakeLambda())
	ctx := context.Background()
	sm := createMachine(t, s.Service, "long", `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":600,"End":true}}}`, "")
	e := start(t, s.Service, sm, "s1", `{}`)
	waitEvent(t, s.Service, e.ARN, "WaitStateEntered")
	stop, err := s.Stop(ctx, e.ARN, "", "")
	if err != nil || stop.IsZero() {
		t.Fatalf("stop %v %v", stop, err)
	}
	got, _ := s.Describe(ctx, e.ARN)
	if got.Status != "ABORTED" {
		t.Fatalf("%+v", got)
	}
	if h := historyTypes(t, s.Service, e.ARN); !slices.Equal(h, []string{"ExecutionStarted", "WaitStateEntered", "ExecutionAborted"}) {
		t.Fatalf("history %v", h)
	}
}

func TestIdempotentStart(t *testing.T) {
	s := open(t, t.TempDir(), newFakeLambda())
	ctx := context.Background()
	sm := createMachine(t, s.Service, "long", `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":600,"End":true}}}`, "")
	a := start(t, s.Service, sm, "same", `{"a":1}`)
	b := start(t, s.Service, sm, "same", `{"a":1}`)
	if a.ARN != b.ARN || !a.Start.Equal(b.Start) {
		t.Fatalf("%+v != %+v", a, b)
	}
	in := `{"a":2}`
	_, err := s.Start(ctx, StartInput{MachineARN: sm, Name: "same", Input: &in})
	wantCode(t, err, CodeExecutionAlreadyExists)
}

const nestedChild = `{"StartAt":"Double","States":{"Double":{"Type":"Pass","Parameters":{"doubled.$":"States.MathAdd($.n, $.n)"},"End":true}}}`

func TestNestedExecutions(t *testing.T) {
	s := open(t, t.TempDir(), newFakeLambda())
	child := createMachine(t, s.Service, "child", nestedChild, "")
	failing := createMachine(t, s.Service, "failing", `{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"Boom","Cause":"child failed"}}}`, "")
	expr := createMachine(t, s.Service, "xchild", nestedChild, "EXPRESS")
	parent := `{"StartAt":"Sync2","States":{
		"Sync2":{"Type":"Task","Resource":"arn:aws:states:::states:startExecution.sync:2",
			"Parameters":{"StateMachineArn":"` + child + `","Input":{"n.$":"$.n"}},"ResultSelector":{"out.$":"$.Output","status.$":"$.Status"},"ResultPath":"$.sync2","Next":"Sync"},
		"Sync":{"Type":"Task","Resource":"arn:aws:states:::states:startExecution.sync",
			"Parameters":{"StateMachineArn":"` + expr + `","Input":{"n":5}},"ResultSelector":{"out.$":"$.Output"},"ResultPath":"$.sync","Next":"Fire"},
		"Fire":{"Type":"Task","Resource":"arn:aws:states:::states:startExecution",
			"Parameters":{"StateMachineArn":"` + child + `","Name":"fired","Input":{"n":1}},"ResultSelector":{"arn.$":"$.ExecutionArn"},"ResultPath":"$.fire","Next":"Bad"},
		"Bad":{"Type":"Task","Resource":"arn:aws:states:::states:startExecution.sync:2",
			"Parameters":{"StateMachineArn":"` + failing + `"},"Catch":[{"ErrorEquals":["States.TaskFailed"],"ResultPath":"$.caught","Next":"Done"}],"End":true},
		"Done":{"Type":"Pass","End":true}}}`
	sm := createMachine(t, s.Service, "parent", parent, "")
	e := start(t, s.Service, sm, "p1", `{"n":21}`)
	got := waitStatus(t, s.Service, e.ARN)
	if got.Status != "SUCCEEDED" {
		t.Fatalf("%+v", got)
	}
	var out struct {
		Sync2 struct {
			Out    struct{ Doubled int }
			Status string
		}
		Sync   struct{ Out string }
		Fire   struct{ Arn string }
		Caught struct{ Error, Cause string }
	}
	if err := json.Unmarshal([]byte(*got.Output), &out); err != nil {
		t.Fatal(err)
	}
	if out.Sync2.Out.Doubled != 42 || out.Sync2.Status != "SUCCEEDED" || out.Sync.Out != `{"doubled":10}` ||
		out.Fire.Arn != "arn:aws:states:us-east-1:000000000000:execution:child:fired" || out.Caught.Error != "States.TaskFailed" ||
		!strings.Contains(out.Caught.Cause, `"Status":"FAILED"`) {
		t.Fatalf("output %s", *got.Output)
	}
	if h := historyTypes(t, s.Service, e.ARN); !slices.Contains(h, "TaskSubmitted") {
		t.Errorf("no TaskSubmitted for .sync: %v", h)
	}
	fired := waitStatus(t, s.Service, out.Fire.Arn)
	if fired.Status != "SUCCEEDED" {
		t.Errorf("fired child %+v", fired)
	}
}

func TestExpress(t *testing.T) {
	s := open(t, t.TempDir(), newFakeLambda())
	ctx := context.Background()
	sm := createMachine(t, s.Service, "fast", passDef, "EXPRESS")
	std := createMachine(t, s.Service, "std", passDef, "")
	in := `{"a":1}`
	e, err := s.StartSync(ctx, StartInput{MachineARN: sm, Input: &in})
	if err != nil || e.Status != "SUCCEEDED" || str(e.Output) != `{"Arg1":"argument1"}` || !strings.Contains(e.ARN, ":express:fast:") || e.BilledDuration < 100*time.Millisecond {
		t.Fatalf("%+v %v", e, err)
	}
	_, err = s.StartSync(ctx, StartInput{MachineARN: std, Input: &in})
	wantCode(t, err, CodeTypeNotSupported)
	a, err := s.Start(ctx, StartInput{MachineARN: sm, Input: &in})
	if err != nil || !strings.Contains(a.ARN, ":express:fast:") {
		t.Fatalf("%+v %v", a, err)
	}
	_, err = s.Describe(ctx, a.ARN)
	wantCode(t, err, CodeInvalidArn)
	_, _, err = s.List(ctx, ListInput{MachineARN: sm})
	wantCode(t, err, CodeTypeNotSupported)
	_, err = s.CreateMachine(ctx, CreateMachineInput{Name: "xcb", Type: "EXPRESS", RoleARN: "r", Definition: tokenDef})
	wantCode(t, err, CodeInvalidDefinition)
}

// TestMapAndParallel runs Map and Parallel with Lambda tasks durably.
func TestMapAndParallel(t *testing.T) {
	fl := newFakeLambda()
	fl.set("sq", func(_ context.Context, p []byte) ([]byte, string) {
		var n int
		json.Unmarshal(p, &n)
		b, _ := json.Marshal(n * n)
		return b, ""
	})
	s := open(t, t.TempDir(), fl)
	def := `{"StartAt":"Par","States":{
		"Par":{"Type":"Parallel","Branches":[
			{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.items","MaxConcurrency":2,
				"ItemProcessor":{"StartAt":"Sq","States":{"Sq":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:000000000000:function:sq","End":true}}},"End":true}}},
			{"StartAt":"Q","States":{"Q":{"Type":"Pass","Result":"other","End":true}}}],"End":true}}}`
	sm := createMachine(t, s.Service, "mp", def, "")
	e := start(t, s.Service, sm, "m1", `{"items":[1,2,3,4]}`)
	got := waitStatus(t, s.Service, e.ARN)
	if got.Status != "SUCCEEDED" || str(got.Output) != `[[1,4,9,16],"other"]` {
		t.Fatalf("%+v", got)
	}
}

// TestConcurrentStarts: many executions at once all finish, each recorded once.
func TestConcurrentStarts(t *testing.T) {
	fl := newFakeLambda()
	fl.set("echo", echo)
	s := open(t, t.TempDir(), fl)
	def := `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:000000000000:function:echo","Next":"B"},"B":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:000000000000:function:echo","End":true}}}`
	sm := createMachine(t, s.Service, "many", def, "")
	var wg sync.WaitGroup
	arns := make([]string, 50)
	for i := range arns {
		wg.Go(func() { arns[i] = start(t, s.Service, sm, "", `{"i":1}`).ARN })
	}
	wg.Wait()
	for _, a := range arns {
		if got := waitStatus(t, s.Service, a); got.Status != "SUCCEEDED" {
			t.Fatalf("%+v", got)
		}
	}
	list, _, _ := s.List(context.Background(), ListInput{MachineARN: sm, MaxResults: 1000})
	if len(list) != 50 {
		t.Fatalf("listed %d", len(list))
	}
}
