package topic

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// Streams and consumers (part of the on-disk format; see the package comment).
const (
	PublishStream    = "SNS_PUBLISH"
	publishSubject   = "sns.publish."
	fanoutConsumer   = "sns-fanout"
	DeliveryStream   = "SNS_DELIVERY"
	deliverySubject  = "sns.deliver."
	deliveryConsumer = "sns-deliver"

	// fanoutWorkers bounds messages fanned out at once.
	fanoutWorkers = 8
	// dedupWindow is how long JetStream remembers message ids: a fan-out
	// repeated within it (after a crash) stores no duplicate deliveries.
	dedupWindow = 10 * time.Minute
)

// Message types (the Type of the JSON envelope, header x-amz-sns-message-type).
const (
	TypeNotification             = "Notification"
	TypeSubscriptionConfirmation = "SubscriptionConfirmation"
)

// delivery is one message for one subscription, as stored in SNS_DELIVERY (JSON).
type delivery struct {
	Sub       string      `json:"sub"`   // subscription id
	Topic     string      `json:"topic"` // topic name
	Protocol  string      `json:"protocol"`
	Endpoint  string      `json:"endpoint"`
	Raw       bool        `json:"raw,omitempty"`
	Type      string      `json:"type"`
	Token     string      `json:"token,omitempty"` // SubscriptionConfirmation
	ID        string      `json:"id"`              // MessageId
	Subject   string      `json:"subject,omitempty"`
	Message   string      `json:"message"` // as delivered to the protocol
	Timestamp int64       `json:"ts"`      // unix ms
	Attrs     []Attribute `json:"attrs,omitempty"`
	GroupID   string      `json:"group,omitempty"`
	SigVer    string      `json:"sigVersion,omitempty"`
	// HTTP/S: retries after the first attempt, the delays between attempts
	// (ms, growing linearly from min to max), the Content-Type.
	Retries     int    `json:"retries,omitempty"`
	MinDelay    int64  `json:"minDelay,omitempty"`
	MaxDelay    int64  `json:"maxDelay,omitempty"`
	ContentType string `json:"contentType,omitempty"`
	// DLQ is the dead-letter queue (RedrivePolicy) of failed notifications.
	DLQ string `json:"dlq,omitempty"`
}

func (d *delivery) web() bool { return d.Protocol == ProtocolHTTP || d.Protocol == ProtocolHTTPS }

func (s *Service) openStreams(ctx context.Context) error {
	for _, st := range []struct{ stream, subject, consumer string }{
		{PublishStream, publishSubject, fanoutConsumer},
		{DeliveryStream, deliverySubject, deliveryConsumer},
	} {
		_, err := s.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name:       st.stream,
			Subjects:   []string{st.subject + ">"},
			Retention:  jetstream.WorkQueuePolicy,
			Storage:    jetstream.FileStorage,
			Duplicates: dedupWindow,
		})
		if err != nil {
			return fmt.Errorf("topic: stream %s: %w", st.stream, err)
		}
		cons, err := s.js.CreateOrUpdateConsumer(ctx, st.stream, jetstream.ConsumerConfig{
			Durable:       st.consumer,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       2*s.cfg.HTTPTimeout + 5*time.Second, // a dead worker's message comes back after it
			MaxDeliver:    -1,
			MaxAckPending: 10000,
		})
		if err != nil {
			return fmt.Errorf("topic: consumer %s: %w", st.consumer, err)
		}
		if st.stream == PublishStream {
			s.fanoutCons = cons
		} else {
			s.deliverCons = cons
		}
	}
	return nil
}

// fanOut turns one published message into a delivery per matching confirmed
// subscription, and acknowledges it once they are all stored. If any could
// not be stored it comes back; ids make the repeated ones no-ops.
func (s *Service) fanOut(ctx context.Context, msg jetstream.Msg) {
	var p published
	if err := json.Unmarshal(msg.Data(), &p); err != nil {
		s.log.Error("undecodable published message dropped", "subject", msg.Subject(), "err", err)
		msg.Term()
		return
	}
	s.mu.RLock()
	t := s.topics[p.Topic]
	s.mu.RUnlock()
	if t == nil || t.rec.ID != p.TopicID {
		s.log.Debug("message of a deleted topic dropped", "topic", p.Topic, "message_id", p.ID)
		msg.Ack()
		return
	}
	var futures []jetstream.PubAckFuture
	var err error
	for _, sub := range s.subscriptionsOf(t.rec) {
		if sub.rec.Pending || !sub.accepts(&p) {
			continue
		}
		var f jetstream.PubAckFuture
		f, err = s.js.PublishMsgAsync(deliveryMsg(s.notification(t.rec, sub, &p)), jetstream.WithMsgID(p.ID+"."+sub.rec.ID))
		if err != nil {
			break
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case e := <-f.Err():
			err = e
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("fan-out failed; will retry", "topic", p.Topic, "message_id", p.ID, "err", err)
		}
		msg.NakWithDelay(time.Second)
		return
	}
	msg.Ack()
}

