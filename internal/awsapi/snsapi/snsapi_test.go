package snsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/smithy-go"

	"github.com/nimbus-dev/nimbus/internal/backbone"
	"github.com/nimbus-dev/nimbus/internal/events/queue"
	"github.com/nimbus-dev/nimbus/internal/events/topic"
	"github.com/nimbus-dev/nimbus/internal/invoke"
)

// recorder is the invoke front door as far as topics see it: it records the
// async invocations of lambda subscriptions.
type recorder struct{ ch chan invoke.Request }

func (r *recorder) Invoke(_ context.Context, req invoke.Request) (*invoke.Response, error) {
	r.ch <- req
	return &invoke.Response{Status: http.StatusAccepted, RequestID: req.RequestID}, nil
}

// server is the SNS API over real topic and queue services on a real embedded JetStream.
type server struct {
	http   *httptest.Server
	sns    *sns.Client
	queues *queue.Service
	topics *topic.Service
	inv    *recorder
}

func startServer(tb testing.TB) *server {
	tb.Helper()
	bb, err := backbone.Start(backbone.Config{DataDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	qkv, err := bb.KeyValue(ctx, queue.Bucket)
	if err != nil {
		tb.Fatal(err)
	}
	queues, err := queue.Open(ctx, queue.Config{}, log, bb.JetStream(), qkv)
	if err != nil {
		tb.Fatal(err)
	}
	tkv, err := bb.KeyValue(ctx, topic.Bucket)
	if err != nil {
		tb.Fatal(err)
	}
	mux := http.NewServeMux()
	hs := httptest.NewServer(mux)
	inv := &recorder{ch: make(chan invoke.Request, 100)}
	topics, err := topic.Open(ctx, topic.Config{APIURL: hs.URL, HTTPRetryDelay: 10 * time.Millisecond, LoopbackOnly: true},
		log, bb.JetStream(), tkv, inv, queues)
	if err != nil {
		tb.Fatal(err)
	}
	mux.Handle("/", New(log, topics).Handler())
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { queues.Run(runCtx) })
	wg.Go(func() { topics.Run(runCtx) })
	tb.Cleanup(func() {
		hs.Close()
		queues.StopPolling()
		cancel()
		wg.Wait()
		bb.Close()
	})
	return &server{http: hs, sns: client(hs.URL), queues: queues, topics: topics, inv: inv}
}

// client is a real SDK client, retries off.
func client(endpoint string) *sns.Client {
	return sns.NewFromConfig(aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
		HTTPClient:  &http.Client{Transport: plainBodies{http.DefaultTransport}},
	}, func(o *sns.Options) { o.BaseEndpoint = aws.String(endpoint) })
}

// plainBodies hides the io.WriterTo of the SDK's request bodies. net/http
// reads a request body once more after sending it; when the answer arrives
// first the SDK has closed the body by then, its WriterTo fails with io.EOF,
// and net/http drops the connection in the middle of the answer ("use of
// closed network connection" on answers over 4 KiB, aws/aws-sdk-go-v2#2737).
// The SDK's default retryer retries that; with retries off, tests must not
// depend on the race.
type plainBodies struct{ rt http.RoundTripper }

func (p plainBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r = r.Clone(r.Context())
		r.Body = struct{ io.ReadCloser }{r.Body}
	}
	return p.rt.RoundTrip(r)
}

// errCode is the error code an SDK error carries ("" for nil).
func errCode(err error) string {
	if err == nil {
		return ""
	}
	if ae, ok := errors.AsType[smithy.APIError](err); ok {
		return ae.ErrorCode()
	}
	return "not an API error: " + err.Error()
}

func errMessage(err error) string {
	if ae, ok := errors.AsType[smithy.APIError](err); ok {
		return ae.ErrorMessage()
	}
	return ""
}

func (s *server) createTopic(t *testing.T, name string) string {
	t.Helper()
	out, err := s.sns.CreateTopic(t.Context(), &sns.CreateTopicInput{Name: aws.String(name)})
	if err != nil {
		t.Fatalf("CreateTopic(%s): %v", name, err)
	}
	return *out.TopicArn
}

