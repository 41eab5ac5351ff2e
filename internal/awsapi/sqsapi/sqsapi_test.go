package sqsapi

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
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/nimbus-dev/nimbus/internal/backbone"
	"github.com/nimbus-dev/nimbus/internal/events/queue"
	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// server is the SQS API on a real queue service on a real embedded JetStream.
type server struct {
	q    *queue.Service
	http *httptest.Server
	sqs  *sqs.Client
	stop func()
}

func startServer(tb testing.TB, dir string) *server {
	tb.Helper()
	bb, err := backbone.Start(backbone.Config{DataDir: dir})
	if err != nil {
		tb.Fatal(err)
	}
	kv, err := bb.KeyValue(context.Background(), queue.Bucket)
	if err != nil {
		tb.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	q, err := queue.Open(context.Background(), queue.Config{}, log, bb.JetStream(), kv)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.Run(ctx); close(done) }()
	hs := httptest.NewServer(New(log, q).Handler())
	s := &server{q: q, http: hs, sqs: client(hs.URL)}
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			q.StopPolling()
			hs.Close()
			cancel()
			<-done
			bb.Close()
		})
	}
	tb.Cleanup(s.stop)
	return s
}

// client is a real SDK client, retries off.
func client(endpoint string) *sqs.Client {
	return sqs.NewFromConfig(aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
	}, func(o *sqs.Options) { o.BaseEndpoint = aws.String(endpoint) })
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

func (s *server) create(t *testing.T, name string, attrs map[string]string) string {
	t.Helper()
	out, err := s.sqs.CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatalf("CreateQueue(%s): %v", name, err)
	}
	return *out.QueueUrl
}

func (s *server) send(t *testing.T, url, body string) *sqs.SendMessageOutput {
	t.Helper()
	out, err := s.sqs.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: &url, MessageBody: &body})
	if err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	return out
}

func (s *server) receive(t *testing.T, in *sqs.ReceiveMessageInput) []types.Message {
	t.Helper()
	out, err := s.sqs.ReceiveMessage(t.Context(), in)
	if err != nil {
		t.Fatalf("ReceiveMessage: %v", err)
	}
	return out.Messages
}

