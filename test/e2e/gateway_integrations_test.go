package e2e

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// echoNode is a Node function answering its whole event as the body.
var echoNode = zipOf(map[string]string{"index.js": `exports.handler = async (event) => ({statusCode: 200, body: JSON.stringify(event)});`})

// putAPIStatus deploys an API definition and returns the answer as it is.
func putAPIStatus(t *testing.T, s *server, id string, api map[string]any) (int, string) {
	t.Helper()
	b, _ := json.Marshal(api)
	req, _ := http.NewRequest(http.MethodPut, s.API+"/nimbus/v1/apis/"+id, bytes.NewReader(b))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestGatewaySQSIntegration: a route with an SQS-SendMessage integration (no
// function) whose message is then received through the SQS API.
func TestGatewaySQSIntegration(t *testing.T) {
	s := startServer(t, t.TempDir())
	ctx := context.Background()
	q := s.sqsClient()
	out, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("gw-orders")})
	if err != nil {
		t.Fatal(err)
	}
	queueURL := aws.ToString(out.QueueUrl)
	putAPI(t, s, "orders", map[string]any{"routes": []map[string]any{
		{"key": "POST /orders/{id}", "integration": map[string]any{"type": "SQS-SendMessage", "parameters": map[string]string{
			"QueueUrl":          queueURL,
			"MessageBody":       "$request.body",
			"MessageAttributes": `{"orderId":{"DataType":"String","StringValue":"${request.path.id}"},"item":{"DataType":"String","StringValue":"${request.body.item}"}}`,
		}}},
		{"key": "POST /lost", "integration": map[string]any{"type": "SQS-SendMessage", "parameters": map[string]string{
			"QueueUrl": strings.Replace(queueURL, "gw-orders", "no-such-queue", 1), "MessageBody": "$request.body"}}},
	}})

	body := `{"item":"book","qty":2}`
	status, _, resp := request(t, "POST", s.Gateway+"/orders/42", body)
	var sent struct{ MessageId, MD5OfMessageBody string }
	if err := json.Unmarshal(resp, &sent); status != 200 || err != nil || sent.MessageId == "" {
		t.Fatalf("POST /orders/42: %d %s", status, resp)
	}
	sum := md5.Sum([]byte(body))
	if sent.MD5OfMessageBody != hex.EncodeToString(sum[:]) {
		t.Errorf("MD5OfMessageBody = %s, want the body's", sent.MD5OfMessageBody)
	}
	got, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &queueURL, WaitTimeSeconds: 10, MessageAttributeNames: []string{"All"}})
	if err != nil || len(got.Messages) != 1 {
		t.Fatalf("ReceiveMessage: %v %v", err, got)
	}
	m := got.Messages[0]
	if aws.ToString(m.Body) != body || aws.ToString(m.MessageId) != sent.MessageId {
		t.Errorf("received %q (%s), sent %q (%s)", aws.ToString(m.Body), aws.ToString(m.MessageId), body, sent.MessageId)
	}
	if a := m.MessageAttributes["orderId"]; aws.ToString(a.StringValue) != "42" {
		t.Errorf("orderId attribute = %v", a)
	}
	if a := m.MessageAttributes["item"]; aws.ToString(a.StringValue) != "book" {
		t.Errorf("item attribute = %v", a)
	}

	// A missing queue is the service's 400, not a 500.
	status, _, resp = request(t, "POST", s.Gateway+"/lost", body)
	if status != 400 || !strings.Contains(string(resp), "QueueDoesNotExist") {
		t.Errorf("missing queue: %d %s", status, resp)
	}
	// Validation lists every problem.
	status, msg := putAPIStatus(t, s, "bad", map[string]any{"routes": []map[string]any{
		{"key": "POST /a", "integration": map[string]any{"type": "SQS-Send", "parameters": map[string]string{}}},
		{"key": "POST /b", "integration": map[string]any{"type": "SQS-SendMessage", "parameters": map[string]string{"QueueUrl": queueURL}}},
		{"key": "POST /c", "integration": map[string]any{"type": "StepFunctions-StartExecution", "parameters": map[string]string{"StateMachineArn": "$request.nope.x"}}},
	}})
	for _, want := range []string{`unknown type \"SQS-Send\"`, "needs the parameter MessageBody", "$request.nope.x"} {
		if status != 400 || !strings.Contains(msg, want) {
			t.Errorf("invalid API: %d %s, want %s", status, msg, want)
		}
	}
}

