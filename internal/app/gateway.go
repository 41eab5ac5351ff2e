package app

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/nimbus-dev/nimbus/internal/awsapi/sfnapi"
	"github.com/nimbus-dev/nimbus/internal/awsapi/sigv4"
	"github.com/nimbus-dev/nimbus/internal/events/queue"
	"github.com/nimbus-dev/nimbus/internal/events/topic"
	"github.com/nimbus-dev/nimbus/internal/gateway"
	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/registry"
	"github.com/nimbus-dev/nimbus/internal/workflow/executions"
)

// wireGateway gives the gateway its service integration targets (queues,
// topics, workflows) and the function URLs of the registry. verifier is nil
// when the server has no access keys (AWS_IAM function URLs then refuse
// every request).
func wireGateway(gw *gateway.Gateway, reg *registry.Registry, verifier *sigv4.Verifier, q *queue.Service, t *topic.Service, wf *executions.Service) {
	gw.SetServices(gateway.Services{Queues: gwQueues{q}, Topics: gwTopics{t}, Workflows: gwWorkflows{wf}})
	var v gateway.RequestVerifier
	if verifier != nil {
		v = verifier
	}
	gw.SetFunctionURLs(gwURLs{reg}, v)
}

// gwQueues is SQS-SendMessage over the queue service.
type gwQueues struct{ q *queue.Service }

func (a gwQueues) SendMessage(ctx context.Context, in gateway.SendMessageInput) (gateway.SendMessageOutput, error) {
	name, ok := queueNameOf(in.QueueURL)
	if !ok || !a.q.Exists(name) {
		return gateway.SendMessageOutput{}, queue.Errorf(queue.CodeQueueDoesNotExist, "The specified queue does not exist.")
	}
	if in.MessageDeduplicationID != "" {
		return gateway.SendMessageOutput{}, queue.Errorf(queue.CodeInvalidParameterValue, "The request include parameter that is not valid for this queue type")
	}
	si := queue.SendInput{Body: in.MessageBody, GroupID: in.MessageGroupID, TraceHeader: in.TraceHeader, SenderID: lambda.Account}
	if d := in.DelaySeconds; d != nil {
		if *d < 0 || *d > 900 {
			return gateway.SendMessageOutput{}, queue.Errorf(queue.CodeInvalidParameterValue, "Value %d for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.", *d)
		}
		dd := secondsDuration(*d)
		si.Delay = &dd
	}
	for n, v := range in.MessageAttributes {
		at := queue.Attribute{Name: n, DataType: v.DataType, BinaryValue: v.BinaryValue}
		if v.StringValue != nil {
			at.StringValue = *v.StringValue
		}
		if at.IsBinary() != (v.StringValue == nil) {
			return gateway.SendMessageOutput{}, queue.Errorf(queue.CodeInvalidParameterValue, "Message (user) attribute '%s' must contain a non-empty value of message attribute type '%s'.", n, v.DataType)
		}
		si.Attributes = append(si.Attributes, at)
	}
	res, err := a.q.Send(ctx, name, si)
	if err != nil {
		return gateway.SendMessageOutput{}, err
	}
	return gateway.SendMessageOutput{MessageId: res.MessageID, MD5OfMessageBody: res.MD5OfBody,
		MD5OfMessageAttributes: res.MD5OfAttributes, MD5OfMessageSystemAttributes: res.MD5OfSystemAttributes}, nil
}

// queueNameOf returns the queue name of a queue URL (…/<account>/<name>).
func queueNameOf(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", false
	}
	account, name, ok := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	return name, ok && account == lambda.Account && queue.ValidName(name)
}

// gwTopics is SNS-Publish over the topic service.
type gwTopics struct{ t *topic.Service }

func (a gwTopics) Publish(ctx context.Context, in gateway.PublishInput) (gateway.PublishOutput, error) {
	pin := topic.PublishInput{TopicARN: in.TopicARN, Message: in.Message, Subject: in.Subject, Structure: in.MessageStructure,
		GroupID: in.MessageGroupID, DeduplicationID: in.MessageDeduplicationID}
	for n, v := range in.MessageAttributes {
		at := topic.Attribute{Name: n, DataType: v.DataType, BinaryValue: v.BinaryValue}
		if v.StringValue != nil {
			at.StringValue = *v.StringValue
		}
		pin.Attributes = append(pin.Attributes, at)
	}
	id, err := a.t.Publish(ctx, pin)
	return gateway.PublishOutput{MessageId: id}, err
}

// gwWorkflows is StepFunctions-StartExecution and -StartSyncExecution over
// the execution service; results are shaped as the Step Functions API's.
type gwWorkflows struct{ wf *executions.Service }

func (a gwWorkflows) StartExecution(ctx context.Context, in gateway.StartExecutionInput) (any, error) {
	e, err := a.wf.Start(ctx, startInput(in))
	if err != nil {
		return nil, err
	}
	return sfnapi.StartOutput(e), nil
}

func (a gwWorkflows) StartSyncExecution(ctx context.Context, in gateway.StartExecutionInput) (any, error) {
	e, err := a.wf.StartSync(ctx, startInput(in))
	if err != nil {
		return nil, err
	}
	return sfnapi.StartSyncOutput(e), nil
}

func startInput(in gateway.StartExecutionInput) executions.StartInput {
	return executions.StartInput{MachineARN: in.StateMachineARN, Name: in.Name, Input: in.Input, TraceHeader: in.TraceHeader}
}

// gwURLs finds function URLs in the registry.
type gwURLs struct{ reg *registry.Registry }

func (a gwURLs) LookupURL(id string) (gateway.FunctionURL, bool) {
	fn, q, cfg, ok := a.reg.LookupURL(id)
	if !ok {
		return gateway.FunctionURL{}, false
	}
	u := gateway.FunctionURL{URLID: id, Function: fn.Latest.FunctionName, Qualifier: q, AuthType: cfg.AuthType, InvokeMode: cfg.InvokeMode}
	if c := cfg.Cors; c != nil {
		u.CORS = &gateway.CORS{AllowOrigins: c.AllowOrigins, AllowMethods: c.AllowMethods, AllowHeaders: c.AllowHeaders, ExposeHeaders: c.ExposeHeaders}
		if c.MaxAge != nil {
			u.CORS.MaxAge = *c.MaxAge
		}
		if c.AllowCredentials != nil {
			u.CORS.AllowCredentials = *c.AllowCredentials
		}
	}
	return u, true
}

func secondsDuration(n int) time.Duration { return time.Duration(n) * time.Second }