func TestQueueLifecycle(t *testing.T) {
	s := startServer(t, t.TempDir())
	ctx := t.Context()
	u := s.create(t, "orders", map[string]string{"VisibilityTimeout": "45"})
	if want := s.http.URL + "/000000000000/orders"; u != want {
		t.Fatalf("QueueUrl = %s, want %s", u, want)
	}
	if again := s.create(t, "orders", map[string]string{"VisibilityTimeout": "45"}); again != u {
		t.Fatalf("idempotent create = %s", again)
	}
	_, err := s.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("orders"), Attributes: map[string]string{"VisibilityTimeout": "46"}})
	if _, ok := errors.AsType[*types.QueueNameExists](err); !ok || errCode(err) != "QueueAlreadyExists" {
		t.Fatalf("create with other attributes = %v", err)
	}
	got, err := s.sqs.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("orders")})
	if err != nil || *got.QueueUrl != u {
		t.Fatalf("GetQueueUrl = %v, %v", got, err)
	}
	_, err = s.sqs.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("nope")})
	if _, ok := errors.AsType[*types.QueueDoesNotExist](err); !ok || errCode(err) != "AWS.SimpleQueueService.NonExistentQueue" {
		t.Fatalf("GetQueueUrl(nope) = %v", err)
	}

	for _, n := range []string{"orders-dlq", "other", "orders-2"} {
		s.create(t, n, nil)
	}
	list, err := s.sqs.ListQueues(ctx, &sqs.ListQueuesInput{QueueNamePrefix: aws.String("orders")})
	if err != nil || len(list.QueueUrls) != 3 || list.NextToken != nil {
		t.Fatalf("ListQueues(orders) = %+v, %v", list, err)
	}
	var paged []string
	p := sqs.NewListQueuesPaginator(s.sqs, &sqs.ListQueuesInput{MaxResults: aws.Int32(1)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, page.QueueUrls...)
	}
	if len(paged) != 4 || !slices.IsSorted(paged) {
		t.Fatalf("paginated ListQueues = %v", paged)
	}

	attrs, err := s.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &u, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll}})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"VisibilityTimeout": "45", "QueueArn": "arn:aws:sqs:us-east-1:000000000000:orders",
		"MaximumMessageSize": "262144", "MessageRetentionPeriod": "345600", "ApproximateNumberOfMessages": "0"} {
		if attrs.Attributes[k] != v {
			t.Errorf("%s = %q, want %q", k, attrs.Attributes[k], v)
		}
	}
	if _, err := s.sqs.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: &u, Attributes: map[string]string{"DelaySeconds": "5"}}); err != nil {
		t.Fatal(err)
	}
	attrs, _ = s.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &u, AttributeNames: []types.QueueAttributeName{"DelaySeconds"}})
	if len(attrs.Attributes) != 1 || attrs.Attributes["DelaySeconds"] != "5" {
		t.Fatalf("after SetQueueAttributes: %v", attrs.Attributes)
	}

	if _, err := s.sqs.TagQueue(ctx, &sqs.TagQueueInput{QueueUrl: &u, Tags: map[string]string{"team": "a", "env": "dev"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.sqs.UntagQueue(ctx, &sqs.UntagQueueInput{QueueUrl: &u, TagKeys: []string{"env"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := s.sqs.ListQueueTags(ctx, &sqs.ListQueueTagsInput{QueueUrl: &u})
	if err != nil || len(tags.Tags) != 1 || tags.Tags["team"] != "a" {
		t.Fatalf("ListQueueTags = %v, %v", tags, err)
	}

	// A URL with another host and port (say, after a restart) names the same queue.
	other := "http://sqs.example:1234/000000000000/orders"
	if _, err := s.sqs.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: &other}); err != nil {
		t.Fatal(err)
	}
	_, err = s.sqs.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: &u})
	if _, ok := errors.AsType[*types.PurgeQueueInProgress](err); !ok {
		t.Fatalf("second purge = %v", err)
	}
	if _, err := s.sqs.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: &u}); err != nil {
		t.Fatal(err)
	}
	_, err = s.sqs.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: &u})
	if _, ok := errors.AsType[*types.QueueDoesNotExist](err); !ok {
		t.Fatalf("second delete = %v", err)
	}
}