func (s *server) queue(t *testing.T, name string) string {
	t.Helper()
	if err := s.queues.CreateQueue(t.Context(), name, nil, nil); err != nil {
		t.Fatal(err)
	}
	return queue.ARN(name)
}

func (s *server) receive(t *testing.T, name string) queue.Message {
	t.Helper()
	wait := 10 * time.Second
	msgs, err := s.queues.Receive(t.Context(), name, queue.ReceiveOptions{Wait: &wait})
	if err != nil || len(msgs) == 0 {
		t.Fatalf("Receive(%s) = %v, %v", name, msgs, err)
	}
	if err := s.queues.Delete(t.Context(), name, msgs[0].ReceiptHandle); err != nil {
		t.Fatal(err)
	}
	return msgs[0]
}

func TestTopicLifecycle(t *testing.T) {
	s := startServer(t)
	ctx := t.Context()
	in := &sns.CreateTopicInput{Name: aws.String("orders"), Attributes: map[string]string{"DisplayName": "Orders"},
		Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("shop")}}}
	out, err := s.sns.CreateTopic(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	arn := *out.TopicArn
	if arn != "arn:aws:sns:us-east-1:000000000000:orders" {
		t.Errorf("TopicArn = %s", arn)
	}
	if again, err := s.sns.CreateTopic(ctx, in); err != nil || *again.TopicArn != arn {
		t.Errorf("CreateTopic again = %v, %v", again, err)
	}
	_, err = s.sns.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("orders"), Attributes: map[string]string{"DisplayName": "Other"}})
	if _, ok := errors.AsType[*types.InvalidParameterException](err); !ok || errMessage(err) != "Invalid parameter: Attributes Reason: Topic already exists with different attributes" {
		t.Errorf("CreateTopic(different attributes) = %v", err)
	}
	for _, bad := range []*sns.CreateTopicInput{
		{Name: aws.String("bad name")},
		{Name: aws.String(strings.Repeat("a", 257))},
		{Name: aws.String("t"), Attributes: map[string]string{"Unknown": "x"}},
		{Name: aws.String("t.fifo"), Attributes: map[string]string{"FifoTopic": "true"}},
	} {
		if _, err := s.sns.CreateTopic(ctx, bad); errCode(err) != "InvalidParameter" {
			t.Errorf("CreateTopic(%s, %v) = %v, want InvalidParameter", *bad.Name, bad.Attributes, err)
		}
	}

	attrs, err := s.sns.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: &arn})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"TopicArn": arn, "Owner": "000000000000", "DisplayName": "Orders",
		"SubscriptionsConfirmed": "0", "SubscriptionsPending": "0", "SubscriptionsDeleted": "0"} {
		if attrs.Attributes[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, attrs.Attributes[k], v)
		}
	}
	if !json.Valid([]byte(attrs.Attributes["Policy"])) || !json.Valid([]byte(attrs.Attributes["EffectiveDeliveryPolicy"])) {
		t.Errorf("policies = %q, %q", attrs.Attributes["Policy"], attrs.Attributes["EffectiveDeliveryPolicy"])
	}
	if _, err := s.sns.SetTopicAttributes(ctx, &sns.SetTopicAttributesInput{TopicArn: &arn,
		AttributeName: aws.String("DisplayName"), AttributeValue: aws.String("Renamed")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.sns.SetTopicAttributes(ctx, &sns.SetTopicAttributesInput{TopicArn: &arn,
		AttributeName: aws.String("FifoTopic"), AttributeValue: aws.String("true")}); errCode(err) != "InvalidParameter" {
		t.Errorf("SetTopicAttributes(FifoTopic) = %v", err)
	}
	attrs, _ = s.sns.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: &arn})
	if attrs.Attributes["DisplayName"] != "Renamed" {
		t.Errorf("DisplayName = %q", attrs.Attributes["DisplayName"])
	}

	// Tags.
	if _, err := s.sns.TagResource(ctx, &sns.TagResourceInput{ResourceArn: &arn,
		Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("dev")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.sns.UntagResource(ctx, &sns.UntagResourceInput{ResourceArn: &arn, TagKeys: []string{"team"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := s.sns.ListTagsForResource(ctx, &sns.ListTagsForResourceInput{ResourceArn: &arn})
	if err != nil || len(tags.Tags) != 1 || *tags.Tags[0].Key != "env" || *tags.Tags[0].Value != "dev" {
		t.Errorf("ListTagsForResource = %+v, %v", tags, err)
	}
	if _, err := s.sns.ListTagsForResource(ctx, &sns.ListTagsForResourceInput{ResourceArn: aws.String(arn + "x")}); errCode(err) != "ResourceNotFound" {
		t.Errorf("ListTagsForResource(missing) = %v", err)
	}

	// ListTopics pages by 100.
	for i := range 105 {
		s.createTopic(t, fmt.Sprintf("t%03d", i))
	}
	var listed []string
	pages := sns.NewListTopicsPaginator(s.sns, &sns.ListTopicsInput{})
	n := 0
	for pages.HasMorePages() {
		pg, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n++
		for _, tp := range pg.Topics {
			listed = append(listed, *tp.TopicArn)
		}
	}
	if n != 2 || len(listed) != 106 || !slices.IsSorted(listed) || len(slices.Compact(slices.Clone(listed))) != 106 {
		t.Errorf("ListTopics: %d pages, %d topics", n, len(listed))
	}

	if _, err := s.sns.DeleteTopic(ctx, &sns.DeleteTopicInput{TopicArn: &arn}); err != nil {
		t.Fatal(err)
	}
	_, err = s.sns.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: &arn})
	if _, ok := errors.AsType[*types.NotFoundException](err); !ok || errMessage(err) != "Topic does not exist" {
		t.Errorf("GetTopicAttributes(deleted) = %v", err)
	}
	if _, err := s.sns.DeleteTopic(ctx, &sns.DeleteTopicInput{TopicArn: &arn}); err != nil {
		t.Errorf("DeleteTopic(deleted) = %v, want success", err)
	}
	if _, err := s.sns.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String("not-an-arn")}); errCode(err) != "InvalidParameter" {
		t.Errorf("GetTopicAttributes(not an ARN) = %v", err)
	}
}

