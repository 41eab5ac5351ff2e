package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nimbus-dev/nimbus/internal/backbone"
	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// start runs a queue service on a real embedded JetStream in dir.
func start(tb testing.TB, dir string) (*Service, func()) {
	tb.Helper()
	bb, err := backbone.Start(backbone.Config{DataDir: dir})
	if err != nil {
		tb.Fatal(err)
	}
	kv, err := bb.KeyValue(context.Background(), Bucket)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := Open(context.Background(), Config{}, slog.New(slog.DiscardHandler), bb.JetStream(), kv)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done; bb.Close() }) }
	tb.Cleanup(stop)
	return s, stop
}

func dur(d time.Duration) *time.Duration { return &d }

func code(err error) string {
	if e, ok := lambda.AsError(err); ok {
		return e.Code
	}
	if err != nil {
		return "internal: " + err.Error()
	}
	return ""
}

func mustCreate(t *testing.T, s *Service, name string, attrs map[string]string) {
	t.Helper()
	if err := s.CreateQueue(t.Context(), name, attrs, nil); err != nil {
		t.Fatalf("CreateQueue(%s): %v", name, err)
	}
}

func send(t *testing.T, s *Service, q, body string) SendResult {
	t.Helper()
	r, err := s.Send(t.Context(), q, SendInput{Body: body, SenderID: "AKID"})
	if err != nil {
		t.Fatalf("Send(%s): %v", body, err)
	}
	return r
}

func receive(t *testing.T, s *Service, q string, o ReceiveOptions) []Message {
	t.Helper()
	m, err := s.Receive(t.Context(), q, o)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	return m
}

func bodies(ms []Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Body)
	}
	slices.Sort(out)
	return out
}

// TestAttributesMD5 checks the attribute digest against values computed by AWS:
// a message captured from a real SQS Lambda event, and the ReceiveMessage example
// of the SQS API reference.
func TestAttributesMD5(t *testing.T) {
	for _, tc := range []struct {
		attrs []Attribute
		want  string
	}{
		{[]Attribute{{Name: "AtTimestamp", DataType: "String", StringValue: "2021-02-15T12:00:33+09:00"}}, "9fd5e217089075be61cd1d67e35e5117"},
		{[]Attribute{{Name: "City", DataType: "String", StringValue: "Any City"}, {Name: "PostalCode", DataType: "String", StringValue: "ABC123"}}, "9424c491ff2bbec06ecbc9d226bc3ae7"},
	} {
		if got := AttributesMD5(tc.attrs); got != tc.want {
			t.Errorf("AttributesMD5(%v) = %s, want %s", tc.attrs, got, tc.want)
		}
		back, err := decodeAttributes(encodeAttributes(nil, tc.attrs))
		if err != nil || !slices.EqualFunc(back, tc.attrs, func(a, b Attribute) bool {
			return a.Name == b.Name && a.DataType == b.DataType && a.StringValue == b.StringValue
		}) {
			t.Errorf("decode(encode(%v)) = %v, %v", tc.attrs, back, err)
		}
	}
	if got, want := md5Hex([]byte("foobar2")), "cbac77acf401ef89c3297bd9fc41ec0b"; got != want {
		t.Errorf("md5(foobar2) = %s, want %s", got, want)
	}
}

