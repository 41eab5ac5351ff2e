package lambdatask

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nimbus-dev/nimbus/internal/workflow/asl"
	"github.com/nimbus-dev/nimbus/internal/workflow/engine"
	"github.com/nimbus-dev/nimbus/internal/workflow/jsonv"
)

type fakeInvoker struct {
	got  Request
	resp Response
	err  error
}

func (f *fakeInvoker) Invoke(_ context.Context, req Request) (Response, error) {
	f.got = req
	return f.resp, f.err
}

func request(t *testing.T, resource, input string) engine.TaskRequest {
	t.Helper()
	r, err := asl.ParseResource(resource)
	if err != nil {
		t.Fatal(err)
	}
	return engine.TaskRequest{Resource: r, Input: json.RawMessage(input)}
}

const fnARN = "arn:aws:lambda:us-east-1:111111111111:function:f"

func TestDirectFunction(t *testing.T) {
	inv := &fakeInvoker{resp: Response{Payload: []byte(`{"a": 1}`)}}
	r := &Runner{Invoker: inv}
	out, err := r.RunTask(t.Context(), request(t, fnARN, `{"x":1}`))
	if err != nil || string(out) != `{"a": 1}` || inv.got.Function != fnARN || string(inv.got.Payload) != `{"x":1}` {
		t.Errorf("out %s err %v sent %+v", out, err, inv.got)
	}
	cause := `{"errorMessage": "boom", "errorType": "ValueError"}`
	inv.resp = Response{FunctionError: "Unhandled", Payload: []byte(cause)}
	_, err = r.RunTask(t.Context(), request(t, fnARN, `{}`))
	var te *engine.TaskError
	if !errors.As(err, &te) || te.Name != "ValueError" || te.Cause != cause {
		t.Errorf("function error: %v", err)
	}
	inv.resp = Response{FunctionError: "Unhandled", Payload: []byte(`"oops"`)}
	if _, err = r.RunTask(t.Context(), request(t, fnARN, `{}`)); !errors.As(err, &te) || te.Name != "Lambda.Unknown" {
		t.Errorf("untyped function error: %v", err)
	}
}

func TestInvokeIntegration(t *testing.T) {
	inv := &fakeInvoker{resp: Response{StatusCode: 200, Payload: []byte(`[1]`), RequestID: "req-1"}}
	now := func() time.Time { return time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC) }
	r := &Runner{Invoker: inv, Now: now}
	out, err := r.RunTask(t.Context(), request(t, "arn:aws:states:::lambda:invoke", `{"FunctionName":"f","Payload":"raw text","Qualifier":"2"}`))
	if err != nil {
		t.Fatal(err)
	}
	if string(inv.got.Payload) != "raw text" || inv.got.Qualifier != "2" || inv.got.Function != "f" {
		t.Errorf("sent %+v", inv.got)
	}
	v, _ := jsonv.Parse(out)
	o := v.(*jsonv.Object)
	var keys []string
	for _, m := range o.Members() {
		keys = append(keys, m.Key)
	}
	if got := jsonv.String(keys2(keys)); got != `["ExecutedVersion","Payload","SdkHttpMetadata","SdkResponseMetadata","StatusCode"]` {
		t.Errorf("keys %s", got)
	}
	if p, _ := o.Get("Payload"); jsonv.String(p) != `[1]` {
		t.Errorf("Payload %s", jsonv.String(p))
	}
	meta, _ := o.Get("SdkHttpMetadata")
	hdr, _ := meta.(*jsonv.Object).Get("HttpHeaders")
	if d, _ := hdr.(*jsonv.Object).Get("Date"); d != "Tue, 02 Jan 2024 03:04:05 GMT" {
		t.Errorf("Date %v", d)
	}
	// A null Payload sends none; function errors carry compact JSON.
	inv.resp = Response{FunctionError: "Unhandled", Payload: []byte(`{"errorMessage": "m", "errorType": "E"}`)}
	_, err = r.RunTask(t.Context(), request(t, "arn:aws:states:::lambda:invoke", `{"FunctionName":"f","Payload":null}`))
	var te *engine.TaskError
	if !errors.As(err, &te) || te.Name != "E" || te.Cause != `{"errorMessage":"m","errorType":"E"}` || inv.got.Payload != nil {
		t.Errorf("error %v, payload %q", err, inv.got.Payload)
	}
	inv.err = &ServiceError{Code: "ResourceNotFoundException", Message: "Function not found: x", StatusCode: 404, RequestID: "r"}
	_, err = r.RunTask(t.Context(), request(t, "arn:aws:states:::lambda:invoke", `{"FunctionName":"x"}`))
	want := "Function not found: x (Service: AWSLambda; Status Code: 404; Error Code: ResourceNotFoundException; Request ID: r; Proxy: null)"
	if !errors.As(err, &te) || te.Name != "Lambda.ResourceNotFoundException" || te.Cause != want {
		t.Errorf("service error %v", err)
	}
}

func keys2(k []string) []any {
	out := make([]any, len(k))
	for i, s := range k {
		out[i] = s
	}
	return out
}

type nextRunner struct{ called bool }

func (n *nextRunner) RunTask(context.Context, engine.TaskRequest) (json.RawMessage, error) {
	n.called = true
	return json.RawMessage(`{}`), nil
}

func TestOtherResources(t *testing.T) {
	next := &nextRunner{}
	r := &Runner{Invoker: &fakeInvoker{}, Next: next}
	if _, err := r.RunTask(t.Context(), request(t, "arn:aws:states:::sqs:sendMessage", `{}`)); err != nil || !next.called {
		t.Errorf("not routed to Next: %v", err)
	}
	r.Next = nil
	var te *engine.TaskError
	if _, err := r.RunTask(t.Context(), request(t, "arn:aws:states:::sqs:sendMessage", `{}`)); !errors.As(err, &te) {
		t.Errorf("unsupported resource: %v", err)
	}
}