func TestMessages(t *testing.T) {
	s := startServer(t, t.TempDir())
	ctx := t.Context()
	u := s.create(t, "q", nil)
	// The attributes of the ReceiveMessage example in the SQS API reference,
	// whose digest AWS documents.
	sent, err := s.sqs.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:    &u,
		MessageBody: aws.String("My first message. <&> ünïcödé"),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"City":       {DataType: aws.String("String"), StringValue: aws.String("Any City")},
			"PostalCode": {DataType: aws.String("String"), StringValue: aws.String("ABC123")},
		},
		MessageSystemAttributes: map[string]types.MessageSystemAttributeValue{
			"AWSTraceHeader": {DataType: aws.String("String"), StringValue: aws.String("Root=1-5759e988-bd862e3fe1be46a994272793")},
		},
	})
	if err != nil { // the SDK verifies MD5OfMessageBody
		t.Fatal(err)
	}
	if *sent.MD5OfMessageAttributes != "9424c491ff2bbec06ecbc9d226bc3ae7" || sent.MD5OfMessageSystemAttributes == nil {
		t.Fatalf("SendMessage = MD5OfMessageAttributes %s, system %v", *sent.MD5OfMessageAttributes, sent.MD5OfMessageSystemAttributes)
	}
	msgs := s.receive(t, &sqs.ReceiveMessageInput{
		QueueUrl:                    &u,
		MaxNumberOfMessages:         10,
		MessageAttributeNames:       []string{"All"},
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
	})
	if len(msgs) != 1 {
		t.Fatalf("received %d messages", len(msgs))
	}
	m := msgs[0]
	if *m.MessageId != *sent.MessageId || *m.Body != "My first message. <&> ünïcödé" || *m.MD5OfMessageAttributes != *sent.MD5OfMessageAttributes {
		t.Fatalf("message = %+v", m)
	}
	if *m.MessageAttributes["City"].StringValue != "Any City" || *m.MessageAttributes["PostalCode"].DataType != "String" {
		t.Fatalf("attributes = %+v", m.MessageAttributes)
	}
	for k, v := range map[string]string{"SenderId": "AKIDTEST", "ApproximateReceiveCount": "1",
		"AWSTraceHeader": "Root=1-5759e988-bd862e3fe1be46a994272793"} {
		if m.Attributes[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, m.Attributes[k], v)
		}
	}
	for _, k := range []string{"SentTimestamp", "ApproximateFirstReceiveTimestamp"} {
		ms, err := strconv.ParseInt(m.Attributes[k], 10, 64)
		if err != nil || time.Since(time.UnixMilli(ms)).Abs() > time.Minute {
			t.Errorf("attribute %s = %q", k, m.Attributes[k])
		}
	}
	if _, err := s.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &u, ReceiptHandle: m.ReceiptHandle}); err != nil {
		t.Fatal(err)
	}

	// Attribute selection: by name, by prefix, none; the digest covers what is returned.
	_, err = s.sqs.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:    &u,
		MessageBody: aws.String("attrs"),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"foo.a": {DataType: aws.String("Number"), StringValue: aws.String("42")},
			"foo.b": {DataType: aws.String("Binary.gz"), BinaryValue: []byte{0, 1, 2, 255}},
			"bar":   {DataType: aws.String("String.custom"), StringValue: aws.String("x")},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		names []string
		want  []string
	}{
		{[]string{"foo.*"}, []string{"foo.a", "foo.b"}},
		{[]string{"bar", "nope"}, []string{"bar"}},
		{[]string{".*"}, []string{"bar", "foo.a", "foo.b"}},
		{nil, nil},
	} {
		msgs := s.receive(t, &sqs.ReceiveMessageInput{QueueUrl: &u, MessageAttributeNames: tc.names, WaitTimeSeconds: 2})
		if len(msgs) != 1 {
			t.Fatalf("%v: received %d messages", tc.names, len(msgs))
		}
		if _, err := s.sqs.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &u, ReceiptHandle: msgs[0].ReceiptHandle}); err != nil {
			t.Fatal(err)
		}
		var got []string
		var sel []queue.Attribute
		for k, v := range msgs[0].MessageAttributes {
			got = append(got, k)
			a := queue.Attribute{Name: k, DataType: *v.DataType, BinaryValue: v.BinaryValue}
			if v.StringValue != nil {
				a.StringValue = *v.StringValue
			}
			sel = append(sel, a)
		}
		slices.Sort(got)
		slices.SortFunc(sel, func(a, b queue.Attribute) int { return strings.Compare(a.Name, b.Name) })
		if !slices.Equal(got, tc.want) {
			t.Errorf("MessageAttributeNames %v returned %v, want %v", tc.names, got, tc.want)
		}
		if md5 := aws.ToString(msgs[0].MD5OfMessageAttributes); md5 != queue.AttributesMD5(sel) {
			t.Errorf("MessageAttributeNames %v: MD5OfMessageAttributes %q, want %q", tc.names, md5, queue.AttributesMD5(sel))
		}
		if tc.want != nil && string(msgs[0].MessageAttributes["foo.b"].BinaryValue) != "" &&
			string(msgs[0].MessageAttributes["foo.b"].BinaryValue) != "\x00\x01\x02\xff" {
			t.Errorf("binary value = %x", msgs[0].MessageAttributes["foo.b"].BinaryValue)
		}
		if tc.want == nil && msgs[0].Attributes != nil {
			t.Errorf("system attributes returned without asking: %v", msgs[0].Attributes)
		}
	}

	// Oversized: MaximumMessageSize is 256 KiB by default.
	big := strings.Repeat("x", 256<<10+1)
	_, err = s.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &u, MessageBody: &big})
	if errCode(err) != "InvalidParameterValue" {
		t.Fatalf("oversized SendMessage = %v", err)
	}
	big = big[:256<<10]
	if _, err := s.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &u, MessageBody: &big}); err != nil {
		t.Fatalf("256 KiB SendMessage = %v", err)
	}
	_, err = s.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &u, MessageBody: aws.String("bad \x01")})
	if _, ok := errors.AsType[*types.InvalidMessageContents](err); !ok {
		t.Fatalf("SendMessage with a control character = %v", err)
	}
}

