package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

// TestTopicAndScheduleInvokeFunctions: a topic fans out to a real function with
// the SNS event shape, and a schedule rule invokes a real function with the
// EventBridge "Scheduled Event" payload.
func TestTopicAndScheduleInvokeFunctions(t *testing.T) {
	s := startServer(t, t.TempDir())
	ctx := context.Background()
	url, got := collector(t)
	c := s.client()
	createFunction(t, c, "listener", types.RuntimeNodejs20x, "index.handler", nodeSink, func(in *awslambda.CreateFunctionInput) {
		in.Environment = &types.Environment{Variables: map[string]string{"SINK_URL": url}}
	})
	creds := credentials.NewStaticCredentialsProvider("test", "test", "")
	n := sns.New(sns.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.API), Credentials: creds, RetryMaxAttempts: 3})
	tp, err := n.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("news")})
	if err != nil {
		t.Fatal(err)
	}
	fnARN := "arn:aws:lambda:us-east-1:000000000000:function:listener"
	if _, err := n.Subscribe(ctx, &sns.SubscribeInput{TopicArn: tp.TopicArn, Protocol: aws.String("lambda"), Endpoint: aws.String(fnARN)}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Publish(ctx, &sns.PublishInput{TopicArn: tp.TopicArn, Message: aws.String("extra extra")}); err != nil {
		t.Fatal(err)
	}
	eb := eventbridge.New(eventbridge.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.API), Credentials: creds, RetryMaxAttempts: 1})
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("every-minute"), ScheduleExpression: aws.String("cron(* * * * ? *)")}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("every-minute"), Targets: []ebtypes.Target{{Id: aws.String("fn"), Arn: aws.String(fnARN)}}}); err != nil {
		t.Fatal(err)
	}
	var snsEvent, scheduled map[string]any
	waitFor(t, "the SNS event and a scheduled event", 90*time.Second, func() bool {
		for _, line := range strings.Split(got(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) != nil {
				continue
			}
			if _, ok := m["Records"]; ok {
				snsEvent = m
			}
			if m["detail-type"] == "Scheduled Event" {
				scheduled = m
			}
		}
		return snsEvent != nil && scheduled != nil
	})
	rec := snsEvent["Records"].([]any)[0].(map[string]any)
	if rec["EventSource"] != "aws:sns" || rec["Sns"].(map[string]any)["Message"] != "extra extra" {
		t.Errorf("SNS event: %v", rec)
	}
	if scheduled["source"] != "aws.events" || !strings.HasSuffix(scheduled["resources"].([]any)[0].(string), ":rule/every-minute") {
		t.Errorf("scheduled event: %v", scheduled)
	}
}
