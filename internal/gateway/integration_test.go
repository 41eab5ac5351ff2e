package gateway

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// fakeServices records service calls and answers like the services do.
type fakeServices struct {
	mu    sync.Mutex
	sent  []SendMessageInput
	pubs  []PublishInput
	execs []StartExecutionInput
}

func (f *fakeServices) SendMessage(_ context.Context, in SendMessageInput) (SendMessageOutput, error) {
	if !strings.HasSuffix(in.QueueURL, "/000000000000/orders") {
		return SendMessageOutput{}, &lambda.Error{Code: "QueueDoesNotExist", Status: 400, Message: "The specified queue does not exist."}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, in)
	return SendMessageOutput{MessageId: "m-1", MD5OfMessageBody: "d41d8cd98f00b204e9800998ecf8427e"}, nil
}

func (f *fakeServices) Publish(_ context.Context, in PublishInput) (PublishOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pubs = append(f.pubs, in)
	return PublishOutput{MessageId: "p-1"}, nil
}

func (f *fakeServices) StartExecution(_ context.Context, in StartExecutionInput) (any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.execs = append(f.execs, in)
	return map[string]any{"executionArn": "arn:x:" + in.Name, "startDate": 1.5}, nil
}

func (f *fakeServices) StartSyncExecution(_ context.Context, in StartExecutionInput) (any, error) {
	if in.Input != nil && *in.Input == "fail" {
		return nil, context.Canceled // an internal failure: no detail goes out
	}
	return map[string]any{"status": "SUCCEEDED", "output": *in.Input}, nil
}

func service(key, typ string, params map[string]string) Route {
	return Route{Key: key, Integration: Integration{Type: typ, Parameters: params}}
}

func TestServiceIntegrations(t *testing.T) {
	svc := &fakeServices{}
	a := httpAPI("svc",
		service("POST /orders/{id}", TypeSQSSendMessage, map[string]string{
			"QueueUrl":          "http://h/000000000000/orders",
			"MessageBody":       "$request.body",
			"DelaySeconds":      "$request.querystring.delay",
			"MessageGroupId":    "g-${request.path.id}-$context.httpMethod",
			"MessageAttributes": `{"who":{"DataType":"String","StringValue":"$request.header.x-user"}}`,
		}),
		service("POST /lost", TypeSQSSendMessage, map[string]string{"QueueUrl": "http://h/000000000000/nope", "MessageBody": "x"}),
		service("POST /empty", TypeSQSSendMessage, map[string]string{"QueueUrl": "http://h/000000000000/orders", "MessageBody": "$request.body.missing"}),
		service("POST /publish", TypeSNSPublish, map[string]string{"TopicArn": "arn:t", "Message": "$request.body.msg", "Subject": "$stageVariables.subject"}),
		service("POST /start", TypeStartExecution, map[string]string{"StateMachineArn": "arn:sm", "Name": "$context.requestId", "Input": "$request.body"}),
		service("POST /sync", TypeStartSyncExecution, map[string]string{"StateMachineArn": "arn:sm", "Input": "$request.body"}),
	)
	a.StageVariables = map[string]string{"subject": "hello"}
	g, logs := newTestGateway(t, newFakeInvoker(), a)
	g.SetServices(Services{Queues: svc, Topics: svc, Workflows: svc})

	w := do(g, "POST", "http://x/orders/42?delay=5", strings.NewReader(`{"item":"book"}`), "X-User", "ann", "Content-Type", "application/json")
	if w.Code != 200 || w.Body.String() != `{"MessageId":"m-1","MD5OfMessageBody":"d41d8cd98f00b204e9800998ecf8427e"}` {
		t.Fatalf("SQS-SendMessage = %d %s", w.Code, w.Body)
	}
	in := svc.sent[0]
	if in.MessageBody != `{"item":"book"}` || *in.DelaySeconds != 5 || in.MessageGroupID != "g-42-POST" || *in.MessageAttributes["who"].StringValue != "ann" {
		t.Errorf("SendMessage input = %+v", in)
	}
	if w := do(g, "POST", "http://x/lost", nil); w.Code != 400 || w.Body.String() != `{"__type":"QueueDoesNotExist","message":"The specified queue does not exist."}` {
		t.Errorf("missing queue = %d %s", w.Code, w.Body)
	}
	if w := do(g, "POST", "http://x/empty", strings.NewReader(`{}`)); w.Code != 400 || !strings.Contains(w.Body.String(), "MessageBody") {
		t.Errorf("empty required parameter = %d %s", w.Code, w.Body)
	}
	if w := do(g, "POST", "http://x/publish", strings.NewReader(`{"msg":{"a":1}}`)); w.Code != 200 || svc.pubs[0].Message != `{"a":1}` || *svc.pubs[0].Subject != "hello" {
		t.Errorf("SNS-Publish = %d %s %+v", w.Code, w.Body, svc.pubs)
	}
	w = do(g, "POST", "http://x/start", strings.NewReader(`{"n":1}`))
	if w.Code != 200 || svc.execs[0].Name != w.Header().Get("Apigw-Requestid") || *svc.execs[0].Input != `{"n":1}` {
		t.Errorf("StartExecution = %d %s %+v", w.Code, w.Body, svc.execs)
	}
	if w := do(g, "POST", "http://x/sync", strings.NewReader(`7`)); w.Code != 200 || w.Body.String() != `{"output":"7","status":"SUCCEEDED"}` {
		t.Errorf("StartSyncExecution = %d %s", w.Code, w.Body)
	}
	if w := do(g, "POST", "http://x/sync", strings.NewReader(`fail`)); w.Code != 500 || w.Body.String() != `{"message":"Internal Server Error"}` {
		t.Errorf("internal failure = %d %s", w.Code, w.Body)
	}
	if !strings.Contains(logs.String(), `"integration_latency"`) {
		t.Errorf("access log lacks integration_latency: %s", logs)
	}

	// Without the service configured: a clear 500.
	g2, _ := newTestGateway(t, newFakeInvoker(), a)
	if w := do(g2, "POST", "http://x/publish", strings.NewReader(`{"msg":"m"}`)); w.Code != 500 || !strings.Contains(w.Body.String(), "SNS-Publish is not available") {
		t.Errorf("no topics = %d %s", w.Code, w.Body)
	}
}