func TestLongPollWokenBySend(t *testing.T) {
	s := startServer(t, t.TempDir())
	u := s.create(t, "q", nil)
	type result struct {
		msgs []types.Message
		err  error
		at   time.Time
	}
	done := make(chan result, 1)
	go func() {
		out, err := s.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: &u, WaitTimeSeconds: 10, MaxNumberOfMessages: 10})
		r := result{err: err, at: time.Now()}
		if out != nil {
			r.msgs = out.Messages
		}
		done <- r
	}()
	time.Sleep(300 * time.Millisecond) // let the long poll start (if it has not, it answers at once: no harm)
	sentAt := time.Now()
	s.send(t, u, "hello")
	select {
	case r := <-done:
		if r.err != nil || len(r.msgs) != 1 || *r.msgs[0].Body != "hello" {
			t.Fatalf("long poll = %+v", r)
		}
		// Woken by the send, not by the end of its 10 s wait; the margin is
		// for a loaded machine.
		if d := r.at.Sub(sentAt); d > 3*time.Second {
			t.Errorf("long poll answered %v after the send", d)
		}
	case <-time.After(8 * time.Second):
		t.Fatal("long poll not woken by the send")
	}
}

func TestVisibilityAndRedrive(t *testing.T) {
	s := startServer(t, t.TempDir())
	ctx := t.Context()
	dlq := s.create(t, "dlq", nil)
	u := s.create(t, "work", map[string]string{
		"VisibilityTimeout": "1",
		"RedrivePolicy":     `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":2}`,
	})
	sent := s.send(t, u, "flaky")
	all := []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll}
	// The visibility timeout runs from the receive: measured from before it,
	// the lower bound holds however long the steps in between take.
	start := time.Now()
	first := s.receive(t, &sqs.ReceiveMessageInput{QueueUrl: &u, MessageSystemAttributeNames: all})
	if len(first) != 1 {
		t.Fatal("no message")
	}
	if m := s.receive(t, &sqs.ReceiveMessageInput{QueueUrl: &u}); len(m) != 0 {
		t.Fatal("in-flight message received again")
	}
	second := s.receive(t, &sqs.ReceiveMessageInput{QueueUrl: &u, WaitTimeSeconds: 10, MessageSystemAttributeNames: all})
	if len(second) != 1 || second[0].Attributes["ApproximateReceiveCount"] != "2" ||
		second[0].Attributes["ApproximateFirstReceiveTimestamp"] != first[0].Attributes["ApproximateFirstReceiveTimestamp"] {
		t.Fatalf("second receive = %+v", second)
	}
	// The upper bound only catches a message that came back much later than
	// its 1 s (a loaded machine must not trip it), well inside the wait.
	if d := time.Since(start); d < 500*time.Millisecond || d > 5*time.Second {
		t.Errorf("message reappeared after %v, want ~1s", d)
	}
	// The stale handle cannot change the visibility, the new one can.
	_, err := s.sqs.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &u, ReceiptHandle: first[0].ReceiptHandle, VisibilityTimeout: 0})
	if _, ok := errors.AsType[*types.MessageNotInflight](err); !ok || errCode(err) != "AWS.SimpleQueueService.MessageNotInflight" {
		t.Fatalf("ChangeMessageVisibility(stale) = %v", err)
	}
	if _, err := s.sqs.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &u, ReceiptHandle: second[0].ReceiptHandle, VisibilityTimeout: 0}); err != nil {
		t.Fatal(err)
	}
	// The third receive exceeds maxReceiveCount: the message moves to the dead-letter queue.
	if m := s.receive(t, &sqs.ReceiveMessageInput{QueueUrl: &u, WaitTimeSeconds: 1}); len(m) != 0 {
		t.Fatalf("third receive = %+v, want the message moved", m)
	}
	moved := s.receive(t, &sqs.ReceiveMessageInput{QueueUrl: &dlq, WaitTimeSeconds: 2, MessageSystemAttributeNames: all})
	if len(moved) != 1 || *moved[0].MessageId != *sent.MessageId || moved[0].Attributes["DeadLetterQueueSourceArn"] != "arn:aws:sqs:us-east-1:000000000000:work" {
		t.Fatalf("dead-letter queue = %+v", moved)
	}
	srcs, err := s.sqs.ListDeadLetterSourceQueues(ctx, &sqs.ListDeadLetterSourceQueuesInput{QueueUrl: &dlq})
	if err != nil || len(srcs.QueueUrls) != 1 || srcs.QueueUrls[0] != u {
		t.Fatalf("ListDeadLetterSourceQueues = %+v, %v", srcs, err)
	}
	s.waitCounts(t, dlq, "0", "1")
}

