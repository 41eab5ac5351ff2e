package e2e

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// TestSNSToSQS: a topic fans a published message out to a subscribed queue in
// the SNS envelope, through the real SDK clients against the server.
func TestSNSToSQS(t *testing.T) {
	s := startServer(t, t.TempDir())
	ctx := context.Background()
	n := sns.New(sns.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.API),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""), RetryMaxAttempts: 3})
	q := s.sqsClient()
	tp, err := n.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("orders")})
	if err != nil {
		t.Fatal(err)
	}
	cq, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("order-copies")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Subscribe(ctx, &sns.SubscribeInput{TopicArn: tp.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String("arn:aws:sqs:us-east-1:000000000000:order-copies")}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Publish(ctx, &sns.PublishInput{TopicArn: tp.TopicArn, Message: aws.String("order 42"), Subject: aws.String("new")}); err != nil {
		t.Fatal(err)
	}
	rm, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: cq.QueueUrl, WaitTimeSeconds: 10})
	if err != nil || len(rm.Messages) != 1 {
		t.Fatalf("receive: %v %+v", err, rm)
	}
	var env map[string]any
	if err := json.Unmarshal([]byte(aws.ToString(rm.Messages[0].Body)), &env); err != nil {
		t.Fatal(err)
	}
	if env["Type"] != "Notification" || env["Message"] != "order 42" || env["TopicArn"] != aws.ToString(tp.TopicArn) || env["Subject"] != "new" {
		t.Errorf("envelope: %v", env)
	}
}
