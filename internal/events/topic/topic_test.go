package topic

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nimbus-dev/nimbus/internal/backbone"
	"github.com/nimbus-dev/nimbus/internal/events/queue"
	"github.com/nimbus-dev/nimbus/internal/invoke"
	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// recorder is an Invoker that records async invocations; fail, if set, may
// fail the nth call (0-based); it is called with mu held.
type recorder struct {
	mu   sync.Mutex
	reqs []invoke.Request
	fail func(n int, req invoke.Request) error
	ch   chan invoke.Request
}

func newRecorder() *recorder { return &recorder{ch: make(chan invoke.Request, 100)} }

func (r *recorder) Invoke(_ context.Context, req invoke.Request) (*invoke.Response, error) {
	r.mu.Lock()
	n := len(r.reqs)
	r.reqs = append(r.reqs, req)
	var err error
	if r.fail != nil {
		err = r.fail(n, req) // under mu
	}
	r.mu.Unlock()
	if err != nil {
		return nil, err
	}
	r.ch <- req
	return &invoke.Response{Status: http.StatusAccepted, RequestID: req.RequestID}, nil
}

func (r *recorder) calls() []invoke.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reqs)
}

func (r *recorder) next(t *testing.T) invoke.Request {
	t.Helper()
	select {
	case req := <-r.ch:
		return req
	case <-time.After(10 * time.Second):
		t.Fatal("no invocation within 10s")
		return invoke.Request{}
	}
}

// env is a topic service over a real queue service on a real embedded JetStream.
type env struct {
	bb     *backbone.Backbone
	queues *queue.Service
	topics *Service
	inv    *recorder
	stop   func()
}

// testConfig retries fast and never leaves the machine.
var testConfig = Config{APIURL: "http://127.0.0.1:8900", HTTPRetryDelay: 10 * time.Millisecond,
	RetryBase: 10 * time.Millisecond, HTTPTimeout: 5 * time.Second, LoopbackOnly: true}