// waitCounts waits until a queue's ApproximateNumberOfMessages and
// ApproximateNumberOfMessagesNotVisible are visible and notVisible. Like
// SQS's, the counts are eventually consistent: nimbus reads them from
// JetStream's stream and consumer state, which agree a moment after a write.
func (s *server) waitCounts(t *testing.T, u, visible, notVisible string) {
	t.Helper()
	var got map[string]string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		out, err := s.sqs.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{QueueUrl: &u, AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
		if err != nil {
			t.Fatalf("GetQueueAttributes: %v", err)
		}
		if got = out.Attributes; got["ApproximateNumberOfMessages"] == visible && got["ApproximateNumberOfMessagesNotVisible"] == notVisible {
			return
		}
	}
	t.Fatalf("counts of %s = %v, want %s visible and %s not visible", u, got, visible, notVisible)
}

func TestBatches(t *testing.T) {
	s := startServer(t, t.TempDir())
	ctx := t.Context()
	u := s.create(t, "q", nil)
	entry := func(id, body string) types.SendMessageBatchRequestEntry {
		return types.SendMessageBatchRequestEntry{Id: aws.String(id), MessageBody: aws.String(body)}
	}
	out, err := s.sqs.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &u, Entries: []types.SendMessageBatchRequestEntry{
		entry("a", "one"), entry("b", "bad \x00"), entry("c", "three"),
		{Id: aws.String("d"), MessageBody: aws.String("delayed"), DelaySeconds: 1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Successful) != 3 || len(out.Failed) != 1 || *out.Failed[0].Id != "b" || *out.Failed[0].Code != "InvalidMessageContents" || !out.Failed[0].SenderFault {
		t.Fatalf("SendMessageBatch = %+v", out)
	}
	for _, tc := range []struct {
		entries []types.SendMessageBatchRequestEntry
		code    string
	}{
		{[]types.SendMessageBatchRequestEntry{}, "AWS.SimpleQueueService.EmptyBatchRequest"},
		{slices.Repeat([]types.SendMessageBatchRequestEntry{entry("x", "y")}, 11), "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"},
		{[]types.SendMessageBatchRequestEntry{entry("x", "1"), entry("x", "2")}, "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"},
		{[]types.SendMessageBatchRequestEntry{entry("no spaces", "1")}, "AWS.SimpleQueueService.InvalidBatchEntryId"},
		{[]types.SendMessageBatchRequestEntry{entry("big", strings.Repeat("x", 200<<10))}, ""},
	} {
		_, err := s.sqs.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &u, Entries: tc.entries})
		if errCode(err) != tc.code {
			t.Errorf("SendMessageBatch(%d entries) = %v, want %s", len(tc.entries), err, tc.code)
		}
	}
	var bigs []types.SendMessageBatchRequestEntry
	for i := range 5 {
		bigs = append(bigs, entry(fmt.Sprint(i), strings.Repeat("x", 250<<10)))
	}
	_, err = s.sqs.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &u, Entries: bigs})
	if _, ok := errors.AsType[*types.BatchRequestTooLong](err); !ok {
		t.Fatalf("1.25 MiB batch = %v", err)
	}
	if _, err := s.sqs.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: &u}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		s.send(t, u, fmt.Sprint(i))
	}
	msgs := s.receive(t, &sqs.ReceiveMessageInput{QueueUrl: &u, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
	if len(msgs) != 3 {
		t.Fatalf("received %d messages, want 3", len(msgs))
	}
	cv, err := s.sqs.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: &u, Entries: []types.ChangeMessageVisibilityBatchRequestEntry{
		{Id: aws.String("a"), ReceiptHandle: msgs[0].ReceiptHandle, VisibilityTimeout: 0},
		{Id: aws.String("b"), ReceiptHandle: aws.String("junk"), VisibilityTimeout: 10},
	}})
	if err != nil || len(cv.Successful) != 1 || len(cv.Failed) != 1 || *cv.Failed[0].Code != "ReceiptHandleIsInvalid" {
		t.Fatalf("ChangeMessageVisibilityBatch = %+v, %v", cv, err)
	}
	again := s.receive(t, &sqs.ReceiveMessageInput{QueueUrl: &u, WaitTimeSeconds: 2})
	if len(again) != 1 || *again[0].MessageId != *msgs[0].MessageId {
		t.Fatalf("after visibility 0: %+v", again)
	}
	del, err := s.sqs.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: &u, Entries: []types.DeleteMessageBatchRequestEntry{
		{Id: aws.String("0"), ReceiptHandle: again[0].ReceiptHandle},
		{Id: aws.String("1"), ReceiptHandle: msgs[1].ReceiptHandle},
		{Id: aws.String("2"), ReceiptHandle: msgs[2].ReceiptHandle},
		{Id: aws.String("3"), ReceiptHandle: aws.String("")},
	}})
	if err != nil || len(del.Successful) != 3 || len(del.Failed) != 1 || *del.Failed[0].Id != "3" {
		t.Fatalf("DeleteMessageBatch = %+v, %v", del, err)
	}
	// The delayed message from the first batch remains.
	if m := s.receive(t, &sqs.ReceiveMessageInput{QueueUrl: &u, WaitTimeSeconds: 3}); len(m) != 0 {
		t.Fatalf("purged message received: %+v", m)
	}
}

