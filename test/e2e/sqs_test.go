package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

func (s *server) sqsClient() *sqs.Client {
	return sqs.New(sqs.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(s.API),
		Credentials:      credentials.NewStaticCredentialsProvider("test", "test", ""),
		RetryMaxAttempts: 1,
	})
}

// TestSQSAndQueueDestination: the SQS API on the server's API address, and an
// async failure's invocation record delivered to a queue destination.
func TestSQSAndQueueDestination(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	q := s.sqsClient()
	ctx := context.Background()
	cq, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("failures")})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(aws.ToString(cq.QueueUrl), "/000000000000/failures") {
		t.Errorf("queue URL %s", aws.ToString(cq.QueueUrl))
	}
	if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: cq.QueueUrl, MessageBody: aws.String("hello")}); err != nil {
		t.Fatal(err)
	}
	rm, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: cq.QueueUrl, WaitTimeSeconds: 5})
	if err != nil || len(rm.Messages) != 1 || aws.ToString(rm.Messages[0].Body) != "hello" {
		t.Fatalf("receive: %v %+v", err, rm)
	}
	if _, err := q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: cq.QueueUrl, ReceiptHandle: rm.Messages[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}

	c := s.client()
	createFunction(t, c, "fails", types.RuntimeProvidedal2023, "bootstrap", goZip)
	_, err = c.PutFunctionEventInvokeConfig(ctx, &awslambda.PutFunctionEventInvokeConfigInput{
		FunctionName: aws.String("fails"), MaximumRetryAttempts: aws.Int32(1),
		DestinationConfig: &types.DestinationConfig{OnFailure: &types.OnFailure{Destination: aws.String("arn:aws:sqs:us-east-1:000000000000:failures")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("fails"), InvocationType: types.InvocationTypeEvent, Payload: []byte(`{"action":"error","text":"to the queue"}`)}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		rm, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: cq.QueueUrl, WaitTimeSeconds: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(rm.Messages) == 0 {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(aws.ToString(rm.Messages[0].Body)), &rec); err != nil {
			t.Fatalf("record %s: %v", aws.ToString(rm.Messages[0].Body), err)
		}
		rc := rec["requestContext"].(map[string]any)
		if rc["condition"] != "RetriesExhausted" || rc["approximateInvokeCount"] != 2.0 {
			t.Errorf("record: %v", rec)
		}
		return
	}
	t.Fatal("no invocation record arrived on the queue")
}
