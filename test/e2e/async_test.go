package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// sinkRecords parses the records a sink function posted.
func sinkRecords(text string) []map[string]any {
	b := []byte(text)
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// TestAsyncDestinations: async retries per MaximumRetryAttempts, then the
// invocation record goes to the OnFailure destination; successes to OnSuccess;
// reserved concurrency 0 sends events straight to the failure destination.
func TestAsyncDestinations(t *testing.T) {
	s := startServer(t, t.TempDir()) // async retry base 200ms (harness)
	c := s.client()
	ctx := context.Background()
	sinkURL, sunk := collector(t)
	createFunction(t, c, "sink", types.RuntimeNodejs20x, "index.handler", nodeSink, func(in *awslambda.CreateFunctionInput) {
		in.Environment = &types.Environment{Variables: map[string]string{"SINK_URL": sinkURL}}
	})
	createFunction(t, c, "worker", types.RuntimeProvidedal2023, "bootstrap", goZip)
	sink := "arn:aws:lambda:us-east-1:000000000000:function:sink"
	_, err := c.PutFunctionEventInvokeConfig(ctx, &awslambda.PutFunctionEventInvokeConfigInput{
		FunctionName:         aws.String("worker"),
		MaximumRetryAttempts: aws.Int32(1),
		DestinationConfig: &types.DestinationConfig{
			OnFailure: &types.OnFailure{Destination: aws.String(sink)},
			OnSuccess: &types.OnSuccess{Destination: aws.String(sink)},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.GetFunctionEventInvokeConfig(ctx, &awslambda.GetFunctionEventInvokeConfigInput{FunctionName: aws.String("worker")})
	if err != nil || aws.ToInt32(got.MaximumRetryAttempts) != 1 || aws.ToString(got.DestinationConfig.OnFailure.Destination) != sink {
		t.Fatalf("GetFunctionEventInvokeConfig: %v %+v", err, got)
	}
	_, err = c.PutFunctionEventInvokeConfig(ctx, &awslambda.PutFunctionEventInvokeConfigInput{FunctionName: aws.String("worker"), MaximumRetryAttempts: aws.Int32(3)})
	if code, _ := apiErrorCode(t, err); code != "InvalidParameterValueException" {
		t.Errorf("3 retries: %s", code)
	}

	for _, p := range []string{`{"action":"error","text":"always"}`, `{"text":"fine"}`} {
		out, err := c.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("worker"), InvocationType: types.InvocationTypeEvent, Payload: []byte(p)})
		if err != nil || out.StatusCode != 202 {
			t.Fatalf("Event: %v", err)
		}
	}
	waitFor(t, "two invocation records", 60*time.Second, func() bool { return len(sinkRecords(sunk())) >= 2 })
	byCondition := map[string]map[string]any{}
	for _, r := range sinkRecords(sunk()) {
		byCondition[r["requestContext"].(map[string]any)["condition"].(string)] = r
	}
	fail, ok := byCondition["RetriesExhausted"]
	if !ok {
		t.Fatalf("no RetriesExhausted record: %v", byCondition)
	}
	rc := fail["requestContext"].(map[string]any)
	if rc["approximateInvokeCount"] != 2.0 || rc["functionArn"] != "arn:aws:lambda:us-east-1:000000000000:function:worker:$LATEST" {
		t.Errorf("failure record context: %v", rc)
	}
	if fail["requestPayload"].(map[string]any)["text"] != "always" || fail["responseContext"].(map[string]any)["functionError"] != "Unhandled" {
		t.Errorf("failure record: %v", fail)
	}
	if fail["responsePayload"].(map[string]any)["errorMessage"] != "boom: always" {
		t.Errorf("failure response payload: %v", fail["responsePayload"])
	}
	okRec, ok := byCondition["Success"]
	if !ok || okRec["requestContext"].(map[string]any)["approximateInvokeCount"] != 1.0 || okRec["version"] != "1.0" {
		t.Errorf("success record: %v", okRec)
	}

	// Reserved concurrency 0: straight to the failure destination, no invocation.
	before := len(sinkRecords(sunk()))
	if _, err := c.PutFunctionConcurrency(ctx, &awslambda.PutFunctionConcurrencyInput{FunctionName: aws.String("worker"), ReservedConcurrentExecutions: aws.Int32(0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("worker"), InvocationType: types.InvocationTypeEvent, Payload: []byte(`{"text":"never runs"}`)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the throttled event's record", 30*time.Second, func() bool { return len(sinkRecords(sunk())) > before })
	r := sinkRecords(sunk())[before]
	if rc := r["requestContext"].(map[string]any); rc["condition"] != "RetriesExhausted" || rc["approximateInvokeCount"] != 0.0 {
		t.Errorf("reserved 0 record: %v", r)
	}
	m := metricsText(t, s)
	for _, want := range []string{`nimbus_async_events_received_total{function="worker"} 3`, `nimbus_async_events_dropped_total{function="worker"} 2`} {
		if !bytes.Contains([]byte(m), []byte(want)) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if _, err := c.DeleteFunctionEventInvokeConfig(ctx, &awslambda.DeleteFunctionEventInvokeConfigInput{FunctionName: aws.String("worker")}); err != nil {
		t.Error(err)
	}
}
