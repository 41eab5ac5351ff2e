package sfnapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/nimbus-dev/nimbus/internal/backbone"
	"github.com/nimbus-dev/nimbus/internal/workflow/executions"
	"github.com/nimbus-dev/nimbus/internal/workflow/lambdatask"
)

// fakeLambda answers Lambda tasks in process.
type fakeLambda struct {
	mu  sync.Mutex
	fns map[string]func([]byte) ([]byte, string)
}

func (f *fakeLambda) Invoke(_ context.Context, req lambdatask.Request) (lambdatask.Response, error) {
	name := req.Function[strings.LastIndex(req.Function, ":")+1:]
	f.mu.Lock()
	fn := f.fns[name]
	f.mu.Unlock()
	if fn == nil {
		return lambdatask.Response{}, &lambdatask.ServiceError{Code: "ResourceNotFoundException", Message: "Function not found", StatusCode: 404}
	}
	out, fe := fn(req.Payload)
	return lambdatask.Response{StatusCode: 200, Payload: out, FunctionError: fe, RequestID: "req"}, nil
}

type env struct {
	url    string
	client *sfn.Client
	svc    *executions.Service
	api    *API
	fl     *fakeLambda
}

// disableHostPrefix keeps StartSyncExecution on the endpoint's host.
func disableHostPrefix(s *middleware.Stack) error {
	return s.Initialize.Add(middleware.InitializeMiddlewareFunc("noHostPrefix",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			return next.HandleInitialize(smithyhttp.DisableEndpointHostPrefix(ctx, true), in)
		}), middleware.Before)
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	bb, err := backbone.Start(backbone.Config{DataDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	fl := &fakeLambda{fns: map[string]func([]byte) ([]byte, string){}}
	svc := executions.New(executions.Config{ExpressTimeout: 5 * time.Second}, log, bb.JetStream(), fl)
	if err := svc.Open(context.Background()); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Run(ctx); close(done) }()
	api := New(log, svc)
	mux := http.NewServeMux()
	mux.Handle("POST /{$}", api.Handler())
	srv := httptest.NewServer(mux)
	tb.Cleanup(func() {
		srv.Close()
		cancel()
		<-done
		bb.Close()
	})
	client := sfn.New(sfn.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("k", "s", ""),
		RetryMaxAttempts: 1,
		APIOptions:       []func(*middleware.Stack) error{disableHostPrefix},
	})
	return &env{url: srv.URL, client: client, svc: svc, api: api, fl: fl}
}

const role = "arn:aws:iam::000000000000:role/sfn"

const passDef = `{"Comment":"BASE_PASS_RESULT","StartAt":"State_1","States":{"State_1":{"Type":"Pass","Result":{"Arg1":"argument1"},"End":true}}}`

func (e *env) create(tb testing.TB, name, def string, typ types.StateMachineType) string {
	tb.Helper()
	out, err := e.client.CreateStateMachine(context.Background(), &sfn.CreateStateMachineInput{
		Name: aws.String(name), Definition: aws.String(def), RoleArn: aws.String(role), Type: typ})
	if err != nil {
		tb.Fatalf("CreateStateMachine: %v", err)
	}
	return *out.StateMachineArn
}

func (e *env) wait(tb testing.TB, arn string) *sfn.DescribeExecutionOutput {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		out, err := e.client.DescribeExecution(context.Background(), &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
		if err != nil {
			tb.Fatalf("DescribeExecution: %v", err)
		}
		if out.Status != types.ExecutionStatusRunning {
			return out
		}
		time.Sleep(5 * time.Millisecond)
	}
	tb.Fatalf("%s still running", arn)
	return nil
}

func wantAPIError[T error](t *testing.T, err error, msg string) {
	t.Helper()
	if _, ok := errors.AsType[T](err); !ok {
		t.Fatalf("error %v (%T), want %T", err, err, *new(T))
	}
	if msg != "" {
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorMessage() != msg {
			t.Errorf("message %q, want %q", ae.ErrorMessage(), msg)
		}
	}
}