func TestSubscriptions(t *testing.T) {
	s := startServer(t)
	ctx := t.Context()
	arn := s.createTopic(t, "events")
	q := s.queue(t, "q")
	policy := `{"color":["red"]}`
	out, err := s.sns.Subscribe(ctx, &sns.SubscribeInput{TopicArn: &arn, Protocol: aws.String("sqs"), Endpoint: &q,
		Attributes: map[string]string{"FilterPolicy": policy, "RawMessageDelivery": "true"}})
	if err != nil {
		t.Fatal(err)
	}
	sub := *out.SubscriptionArn
	if !strings.HasPrefix(sub, arn+":") {
		t.Errorf("SubscriptionArn = %s", sub)
	}
	if again, err := s.sns.Subscribe(ctx, &sns.SubscribeInput{TopicArn: &arn, Protocol: aws.String("sqs"), Endpoint: &q}); err != nil || *again.SubscriptionArn != sub {
		t.Errorf("Subscribe again = %v, %v", again, err)
	}
	_, err = s.sns.Subscribe(ctx, &sns.SubscribeInput{TopicArn: &arn, Protocol: aws.String("sqs"), Endpoint: &q,
		Attributes: map[string]string{"RawMessageDelivery": "false"}})
	if errMessage(err) != "Invalid parameter: Attributes Reason: Subscription already exists with different attributes" {
		t.Errorf("Subscribe(different attributes) = %v", err)
	}
	fn := "arn:aws:lambda:us-east-1:000000000000:function:f"
	for _, bad := range []struct {
		protocol, endpoint string
		attrs              map[string]string
		msg                string
	}{
		{"email", "a@example.com", nil, "Invalid parameter: Protocol Reason: nimbus does not deliver to email endpoints"},
		{"carrier-pigeon", "x", nil, "Invalid parameter: Amazon SNS does not support this protocol string: carrier-pigeon"},
		{"sqs", "arn:aws:sqs:us-east-1:000000000000:q.fifo", nil, "Invalid parameter: Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed to standard SNS topics"},
		{"sqs", "queue", nil, "Invalid parameter: SQS endpoint ARN"},
		{"lambda", "f", nil, "Invalid parameter: Lambda endpoint ARN"},
		{"http", "https://127.0.0.1/x", nil, "Invalid parameter: Endpoint must match the specified protocol"},
		{"http", "http://example.com/x", nil, "Invalid parameter: Endpoint Reason: only loopback endpoints are allowed on this server"},
		{"lambda", fn, map[string]string{"RawMessageDelivery": "true"}, "Invalid parameter: Attributes Reason: Delivery protocol [lambda] does not support raw message delivery."},
		{"lambda", fn, map[string]string{"FilterPolicy": `{"a":{"b":["c"]}}`}, "Invalid parameter: Attributes Reason: Filter policy scope MessageAttributes does not support nested filter policy"},
		{"lambda", fn, map[string]string{"FilterPolicy": `{"a":[]}`}, "Invalid parameter: Attributes Reason: FilterPolicy: Empty arrays are not allowed"},
		{"lambda", fn, map[string]string{"FilterPolicyScope": "Body"}, "Invalid parameter: Attributes Reason: FilterPolicyScope: Invalid value [Body]. Please use either MessageBody or MessageAttributes"},
		{"lambda", fn, map[string]string{"Color": "red"}, "Invalid parameter: Attributes Reason: AttributeName"},
	} {
		_, err := s.sns.Subscribe(ctx, &sns.SubscribeInput{TopicArn: &arn, Protocol: &bad.protocol, Endpoint: &bad.endpoint, Attributes: bad.attrs})
		if _, ok := errors.AsType[*types.InvalidParameterException](err); !ok || errMessage(err) != bad.msg {
			t.Errorf("Subscribe(%s, %s, %v) = %v, want %q", bad.protocol, bad.endpoint, bad.attrs, err, bad.msg)
		}
	}
	if _, err := s.sns.Subscribe(ctx, &sns.SubscribeInput{TopicArn: aws.String(arn + "x"), Protocol: aws.String("sqs"), Endpoint: &q}); errCode(err) != "NotFound" {
		t.Errorf("Subscribe(missing topic) = %v", err)
	}
	fnOut, err := s.sns.Subscribe(ctx, &sns.SubscribeInput{TopicArn: &arn, Protocol: aws.String("lambda"), Endpoint: &fn})
	if err != nil {
		t.Fatal(err)
	}

	attrs, err := s.sns.GetSubscriptionAttributes(ctx, &sns.GetSubscriptionAttributesInput{SubscriptionArn: &sub})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"SubscriptionArn": sub, "TopicArn": arn, "Protocol": "sqs", "Endpoint": q,
		"Owner": "000000000000", "PendingConfirmation": "false", "ConfirmationWasAuthenticated": "true",
		"RawMessageDelivery": "true", "FilterPolicy": policy, "FilterPolicyScope": "MessageAttributes"} {
		if attrs.Attributes[k] != v {
			t.Errorf("subscription attribute %s = %q, want %q", k, attrs.Attributes[k], v)
		}
	}
	_, err = s.sns.SetSubscriptionAttributes(ctx, &sns.SetSubscriptionAttributesInput{SubscriptionArn: &sub,
		AttributeName: aws.String("FilterPolicy"), AttributeValue: aws.String(`{"price":[{"numeric":[">",5,"<",1]}]}`)})
	if errMessage(err) != "Invalid parameter: FilterPolicy: Bottom must be less than top" {
		t.Errorf("SetSubscriptionAttributes(bad policy) = %v", err)
	}
	// A body policy may nest; switching the scope back is then refused.
	for _, kv := range [][2]string{{"FilterPolicyScope", "MessageBody"}, {"FilterPolicy", `{"order":{"kind":["a"]}}`}} {
		if _, err := s.sns.SetSubscriptionAttributes(ctx, &sns.SetSubscriptionAttributesInput{SubscriptionArn: &sub,
			AttributeName: &kv[0], AttributeValue: &kv[1]}); err != nil {
			t.Fatalf("SetSubscriptionAttributes(%s): %v", kv[0], err)
		}
	}
	_, err = s.sns.SetSubscriptionAttributes(ctx, &sns.SetSubscriptionAttributesInput{SubscriptionArn: &sub,
		AttributeName: aws.String("FilterPolicyScope"), AttributeValue: aws.String("MessageAttributes")})
	if errCode(err) != "InvalidParameter" {
		t.Errorf("SetSubscriptionAttributes(scope) = %v", err)
	}

	list, err := s.sns.ListSubscriptionsByTopic(ctx, &sns.ListSubscriptionsByTopicInput{TopicArn: &arn})
	if err != nil || len(list.Subscriptions) != 2 {
		t.Fatalf("ListSubscriptionsByTopic = %+v, %v", list, err)
	}
	all, err := s.sns.ListSubscriptions(ctx, &sns.ListSubscriptionsInput{})
	if err != nil || len(all.Subscriptions) != 2 {
		t.Fatalf("ListSubscriptions = %+v, %v", all, err)
	}
	for _, sb := range all.Subscriptions {
		if *sb.TopicArn != arn || *sb.Owner != "000000000000" || (*sb.SubscriptionArn != sub && *sb.SubscriptionArn != *fnOut.SubscriptionArn) {
			t.Errorf("subscription %+v", sb)
		}
	}
	if _, err := s.sns.Unsubscribe(ctx, &sns.UnsubscribeInput{SubscriptionArn: &sub}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.sns.Unsubscribe(ctx, &sns.UnsubscribeInput{SubscriptionArn: &sub}); err != nil {
		t.Errorf("Unsubscribe again = %v", err)
	}
	_, err = s.sns.GetSubscriptionAttributes(ctx, &sns.GetSubscriptionAttributesInput{SubscriptionArn: &sub})
	if _, ok := errors.AsType[*types.NotFoundException](err); !ok || errMessage(err) != "Subscription does not exist" {
		t.Errorf("GetSubscriptionAttributes(unsubscribed) = %v", err)
	}
	// Deleting the topic deletes its subscriptions.
	s.sns.DeleteTopic(ctx, &sns.DeleteTopicInput{TopicArn: &arn})
	if all, _ := s.sns.ListSubscriptions(ctx, &sns.ListSubscriptionsInput{}); len(all.Subscriptions) != 0 {
		t.Errorf("subscriptions after DeleteTopic: %+v", all.Subscriptions)
	}
}