func TestSendReceiveDelete(t *testing.T) {
	s, _ := start(t, t.TempDir())
	mustCreate(t, s, "q", nil)
	attrs := []Attribute{
		{Name: "b", DataType: "Binary", BinaryValue: []byte{0, 1, 2}},
		{Name: "a", DataType: "Number.int", StringValue: "-1.5e3"},
	}
	res, err := s.Send(t.Context(), "q", SendInput{Body: "hello", Attributes: attrs, SenderID: "AKID", TraceHeader: "Root=1-x"})
	if err != nil {
		t.Fatal(err)
	}
	if res.MD5OfBody != md5Hex([]byte("hello")) || res.MD5OfAttributes == "" || res.MD5OfSystemAttributes == "" {
		t.Fatalf("Send = %+v", res)
	}
	ms := receive(t, s, "q", ReceiveOptions{Max: 10})
	if len(ms) != 1 {
		t.Fatalf("Receive = %d messages, want 1", len(ms))
	}
	m := ms[0]
	if m.ID != res.MessageID || m.Body != "hello" || m.MD5OfBody != res.MD5OfBody || m.MD5OfAttributes != res.MD5OfAttributes ||
		m.ReceiveCount != 1 || m.SenderID != "AKID" || m.TraceHeader != "Root=1-x" || time.Since(m.SentTimestamp) > time.Minute ||
		m.FirstReceive.Before(m.SentTimestamp) {
		t.Fatalf("Receive = %+v, sent %+v", m, res)
	}
	if len(m.Attributes) != 2 || m.Attributes[0].Name != "a" || string(m.Attributes[1].BinaryValue) != "\x00\x01\x02" {
		t.Fatalf("attributes = %+v", m.Attributes)
	}
	if again := receive(t, s, "q", ReceiveOptions{}); len(again) != 0 {
		t.Fatalf("in-flight message received again: %+v", again)
	}
	if err := s.Delete(t.Context(), "q", m.ReceiptHandle); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(t.Context(), "q", m.ReceiptHandle); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if err := s.Delete(t.Context(), "q", "garbage"); code(err) != CodeReceiptHandleIsInvalid {
		t.Fatalf("Delete(garbage) = %v", err)
	}
	waitCounts(t, s, "q", msgCounts{})
}

// waitCounts waits until a queue's approximate counts are want. The counts
// are read from JetStream's stream and consumer state, which agree only once
// the consumer has caught up with the stream's last write, a moment later —
// like SQS's ApproximateNumberOf* attributes, they are eventually consistent.
func waitCounts(t *testing.T, s *Service, name string, want msgCounts) {
	t.Helper()
	var c msgCounts
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if c, err = s.counts(t.Context(), s.mustLookup(t, name)); err == nil && c == want {
			return
		}
	}
	t.Fatalf("counts of %s = %+v, %v; want %+v", name, c, err, want)
}

func (s *Service) mustLookup(t *testing.T, name string) *queue {
	q, err := s.lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// waitPolling waits until a receive is long-polling queue name (its pull
// request waits at the queue's consumer), so that what the test does next
// happens during the long poll rather than before it started.
func waitPolling(t *testing.T, s *Service, name string) {
	t.Helper()
	q := s.mustLookup(t, name)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		c, err := s.js.Consumer(t.Context(), q.stream, consumerName)
		if err != nil {
			t.Fatalf("consumer of %s: %v", name, err)
		}
		info, err := c.Info(t.Context())
		if err != nil {
			t.Fatalf("consumer info of %s: %v", name, err)
		}
		if info.NumWaiting > 0 {
			return
		}
	}
	t.Fatalf("no receive long-polling %s within 10s", name)
}