// TestGatewayLambdaAuthorizer: a REQUEST authorizer (a real Node function
// with simple responses) allowing and denying, its context reaching the
// integration, and its answers cached by identity source.
func TestGatewayLambdaAuthorizer(t *testing.T) {
	s := startServer(t, t.TempDir())
	c := s.client()
	authz := zipOf(map[string]string{"index.js": `
let calls = 0;
exports.handler = async (event) => {
  calls++;
  const token = event.headers.authorization;
  if (token === "crash") throw new Error("authorizer failed");
  return {isAuthorized: token === "let-me-in", context: {user: "alice", calls, type: event.type, routeArn: event.routeArn, source: event.identitySource}};
};`})
	createFunction(t, c, "gw-authz", types.RuntimeNodejs20x, "index.handler", authz)
	createFunction(t, c, "gw-echo", types.RuntimeNodejs20x, "index.handler", echoNode)
	putAPI(t, s, "authd", map[string]any{
		"authorizers": map[string]any{"fn": map[string]any{"type": "REQUEST", "function": "gw-authz", "enableSimpleResponses": true,
			"identitySource": []string{"$request.header.Authorization"}, "resultTtlSeconds": 300}},
		"routes": []map[string]any{
			{"key": "GET /secret/{id}", "authorizer": "fn", "integration": map[string]any{"function": "gw-echo"}},
		}})
	get := func(token string) (int, []byte) {
		req, _ := http.NewRequest("GET", s.Gateway+"/secret/7", nil)
		if token != "" {
			req.Header.Set("Authorization", token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if status, body := get(""); status != 401 || string(body) != `{"message":"Unauthorized"}` {
		t.Errorf("no identity: %d %s", status, body)
	}
	if status, body := get("wrong"); status != 403 || string(body) != `{"message":"Forbidden"}` {
		t.Errorf("denied: %d %s", status, body)
	}
	if status, body := get("crash"); status != 500 {
		t.Errorf("authorizer error: %d %s", status, body)
	}
	for i := range 2 {
		status, body := get("let-me-in")
		if status != 200 {
			t.Fatalf("allowed: %d %s", status, body)
		}
		var ev struct {
			RequestContext struct {
				Authorizer struct {
					Lambda map[string]any `json:"lambda"`
				} `json:"authorizer"`
			} `json:"requestContext"`
		}
		json.Unmarshal(body, &ev)
		l := ev.RequestContext.Authorizer.Lambda
		if l["user"] != "alice" || l["type"] != "REQUEST" || l["routeArn"] != "arn:aws:execute-api:us-east-1:000000000000:authd/$default/GET/secret/7" ||
			l["source"].([]any)[0] != "let-me-in" {
			t.Errorf("authorizer context = %v", l)
		}
		if l["calls"] != float64(3) { // the second request is answered from the cache
			t.Errorf("request %d: authorizer calls = %v, want 3 (cached)", i, l["calls"])
		}
	}
	// Metrics count the authorizer's invocations.
	_, _, m := request(t, "GET", s.API+"/metrics", "")
	if !strings.Contains(string(m), `nimbus_gateway_authorizer_duration_seconds_count{api="authd",route="GET /secret/{id}"} 3`) {
		t.Errorf("metrics lack the authorizer series:\n%s", grepLines(string(m), "nimbus_gateway_authorizer"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// BenchmarkGatewayVsInvoke measures what the gateway adds over a direct
// Invoke API call of the same warm Go function, in one run: the two are
// interleaved call by call (same client, same machine state); the direct
// call sends a 2.0 event of the size the gateway builds. It reports both
// medians and their difference (overhead-p50-µs; the goal is ≤ 50 µs).
//
//	go test ./test/e2e/ -run '^$' -bench GatewayVsInvoke -benchtime 3000x
func BenchmarkGatewayVsInvoke(b *testing.B) {
	s := startServer(b, b.TempDir(), "--log-level", os.Getenv("NIMBUS_BENCH_LOG_LEVEL"))
	createFunction(b, s.client(), "gwb-go", types.RuntimeProvidedal2023, "bootstrap", goZip, benchMemory)
	c := benchClient()
	api, _ := json.Marshal(map[string]any{"routes": []map[string]any{{"key": "GET /bench/{id}", "integration": map[string]any{"function": "gwb-go"}}}})
	req, _ := http.NewRequest(http.MethodPut, s.API+"/nimbus/v1/apis/bench", bytes.NewReader(api))
	if resp, err := c.Do(req); err != nil || resp.StatusCode != 200 {
		b.Fatalf("PUT api: %v %v", err, resp)
	}
	event := []byte(`{"version":"2.0","routeKey":"GET /bench/{id}","rawPath":"/bench/1","rawQueryString":"a=1","headers":{"accept-encoding":"gzip","content-length":"0","host":"127.0.0.1:1","user-agent":"Go-http-client/1.1","x-amzn-trace-id":"Root=1-5e9f0c65-1de4d666d4dd26aced652b6c","x-forwarded-for":"127.0.0.1","x-forwarded-port":"1","x-forwarded-proto":"http"},"queryStringParameters":{"a":"1"},"requestContext":{"accountId":"000000000000","apiId":"bench","domainName":"127.0.0.1:1","domainPrefix":"127.0.0.1","http":{"method":"GET","path":"/bench/1","protocol":"HTTP/1.1","sourceIp":"127.0.0.1","userAgent":"Go-http-client/1.1"},"requestId":"LV7fzho-PHcEJPw=","routeKey":"GET /bench/{id}","stage":"$default","time":"21/Apr/2020:15:08:21 +0000","timeEpoch":1587481701000},"pathParameters":{"id":"1"},"isBase64Encoded":false}`)
	invoke := invokeURL(s, "gwb-go")
	route := s.Gateway + "/bench/1?a=1"
	get := func() error {
		resp, err := c.Get(route)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("gateway: %s", resp.Status)
		}
		return nil
	}
	for range 200 { // warm both paths and connections
		if _, _, err := post(c, invoke, event, nil); err != nil {
			b.Fatal(err)
		}
		if err := get(); err != nil {
			b.Fatal(err)
		}
	}
	var direct, through latencies
	for b.Loop() {
		t0 := time.Now()
		if _, _, err := post(c, invoke, event, nil); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := get(); err != nil {
			b.Fatal(err)
		}
		direct.add(t1.Sub(t0))
		through.add(time.Since(t1))
	}
	p50 := func(l *latencies) float64 {
		slices.Sort(l.d)
		return float64(l.d[len(l.d)/2].Nanoseconds()) / 1e3
	}
	dp, gp := p50(&direct), p50(&through)
	b.ReportMetric(dp, "invoke-p50-µs")
	b.ReportMetric(gp, "gateway-p50-µs")
	b.ReportMetric(gp-dp, "overhead-p50-µs")
	b.ReportMetric(0, "ns/op") // an iteration is two calls; the metrics above are the result
}