func TestErrors(t *testing.T) {
	s := startServer(t, t.TempDir())
	ctx := t.Context()
	u := s.create(t, "q", nil)
	missing := "http://localhost/000000000000/missing"
	s.send(t, u, "x")
	msgs := s.receive(t, &sqs.ReceiveMessageInput{QueueUrl: &u})
	for _, tc := range []struct {
		name string
		call func() error
		code string
	}{
		{"MaxNumberOfMessages 11", func() error {
			_, err := s.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &u, MaxNumberOfMessages: 11})
			return err
		}, "InvalidParameterValue"},
		{"WaitTimeSeconds 21", func() error {
			_, err := s.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &u, WaitTimeSeconds: 21})
			return err
		}, "InvalidParameterValue"},
		{"unknown system attribute", func() error {
			_, err := s.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &u, MessageSystemAttributeNames: []types.MessageSystemAttributeName{"Bogus"}})
			return err
		}, "InvalidAttributeName"},
		{"receive from missing queue", func() error {
			_, err := s.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &missing})
			return err
		}, "AWS.SimpleQueueService.NonExistentQueue"},
		{"bad queue URL", func() error {
			_, err := s.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String("http://localhost/nope"), MessageBody: aws.String("x")})
			return err
		}, "InvalidAddress"},
		{"unknown queue attribute", func() error {
			_, err := s.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &u, AttributeNames: []types.QueueAttributeName{"Bogus"}})
			return err
		}, "InvalidAttributeName"},
		{"bad attribute value", func() error {
			_, err := s.sqs.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: &u, Attributes: map[string]string{"VisibilityTimeout": "43201"}})
			return err
		}, "InvalidAttributeValue"},
		{"bad queue name", func() error {
			_, err := s.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("has space")})
			return err
		}, "InvalidParameterValue"},
		{"FIFO queue", func() error {
			_, err := s.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("f.fifo"), Attributes: map[string]string{"FifoQueue": "true"}})
			return err
		}, "AWS.SimpleQueueService.UnsupportedOperation"},
		{"bad receipt handle", func() error {
			_, err := s.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &u, ReceiptHandle: aws.String("AQEBnope")})
			return err
		}, "ReceiptHandleIsInvalid"},
		{"visibility beyond 12 h", func() error {
			_, err := s.sqs.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &u, ReceiptHandle: msgs[0].ReceiptHandle, VisibilityTimeout: 43200})
			return err
		}, "InvalidParameterValue"},
		{"delay 901", func() error {
			_, err := s.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &u, MessageBody: aws.String("x"), DelaySeconds: 901})
			return err
		}, "InvalidParameterValue"},
		{"reserved attribute name", func() error {
			_, err := s.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &u, MessageBody: aws.String("x"),
				MessageAttributes: map[string]types.MessageAttributeValue{"AWS.x": {DataType: aws.String("String"), StringValue: aws.String("v")}}})
			return err
		}, "InvalidParameterValue"},
		{"dedup id on a standard queue", func() error {
			_, err := s.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &u, MessageBody: aws.String("x"), MessageDeduplicationId: aws.String("d")})
			return err
		}, "InvalidParameterValue"},
		{"AddPermission", func() error {
			_, err := s.sqs.AddPermission(ctx, &sqs.AddPermissionInput{QueueUrl: &u, Label: aws.String("l"), AWSAccountIds: []string{"1"}, Actions: []string{"*"}})
			return err
		}, "AWS.SimpleQueueService.UnsupportedOperation"},
	} {
		if got := errCode(tc.call()); got != tc.code {
			t.Errorf("%s: error code %q, want %q", tc.name, got, tc.code)
		}
	}
}

