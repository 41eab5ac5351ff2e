package topic

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-dev/nimbus/internal/events/queue"
	"github.com/nimbus-dev/nimbus/internal/invoke"
	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// snsSenderID is the SenderId of messages SNS puts in queues.
const snsSenderID = "AIDAIT2UOQQY3AUEKVGXU"

// maxBackoff caps the delay between retries to functions and queues (the
// backoff phase of AWS's policy for AWS-managed endpoints).
const maxBackoff = 20 * time.Second

// permanentError is a delivery that can never succeed (the function or queue
// does not exist, the endpoint refused it with a 4xx); it is not retried.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return &permanentError{err} }

// deliver delivers one stored delivery and settles it: acknowledged when it
// succeeded, failed for good or its subscription is gone; redelivered after a
// delay otherwise (JetStream counts the attempts).
func (s *Service) deliver(ctx context.Context, msg jetstream.Msg) {
	var d delivery
	if err := json.Unmarshal(msg.Data(), &d); err != nil {
		s.log.Error("undecodable delivery dropped", "subject", msg.Subject(), "err", err)
		msg.Term()
		return
	}
	md, err := msg.Metadata()
	if err != nil {
		msg.Nak()
		return
	}
	attempt := int(md.NumDelivered)
	if sub := s.subscriptionByID(d.Sub); sub == nil || sub.rec.Topic != d.Topic {
		s.log.Debug("delivery to a deleted subscription dropped", "subscription", SubscriptionARN(d.Topic, d.Sub), "message_id", d.ID)
		msg.Ack()
		return
	}
	err = s.send(ctx, &d)
	switch {
	case err == nil:
		msg.Ack()
	case ctx.Err() != nil:
		msg.Nak() // shutting down: the next start delivers it
	case errors.As(err, new(*permanentError)) || d.web() && attempt > d.Retries:
		s.log.Warn("delivery failed", "subscription", SubscriptionARN(d.Topic, d.Sub), "type", d.Type,
			"message_id", d.ID, "attempts", attempt, "err", err)
		s.deadLetter(ctx, &d)
		msg.Ack()
	default:
		s.log.Debug("delivery failed; will retry", "subscription", SubscriptionARN(d.Topic, d.Sub), "attempt", attempt, "err", err)
		msg.NakWithDelay(s.retryDelay(&d, attempt))
	}
}

// retryDelay is the wait after failed attempt n (1-based).
func (s *Service) retryDelay(d *delivery, n int) time.Duration {
	if d.web() {
		lo, hi := time.Duration(d.MinDelay)*time.Millisecond, time.Duration(d.MaxDelay)*time.Millisecond
		if d.Retries <= 1 || hi <= lo {
			return lo
		}
		return lo + (hi-lo)*time.Duration(min(n-1, d.Retries-1))/time.Duration(d.Retries-1)
	}
	return min(s.cfg.RetryBase<<min(n-1, 20), maxBackoff)
}

func (s *Service) send(ctx context.Context, d *delivery) error {
	switch d.Protocol {
	case ProtocolLambda:
		return s.sendLambda(ctx, d)
	case ProtocolSQS:
		return s.sendSQS(ctx, d, d.Endpoint)
	case ProtocolHTTP, ProtocolHTTPS:
		return s.sendHTTP(ctx, d)
	}
	return permanent(fmt.Errorf("protocol %s does not deliver", d.Protocol))
}

// sendLambda invokes the function asynchronously with the SNS event. The
// request id is derived from the message and the subscription, so a delivery
// repeated within the async queue's deduplication window is invoked once.
func (s *Service) sendLambda(ctx context.Context, d *delivery) error {
	_, err := s.inv.Invoke(ctx, invoke.Request{FunctionName: d.Endpoint, Type: lambda.Event,
		Payload: s.lambdaEvent(d), RequestID: deliveryRequestID(d)})
	if e, ok := lambda.AsError(err); ok && e.Status < 500 && e.Status != http.StatusTooManyRequests {
		return permanent(err)
	}
	return err
}

// sendSQS sends the envelope (or, raw, the message and its attributes) to a queue.
func (s *Service) sendSQS(ctx context.Context, d *delivery, arn string) error {
	name, ok := queue.NameFromARN(arn)
	if !ok {
		return permanent(fmt.Errorf("not a queue of this installation: %s", arn))
	}
	in := queue.SendInput{SenderID: snsSenderID, GroupID: d.GroupID}
	if d.Raw && d.Type == TypeNotification {
		in.Body = d.Message
		for _, a := range d.Attrs {
			in.Attributes = append(in.Attributes, queue.Attribute{Name: a.Name, DataType: a.DataType,
				StringValue: a.StringValue, BinaryValue: a.BinaryValue})
		}
	} else {
		in.Body = s.envelope(d)
	}
	_, err := s.queues.Send(ctx, name, in)
	if _, ok := lambda.AsError(err); ok {
		return permanent(err)
	}
	return err
}

// sendHTTP POSTs the envelope (or, raw, the message) to an HTTP/S endpoint:
// 2xx is delivered, 429, 5xx and network errors are retried, anything else
// failed for good.
func (s *Service) sendHTTP(ctx context.Context, d *delivery) error {
	body := s.envelope(d)
	raw := d.Raw && d.Type == TypeNotification
	if raw {
		body = d.Message
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.Endpoint, strings.NewReader(body))
	if err != nil {
		return permanent(err)
	}
	ct := d.ContentType
	if ct == "" {
		ct = "text/plain; charset=UTF-8"
	}
	// AWS's header names, as it spells them.
	h := req.Header
	h["Content-Type"] = []string{ct}
	h["User-Agent"] = []string{"Amazon Simple Notification Service Agent"}
	h["x-amz-sns-message-type"] = []string{d.Type}
	h["x-amz-sns-message-id"] = []string{d.ID}
	h["x-amz-sns-topic-arn"] = []string{ARN(d.Topic)}
	if d.Type == TypeNotification {
		h["x-amz-sns-subscription-arn"] = []string{SubscriptionARN(d.Topic, d.Sub)}
	}
	if raw {
		h["x-amz-sns-rawdelivery"] = []string{"true"}
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("endpoint answered %s", resp.Status)
	}
	return permanent(fmt.Errorf("endpoint answered %s", resp.Status))
}

// deadLetter moves a failed notification to its subscription's dead-letter
// queue, if it has one.
func (s *Service) deadLetter(ctx context.Context, d *delivery) {
	if d.DLQ == "" || d.Type != TypeNotification {
		return
	}
	err := s.sendSQS(context.WithoutCancel(ctx), d, queue.ARN(d.DLQ))
	if err != nil {
		s.log.Warn("dead-letter delivery failed", "subscription", SubscriptionARN(d.Topic, d.Sub), "queue", d.DLQ, "err", err)
	}
}

// deliveryRequestID is a UUID determined by a delivery's message and subscription.
func deliveryRequestID(d *delivery) string {
	sum := sha256.Sum256([]byte(d.ID + "/" + d.Sub))
	return lambda.FormatUUID([16]byte(sum[:16]), 4)
}