func TestIntegrationValidation(t *testing.T) {
	a := httpAPI("v",
		service("POST /a", "SQS-Nope", nil),
		service("POST /b", TypeSQSSendMessage, map[string]string{"QueueUrl": "q", "Bogus": "x"}),
		service("POST /c", TypeSNSPublish, map[string]string{"TopicArn": "t", "Message": "$context.nope"}),
		Route{Key: "POST /d", Integration: Integration{Function: "f", Parameters: map[string]string{"A": "b"}}},
		Route{Key: "POST /e", Integration: Integration{Type: TypeStartExecution, Function: "f", Parameters: map[string]string{"StateMachineArn": "${request.body"}}},
	)
	err := validate([]API{a})
	if err == nil {
		t.Fatal("validate accepted bad integrations")
	}
	for _, want := range []string{`unknown type "SQS-Nope"`, "needs the parameter MessageBody", `no parameter "Bogus"`,
		"$context.nope is not a supported", "parameters are for service integrations", "has no function", "unclosed ${"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("validation error lacks %q: %v", want, err)
		}
	}
	rest := restAPI("r", service("POST /a", TypeSQSSendMessage, map[string]string{"QueueUrl": "q", "MessageBody": "b"}))
	if err := validate([]API{rest}); err == nil || !strings.Contains(err.Error(), "for HTTP APIs") {
		t.Errorf("REST service integration: %v", err)
	}
	// The definition round-trips through JSON.
	b, _ := json.Marshal(a.Routes[1])
	var r Route
	if json.Unmarshal(b, &r); r.Integration.Type != TypeSQSSendMessage || r.Integration.Parameters["QueueUrl"] != "q" {
		t.Errorf("round trip: %s", b)
	}
}