func TestStateMachinesThroughSDK(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	arn := e.create(t, "sm-api", passDef, "")
	d, err := e.client.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: &arn})
	if err != nil || *d.Definition != passDef || d.Status != types.StateMachineStatusActive || d.Type != types.StateMachineTypeStandard ||
		d.LoggingConfiguration.Level != types.LogLevelOff || d.CreationDate == nil || time.Since(*d.CreationDate) > time.Minute {
		t.Fatalf("%+v %v", d, err)
	}
	_, err = e.client.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("sm-api"), Definition: aws.String(passDef + "\n"), RoleArn: aws.String(role)})
	wantAPIError[*types.StateMachineAlreadyExists](t, err, "State Machine Already Exists: '"+arn+"'")
	_, err = e.client.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("bad"), Definition: aws.String(`{"StartAt":"A"}`), RoleArn: aws.String(role)})
	wantAPIError[*types.InvalidDefinition](t, err, "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: These fields are required: [States] at /'")
	up, err := e.client.UpdateStateMachine(ctx, &sfn.UpdateStateMachineInput{StateMachineArn: &arn, RoleArn: aws.String(role + "2"), Publish: true})
	if err != nil || up.RevisionId == nil || up.StateMachineVersionArn == nil || *up.StateMachineVersionArn != arn+":1" {
		t.Fatalf("%+v %v", up, err)
	}
	_, err = e.client.UpdateStateMachine(ctx, &sfn.UpdateStateMachineInput{StateMachineArn: &arn})
	wantAPIError[*types.MissingRequiredParameter](t, err, "")
	list, err := e.client.ListStateMachines(ctx, &sfn.ListStateMachinesInput{})
	if err != nil || len(list.StateMachines) != 1 || *list.StateMachines[0].Name != "sm-api" {
		t.Fatalf("%+v %v", list, err)
	}
	_, err = e.client.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: aws.String("not_a_valid_arn")})
	wantAPIError[*types.InvalidArn](t, err, "Invalid Arn: 'Invalid ARN prefix: not_a_valid_arn'")
	_, err = e.client.ListStateMachines(ctx, &sfn.ListStateMachinesInput{MaxResults: 1001})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationException" {
		t.Fatalf("maxResults 1001: %v", err)
	}
	v, err := e.client.ValidateStateMachineDefinition(ctx, &sfn.ValidateStateMachineDefinitionInput{Definition: aws.String(`{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"}}}`)})
	if err != nil || v.Result != types.ValidateStateMachineDefinitionResultCodeFail || len(v.Diagnostics) == 0 || *v.Diagnostics[0].Code != "MISSING_TRANSITION_TARGET" {
		t.Fatalf("validate %+v %v", v, err)
	}
	if _, err := e.client.DeleteStateMachine(ctx, &sfn.DeleteStateMachineInput{StateMachineArn: &arn}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: &arn})
	wantAPIError[*types.StateMachineDoesNotExist](t, err, "State Machine Does Not Exist: '"+arn+"'")
}