// accepts reports whether the subscription's filter policy passes p.
func (sub *subscription) accepts(p *published) bool {
	if sub.policy == nil {
		return true
	}
	if sub.scope == ScopeBody {
		return sub.policy.MatchBody(p.content(sub.rec.Protocol))
	}
	return sub.policy.MatchAttributes(p.Attrs)
}

func deliveryMsg(d *delivery) *nats.Msg {
	data, _ := json.Marshal(d)
	return &nats.Msg{Subject: deliverySubject + d.Topic, Data: data, Header: nats.Header{}}
}

// notification is the delivery of p to sub.
func (s *Service) notification(t *topicRecord, sub *subscription, p *published) *delivery {
	d := &delivery{Sub: sub.rec.ID, Topic: t.Name, Protocol: sub.rec.Protocol, Endpoint: sub.rec.Endpoint,
		Raw: sub.raw(), Type: TypeNotification, ID: p.ID, Subject: p.Subject, Message: p.content(sub.rec.Protocol),
		Timestamp: p.Timestamp, Attrs: p.Attrs, GroupID: p.GroupID, SigVer: t.Attributes[AttrSignatureVersion]}
	if rp := sub.rec.Attributes[AttrRedrivePolicy]; rp != "" {
		d.DLQ, _ = redriveTarget(rp)
	}
	s.applyDeliveryPolicy(d, t, sub.rec)
	return d
}

// sendConfirmation stores the SubscriptionConfirmation of a pending HTTP/S
// subscription for delivery.
func (s *Service) sendConfirmation(ctx context.Context, rec *subRecord) error {
	s.mu.RLock()
	t := s.topics[rec.Topic]
	s.mu.RUnlock()
	if t == nil {
		return errNoTopic()
	}
	arn := ARN(rec.Topic)
	d := &delivery{Sub: rec.ID, Topic: rec.Topic, Protocol: rec.Protocol, Endpoint: rec.Endpoint,
		Type: TypeSubscriptionConfirmation, Token: rec.Token, ID: lambda.NewRequestID(), Timestamp: time.Now().UnixMilli(),
		Message: "You have chosen to subscribe to the topic " + arn +
			".\nTo confirm the subscription, visit the SubscribeURL included in this message.",
		SigVer: t.rec.Attributes[AttrSignatureVersion]}
	s.applyDeliveryPolicy(d, t.rec, rec)
	if _, err := s.js.PublishMsg(ctx, deliveryMsg(d), jetstream.WithMsgID(d.ID)); err != nil {
		return fmt.Errorf("topic: store confirmation: %w", err)
	}
	return nil
}

// applyDeliveryPolicy sets an HTTP/S delivery's retry policy and content type:
// the subscription's DeliveryPolicy, else the topic's, else the defaults.
func (s *Service) applyDeliveryPolicy(d *delivery, t *topicRecord, sub *subRecord) {
	if !d.web() {
		return
	}
	retries, minDelay, maxDelay := 3, s.cfg.HTTPRetryDelay, s.cfg.HTTPRetryDelay
	var ct string
	var topicPolicy struct {
		HTTP *struct {
			Healthy *json.RawMessage `json:"defaultHealthyRetryPolicy"`
			Request *json.RawMessage `json:"defaultRequestPolicy"`
		} `json:"http"`
	}
	policies := []*deliveryPolicy{}
	if v := sub.Attributes[AttrDeliveryPolicy]; v != "" {
		if p, err := parseDeliveryPolicy(v); err == nil {
			policies = append(policies, p)
		}
	}
	if v := t.Attributes[AttrDeliveryPolicy]; v != "" && json.Unmarshal([]byte(v), &topicPolicy) == nil && topicPolicy.HTTP != nil {
		var raw = map[string]*json.RawMessage{"healthyRetryPolicy": topicPolicy.HTTP.Healthy, "requestPolicy": topicPolicy.HTTP.Request}
		if b, err := json.Marshal(raw); err == nil {
			if p, err := parseDeliveryPolicy(string(b)); err == nil {
				policies = append(policies, p)
			}
		}
	}
	// The topic's first, so that the subscription's override it.
	for i := len(policies) - 1; i >= 0; i-- {
		p := policies[i]
		if h := p.Healthy; h != nil {
			if h.NumRetries != nil {
				retries = *h.NumRetries
			}
			if h.MinDelayTarget != nil {
				minDelay = time.Duration(*h.MinDelayTarget) * time.Second
			}
			if h.MaxDelayTarget != nil {
				maxDelay = time.Duration(*h.MaxDelayTarget) * time.Second
			}
		}
		if p.Request != nil && p.Request.ContentType != "" {
			ct = p.Request.ContentType
		}
	}
	d.Retries, d.MinDelay, d.MaxDelay, d.ContentType = retries, minDelay.Milliseconds(), max(maxDelay, minDelay).Milliseconds(), ct
}
