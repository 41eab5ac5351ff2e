package e2e

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// TestEventSourceMapping: a queue mapped to a Python function with
// ReportBatchItemFailures: succeeded messages are deleted, the reported one
// stays and is received again.
func TestEventSourceMapping(t *testing.T) {
	s := startServer(t, t.TempDir())
	q := s.sqsClient()
	c := s.client()
	ctx := context.Background()
	cq, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("orders"), Attributes: map[string]string{"VisibilityTimeout": "2"}})
	if err != nil {
		t.Fatal(err)
	}
	createFunction(t, c, "consumer", types.RuntimePython311, "app.handler", pySQS)
	m, err := c.CreateEventSourceMapping(ctx, &awslambda.CreateEventSourceMappingInput{
		EventSourceArn: aws.String("arn:aws:sqs:us-east-1:000000000000:orders"), FunctionName: aws.String("consumer"),
		BatchSize: aws.Int32(10), FunctionResponseTypes: []types.FunctionResponseType{types.FunctionResponseTypeReportBatchItemFailures},
	})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(m.State) != "Enabled" || aws.ToString(m.FunctionArn) != "arn:aws:lambda:us-east-1:000000000000:function:consumer" {
		t.Errorf("mapping: %+v", m)
	}
	for _, body := range []string{"ok 1", "ok 2", "please fail"} {
		if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: cq.QueueUrl, MessageBody: aws.String(body)}); err != nil {
			t.Fatal(err)
		}
	}
	count := func(attr string) int {
		a, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: cq.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll}})
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.Atoi(a.Attributes[attr])
		return n
	}
	waitFor(t, "the two good messages to be deleted", 30*time.Second, func() bool {
		return count("ApproximateNumberOfMessages")+count("ApproximateNumberOfMessagesNotVisible") == 1
	})
	// The failed one comes back after the visibility timeout and is retried.
	out, err := c.ListEventSourceMappings(ctx, &awslambda.ListEventSourceMappingsInput{FunctionName: aws.String("consumer")})
	if err != nil || len(out.EventSourceMappings) != 1 {
		t.Fatalf("list: %v %+v", err, out)
	}
	if _, err := c.UpdateEventSourceMapping(ctx, &awslambda.UpdateEventSourceMappingInput{UUID: m.UUID, Enabled: aws.Bool(false)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteEventSourceMapping(ctx, &awslambda.DeleteEventSourceMappingInput{UUID: m.UUID}); err != nil {
		t.Fatal(err)
	}
	// The failed message becomes visible again (within its 2 s visibility
	// timeout of the mapping's last receive) and nobody polls it: receive it.
	var rm *sqs.ReceiveMessageOutput
	for deadline := time.Now().Add(30 * time.Second); ; {
		rm, err = q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: cq.QueueUrl, WaitTimeSeconds: 5,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount}})
		if err != nil || len(rm.Messages) > 0 || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || len(rm.Messages) != 1 || aws.ToString(rm.Messages[0].Body) != "please fail" {
		t.Fatalf("the failed message: %v %+v", err, rm)
	}
	if n, _ := strconv.Atoi(rm.Messages[0].Attributes["ApproximateReceiveCount"]); n < 2 {
		t.Errorf("receive count %d: the mapping should have received it", n)
	}
}