func TestVisibility(t *testing.T) {
	s, _ := start(t, t.TempDir())
	mustCreate(t, s, "q", nil)
	send(t, s, "q", "m")
	// The visibility timeout runs from the receive: measured from before it,
	// the lower bound holds however long the steps in between take.
	start := time.Now()
	first := receive(t, s, "q", ReceiveOptions{Visibility: dur(300 * time.Millisecond)})
	if len(first) != 1 {
		t.Fatal("no message")
	}
	waitCounts(t, s, "q", msgCounts{notVisible: 1})
	second := receive(t, s, "q", ReceiveOptions{Wait: dur(10 * time.Second), Visibility: dur(10 * time.Second)})
	if len(second) != 1 || second[0].ReceiveCount != 2 || !second[0].FirstReceive.Equal(first[0].FirstReceive) {
		t.Fatalf("after the visibility timeout: %+v", second)
	}
	// The upper bound only catches a message that came back much later than
	// its 300 ms (a loaded machine must not trip it), well inside the wait.
	if el := time.Since(start); el < 200*time.Millisecond || el > 5*time.Second {
		t.Errorf("message came back after %v, want ~300ms", el)
	}
	if second[0].ReceiptHandle == first[0].ReceiptHandle {
		t.Error("receipt handle did not change between receives")
	}
	// The stale handle cannot change visibility; the current one can.
	if err := s.ChangeVisibility(t.Context(), "q", first[0].ReceiptHandle, 0); code(err) != CodeMessageNotInflight {
		t.Fatalf("ChangeVisibility(stale) = %v", err)
	}
	if err := s.ChangeVisibility(t.Context(), "q", second[0].ReceiptHandle, 0); err != nil {
		t.Fatal(err)
	}
	third := receive(t, s, "q", ReceiveOptions{Wait: dur(2 * time.Second)})
	if len(third) != 1 || third[0].ReceiveCount != 3 {
		t.Fatalf("after visibility 0: %+v", third)
	}
	// An old handle still deletes (AWS: "the request succeeds").
	if err := s.Delete(t.Context(), "q", first[0].ReceiptHandle); err != nil {
		t.Fatal(err)
	}
	if m := receive(t, s, "q", ReceiveOptions{Wait: dur(time.Second), Visibility: dur(0)}); len(m) != 0 {
		t.Fatalf("deleted message received: %+v", m)
	}
	if err := s.ChangeVisibility(t.Context(), "q", third[0].ReceiptHandle, time.Second); code(err) != CodeMessageNotInflight {
		t.Fatalf("ChangeVisibility(deleted) = %v", err)
	}
}

