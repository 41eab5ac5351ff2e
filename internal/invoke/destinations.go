package invoke

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/sched"
)

// Sender delivers a message body to a queue or topic by ARN (the queue service
// and the topic service implement it). Destinations and DLQs of other kinds
// fail with a logged DestinationDeliveryFailures / DeadLetterErrors.
type Sender interface {
	Send(ctx context.Context, arn string, body []byte) error
}

// SetSender registers the sender for ARNs of service ("sqs" or "sns").
func (s *Service) SetSender(service string, snd Sender) {
	s.senders[service] = snd
}

// record is Lambda's asynchronous invocation record.
type record struct {
	Version        string          `json:"version"`
	Timestamp      string          `json:"timestamp"`
	RequestContext requestContext  `json:"requestContext"`
	RequestPayload json.RawMessage `json:"requestPayload"`
	Response       *responseCtx    `json:"responseContext,omitempty"`
	ResponsePay    json.RawMessage `json:"responsePayload,omitempty"`
}

type requestContext struct {
	RequestID              string `json:"requestId"`
	FunctionArn            string `json:"functionArn"`
	Condition              string `json:"condition"`
	ApproximateInvokeCount int    `json:"approximateInvokeCount"`
}

type responseCtx struct {
	StatusCode      int    `json:"statusCode"`
	ExecutedVersion string `json:"executedVersion"`
	FunctionError   string `json:"functionError,omitempty"`
}

// finish routes a finished event: a record to OnSuccess (condition Success) or
// OnFailure (otherwise), and the payload to the DLQ when it failed.
func (s *Service) finish(ctx context.Context, dlq *lambda.DeadLetterConfig, cfg *lambda.EventInvokeConfig, ev *asyncEvent, condition string, out *sched.Outcome) {
	ctx = context.WithoutCancel(ctx)
	q := ev.qualifier
	if q == "" {
		q = lambda.Latest
	}
	rec := record{
		Version:        "1.0",
		Timestamp:      time.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
		RequestContext: requestContext{RequestID: ev.id, FunctionArn: lambda.QualifiedARN(ev.fn, q), Condition: condition, ApproximateInvokeCount: ev.attempts},
		RequestPayload: asJSON(ev.payload),
	}
	if out != nil {
		rec.Response = &responseCtx{StatusCode: 200, ExecutedVersion: out.ExecutedVersion}
		if out.Result.ErrorType != "" {
			rec.Response.FunctionError = "Unhandled"
		}
		rec.ResponsePay = asJSON(out.Result.Payload)
	}
	dest := cfg.OnFailure()
	if condition == "Success" {
		dest = cfg.OnSuccess()
	} else {
		s.metrics.AsyncDropped(ev.fn)
		s.log.Warn("async event failed", "function", ev.fn, "request_id", ev.id, "condition", condition, "attempts", ev.attempts)
	}
	if dest != "" {
		body, _ := json.Marshal(rec)
		if err := s.deliver(ctx, dest, body); err != nil {
			s.metrics.DestinationFailure(ev.fn)
			s.log.Warn("destination delivery failed", "function", ev.fn, "destination", dest, "err", err)
		}
	}
	if condition != "Success" && dlq != nil && dlq.TargetArn != "" {
		if err := s.deliver(ctx, dlq.TargetArn, ev.payload); err != nil {
			s.metrics.DeadLetterError(ev.fn)
			s.log.Warn("dead-letter delivery failed", "function", ev.fn, "target", dlq.TargetArn, "err", err)
		}
	}
}

// deliver sends body to a function (async invoke), queue or topic ARN.
func (s *Service) deliver(ctx context.Context, arn string, body []byte) error {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 || parts[0] != "arn" {
		return lambda.InvalidParameter("not an ARN: %s", arn)
	}
	switch parts[2] {
	case "lambda":
		_, err := s.Invoke(ctx, Request{FunctionName: arn, Type: lambda.Event, Payload: body})
		return err
	case "sqs", "sns":
		if snd := s.senders[parts[2]]; snd != nil {
			return snd.Send(ctx, arn, body)
		}
	}
	return lambda.InvalidParameter("destinations of service %s are not supported yet: %s", parts[2], arn)
}

func asJSON(b []byte) json.RawMessage {
	if json.Valid(b) {
		return b
	}
	q, _ := json.Marshal(string(b))
	return q
}
