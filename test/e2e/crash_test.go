package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// TestCrashUnderLoad: under a steady stream of async invokes and queue sends,
// kill -9 the server, restart it, and count: every acknowledged event runs and
// every acknowledged message is received at least once.
func TestCrashUnderLoad(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	c, q := s.client(), s.sqsClient()
	ctx := context.Background()
	url, got := collector(t)
	createFunction(t, c, "counter", types.RuntimeProvidedal2023, "bootstrap", goZip)
	cq, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("stream")})
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var ackedEvents, ackedMsgs []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; i < 2000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			text := fmt.Sprintf("ev-%d", i)
			p, _ := json.Marshal(map[string]any{"action": "post", "url": url, "text": text})
			if _, err := c.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("counter"), InvocationType: types.InvocationTypeEvent, Payload: p}); err == nil {
				mu.Lock()
				ackedEvents = append(ackedEvents, text)
				mu.Unlock()
			}
		}
	})
	wg.Go(func() {
		for i := 0; i < 5000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			body := fmt.Sprintf("msg-%d", i)
			if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: cq.QueueUrl, MessageBody: aws.String(body)}); err == nil {
				mu.Lock()
				ackedMsgs = append(ackedMsgs, body)
				mu.Unlock()
			}
		}
	})
	time.Sleep(1500 * time.Millisecond)
	// However slowly a loaded machine got going, kill it only once both
	// kinds of write have been acknowledged.
	waitFor(t, "acknowledged async events and queue messages", 60*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(ackedEvents) > 0 && len(ackedMsgs) > 0
	})
	s.kill9()
	close(stop)
	wg.Wait()
	t.Logf("acknowledged before the crash: %d async events, %d queue messages", len(ackedEvents), len(ackedMsgs))
	if len(ackedEvents) == 0 || len(ackedMsgs) == 0 {
		t.Fatal("nothing was acknowledged before the crash")
	}

	s2 := startServer(t, dir)
	q2 := s2.sqsClient()
	seen := map[string]int{}
	deadline := time.Now().Add(90 * time.Second)
	for len(seen) < len(ackedMsgs) && time.Now().Before(deadline) {
		rm, err := q2.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(s2.API + "/000000000000/stream"), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range rm.Messages {
			seen[aws.ToString(m.Body)]++
			q2.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(s2.API + "/000000000000/stream"), ReceiptHandle: m.ReceiptHandle})
		}
	}
	lostMsgs, dupMsgs := 0, 0
	for _, m := range ackedMsgs {
		if seen[m] == 0 {
			lostMsgs++
		}
		if seen[m] > 1 {
			dupMsgs++
		}
	}
	counts := func() map[string]int {
		out := map[string]int{}
		for _, line := range strings.Split(got(), "\n") {
			if line != "" {
				out[line]++
			}
		}
		return out
	}
	waitFor(t, "every acknowledged async event to run", 90*time.Second, func() bool {
		ran := counts()
		for _, e := range ackedEvents {
			if ran[e] == 0 {
				return false
			}
		}
		return true
	})
	dupEvents := 0
	for _, n := range counts() {
		if n > 1 {
			dupEvents++
		}
	}
	t.Logf("after restart: %d/%d messages received (%d lost, %d duplicated); all %d events ran (%d duplicated)",
		len(ackedMsgs)-lostMsgs, len(ackedMsgs), lostMsgs, dupMsgs, len(ackedEvents), dupEvents)
	if lostMsgs > 0 {
		t.Errorf("%d acknowledged queue messages lost", lostMsgs)
	}
}