// start opens the services on dir; with run, their Run loops are started.
func start(t *testing.T, dir string, cfg Config, run bool) *env {
	t.Helper()
	bb, err := backbone.Start(backbone.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	ctx := context.Background()
	qkv, err := bb.KeyValue(ctx, queue.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	queues, err := queue.Open(ctx, queue.Config{}, log, bb.JetStream(), qkv)
	if err != nil {
		t.Fatal(err)
	}
	tkv, err := bb.KeyValue(ctx, Bucket)
	if err != nil {
		t.Fatal(err)
	}
	inv := newRecorder()
	topics, err := Open(ctx, cfg, log, bb.JetStream(), tkv, inv, queues)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { queues.Run(runCtx) })
	if run {
		wg.Go(func() {
			if err := topics.Run(runCtx); err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	e := &env{bb: bb, queues: queues, topics: topics, inv: inv}
	var once sync.Once
	e.stop = func() {
		once.Do(func() {
			queues.StopPolling()
			cancel()
			wg.Wait()
			bb.Close()
		})
	}
	t.Cleanup(e.stop)
	return e
}

func (e *env) queue(t *testing.T, name string) string {
	t.Helper()
	if err := e.queues.CreateQueue(t.Context(), name, nil, nil); err != nil {
		t.Fatalf("CreateQueue(%s): %v", name, err)
	}
	return queue.ARN(name)
}

func (e *env) topic(t *testing.T, name string) string {
	t.Helper()
	arn, err := e.topics.CreateTopic(t.Context(), name, nil, nil)
	if err != nil {
		t.Fatalf("CreateTopic(%s): %v", name, err)
	}
	return arn
}

func (e *env) subscribe(t *testing.T, in SubscribeInput) string {
	t.Helper()
	arn, err := e.topics.Subscribe(t.Context(), in)
	if err != nil {
		t.Fatalf("Subscribe(%+v): %v", in, err)
	}
	return arn
}

func (e *env) publish(t *testing.T, in PublishInput) string {
	t.Helper()
	id, err := e.topics.Publish(t.Context(), in)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	return id
}

// receive waits up to 10 s for one message on a queue.
func (e *env) receive(t *testing.T, name string) queue.Message {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	wait := 2 * time.Second
	for time.Now().Before(deadline) {
		msgs, err := e.queues.Receive(t.Context(), name, queue.ReceiveOptions{Wait: &wait})
		if err != nil {
			t.Fatalf("Receive(%s): %v", name, err)
		}
		if len(msgs) > 0 {
			if err := e.queues.Delete(t.Context(), name, msgs[0].ReceiptHandle); err != nil {
				t.Fatal(err)
			}
			return msgs[0]
		}
	}
	t.Fatalf("no message on queue %s within 10s", name)
	return queue.Message{}
}

// empty reports that a queue has no message now.
func (e *env) empty(t *testing.T, name string) {
	t.Helper()
	var zero time.Duration
	msgs, err := e.queues.Receive(t.Context(), name, queue.ReceiveOptions{Wait: &zero, Max: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) > 0 {
		t.Fatalf("queue %s has %d unexpected messages, first %q", name, len(msgs), msgs[0].Body)
	}
}

// drained waits until both streams are empty: everything published was
// fanned out and every delivery settled.
func (e *env) drained(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		n := uint64(0)
		for _, name := range []string{PublishStream, DeliveryStream} {
			st, err := e.bb.JetStream().Stream(t.Context(), name)
			if err != nil {
				t.Fatal(err)
			}
			info, err := st.Info(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			n += info.State.Msgs
		}
		if n == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("streams not drained within 10s")
}

func decodeEnvelope(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("envelope %q: %v", body, err)
	}
	return m
}

func ptr[T any](v T) *T { return &v }

func TestQueueDeliveryEnvelopeAndRaw(t *testing.T) {
	e := start(t, t.TempDir(), testConfig, true)
	envQ, rawQ := e.queue(t, "envelope"), e.queue(t, "raw")
	topicARN := e.topic(t, "orders")
	envSub := e.subscribe(t, SubscribeInput{TopicARN: topicARN, Protocol: "sqs", Endpoint: envQ})
	rawSub := e.subscribe(t, SubscribeInput{TopicARN: topicARN, Protocol: "sqs", Endpoint: rawQ,
		Attributes: map[string]string{"RawMessageDelivery": "True"}})
	if !strings.HasPrefix(envSub, topicARN+":") || envSub == rawSub {
		t.Fatalf("subscription ARNs %s, %s", envSub, rawSub)
	}
	attrs := []Attribute{str("color", "red"), num("price", "10.5"), arr("tags", `["a",1]`),
		{Name: "blob", DataType: "Binary", BinaryValue: []byte{0, 1, 2}}}
	id := e.publish(t, PublishInput{TopicARN: topicARN, Message: `hello <world> & "co"`, Subject: ptr("Greeting"), Attributes: attrs})

	m := e.receive(t, "envelope")
	if m.SenderID != snsSenderID || len(m.Attributes) != 0 {
		t.Errorf("envelope message: sender %q, attributes %v", m.SenderID, m.Attributes)
	}
	if !strings.Contains(m.Body, `hello <world> & \"co\"`) {
		t.Errorf("envelope escapes HTML: %s", m.Body)
	}
	env := decodeEnvelope(t, m.Body)
	want := map[string]any{"Type": "Notification", "MessageId": id, "TopicArn": topicARN, "Subject": "Greeting",
		"Message": `hello <world> & "co"`, "SignatureVersion": "1",
		"UnsubscribeURL": "http://127.0.0.1:8900/?Action=Unsubscribe&SubscriptionArn=" + envSub,
		"MessageAttributes": map[string]any{
			"color": map[string]any{"Type": "String", "Value": "red"},
			"price": map[string]any{"Type": "Number", "Value": "10.5"},
			"tags":  map[string]any{"Type": "String.Array", "Value": `["a",1]`},
			"blob":  map[string]any{"Type": "Binary", "Value": base64.StdEncoding.EncodeToString([]byte{0, 1, 2})},
		}}
	for k, v := range want {
		if g, _ := json.Marshal(env[k]); string(g) != string(must(json.Marshal(v))) {
			t.Errorf("envelope[%s] = %s, want %s", k, g, must(json.Marshal(v)))
		}
	}
	for _, k := range []string{"Timestamp", "Signature", "SigningCertURL"} {
		if env[k] == "" || env[k] == nil {
			t.Errorf("envelope lacks %s: %v", k, env)
		}
	}
	if ts, err := time.Parse(timeFormat, env["Timestamp"].(string)); err != nil || time.Since(ts) > time.Minute {
		t.Errorf("Timestamp %v: %v", env["Timestamp"], err)
	}

	r := e.receive(t, "raw")
	if r.Body != `hello <world> & "co"` {
		t.Errorf("raw body = %q", r.Body)
	}
	got := map[string]string{}
	for _, a := range r.Attributes {
		v := a.StringValue
		if a.IsBinary() {
			v = string(a.BinaryValue)
		}
		got[a.Name+"/"+a.DataType] = v
	}
	wantRaw := map[string]string{"color/String": "red", "price/Number": "10.5", "tags/String.Array": `["a",1]`, "blob/Binary": "\x00\x01\x02"}
	if len(got) != len(wantRaw) {
		t.Errorf("raw attributes = %v, want %v", got, wantRaw)
	}
	for k, v := range wantRaw {
		if got[k] != v {
			t.Errorf("raw attribute %s = %q, want %q", k, got[k], v)
		}
	}
	// Without a subject the envelope has none.
	e.publish(t, PublishInput{TopicARN: topicARN, Message: "no subject"})
	if env := decodeEnvelope(t, e.receive(t, "envelope").Body); env["Subject"] != nil || env["MessageAttributes"] != nil {
		t.Errorf("envelope without subject and attributes = %v", env)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestFilterPoliciesSelectSubscriptions(t *testing.T) {
	e := start(t, t.TempDir(), testConfig, true)
	topicARN := e.topic(t, "events")
	for _, q := range []struct{ name, policy, scope string }{
		{"all", "", ""},
		{"red", `{"color":["red"],"size":[{"numeric":[">",2]}]}`, ""},
		{"body", `{"kind":["order"],"total":[{"numeric":[">=",100]}]}`, ScopeBody},
	} {
		attrs := map[string]string{"RawMessageDelivery": "true"}
		if q.policy != "" {
			attrs["FilterPolicy"] = q.policy
		}
		if q.scope != "" {
			attrs["FilterPolicyScope"] = q.scope
		}
		e.subscribe(t, SubscribeInput{TopicARN: topicARN, Protocol: "sqs", Endpoint: e.queue(t, q.name), Attributes: attrs})
	}
	msgs := []PublishInput{
		{Message: "blue 3", Attributes: []Attribute{str("color", "blue"), num("size", "3")}},
		{Message: "red 1", Attributes: []Attribute{str("color", "red"), num("size", "1")}},
		{Message: "red 3", Attributes: []Attribute{str("color", "red"), num("size", "3")}},
		{Message: `{"kind":"order","total":99}`},
		{Message: `{"kind":"order","total":100}`},
		{Message: `{"kind":"refund","total":500}`},
	}
	for _, m := range msgs {
		m.TopicARN = topicARN
		e.publish(t, m)
	}
	e.drained(t)
	var all []string
	for range msgs {
		all = append(all, e.receive(t, "all").Body)
	}
	slices.Sort(all)
	if len(all) != len(msgs) {
		t.Errorf("unfiltered subscription got %v", all)
	}
	if got := e.receive(t, "red").Body; got != "red 3" {
		t.Errorf("attribute-filtered subscription got %q, want red 3", got)
	}
	if got := e.receive(t, "body").Body; got != `{"kind":"order","total":100}` {
		t.Errorf("body-filtered subscription got %q", got)
	}
	e.empty(t, "red")
	e.empty(t, "body")
}

func TestLambdaDeliveryAndMessageStructure(t *testing.T) {
	e := start(t, t.TempDir(), testConfig, true)
	topicARN := e.topic(t, "fanout")
	fn := "arn:aws:lambda:us-east-1:000000000000:function:consumer"
	sub := e.subscribe(t, SubscribeInput{TopicARN: topicARN, Protocol: "lambda", Endpoint: fn})
	e.subscribe(t, SubscribeInput{TopicARN: topicARN, Protocol: "sqs", Endpoint: e.queue(t, "q")})
	id := e.publish(t, PublishInput{TopicARN: topicARN, Structure: "json",
		Message:    `{"default":"for everyone","lambda":"for functions","email":"for people"}`,
		Attributes: []Attribute{str("Test", "TestString"), {Name: "TestBinary", DataType: "Binary", BinaryValue: []byte("TestBinary")}}})

	req := e.inv.next(t)
	if req.FunctionName != fn || req.Type != lambda.Event || req.RequestID == "" {
		t.Errorf("invocation = %+v", req)
	}
	var ev struct {
		Records []struct {
			EventSource, EventVersion, EventSubscriptionArn string
			Sns                                             struct {
				Type, MessageId, TopicArn, Message, Timestamp, SignatureVersion, Signature, SigningCertUrl, UnsubscribeUrl string
				Subject                                                                                                    *string
				MessageAttributes                                                                                          map[string]attrValue
			}
		}
	}
	if err := json.Unmarshal(req.Payload, &ev); err != nil || len(ev.Records) != 1 {
		t.Fatalf("payload %s: %v", req.Payload, err)
	}
	r := ev.Records[0]
	if r.EventSource != "aws:sns" || r.EventVersion != "1.0" || r.EventSubscriptionArn != sub ||
		r.Sns.Type != "Notification" || r.Sns.MessageId != id || r.Sns.TopicArn != topicARN ||
		r.Sns.Message != "for functions" || r.Sns.Subject != nil || r.Sns.SignatureVersion != "1" ||
		r.Sns.UnsubscribeUrl != "http://127.0.0.1:8900/?Action=Unsubscribe&SubscriptionArn="+sub {
		t.Errorf("event = %s", req.Payload)
	}
	if r.Sns.MessageAttributes["Test"] != (attrValue{"String", "TestString"}) ||
		r.Sns.MessageAttributes["TestBinary"] != (attrValue{"Binary", base64.StdEncoding.EncodeToString([]byte("TestBinary"))}) {
		t.Errorf("MessageAttributes = %v", r.Sns.MessageAttributes)
	}
	if !strings.Contains(string(req.Payload), `"Subject":null`) {
		t.Errorf("a message without subject has Subject null: %s", req.Payload)
	}
	if got := decodeEnvelope(t, e.receive(t, "q").Body)["Message"]; got != "for everyone" {
		t.Errorf("queue got Message %q, want the default", got)
	}
	// The same delivery always has the same request id (deduplicated by the async queue).
	if want := deliveryRequestID(&delivery{ID: id, Sub: sub[strings.LastIndexByte(sub, ':')+1:]}); req.RequestID != want {
		t.Errorf("request id %s, want %s", req.RequestID, want)
	}
}

func TestLambdaRetriesAndDeadLetters(t *testing.T) {
	e := start(t, t.TempDir(), testConfig, true)
	dlq := e.queue(t, "dlq")
	topicARN := e.topic(t, "retries")
	flaky := "arn:aws:lambda:us-east-1:000000000000:function:flaky"
	gone := "arn:aws:lambda:us-east-1:000000000000:function:gone"
	flakyFailures := 2
	e.inv.mu.Lock()
	e.inv.fail = func(_ int, req invoke.Request) error {
		switch {
		case req.FunctionName == gone:
			return lambda.NotFound("Function not found: %s", gone)
		case flakyFailures > 0:
			flakyFailures--                         // under the recorder's lock
			return errors.New("jetstream: timeout") // a system error: retried
		}
		return nil
	}
	e.inv.mu.Unlock()
	e.subscribe(t, SubscribeInput{TopicARN: topicARN, Protocol: "lambda", Endpoint: flaky})
	e.subscribe(t, SubscribeInput{TopicARN: topicARN, Protocol: "lambda", Endpoint: gone,
		Attributes: map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + dlq + `"}`}})
	id := e.publish(t, PublishInput{TopicARN: topicARN, Message: "m"})
	e.inv.next(t)
	if env := decodeEnvelope(t, e.receive(t, "dlq").Body); env["MessageId"] != id || env["Message"] != "m" {
		t.Errorf("dead letter = %v", env)
	}
	e.drained(t)
	var flakyCalls, goneCalls []string
	for _, c := range e.inv.calls() {
		if c.FunctionName == flaky {
			flakyCalls = append(flakyCalls, c.RequestID)
		} else {
			goneCalls = append(goneCalls, c.RequestID)
		}
	}
	if len(goneCalls) != 1 {
		t.Errorf("a missing function was tried %d times, want once", len(goneCalls))
	}
	if len(flakyCalls) != 3 || len(slices.Compact(slices.Clone(flakyCalls))) != 1 {
		t.Errorf("flaky function calls %v: want retries with one request id", flakyCalls)
	}
}

// endpoint is an HTTP/S subscriber that records requests and answers with
// the given statuses in turn (200 once they run out).
type endpoint struct {
	srv   *httptest.Server
	ch    chan received
	mu    sync.Mutex
	codes []int
}

type received struct {
	header http.Header
	body   string
}

func newEndpoint(t *testing.T) *endpoint {
	ep := &endpoint{ch: make(chan received, 100)}
	ep.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ep.mu.Lock()
		code := 200
		if len(ep.codes) > 0 {
			code, ep.codes = ep.codes[0], ep.codes[1:]
		}
		ep.mu.Unlock()
		ep.ch <- received{r.Header.Clone(), string(b)}
		w.WriteHeader(code)
	}))
	t.Cleanup(ep.srv.Close)
	return ep
}

func (ep *endpoint) answer(codes ...int) {
	ep.mu.Lock()
	ep.codes = codes
	ep.mu.Unlock()
}

func (ep *endpoint) next(t *testing.T) received {
	t.Helper()
	select {
	case r := <-ep.ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no request at the endpoint within 10s")
		return received{}
	}
}

func TestHTTPSubscriptionConfirmationAndRetries(t *testing.T) {
	e := start(t, t.TempDir(), testConfig, true)
	ep := newEndpoint(t)
	dlq := e.queue(t, "dlq")
	topicARN := e.topic(t, "webhooks")
	got := e.subscribe(t, SubscribeInput{TopicARN: topicARN, Protocol: "http", Endpoint: ep.srv.URL + "/hook"})
	if got != PendingARN {
		t.Fatalf("Subscribe(http) = %q, want %q", got, PendingARN)
	}
	subs, _ := e.topics.Subscriptions(topicARN)
	if len(subs) != 1 || subs[0].ARN != "PendingConfirmation" {
		t.Fatalf("subscriptions = %+v", subs)
	}
	c := ep.next(t)
	if c.header.Get("x-amz-sns-message-type") != "SubscriptionConfirmation" || c.header.Get("x-amz-sns-topic-arn") != topicARN ||
		c.header.Get("Content-Type") != "text/plain; charset=UTF-8" || c.header.Get("User-Agent") != "Amazon Simple Notification Service Agent" {
		t.Errorf("confirmation headers = %v", c.header)
	}
	conf := decodeEnvelope(t, c.body)
	token, _ := conf["Token"].(string)
	if conf["Type"] != "SubscriptionConfirmation" || token == "" || conf["TopicArn"] != topicARN ||
		conf["SubscribeURL"] != "http://127.0.0.1:8900/?Action=ConfirmSubscription&TopicArn="+topicARN+"&Token="+token ||
		!strings.HasPrefix(conf["Message"].(string), "You have chosen to subscribe to the topic "+topicARN) {
		t.Errorf("confirmation = %v", conf)
	}
	// Not delivered while pending.
	e.publish(t, PublishInput{TopicARN: topicARN, Message: "before"})
	e.drained(t)
	if _, err := e.topics.ConfirmSubscription(t.Context(), topicARN, "wrong"); errCode(err) != CodeInvalidParameter {
		t.Errorf("ConfirmSubscription(wrong token) = %v", err)
	}
	sub, err := e.topics.ConfirmSubscription(t.Context(), topicARN, token)
	if err != nil || !strings.HasPrefix(sub, topicARN+":") {
		t.Fatalf("ConfirmSubscription = %q, %v", sub, err)
	}
	if again, err := e.topics.ConfirmSubscription(t.Context(), topicARN, token); again != sub || err != nil {
		t.Errorf("ConfirmSubscription again = %q, %v", again, err)
	}
	attrs, _ := e.topics.SubscriptionAttributes(sub)
	if attrs["PendingConfirmation"] != "false" || attrs["ConfirmationWasAuthenticated"] != "true" || attrs["EffectiveDeliveryPolicy"] == "" {
		t.Errorf("attributes after confirmation = %v", attrs)
	}

	// 5xx is retried: three attempts of the same message.
	ep.answer(500, 503)
	id := e.publish(t, PublishInput{TopicARN: topicARN, Message: "after"})
	for i := range 3 {
		r := ep.next(t)
		n := decodeEnvelope(t, r.body)
		if n["Type"] != "Notification" || n["MessageId"] != id || n["Message"] != "after" ||
			r.header.Get("x-amz-sns-message-id") != id || r.header.Get("x-amz-sns-subscription-arn") != sub {
			t.Errorf("attempt %d: %v %s", i, r.header, r.body)
		}
	}

	// Raw delivery; 4xx is not retried and goes to the dead-letter queue.
	for k, v := range map[string]string{"RawMessageDelivery": "true", "RedrivePolicy": `{"deadLetterTargetArn":"` + dlq + `"}`} {
		if err := e.topics.SetSubscriptionAttribute(t.Context(), sub, k, v); err != nil {
			t.Fatal(err)
		}
	}
	ep.answer(400)
	e.publish(t, PublishInput{TopicARN: topicARN, Message: "raw"})
	if r := ep.next(t); r.body != "raw" || r.header.Get("x-amz-sns-rawdelivery") != "true" {
		t.Errorf("raw delivery = %v %q", r.header, r.body)
	}
	if got := e.receive(t, "dlq").Body; got != "raw" {
		t.Errorf("dead letter = %q", got)
	}

	// A DeliveryPolicy limits the retries.
	if err := e.topics.SetSubscriptionAttribute(t.Context(), sub, "DeliveryPolicy",
		`{"healthyRetryPolicy":{"numRetries":1,"minDelayTarget":1,"maxDelayTarget":1}}`); err != nil {
		t.Fatal(err)
	}
	ep.answer(500, 500, 500)
	e.publish(t, PublishInput{TopicARN: topicARN, Message: "twice"})
	ep.next(t)
	ep.next(t)
	if got := e.receive(t, "dlq").Body; got != "twice" {
		t.Errorf("dead letter = %q", got)
	}
	e.drained(t)
	select {
	case r := <-ep.ch:
		t.Errorf("unexpected request %q (%d left over)", r.body, len(ep.ch))
	default:
	}
}

func TestPublishSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	e := start(t, dir, testConfig, false) // no Run: nothing is delivered
	topicARN := e.topic(t, "durable")
	e.subscribe(t, SubscribeInput{TopicARN: topicARN, Protocol: "sqs", Endpoint: e.queue(t, "q"),
		Attributes: map[string]string{"RawMessageDelivery": "true"}})
	e.subscribe(t, SubscribeInput{TopicARN: topicARN, Protocol: "lambda", Endpoint: "arn:aws:lambda:us-east-1:000000000000:function:f"})
	want := map[string]bool{}
	for _, m := range []string{"one", "two", "three"} {
		e.publish(t, PublishInput{TopicARN: topicARN, Message: m})
		want[m] = true
	}
	e.stop()

	e = start(t, dir, testConfig, true)
	got := map[string]bool{}
	for range want {
		got[e.receive(t, "q").Body] = true
		var ev snsEvent
		if err := json.Unmarshal(e.inv.next(t).Payload, &ev); err != nil {
			t.Fatal(err)
		}
		if !want[ev.Records[0].Sns.Message] {
			t.Errorf("unexpected function event %+v", ev)
		}
	}
	if len(got) != len(want) {
		t.Errorf("after a restart the queue got %v, want %v", got, want)
	}
}

func TestOpenRemovesOrphanSubscriptions(t *testing.T) {
	dir := t.TempDir()
	e := start(t, dir, testConfig, false)
	topicARN := e.topic(t, "t")
	sub := e.subscribe(t, SubscribeInput{TopicARN: topicARN, Protocol: "sqs", Endpoint: queue.ARN("q")})
	// A crash between deleting the topic's record and its subscriptions.
	if err := e.topics.deleteKey(t.Context(), topicKey+"t"); err != nil {
		t.Fatal(err)
	}
	e.stop()
	e = start(t, dir, testConfig, false)
	e.topic(t, "t") // a new incarnation does not inherit it
	if subs, _ := e.topics.Subscriptions(""); len(subs) != 0 {
		t.Errorf("subscriptions = %+v", subs)
	}
	if _, err := e.topics.SubscriptionAttributes(sub); errCode(err) != CodeNotFound {
		t.Errorf("SubscriptionAttributes(orphan) = %v", err)
	}
}

func TestSendPublishes(t *testing.T) {
	e := start(t, t.TempDir(), testConfig, true)
	topicARN := e.topic(t, "destinations")
	e.subscribe(t, SubscribeInput{TopicARN: topicARN, Protocol: "sqs", Endpoint: e.queue(t, "q"),
		Attributes: map[string]string{"RawMessageDelivery": "true"}})
	var snd invoke.Sender = e.topics
	if err := snd.Send(t.Context(), topicARN, []byte(`{"version":"1.0"}`)); err != nil {
		t.Fatal(err)
	}
	if got := e.receive(t, "q").Body; got != `{"version":"1.0"}` {
		t.Errorf("got %q", got)
	}
	if err := snd.Send(t.Context(), ARN("missing"), []byte("x")); errCode(err) != CodeNotFound {
		t.Errorf("Send(missing topic) = %v", err)
	}
}

func errCode(err error) string {
	if e, ok := lambda.AsError(err); ok {
		return e.Code
	}
	if err != nil {
		return "not a lambda.Error: " + err.Error()
	}
	return ""
}

// TestPendingDeliverySurvivesRestart stops the service while a fanned-out
// delivery is waiting for its next attempt; after a restart it is delivered.
func TestPendingDeliverySurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig
	cfg.RetryBase = 3 * time.Second // the first failure parks the delivery
	cfg.HTTPTimeout = time.Second
	e := start(t, dir, cfg, true)
	e.inv.mu.Lock()
	e.inv.fail = func(int, invoke.Request) error { return errors.New("system error") }
	e.inv.mu.Unlock()
	topicARN := e.topic(t, "parked")
	fn := "arn:aws:lambda:us-east-1:000000000000:function:f"
	e.subscribe(t, SubscribeInput{TopicARN: topicARN, Protocol: "lambda", Endpoint: fn})
	id := e.publish(t, PublishInput{TopicARN: topicARN, Message: "parked"})
	for deadline := time.Now().Add(10 * time.Second); len(e.inv.calls()) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no delivery attempt")
		}
	}
	e.stop()

	// A delivery in flight at a stop comes back after the consumer's AckWait
	// (2×HTTPTimeout + 5 s), or after its retry delay if that is later.
	restarted := time.Now()
	e = start(t, dir, cfg, true)
	// Due at most about 7 s after the first attempt (the AckWait, if the stop
	// caught it in flight): wait well beyond that, which next's 10 s is not
	// on a loaded machine.
	var req invoke.Request
	select {
	case req = <-e.inv.ch:
	case <-time.After(60 * time.Second):
		t.Fatal("the parked delivery was not retried within 60s of the restart")
	}
	var ev snsEvent
	if err := json.Unmarshal(req.Payload, &ev); err != nil || ev.Records[0].Sns.MessageID != id {
		t.Fatalf("delivered %s, %v", req.Payload, err)
	}
	t.Logf("delivered %v after the restart", time.Since(restarted).Round(time.Millisecond))
}