func TestLongPollWokenBySend(t *testing.T) {
	s, _ := start(t, t.TempDir())
	mustCreate(t, s, "q", nil)
	got := make(chan []Message)
	go func() {
		m, _ := s.Receive(context.Background(), "q", ReceiveOptions{Max: 10, Wait: dur(10 * time.Second)})
		got <- m
	}()
	waitPolling(t, s, "q")
	sent := time.Now()
	send(t, s, "q", "wake")
	select {
	case m := <-got:
		if len(m) != 1 || m[0].Body != "wake" {
			t.Fatalf("long poll = %+v", m)
		}
		// Woken by the send, not by the end of its 10 s wait; the margin is
		// for a loaded machine.
		if el := time.Since(sent); el > 3*time.Second {
			t.Errorf("long poll returned %v after the send", el)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("long poll not woken by send")
	}
	// A long poll ends empty after its wait; StopPolling ends one at once.
	start := time.Now()
	if m := receive(t, s, "q", ReceiveOptions{Wait: dur(300 * time.Millisecond)}); len(m) != 0 || time.Since(start) < 250*time.Millisecond {
		t.Fatalf("empty long poll: %v after %v", m, time.Since(start))
	}
	go func() { time.Sleep(100 * time.Millisecond); s.StopPolling() }()
	start = time.Now()
	if m := receive(t, s, "q", ReceiveOptions{Wait: dur(10 * time.Second)}); len(m) != 0 || time.Since(start) > 5*time.Second {
		t.Fatalf("StopPolling: %v after %v", m, time.Since(start))
	}
}

func TestDelay(t *testing.T) {
	s, _ := start(t, t.TempDir())
	mustCreate(t, s, "q", map[string]string{AttrDelaySeconds: "1"})
	// The delay runs from the send: measured from before it, the lower bound
	// holds however long the steps in between take.
	sent := time.Now()
	send(t, s, "q", "queue default")
	if _, err := s.Send(t.Context(), "q", SendInput{Body: "immediate", Delay: dur(0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(t.Context(), "q", SendInput{Body: "too long", Delay: dur(901 * time.Second)}); code(err) != CodeInvalidParameterValue {
		t.Fatalf("Send(delay 901) = %v", err)
	}
	waitCounts(t, s, "q", msgCounts{delayed: 1, visible: 1})
	if got := bodies(receive(t, s, "q", ReceiveOptions{Max: 10})); !slices.Equal(got, []string{"immediate"}) {
		t.Fatalf("first receive = %v", got)
	}
	got := receive(t, s, "q", ReceiveOptions{Max: 10, Wait: dur(5 * time.Second)})
	if len(got) != 1 || got[0].Body != "queue default" || got[0].ReceiveCount != 1 {
		t.Fatalf("delayed receive = %+v", got)
	}
	if el := time.Since(sent); el < 700*time.Millisecond {
		t.Errorf("delayed message arrived after %v, before its 1 s delay", el)
	}
}

func TestRedrive(t *testing.T) {
	s, _ := start(t, t.TempDir())
	mustCreate(t, s, "dlq", nil)
	policy := `{"deadLetterTargetArn":"` + ARN("dlq") + `","maxReceiveCount":"2"}`
	mustCreate(t, s, "src", map[string]string{AttrRedrivePolicy: policy})
	attrs, err := s.Attributes(t.Context(), "src", []string{AttrRedrivePolicy})
	if err != nil || attrs[AttrRedrivePolicy] != `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":2}` {
		t.Fatalf("RedrivePolicy = %q, %v", attrs[AttrRedrivePolicy], err)
	}
	if srcs, _ := s.DeadLetterSources("dlq"); !slices.Equal(srcs, []string{"src"}) {
		t.Fatalf("DeadLetterSources = %v", srcs)
	}
	res := send(t, s, "src", "poison")
	for i := 1; i <= 2; i++ {
		m := receive(t, s, "src", ReceiveOptions{Wait: dur(2 * time.Second), Visibility: dur(0)})
		if len(m) != 1 || m[0].ReceiveCount != i {
			t.Fatalf("receive %d = %+v", i, m)
		}
	}
	if m := receive(t, s, "src", ReceiveOptions{Wait: dur(300 * time.Millisecond)}); len(m) != 0 {
		t.Fatalf("third receive got %+v; want it moved", m)
	}
	m := receive(t, s, "dlq", ReceiveOptions{Wait: dur(2 * time.Second)})
	if len(m) != 1 || m[0].ID != res.MessageID || m[0].Body != "poison" || m[0].DeadLetterFrom != ARN("src") || m[0].ReceiveCount != 3 {
		t.Fatalf("dead-letter receive = %+v", m)
	}
	if err := s.CreateQueue(t.Context(), "bad", map[string]string{AttrRedrivePolicy: `{"deadLetterTargetArn":"` + ARN("nope") + `","maxReceiveCount":1}`}, nil); code(err) != CodeInvalidParameterValue {
		t.Fatalf("redrive to a missing queue: %v", err)
	}
}

func TestCreateIdempotentAndAttributes(t *testing.T) {
	s, _ := start(t, t.TempDir())
	ctx := t.Context()
	mustCreate(t, s, "q", map[string]string{AttrVisibilityTimeout: "60"})
	mustCreate(t, s, "q", map[string]string{AttrVisibilityTimeout: "060"})
	mustCreate(t, s, "q", nil)
	if err := s.CreateQueue(ctx, "q", map[string]string{AttrVisibilityTimeout: "61"}, nil); code(err) != CodeQueueNameExists {
		t.Fatalf("create with other attributes = %v", err)
	}
	for _, tc := range []struct {
		attrs map[string]string
		code  string
	}{
		{map[string]string{AttrDelaySeconds: "901"}, CodeInvalidAttributeValue},
		{map[string]string{AttrMaximumMessageSize: "1023"}, CodeInvalidAttributeValue},
		{map[string]string{AttrMessageRetentionPeriod: "59"}, CodeInvalidAttributeValue},
		{map[string]string{AttrReceiveMessageWaitTimeSeconds: "21"}, CodeInvalidAttributeValue},
		{map[string]string{AttrVisibilityTimeout: "x"}, CodeInvalidAttributeValue},
		{map[string]string{"Bogus": "1"}, CodeInvalidAttributeName},
		{map[string]string{AttrRedrivePolicy: "{"}, CodeInvalidParameterValue},
		{map[string]string{AttrFifoQueue: "true"}, CodeUnsupportedOperation},
	} {
		if err := s.CreateQueue(ctx, "other", tc.attrs, nil); code(err) != tc.code {
			t.Errorf("CreateQueue(%v) = %v, want %s", tc.attrs, err, tc.code)
		}
	}
	for _, name := range []string{"", "a.b", "x y", string(make([]byte, 81))} {
		if err := s.CreateQueue(ctx, name, nil, nil); code(err) != CodeInvalidParameterValue {
			t.Errorf("CreateQueue(%q) = %v", name, err)
		}
	}
	all, err := s.Attributes(ctx, "q", []string{AttrAll})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		AttrVisibilityTimeout: "60", AttrMessageRetentionPeriod: "345600", AttrDelaySeconds: "0", AttrMaximumMessageSize: "262144",
		AttrReceiveMessageWaitTimeSeconds: "0", AttrQueueArn: ARN("q"), AttrApproximateNumberOfMessages: "0",
		AttrApproximateNumberOfMessagesNotVisible: "0", AttrApproximateNumberOfMessagesDelayed: "0", AttrSqsManagedSseEnabled: "true",
	}
	for k, v := range want {
		if all[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, all[k], v)
		}
	}
	if _, err := strconv.ParseInt(all[AttrCreatedTimestamp], 10, 64); err != nil || all[AttrLastModifiedTimestamp] == "" {
		t.Errorf("timestamps: %v", all)
	}
	if _, err := s.Attributes(ctx, "q", []string{"Nope"}); code(err) != CodeInvalidAttributeName {
		t.Errorf("Attributes(Nope) = %v", err)
	}
	if err := s.SetAttributes(ctx, "q", map[string]string{AttrVisibilityTimeout: "1", AttrPolicy: `{"Version":"2012-10-17"}`}); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Attributes(ctx, "q", []string{AttrVisibilityTimeout, AttrPolicy})
	if got[AttrVisibilityTimeout] != "1" || got[AttrPolicy] == "" {
		t.Fatalf("after SetAttributes: %v", got)
	}
	// The new queue visibility applies to the next receive: the message is
	// back within the longest wait (20 s), far sooner than the old 60 s.
	send(t, s, "q", "m")
	receive(t, s, "q", ReceiveOptions{})
	start := time.Now()
	if m := receive(t, s, "q", ReceiveOptions{Wait: dur(MaxWaitTime)}); len(m) != 1 {
		t.Fatalf("with VisibilityTimeout 1: %v after %v", m, time.Since(start))
	}
	if err := s.SetAttributes(ctx, "q", map[string]string{AttrQueueArn: "x"}); code(err) != CodeInvalidAttributeName {
		t.Fatalf("SetAttributes(QueueArn) = %v", err)
	}
	if err := s.SetAttributes(ctx, "nope", nil); code(err) != CodeQueueDoesNotExist {
		t.Fatalf("SetAttributes(nope) = %v", err)
	}
}

func TestListPurgeDelete(t *testing.T) {
	s, _ := start(t, t.TempDir())
	ctx := t.Context()
	for _, n := range []string{"b", "a1", "a2"} {
		mustCreate(t, s, n, nil)
	}
	if got := s.List("a"); !slices.Equal(got, []string{"a1", "a2"}) {
		t.Fatalf("List(a) = %v", got)
	}
	for i := range 5 {
		send(t, s, "b", fmt.Sprint(i))
	}
	receive(t, s, "b", ReceiveOptions{Max: 2})
	if err := s.PurgeQueue(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if err := s.PurgeQueue(ctx, "b"); code(err) != CodePurgeQueueInProgress {
		t.Fatalf("second purge = %v", err)
	}
	waitCounts(t, s, "b", msgCounts{})
	send(t, s, "b", "after purge")
	if m := receive(t, s, "b", ReceiveOptions{Max: 10}); len(m) != 1 {
		t.Fatalf("receive after purge = %+v", m)
	}
	send(t, s, "a1", "x")
	m := receive(t, s, "a1", ReceiveOptions{Visibility: dur(time.Hour)})
	if err := s.DeleteQueue(ctx, "a1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteQueue(ctx, "a1"); code(err) != CodeQueueDoesNotExist {
		t.Fatalf("second delete = %v", err)
	}
	if _, err := s.Send(ctx, "a1", SendInput{Body: "x"}); code(err) != CodeQueueDoesNotExist {
		t.Fatalf("send to deleted = %v", err)
	}
	// Created again, it is a new queue: empty, and old receipts are invalid.
	mustCreate(t, s, "a1", nil)
	if got := receive(t, s, "a1", ReceiveOptions{Max: 10}); len(got) != 0 {
		t.Fatalf("recreated queue has %v", got)
	}
	if err := s.Delete(ctx, "a1", m[0].ReceiptHandle); code(err) != CodeReceiptHandleIsInvalid {
		t.Fatalf("old receipt on recreated queue = %v", err)
	}
}

func TestSendValidation(t *testing.T) {
	s, _ := start(t, t.TempDir())
	mustCreate(t, s, "q", map[string]string{AttrMaximumMessageSize: "1024"})
	for _, tc := range []struct {
		name string
		in   SendInput
		code string
	}{
		{"empty", SendInput{}, CodeMissingParameter},
		{"control char", SendInput{Body: "a\x00b"}, CodeInvalidMessageContents},
		{"surrogate", SendInput{Body: "\xed\xa0\x80"}, CodeInvalidMessageContents},
		{"too big", SendInput{Body: string(slices.Repeat([]byte("x"), 1025))}, CodeInvalidParameterValue},
		{"attrs count toward size", SendInput{Body: string(slices.Repeat([]byte("x"), 1000)),
			Attributes: []Attribute{{Name: "n", DataType: "String", StringValue: string(slices.Repeat([]byte("y"), 30))}}}, CodeInvalidParameterValue},
		{"reserved name", SendInput{Body: "x", Attributes: []Attribute{{Name: "AWS.x", DataType: "String", StringValue: "v"}}}, CodeInvalidParameterValue},
		{"bad type", SendInput{Body: "x", Attributes: []Attribute{{Name: "a", DataType: "Float", StringValue: "1"}}}, CodeInvalidParameterValue},
		{"bad number", SendInput{Body: "x", Attributes: []Attribute{{Name: "a", DataType: "Number", StringValue: "1x"}}}, CodeInvalidParameterValue},
		{"empty binary", SendInput{Body: "x", Attributes: []Attribute{{Name: "a", DataType: "Binary"}}}, CodeInvalidParameterValue},
		{"duplicate", SendInput{Body: "x", Attributes: []Attribute{{Name: "a", DataType: "String", StringValue: "1"}, {Name: "a", DataType: "String", StringValue: "2"}}}, CodeInvalidParameterValue},
		{"ok", SendInput{Body: "\t\n\r é 😀"}, ""},
	} {
		if _, err := s.Send(t.Context(), "q", tc.in); code(err) != tc.code {
			t.Errorf("%s: Send = %v, want %s", tc.name, err, tc.code)
		}
	}
	if _, err := s.Send(t.Context(), "nope", SendInput{Body: "x"}); code(err) != CodeQueueDoesNotExist {
		t.Errorf("Send(nope) = %v", err)
	}
	for _, n := range []string{"1", "-1.5", "+.5", "1e10", "0.000", "12345678901234567890123456789012345678"} {
		if !validNumber(n) {
			t.Errorf("validNumber(%q) = false", n)
		}
	}
	for _, n := range []string{"", "-", ".", "1e", "0x1", "1.2.3", "123456789012345678901234567890123456789"} {
		if validNumber(n) {
			t.Errorf("validNumber(%q) = true", n)
		}
	}
}

func TestSendBatch(t *testing.T) {
	s, _ := start(t, t.TempDir())
	mustCreate(t, s, "q", nil)
	res, errs, err := s.SendBatch(t.Context(), "q", []SendInput{{Body: "a"}, {Body: ""}, {Body: "c", Delay: dur(0)}})
	if err != nil || errs[0] != nil || code(errs[1]) != CodeMissingParameter || errs[2] != nil || res[0].MessageID == "" {
		t.Fatalf("SendBatch = %v %v %v", res, errs, err)
	}
	if got := bodies(receive(t, s, "q", ReceiveOptions{Max: 10})); !slices.Equal(got, []string{"a", "c"}) {
		t.Fatalf("received %v", got)
	}
	if _, _, err := s.SendBatch(t.Context(), "q", nil); code(err) != CodeEmptyBatchRequest {
		t.Fatalf("empty batch = %v", err)
	}
	if _, _, err := s.SendBatch(t.Context(), "q", make([]SendInput, 11)); code(err) != CodeTooManyEntriesInBatch {
		t.Fatalf("11 entries = %v", err)
	}
	big := string(slices.Repeat([]byte("x"), 200<<10))
	if _, _, err := s.SendBatch(t.Context(), "q", []SendInput{{Body: big}, {Body: big}, {Body: big}, {Body: big}, {Body: big}, {Body: big}}); code(err) != CodeBatchRequestTooLong {
		t.Fatalf("1.2 MB batch = %v", err)
	}
}

// TestRestart: messages acknowledged by Send survive a restart on the same data
// dir, and an in-flight message stays invisible until its visibility timeout.
func TestRestart(t *testing.T) {
	dir := t.TempDir()
	s, stop := start(t, dir)
	mustCreate(t, s, "q", nil)
	for i := range 3 {
		send(t, s, "q", fmt.Sprint(i))
	}
	inflight := receive(t, s, "q", ReceiveOptions{Visibility: dur(2 * time.Second)})
	if len(inflight) != 1 {
		t.Fatal("no message")
	}
	time.Sleep(300 * time.Millisecond) // let JetStream flush the consumer state (it does ~10 times a second)
	stop()

	s, _ = start(t, dir)
	rest := receive(t, s, "q", ReceiveOptions{Max: 10})
	if len(rest) != 2 || slices.Contains(bodies(rest), inflight[0].Body) {
		t.Fatalf("after restart received %v; %q is in flight", bodies(rest), inflight[0].Body)
	}
	back := receive(t, s, "q", ReceiveOptions{Max: 10, Wait: dur(5 * time.Second)})
	if len(back) != 1 || back[0].Body != inflight[0].Body || back[0].ReceiveCount != 2 {
		t.Fatalf("after its visibility timeout: %+v", back)
	}
	// A handle from before the restart still works.
	if err := s.Delete(t.Context(), "q", inflight[0].ReceiptHandle); err != nil {
		t.Fatal(err)
	}
	for _, m := range rest {
		if err := s.Delete(t.Context(), "q", m.ReceiptHandle); err != nil {
			t.Fatal(err)
		}
	}
	waitCounts(t, s, "q", msgCounts{})
}

func TestConcurrentReceiversGetDistinctMessages(t *testing.T) {
	s, _ := start(t, t.TempDir())
	mustCreate(t, s, "q", nil)
	const n = 200
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { send(t, s, "q", strconv.Itoa(i)) })
	}
	wg.Wait()
	var mu sync.Mutex
	seen := map[string]int{}
	for range 4 {
		wg.Go(func() {
			for {
				// An empty receive ends this receiver: wait long enough that
				// only an empty queue, not a slow machine, gives one.
				ms, err := s.Receive(context.Background(), "q", ReceiveOptions{Max: 10, Wait: dur(2 * time.Second)})
				if err != nil || len(ms) == 0 {
					return
				}
				handles := make([]string, len(ms))
				mu.Lock()
				for i, m := range ms {
					seen[m.Body]++
					handles[i] = m.ReceiptHandle
				}
				mu.Unlock()
				if errs, err := s.DeleteBatch(context.Background(), "q", handles); err != nil || slices.ContainsFunc(errs, func(e error) bool { return e != nil }) {
					t.Errorf("DeleteBatch: %v %v", errs, err)
				}
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("received %d distinct messages, want %d", len(seen), n)
	}
	for b, c := range seen {
		if c != 1 {
			t.Errorf("message %s received %d times", b, c)
		}
	}
}

func TestReceiveValidation(t *testing.T) {
	s, _ := start(t, t.TempDir())
	mustCreate(t, s, "q", nil)
	for _, o := range []ReceiveOptions{{Max: 11}, {Max: -1}, {Wait: dur(21 * time.Second)}, {Visibility: dur(13 * time.Hour)}} {
		if _, err := s.Receive(t.Context(), "q", o); code(err) != CodeInvalidParameterValue {
			t.Errorf("Receive(%+v) = %v", o, err)
		}
	}
	if _, err := s.Receive(t.Context(), "nope", ReceiveOptions{}); code(err) != CodeQueueDoesNotExist {
		t.Errorf("Receive(nope) = %v", err)
	}
	send(t, s, "q", "x")
	m := receive(t, s, "q", ReceiveOptions{})
	if err := s.ChangeVisibility(t.Context(), "q", m[0].ReceiptHandle, 12*time.Hour); code(err) != CodeInvalidParameterValue {
		t.Errorf("ChangeVisibility(12h after receive) = %v", err)
	}
	if err := s.ChangeVisibility(t.Context(), "q", "x"+m[0].ReceiptHandle, time.Second); code(err) != CodeReceiptHandleIsInvalid {
		t.Errorf("ChangeVisibility(bad handle) = %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, err := s.Receive(ctx, "q", ReceiveOptions{Wait: dur(5 * time.Second)}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Receive with a cancelled context = %v", err)
	}
}

func TestTags(t *testing.T) {
	s, _ := start(t, t.TempDir())
	ctx := t.Context()
	if err := s.CreateQueue(ctx, "q", nil, map[string]string{"a": "1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ctx, "q", map[string]string{"b": "2"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Untag(ctx, "q", []string{"a"}); err != nil {
		t.Fatal(err)
	}
	if tags, _ := s.Tags("q"); len(tags) != 1 || tags["b"] != "2" {
		t.Fatalf("tags = %v", tags)
	}
}

func FuzzReceipt(f *testing.F) {
	q := newQueue(1, &record{ID: "00000000000000ff", Name: "q", Attributes: defaults(1024)})
	f.Add(makeReceipt(255, time.Now(), "$JS.ACK.SQS_S_q.sqs.1.2.3.1700000000000000000.0"))
	f.Add(makeReceipt(255, time.Now(), "$JS.ACK._.acc.SQS_S_q.sqs.1.2.3.1700000000000000000.0.xyz"))
	f.Add("")
	f.Fuzz(func(t *testing.T, h string) {
		r, ok := parseReceipt(h, q)
		if ok && (r.ack.stream != q.stream || r.ack.sseq == 0) {
			t.Fatalf("accepted %q as %+v", h, r)
		}
	})
}

func FuzzDecodeAttributes(f *testing.F) {
	f.Add(encodeAttributes(nil, []Attribute{{Name: "a", DataType: "Binary", BinaryValue: []byte{1}}, {Name: "b", DataType: "String", StringValue: "x"}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		attrs, err := decodeAttributes(b)
		if err != nil {
			return
		}
		again, err := decodeAttributes(encodeAttributes(nil, attrs))
		if err != nil || len(again) != len(attrs) {
			t.Fatalf("decode(encode(decode(%x))) = %v, %v; want %v", b, again, err, attrs)
		}
	})
}

func TestDeleteQueueEndsLongPoll(t *testing.T) {
	s, _ := start(t, t.TempDir())
	mustCreate(t, s, "q", nil)
	done := make(chan error, 1)
	go func() {
		_, err := s.Receive(context.Background(), "q", ReceiveOptions{Wait: dur(10 * time.Second)})
		done <- err
	}()
	waitPolling(t, s, "q")
	if err := s.DeleteQueue(t.Context(), "q"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if code(err) != CodeQueueDoesNotExist {
			t.Fatalf("long poll on a deleted queue = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("long poll not ended by DeleteQueue")
	}
}