// TestWireErrorShape checks the raw error answer against AWS's documented one.
func TestWireErrorShape(t *testing.T) {
	s := startServer(t, t.TempDir())
	post := func(target, body string) (*http.Response, map[string]string) {
		req, _ := http.NewRequest(http.MethodPost, s.http.URL+"/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", target)
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("body %q: %v", b, err)
		}
		return resp, m
	}
	resp, body := post("AmazonSQS.GetQueueUrl", `{"QueueName":"missing"}`)
	if resp.StatusCode != 400 || body["__type"] != "com.amazonaws.sqs#QueueDoesNotExist" || body["message"] == "" ||
		resp.Header.Get("x-amzn-query-error") != "AWS.SimpleQueueService.NonExistentQueue;Sender" ||
		resp.Header.Get("Content-Type") != "application/x-amz-json-1.0" {
		t.Fatalf("error answer: %d %v %v", resp.StatusCode, resp.Header, body)
	}
	if resp, body = post("AmazonSQS.Nope", `{}`); resp.StatusCode != 400 || !strings.HasSuffix(body["__type"], "UnknownOperationException") {
		t.Fatalf("unknown action: %d %v", resp.StatusCode, body)
	}
	if resp, body = post("AmazonSQS.CreateQueue", `{"QueueName":`); resp.StatusCode != 400 || !strings.HasSuffix(body["__type"], "SerializationException") {
		t.Fatalf("malformed JSON: %d %v", resp.StatusCode, body)
	}
	if resp, body = post("AmazonSQS.CreateQueue", `{"QueueName":5}`); resp.StatusCode != 400 || !strings.HasSuffix(body["__type"], "SerializationException") {
		t.Fatalf("wrong type: %d %v", resp.StatusCode, body)
	}
}

