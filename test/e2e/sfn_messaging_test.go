package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// TestSFNSendMessage: a Task with the sqs:sendMessage integration puts a
// message on a queue, received through the SQS API.
func TestSFNSendMessage(t *testing.T) {
	s := startServer(t, t.TempDir())
	ctx := context.Background()
	q := s.sqsClient()
	cq, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("from-workflow")})
	if err != nil {
		t.Fatal(err)
	}
	c := s.sfn()
	def := `{"StartAt":"Send","States":{"Send":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage",
	  "Parameters":{"QueueUrl":"` + aws.ToString(cq.QueueUrl) + `","MessageBody.$":"$.order"},"End":true}}}`
	sm, err := c.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("sender"), Definition: aws.String(def),
		RoleArn: aws.String("arn:aws:iam::000000000000:role/sfn")})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: sm.StateMachineArn, Input: aws.String(`{"order":{"id":42}}`)})
	if err != nil {
		t.Fatal(err)
	}
	out := waitExec(t, c, aws.ToString(ex.ExecutionArn), 30*time.Second)
	if out.Status != sfntypes.ExecutionStatusSucceeded || !strings.Contains(aws.ToString(out.Output), "MessageId") {
		t.Fatalf("execution: %s %s %s", out.Status, aws.ToString(out.Output), aws.ToString(out.Cause))
	}
	rm, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: cq.QueueUrl, WaitTimeSeconds: 5})
	if err != nil || len(rm.Messages) != 1 || aws.ToString(rm.Messages[0].Body) != `{"id":42}` {
		t.Fatalf("receive: %v %+v", err, rm)
	}
}