func TestExecutionsThroughSDK(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	arn := e.create(t, "runs", passDef, "")
	start, err := e.client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: &arn, Name: aws.String("first")})
	if err != nil || *start.ExecutionArn != "arn:aws:states:us-east-1:000000000000:execution:runs:first" {
		t.Fatalf("%+v %v", start, err)
	}
	d := e.wait(t, *start.ExecutionArn)
	if d.Status != types.ExecutionStatusSucceeded || *d.Output != `{"Arg1":"argument1"}` || *d.Input != "{}" || d.StopDate == nil ||
		d.RedriveStatus != types.ExecutionRedriveStatusNotRedrivable || !d.InputDetails.Included {
		t.Fatalf("%+v", d)
	}
	h, err := e.client.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: start.ExecutionArn})
	if err != nil || len(h.Events) != 4 {
		t.Fatalf("%+v %v", h, err)
	}
	if h.Events[0].Type != types.HistoryEventTypeExecutionStarted || *h.Events[0].ExecutionStartedEventDetails.RoleArn != role ||
		h.Events[1].StateEnteredEventDetails == nil || *h.Events[1].StateEnteredEventDetails.Name != "State_1" ||
		*h.Events[3].ExecutionSucceededEventDetails.Output != `{"Arg1":"argument1"}` || h.Events[3].Timestamp.IsZero() {
		t.Fatalf("events %+v", h.Events)
	}
	// Paged, reversed.
	pg := sfn.NewGetExecutionHistoryPaginator(e.client, &sfn.GetExecutionHistoryInput{ExecutionArn: start.ExecutionArn, ReverseOrder: true, MaxResults: 3})
	var ids []int64
	for pg.HasMorePages() {
		p, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range p.Events {
			ids = append(ids, ev.Id)
		}
	}
	if len(ids) != 4 || ids[0] != 4 || ids[3] != 1 {
		t.Fatalf("ids %v", ids)
	}
	_, err = e.client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: &arn, Name: aws.String("first")})
	wantAPIError[*types.ExecutionAlreadyExists](t, err, "Execution Already Exists: '"+*start.ExecutionArn+"'")
	_, err = e.client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: &arn, Input: aws.String("not json")})
	wantAPIError[*types.InvalidExecutionInput](t, err, "")
	_, err = e.client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(strings.Replace(*start.ExecutionArn, "first", "none", 1))})
	wantAPIError[*types.ExecutionDoesNotExist](t, err, "")
	_, err = e.client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(arn + "x")})
	wantAPIError[*types.StateMachineDoesNotExist](t, err, "")

	long := e.create(t, "long", `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":300,"End":true}}}`, "")
	s2, err := e.client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: &long, Input: aws.String(`{"k":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	running, err := e.client.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: &long, StatusFilter: types.ExecutionStatusRunning})
	if err != nil || len(running.Executions) != 1 || running.Executions[0].StopDate != nil {
		t.Fatalf("%+v %v", running, err)
	}
	stop, err := e.client.StopExecution(ctx, &sfn.StopExecutionInput{ExecutionArn: s2.ExecutionArn, Error: aws.String("Halt"), Cause: aws.String("test")})
	if err != nil || stop.StopDate == nil {
		t.Fatalf("%+v %v", stop, err)
	}
	d2 := e.wait(t, *s2.ExecutionArn)
	if d2.Status != types.ExecutionStatusAborted || *d2.Error != "Halt" {
		t.Fatalf("%+v", d2)
	}
	fe, err := e.client.DescribeStateMachineForExecution(ctx, &sfn.DescribeStateMachineForExecutionInput{ExecutionArn: s2.ExecutionArn})
	if err != nil || !strings.Contains(*fe.Definition, `"Wait"`) || fe.UpdateDate == nil {
		t.Fatalf("%+v %v", fe, err)
	}

	// Express: sync and async.
	x := e.create(t, "express", passDef, types.StateMachineTypeExpress)
	sync, err := e.client.StartSyncExecution(ctx, &sfn.StartSyncExecutionInput{StateMachineArn: &x, Input: aws.String(`{"a":1}`)})
	if err != nil || sync.Status != types.SyncExecutionStatusSucceeded || *sync.Output != `{"Arg1":"argument1"}` || sync.BillingDetails.BilledDurationInMilliseconds < 100 {
		t.Fatalf("%+v %v", sync, err)
	}
	_, err = e.client.StartSyncExecution(ctx, &sfn.StartSyncExecutionInput{StateMachineArn: &arn})
	wantAPIError[*types.StateMachineTypeNotSupported](t, err, "This operation is not supported by this type of state machine")
	async, err := e.client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: &x})
	if err != nil || !strings.Contains(*async.ExecutionArn, ":express:express:") {
		t.Fatalf("%+v %v", async, err)
	}
	_, err = e.client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: async.ExecutionArn})
	wantAPIError[*types.InvalidArn](t, err, "Invalid Arn: 'Resource type not valid in this context: express'")
}

func TestTaskTokenThroughSDK(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tokens := make(chan string, 1)
	e.fl.mu.Lock()
	e.fl.fns["notify"] = func(p []byte) ([]byte, string) {
		var in struct{ Token string }
		json.Unmarshal(p, &in)
		tokens <- in.Token
		return []byte(`{}`), ""
	}
	e.fl.mu.Unlock()
	def := `{"StartAt":"Wait","States":{"Wait":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken",
		"Parameters":{"FunctionName":"notify","Payload":{"Token.$":"$$.Task.Token"}},"End":true}}}`
	arn := e.create(t, "cb", def, "")
	s, err := e.client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: &arn})
	if err != nil {
		t.Fatal(err)
	}
	tok := <-tokens
	if _, err := e.client.SendTaskHeartbeat(ctx, &sfn.SendTaskHeartbeatInput{TaskToken: &tok}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String("bogus"), Output: aws.String("{}")})
	wantAPIError[*types.InvalidToken](t, err, "")
	_, err = e.client.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: &tok, Output: aws.String("nope")})
	wantAPIError[*types.InvalidOutput](t, err, "")
	if _, err := e.client.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: &tok, Output: aws.String(`{"ok":true}`)}); err != nil {
		t.Fatal(err)
	}
	d := e.wait(t, *s.ExecutionArn)
	if d.Status != types.ExecutionStatusSucceeded || *d.Output != `{"ok":true}` {
		t.Fatalf("%+v", d)
	}
	_, err = e.client.SendTaskFailure(ctx, &sfn.SendTaskFailureInput{TaskToken: &tok})
	wantAPIError[*types.TaskTimedOut](t, err, "")
}

func TestWireErrors(t *testing.T) {
	e := newEnv(t)
	post := func(target, body string) (int, http.Header, map[string]string) {
		req, _ := http.NewRequest("POST", e.url+"/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", target)
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]string
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, resp.Header, m
	}
	code, h, body := post("AWSStepFunctions.DescribeExecution", `{"executionArn":"arn:aws:states:us-east-1:000000000000:execution:a:b"}`)
	if code != 400 || h.Get("X-Amzn-ErrorType") != "ExecutionDoesNotExist" ||
		body["__type"] != "com.amazonaws.swf.service.model.v20120810#ExecutionDoesNotExist" ||
		body["message"] != "Execution Does Not Exist: 'arn:aws:states:us-east-1:000000000000:execution:a:b'" {
		t.Fatalf("%d %v %v", code, h, body)
	}
	if code, _, body := post("AWSStepFunctions.Nope", `{}`); code != 400 || !strings.HasSuffix(body["__type"], "#UnknownOperationException") {
		t.Fatalf("%d %v", code, body)
	}
	if code, _, body := post("AWSStepFunctions.StartExecution", `{"stateMachineArn": 5}`); code != 400 || !strings.HasSuffix(body["__type"], "#SerializationException") {
		t.Fatalf("%d %v", code, body)
	}
	if code, _, body := post("AWSStepFunctions.StartExecution", `{}`); code != 400 || !strings.HasSuffix(body["__type"], "#ValidationException") {
		t.Fatalf("%d %v", code, body)
	}
}