// TestRestart closes the service and opens it again on the same data dir: sent
// messages survive, an in-flight message stays invisible until its visibility
// timeout, and queue URLs with the old port still work.
func TestRestart(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	u := s.create(t, "durable", map[string]string{"VisibilityTimeout": "2"})
	var sent []string
	for i := range 5 {
		sent = append(sent, *s.send(t, u, fmt.Sprint("m", i)).MessageId)
	}
	inflight := s.receive(t, &sqs.ReceiveMessageInput{QueueUrl: &u})
	if len(inflight) != 1 {
		t.Fatal("no message")
	}
	time.Sleep(300 * time.Millisecond) // JetStream writes consumer state ~10 times a second
	s.stop()

	s = startServer(t, dir)
	ctx := t.Context()
	var got []string
	for {
		msgs := s.receive(t, &sqs.ReceiveMessageInput{QueueUrl: &u, MaxNumberOfMessages: 10})
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			if *m.MessageId == *inflight[0].MessageId {
				t.Fatalf("in-flight message visible right after the restart")
			}
			got = append(got, *m.MessageId)
			if _, err := s.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &u, ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(got) != 4 {
		t.Fatalf("after restart received %d of the 4 visible messages", len(got))
	}
	back := s.receive(t, &sqs.ReceiveMessageInput{QueueUrl: &u, WaitTimeSeconds: 5,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount}})
	if len(back) != 1 || *back[0].MessageId != *inflight[0].MessageId || back[0].Attributes["ApproximateReceiveCount"] != "2" {
		t.Fatalf("after its visibility timeout: %+v", back)
	}
	got = append(got, *back[0].MessageId)
	slices.Sort(got)
	slices.Sort(sent)
	if !slices.Equal(got, sent) {
		t.Fatalf("received %v, sent %v", got, sent)
	}
	// The old handle (from before the restart) deletes the message.
	if _, err := s.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &u, ReceiptHandle: inflight[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	s.waitCounts(t, u, "0", "0")
}

func TestQueueName(t *testing.T) {
	for _, tc := range []struct {
		url, name, code string
	}{
		{"http://127.0.0.1:8900/000000000000/q", "q", ""},
		{"https://sqs.us-east-1.amazonaws.com/000000000000/my-queue_1", "my-queue_1", ""},
		{"/000000000000/q", "q", ""},
		{"http://h/123456789012/q", "", queue.CodeQueueDoesNotExist},
		{"http://h/000000000000/q/x", "", queue.CodeInvalidAddress},
		{"http://h/q", "", queue.CodeInvalidAddress},
		{"http://h/00000000000a/q", "", queue.CodeInvalidAddress},
		{"http://h/000000000000/bad.name", "", queue.CodeQueueDoesNotExist},
		{"", "", queue.CodeMissingParameter},
		{"http://[::1", "", queue.CodeInvalidAddress},
	} {
		name, err := queueName(tc.url)
		code := ""
		if err != nil {
			code = errCodeOf(err)
		}
		if name != tc.name || code != tc.code {
			t.Errorf("queueName(%q) = %q, %s; want %q, %s", tc.url, name, code, tc.name, tc.code)
		}
	}
}

// TestOptSeconds pins ReceiveMessage's checks of VisibilityTimeout and
// WaitTimeSeconds, message for message.
func TestOptSeconds(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	if d, err := optSeconds("WaitTimeSeconds", nil, 20); d != nil || err != nil {
		t.Errorf("absent = %v, %v; want nil, nil", d, err)
	}
	for _, v := range []int64{0, 20} {
		if d, err := optSeconds("WaitTimeSeconds", n(v), 20); err != nil || d == nil || *d != time.Duration(v)*time.Second {
			t.Errorf("%d = %v, %v", v, d, err)
		}
	}
	for _, tc := range []struct {
		name string
		v    int64
		most int64
		msg  string
	}{
		{"WaitTimeSeconds", 21, 20, "Value 21 for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided."},
		{"VisibilityTimeout", -1, 43200, "Value -1 for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200, if provided."},
		{"VisibilityTimeout", 43201, 43200, "Value 43201 for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200, if provided."},
	} {
		d, err := optSeconds(tc.name, n(tc.v), tc.most)
		e, ok := lambda.AsError(err)
		if d != nil || !ok || e.Code != queue.CodeInvalidParameterValue || e.Message != tc.msg {
			t.Errorf("%s %d = %v, %v; want %s", tc.name, tc.v, d, err, tc.msg)
		}
	}
}

func errCodeOf(err error) string {
	if e, ok := lambda.AsError(err); ok {
		return e.Code
	}
	return err.Error()
}
