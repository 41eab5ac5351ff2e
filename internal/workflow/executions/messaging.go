package executions

import (
	"context"
	"encoding/json"

	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/workflow/engine"
	"github.com/nimbus-dev/nimbus/internal/workflow/jsonv"
)

// Messenger sends to queues and topics for the optimized integrations
// arn:aws:states:::sqs:sendMessage and arn:aws:states:::sns:publish (request-
// response and .waitForTaskToken). The app wires it onto the queue and topic
// services.
type Messenger interface {
	SendMessage(ctx context.Context, queueURL, body string) (messageID, md5OfBody string, err error)
	Publish(ctx context.Context, topicARN, message string, subject *string) (messageID string, err error)
}

// SetMessenger enables the SQS and SNS task integrations; call before Run.
func (s *Service) SetMessenger(m Messenger) { s.messenger = m }

// params reads a task's Parameters as an object.
func params(req engine.TaskRequest) (*jsonv.Object, bool) {
	v, err := jsonv.Parse(req.Input)
	o, ok := v.(*jsonv.Object)
	return o, err == nil && ok
}

// text returns a parameter as a string: strings as they are, other JSON encoded
// (Step Functions serialises a JSON MessageBody / Message).
func text(o *jsonv.Object, k string) (string, bool) {
	x, ok := o.Get(k)
	if !ok || x == nil {
		return "", false
	}
	if s, isStr := x.(string); isStr {
		return s, true
	}
	return jsonv.String(x), true
}

func serviceFailure(service string, err error) error {
	name := service + ".AmazonServiceException"
	if e, ok := lambda.AsError(err); ok {
		name = service + "." + e.Code
		return &engine.TaskError{Name: name, Cause: e.Message}
	}
	return &engine.TaskError{Name: name, Cause: "the request failed"}
}

func (n nested) sqsSendMessage(ctx context.Context, req engine.TaskRequest) (json.RawMessage, error) {
	o, ok := params(req)
	url, hasURL := text(o, "QueueUrl")
	body, hasBody := text(o, "MessageBody")
	if !ok || !hasURL || !hasBody {
		return nil, &engine.TaskError{Name: "States.Runtime", Cause: "sqs:sendMessage needs the parameters QueueUrl and MessageBody."}
	}
	id, md5, err := n.s.messenger.SendMessage(ctx, url, body)
	if err != nil {
		return nil, serviceFailure("SQS", err)
	}
	return json.Marshal(map[string]string{"MD5OfMessageBody": md5, "MessageId": id})
}

func (n nested) snsPublish(ctx context.Context, req engine.TaskRequest) (json.RawMessage, error) {
	o, ok := params(req)
	topic, hasTopic := text(o, "TopicArn")
	if !hasTopic {
		topic, hasTopic = text(o, "TargetArn")
	}
	msg, hasMsg := text(o, "Message")
	if !ok || !hasTopic || !hasMsg {
		return nil, &engine.TaskError{Name: "States.Runtime", Cause: "sns:publish needs the parameters TopicArn and Message."}
	}
	var subject *string
	if s, ok := text(o, "Subject"); ok {
		subject = &s
	}
	id, err := n.s.messenger.Publish(ctx, topic, msg, subject)
	if err != nil {
		return nil, serviceFailure("SNS", err)
	}
	return json.Marshal(map[string]string{"MessageId": id})
}