func TestPublish(t *testing.T) {
	s := startServer(t)
	ctx := t.Context()
	arn := s.createTopic(t, "news")
	q := s.queue(t, "q")
	raw := s.queue(t, "raw")
	s.sns.Subscribe(ctx, &sns.SubscribeInput{TopicArn: &arn, Protocol: aws.String("sqs"), Endpoint: &q})
	s.sns.Subscribe(ctx, &sns.SubscribeInput{TopicArn: &arn, Protocol: aws.String("sqs"), Endpoint: &raw,
		Attributes: map[string]string{"RawMessageDelivery": "true", "FilterPolicy": `{"n":[{"numeric":[">",1]}]}`}})
	fn := "arn:aws:lambda:us-east-1:000000000000:function:reader"
	s.sns.Subscribe(ctx, &sns.SubscribeInput{TopicArn: &arn, Protocol: aws.String("lambda"), Endpoint: &fn})

	out, err := s.sns.Publish(ctx, &sns.PublishInput{TopicArn: &arn, Message: aws.String("héllo & <bye>"), Subject: aws.String("Hi"),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"s": {DataType: aws.String("String"), StringValue: aws.String("v")},
			"n": {DataType: aws.String("Number"), StringValue: aws.String("2")},
			"a": {DataType: aws.String("String.Array"), StringValue: aws.String(`["x","y"]`)},
			"b": {DataType: aws.String("Binary"), BinaryValue: []byte{0xff, 0, 1}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	var env map[string]any
	if err := json.Unmarshal([]byte(s.receive(t, "q").Body), &env); err != nil {
		t.Fatal(err)
	}
	ma, _ := env["MessageAttributes"].(map[string]any)
	if env["MessageId"] != *out.MessageId || env["Message"] != "héllo & <bye>" || env["Subject"] != "Hi" || len(ma) != 4 ||
		ma["b"].(map[string]any)["Value"] != "/wAB" {
		t.Errorf("envelope = %v", env)
	}
	if m := s.receive(t, "raw"); m.Body != "héllo & <bye>" || len(m.Attributes) != 4 {
		t.Errorf("raw message = %+v", m)
	}
	if req := <-s.inv.ch; req.FunctionName != fn || !strings.Contains(string(req.Payload), *out.MessageId) {
		t.Errorf("invocation = %+v", req)
	}

	// TargetArn names the topic too.
	if _, err := s.sns.Publish(ctx, &sns.PublishInput{TargetArn: &arn, Message: aws.String("via target")}); err != nil {
		t.Fatal(err)
	}
	if m := s.receive(t, "q"); !strings.Contains(m.Body, "via target") {
		t.Errorf("TargetArn message = %s", m.Body)
	}
	<-s.inv.ch

	batch, err := s.sns.PublishBatch(ctx, &sns.PublishBatchInput{TopicArn: &arn, PublishBatchRequestEntries: []types.PublishBatchRequestEntry{
		{Id: aws.String("one"), Message: aws.String("m1")},
		{Id: aws.String("two"), Message: aws.String(`{"default":"m2","sqs":"m2 for queues"}`), MessageStructure: aws.String("json"),
			MessageAttributes: map[string]types.MessageAttributeValue{"n": {DataType: aws.String("Number"), StringValue: aws.String("5")}}},
	}})
	if err != nil || len(batch.Successful) != 2 || len(batch.Failed) != 0 || *batch.Successful[0].Id != "one" || *batch.Successful[1].MessageId == "" {
		t.Fatalf("PublishBatch = %+v, %v", batch, err)
	}
	if m := s.receive(t, "raw"); m.Body != "m2 for queues" {
		t.Errorf("raw batch message = %q", m.Body)
	}

	ptr := aws.String
	for _, bad := range []struct {
		in   *sns.PublishInput
		code string
		msg  string
	}{
		{&sns.PublishInput{TopicArn: ptr(arn + "x"), Message: ptr("m")}, "NotFound", "Topic does not exist"},
		{&sns.PublishInput{TopicArn: &arn, Message: ptr("")}, "InvalidParameter", "Invalid parameter: Empty message"},
		{&sns.PublishInput{Message: ptr("m")}, "InvalidParameter", "Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter"},
		{&sns.PublishInput{TopicArn: &arn, Message: ptr("m"), Subject: ptr("")}, "InvalidParameter", "Invalid parameter: Subject"},
		{&sns.PublishInput{TopicArn: &arn, Message: ptr("m"), Subject: ptr("line\nbreak")}, "InvalidParameter", "Invalid parameter: Subject"},
		{&sns.PublishInput{TopicArn: &arn, Message: ptr(strings.Repeat("x", 256<<10+1))}, "InvalidParameter", "Invalid parameter: Message too long"},
		{&sns.PublishInput{TopicArn: &arn, Message: ptr(`{"sqs":"x"}`), MessageStructure: ptr("json")}, "InvalidParameter", "Invalid parameter: Message Structure - No default entry in JSON message body"},
		{&sns.PublishInput{TopicArn: &arn, Message: ptr(`nope`), MessageStructure: ptr("json")}, "InvalidParameter", "Invalid parameter: Message Structure - JSON message body failed to parse"},
		{&sns.PublishInput{TopicArn: &arn, Message: ptr("m"), MessageAttributes: map[string]types.MessageAttributeValue{
			"x": {DataType: ptr("Text"), StringValue: ptr("v")}}}, "ParameterValueInvalid",
			"The message attribute 'x' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String."},
		{&sns.PublishInput{TopicArn: &arn, Message: ptr("m"), MessageAttributes: map[string]types.MessageAttributeValue{
			"x": {DataType: ptr("Number"), StringValue: ptr("ten")}}}, "ParameterValueInvalid", "Could not cast message attribute 'x' value to number."},
		{&sns.PublishInput{TopicArn: &arn, Message: ptr("m"), MessageAttributes: map[string]types.MessageAttributeValue{
			"x": {DataType: ptr("Binary"), StringValue: ptr("v")}}}, "ParameterValueInvalid", "The message attribute 'x' with type 'Binary' must use field 'Binary'."},
		{&sns.PublishInput{TopicArn: &arn, Message: ptr("m"), MessageDeduplicationId: ptr("d")}, "InvalidParameter",
			"Invalid parameter: MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter that is not valid for this topic type"},
	} {
		_, err := s.sns.Publish(ctx, bad.in)
		if errCode(err) != bad.code || errMessage(err) != bad.msg {
			t.Errorf("Publish(%.60v) = %v, want %s: %s", *bad.in, err, bad.code, bad.msg)
		}
	}
	if _, err := s.sns.Publish(ctx, &sns.PublishInput{TopicArn: &arn, Message: ptr("m"), MessageAttributes: map[string]types.MessageAttributeValue{
		"x": {DataType: ptr("Number"), StringValue: ptr("ten")}}}); !isType[*types.InvalidParameterValueException](err) {
		t.Errorf("invalid attribute: %T, want InvalidParameterValueException", err)
	}

	entries := func(ids ...string) []types.PublishBatchRequestEntry {
		var out []types.PublishBatchRequestEntry
		for _, id := range ids {
			out = append(out, types.PublishBatchRequestEntry{Id: aws.String(id), Message: aws.String("m")})
		}
		return out
	}
	for _, bad := range []struct {
		entries []types.PublishBatchRequestEntry
		code    string
	}{
		{entries("a", "a"), "BatchEntryIdsNotDistinct"},
		{entries("a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"), "TooManyEntriesInBatchRequest"},
		{entries("a b"), "InvalidBatchEntryId"},
		{[]types.PublishBatchRequestEntry{{Id: aws.String("a"), Message: aws.String(strings.Repeat("x", 200<<10))},
			{Id: aws.String("b"), Message: aws.String(strings.Repeat("x", 100<<10))}}, "BatchRequestTooLong"},
	} {
		_, err := s.sns.PublishBatch(ctx, &sns.PublishBatchInput{TopicArn: &arn, PublishBatchRequestEntries: bad.entries})
		if errCode(err) != bad.code {
			t.Errorf("PublishBatch(%d entries) = %v, want %s", len(bad.entries), err, bad.code)
		}
	}
}

func isType[T error](err error) bool {
	_, ok := errors.AsType[T](err)
	return ok
}

// TestHTTPEndpointConfirmation follows the SubscriptionConfirmation handshake
// the way an endpoint does: it GETs the SubscribeURL it was sent.
func TestHTTPEndpointConfirmation(t *testing.T) {
	s := startServer(t)
	ctx := t.Context()
	type req struct {
		typ  string
		body map[string]any
	}
	got := make(chan req, 10)
	ep := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &m)
		got <- req{r.Header.Get("x-amz-sns-message-type"), m}
	}))
	defer ep.Close()
	arn := s.createTopic(t, "hooks")
	out, err := s.sns.Subscribe(ctx, &sns.SubscribeInput{TopicArn: &arn, Protocol: aws.String("http"), Endpoint: aws.String(ep.URL)})
	if err != nil || *out.SubscriptionArn != "pending confirmation" {
		t.Fatalf("Subscribe = %v, %v", out, err)
	}
	withARN, err := s.sns.Subscribe(ctx, &sns.SubscribeInput{TopicArn: &arn, Protocol: aws.String("http"), Endpoint: aws.String(ep.URL), ReturnSubscriptionArn: true})
	if err != nil || !strings.HasPrefix(*withARN.SubscriptionArn, arn+":") {
		t.Fatalf("Subscribe(ReturnSubscriptionArn) = %v, %v", withARN, err)
	}
	if attrs, _ := s.sns.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: &arn}); attrs.Attributes["SubscriptionsPending"] != "1" {
		t.Errorf("SubscriptionsPending = %q", attrs.Attributes["SubscriptionsPending"])
	}
	c := <-got // one confirmation per Subscribe while pending
	<-got
	if c.typ != "SubscriptionConfirmation" {
		t.Fatalf("first request is %s", c.typ)
	}
	resp, err := http.Get(c.body["SubscribeURL"].(string))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "<ConfirmSubscriptionResult><SubscriptionArn>"+*withARN.SubscriptionArn+"</SubscriptionArn>") {
		t.Fatalf("GET SubscribeURL = %d %s", resp.StatusCode, b)
	}
	pub, err := s.sns.Publish(ctx, &sns.PublishInput{TopicArn: &arn, Message: aws.String("hello")})
	if err != nil {
		t.Fatal(err)
	}
	n := <-got
	if n.typ != "Notification" || n.body["MessageId"] != *pub.MessageId || n.body["Message"] != "hello" {
		t.Fatalf("notification = %+v", n)
	}
	// Following the UnsubscribeURL ends deliveries.
	resp, err = http.Get(n.body["UnsubscribeURL"].(string))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET UnsubscribeURL = %v, %v", resp, err)
	}
	resp.Body.Close()
	if list, _ := s.sns.ListSubscriptionsByTopic(ctx, &sns.ListSubscriptionsByTopicInput{TopicArn: &arn}); len(list.Subscriptions) != 0 {
		t.Errorf("subscriptions after unsubscribing: %+v", list.Subscriptions)
	}
}

func TestErrorShape(t *testing.T) {
	s := startServer(t)
	for _, tc := range []struct {
		body, code string
		status     int
	}{
		{"Action=Frobnicate&Version=2010-03-31", "InvalidAction", 400},
		{"Version=2010-03-31", "InvalidAction", 400},
		{"Action=CreateTopic&Version=2010-03-31", "ValidationError", 400},
		{"Action=GetTopicAttributes&TopicArn=arn:aws:sns:us-east-1:000000000000:missing", "NotFound", 404},
		{"Action=Publish&Message=%zz", "MalformedQueryString", 400},
	} {
		resp, err := http.Post(s.http.URL+"/", "application/x-www-form-urlencoded", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>` + tc.code + `</Code><Message>`
		if resp.StatusCode != tc.status || !strings.HasPrefix(string(b), want) || !strings.Contains(string(b), "</Error><RequestId>") ||
			resp.Header.Get("Content-Type") != "text/xml" || resp.Header.Get("X-Amzn-RequestId") == "" {
			t.Errorf("POST %s = %d %v %s", tc.body, resp.StatusCode, resp.Header, b)
		}
	}
}

func TestIsQuery(t *testing.T) {
	for _, tc := range []struct {
		method, target, ctype, url string
		want                       bool
	}{
		{"POST", "", "application/x-www-form-urlencoded; charset=utf-8", "/", true},
		{"POST", "AmazonSQS.SendMessage", "application/x-www-form-urlencoded", "/", false},
		{"POST", "", "application/x-amz-json-1.0", "/", false},
		{"GET", "", "", "/?Action=ConfirmSubscription&Token=x", true},
		{"GET", "", "", "/", false},
		{"PUT", "", "application/x-www-form-urlencoded", "/", false},
	} {
		r := httptest.NewRequest(tc.method, tc.url, nil)
		if tc.target != "" {
			r.Header.Set("X-Amz-Target", tc.target)
		}
		if tc.ctype != "" {
			r.Header.Set("Content-Type", tc.ctype)
		}
		if got := IsQuery(r); got != tc.want {
			t.Errorf("IsQuery(%s %s, %q, %q) = %v, want %v", tc.method, tc.url, tc.target, tc.ctype, got, tc.want)
		}
	}
}
