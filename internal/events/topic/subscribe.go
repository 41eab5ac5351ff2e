package topic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-dev/nimbus/internal/events/queue"
	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// Subscription attribute names.
const (
	AttrSubscriptionArn              = "SubscriptionArn"
	AttrProtocol                     = "Protocol"
	AttrEndpoint                     = "Endpoint"
	AttrPendingConfirmation          = "PendingConfirmation"
	AttrConfirmationWasAuthenticated = "ConfirmationWasAuthenticated"
	AttrRawMessageDelivery           = "RawMessageDelivery"
	AttrFilterPolicy                 = "FilterPolicy"
	AttrFilterPolicyScope            = "FilterPolicyScope"
	AttrRedrivePolicy                = "RedrivePolicy"
	AttrSubscriptionRoleArn          = "SubscriptionRoleArn"
	AttrReplayPolicy                 = "ReplayPolicy"
)

// Protocols that deliver.
const (
	ProtocolLambda = "lambda"
	ProtocolSQS    = "sqs"
	ProtocolHTTP   = "http"
	ProtocolHTTPS  = "https"
)

// PendingARN is what Subscribe returns for a subscription awaiting
// confirmation (unless ReturnSubscriptionArn), and ListSubscriptions shows as
// its ARN.
const (
	PendingARN     = "pending confirmation"
	pendingListARN = "PendingConfirmation"
)

// unsupportedProtocols are SNS protocols nimbus does not deliver to.
var unsupportedProtocols = []string{"email", "email-json", "sms", "application", "firehose"}

// SubscribeInput describes a subscription.
type SubscribeInput struct {
	TopicARN string
	Protocol string
	Endpoint string
	// Attributes are settable subscription attributes (FilterPolicy,
	// FilterPolicyScope, RawMessageDelivery, DeliveryPolicy, RedrivePolicy, …).
	Attributes map[string]string
	// ReturnARN returns the ARN of a subscription awaiting confirmation
	// instead of PendingARN.
	ReturnARN bool
}

// Subscription is a subscription as the List operations show it.
type Subscription struct {
	ARN      string // PendingConfirmation while awaiting confirmation
	Owner    string
	Protocol string
	Endpoint string
	TopicARN string
}

// Subscribe subscribes an endpoint to a topic and returns the subscription's
// ARN. Functions and queues are confirmed at once; an HTTP/S endpoint is sent a
// SubscriptionConfirmation and stays pending until ConfirmSubscription.
// Subscribing an endpoint again with the same protocol returns the existing
// subscription (and sends a pending one another confirmation); with different
// attributes it is InvalidParameter.
func (s *Service) Subscribe(ctx context.Context, in SubscribeInput) (string, error) {
	t, err := s.topic(in.TopicARN, "TopicArn")
	if err != nil {
		return "", err
	}
	if err := s.checkEndpoint(in.Protocol, in.Endpoint); err != nil {
		return "", err
	}
	attrs := maps.Clone(in.Attributes)
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		v, err := checkSubAttribute(in.Protocol, k, attrs[k], "Attributes Reason: ")
		if err != nil {
			return "", err
		}
		attrs[k] = v
	}
	scope := attrs[AttrFilterPolicyScope]
	if scope == "" {
		scope = ScopeAttributes
	}
	if _, err := ParsePolicy(attrs[AttrFilterPolicy], scope); err != nil {
		return "", invalid("Attributes Reason: %v", err)
	}
	for _, sub := range s.subscriptionsOf(t.rec) {
		if sub.rec.Protocol != in.Protocol || sub.rec.Endpoint != in.Endpoint {
			continue
		}
		for k, v := range attrs {
			if effective(sub.rec, k) != v {
				return "", invalid("Attributes Reason: Subscription already exists with different attributes")
			}
		}
		if sub.rec.Pending {
			if err := s.sendConfirmation(ctx, sub.rec); err != nil {
				return "", err
			}
			if !in.ReturnARN {
				return PendingARN, nil
			}
		}
		return sub.arn(), nil
	}
	rec := &subRecord{ID: lambda.NewRequestID(), Topic: t.rec.Name, TopicID: t.rec.ID, Protocol: in.Protocol,
		Endpoint: in.Endpoint, Created: time.Now().UnixMilli()}
	for k, v := range attrs {
		if v != "" {
			if rec.Attributes == nil {
				rec.Attributes = map[string]string{}
			}
			rec.Attributes[k] = v
		}
	}
	web := in.Protocol == ProtocolHTTP || in.Protocol == ProtocolHTTPS
	if web {
		rec.Pending = true
		rec.Token = lambda.NewHexID(64)
	}
	rev, err := s.put(ctx, subKey+rec.ID, 0, rec)
	if err != nil {
		return "", internal("subscribe", err)
	}
	s.storeSub(rev, rec.ID, rec)
	if !web {
		return SubscriptionARN(rec.Topic, rec.ID), nil
	}
	// Stored before the confirmation: if this fails, subscribing again sends it.
	if err := s.sendConfirmation(ctx, rec); err != nil {
		return "", err
	}
	if in.ReturnARN {
		return SubscriptionARN(rec.Topic, rec.ID), nil
	}
	return PendingARN, nil
}

// effective is the value of a settable attribute of a subscription, defaults included.
func effective(rec *subRecord, name string) string {
	v := rec.Attributes[name]
	switch {
	case v != "":
		return v
	case name == AttrRawMessageDelivery:
		return "false"
	case name == AttrFilterPolicyScope:
		return ScopeAttributes
	}
	return ""
}

// checkEndpoint validates a protocol and its endpoint.
func (s *Service) checkEndpoint(protocol, endpoint string) error {
	switch protocol {
	case ProtocolLambda, ProtocolSQS, ProtocolHTTP, ProtocolHTTPS:
	case "":
		return invalid("Protocol")
	default:
		if slices.Contains(unsupportedProtocols, protocol) {
			return invalid("Protocol Reason: nimbus does not deliver to %s endpoints", protocol)
		}
		return invalid("Amazon SNS does not support this protocol string: %s", protocol)
	}
	if endpoint == "" {
		return invalid("Endpoint")
	}
	switch protocol {
	case ProtocolLambda:
		if _, _, err := lambda.ParseFunctionRef(endpoint, ""); err != nil || !strings.HasPrefix(endpoint, "arn:") {
			return invalid("Lambda endpoint ARN")
		}
	case ProtocolSQS:
		if strings.HasSuffix(endpoint, ".fifo") {
			return invalid("Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed to standard SNS topics")
		}
		if _, ok := queue.NameFromARN(endpoint); !ok {
			return invalid("SQS endpoint ARN")
		}
	default:
		u, err := url.Parse(endpoint)
		if err != nil || u.Host == "" {
			return invalid("Endpoint")
		}
		if u.Scheme != protocol {
			return invalid("Endpoint must match the specified protocol")
		}
		if s.cfg.LoopbackOnly && !loopbackHost(u.Hostname()) {
			return invalid("Endpoint Reason: only loopback endpoints are allowed on this server")
		}
	}
	return nil
}

func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkSubAttribute validates a settable subscription attribute of a
// subscription of protocol and returns it normalized. prefix goes between
// "Invalid parameter: " and the reason.
func checkSubAttribute(protocol, name, v, prefix string) (string, error) {
	web := protocol == ProtocolHTTP || protocol == ProtocolHTTPS
	switch name {
	case AttrRawMessageDelivery:
		b := strings.ToLower(v)
		if b != "true" && b != "false" {
			return "", invalid("%sRawMessageDelivery: Invalid value [%s]. Must be true or false.", prefix, v)
		}
		if protocol == ProtocolLambda && b == "true" {
			return "", invalid("%sDelivery protocol [%s] does not support raw message delivery.", prefix, protocol)
		}
		return b, nil
	case AttrFilterPolicy:
		return v, nil // parsed with its scope by the caller
	case AttrFilterPolicyScope:
		if v != ScopeAttributes && v != ScopeBody {
			return "", invalid("%sFilterPolicyScope: Invalid value [%s]. Please use either MessageBody or MessageAttributes", prefix, v)
		}
		return v, nil
	case AttrDeliveryPolicy:
		if v == "" {
			return v, nil
		}
		if !web {
			return "", invalid("%sDeliveryPolicy: Delivery protocol [%s] does not support delivery policies.", prefix, protocol)
		}
		if _, err := parseDeliveryPolicy(v); err != nil {
			return "", invalid("%sDeliveryPolicy: %v", prefix, err)
		}
		return v, nil
	case AttrRedrivePolicy:
		if v == "" {
			return v, nil
		}
		if _, err := redriveTarget(v); err != nil {
			return "", invalid("%s%v", prefix, err)
		}
		return v, nil
	case AttrSubscriptionRoleArn, AttrReplayPolicy:
		return v, nil
	}
	return "", invalid("%sAttributeName", prefix)
}

// redriveTarget returns the dead-letter queue of a RedrivePolicy.
func redriveTarget(policy string) (string, error) {
	var rp struct {
		Target string `json:"deadLetterTargetArn"`
	}
	if err := json.Unmarshal([]byte(policy), &rp); err != nil {
		return "", errors.New("RedrivePolicy: failed to parse JSON.")
	}
	name, ok := queue.NameFromARN(rp.Target)
	if !ok {
		return "", errors.New("RedrivePolicy: deadLetterTargetArn is an invalid arn")
	}
	return name, nil
}

// deliveryPolicy is the part of an HTTP/S DeliveryPolicy nimbus applies.
type deliveryPolicy struct {
	Healthy *struct {
		NumRetries     *int `json:"numRetries"`
		MinDelayTarget *int `json:"minDelayTarget"`
		MaxDelayTarget *int `json:"maxDelayTarget"`
	} `json:"healthyRetryPolicy"`
	Request *struct {
		ContentType string `json:"headerContentType"`
	} `json:"requestPolicy"`
}

func parseDeliveryPolicy(v string) (*deliveryPolicy, error) {
	var p deliveryPolicy
	if err := json.Unmarshal([]byte(v), &p); err != nil {
		return nil, errors.New("failed to parse JSON.")
	}
	if h := p.Healthy; h != nil {
		if h.NumRetries != nil && (*h.NumRetries < 0 || *h.NumRetries > 100) {
			return nil, errors.New("numRetries must be between 0 and 100")
		}
		if h.MinDelayTarget != nil && (*h.MinDelayTarget < 1 || *h.MinDelayTarget > 3600) ||
			h.MaxDelayTarget != nil && (*h.MaxDelayTarget < 1 || *h.MaxDelayTarget > 3600) {
			return nil, errors.New("delay targets must be between 1 and 3600 seconds")
		}
		if h.MinDelayTarget != nil && h.MaxDelayTarget != nil && *h.MinDelayTarget > *h.MaxDelayTarget {
			return nil, errors.New("minDelayTarget must be less than or equal to maxDelayTarget")
		}
	}
	return &p, nil
}

// subscription returns the subscription with ARN arn.
func (s *Service) subscription(arn string) (*subscription, error) {
	_, id, ok := parseSubscriptionARN(arn)
	if !ok {
		if arn == "" {
			return nil, invalid("SubscriptionArn Reason: no value for required parameter")
		}
		return nil, errNoSubscription()
	}
	sub := s.subscriptionByID(id)
	if sub == nil || sub.arn() != arn {
		return nil, errNoSubscription()
	}
	return sub, nil
}

// ConfirmSubscription confirms the pending subscription of a topic that was
// sent token and returns its ARN. Confirming again succeeds.
func (s *Service) ConfirmSubscription(ctx context.Context, topicARN, token string) (string, error) {
	t, err := s.topic(topicARN, "Topic")
	if err != nil {
		return "", err
	}
	if token == "" {
		return "", invalid("Token")
	}
	for _, sub := range s.subscriptionsOf(t.rec) {
		if sub.rec.Token != token {
			continue
		}
		if !sub.rec.Pending {
			return sub.arn(), nil
		}
		err := s.updateSub(ctx, sub.arn(), func(rec *subRecord) error {
			rec.Pending = false
			return nil
		})
		return sub.arn(), err
	}
	return "", invalid("Token")
}

// Unsubscribe deletes a subscription. Deleting one that does not exist succeeds.
func (s *Service) Unsubscribe(ctx context.Context, arn string) error {
	_, id, ok := parseSubscriptionARN(arn)
	if !ok {
		return invalid("SubscriptionArn")
	}
	if s.subscriptionByID(id) == nil {
		return nil
	}
	return s.deleteKey(ctx, subKey+id)
}

// Subscriptions lists the subscriptions of the topic topicARN, or of all
// topics if it is "", in order of their ARNs.
func (s *Service) Subscriptions(topicARN string) ([]Subscription, error) {
	var subs []*subscription
	if topicARN != "" {
		t, err := s.topic(topicARN, "TopicArn")
		if err != nil {
			return nil, err
		}
		subs = s.subscriptionsOf(t.rec)
	} else {
		s.mu.RLock()
		for _, sub := range s.subs {
			if t := s.topics[sub.rec.Topic]; t != nil && t.rec.ID == sub.rec.TopicID {
				subs = append(subs, sub)
			}
		}
		s.mu.RUnlock()
	}
	slices.SortFunc(subs, func(a, b *subscription) int { return strings.Compare(a.arn(), b.arn()) })
	out := make([]Subscription, len(subs))
	for i, sub := range subs {
		out[i] = Subscription{ARN: sub.arn(), Owner: lambda.Account, Protocol: sub.rec.Protocol,
			Endpoint: sub.rec.Endpoint, TopicARN: ARN(sub.rec.Topic)}
		if sub.rec.Pending {
			out[i].ARN = pendingListARN
		}
	}
	return out, nil
}

// SubscriptionAttributes returns a subscription's attributes as
// GetSubscriptionAttributes shows them.
func (s *Service) SubscriptionAttributes(arn string) (map[string]string, error) {
	sub, err := s.subscription(arn)
	if err != nil {
		return nil, err
	}
	r := sub.rec
	out := map[string]string{
		AttrSubscriptionArn:              sub.arn(),
		AttrTopicArn:                     ARN(r.Topic),
		AttrOwner:                        lambda.Account,
		AttrProtocol:                     r.Protocol,
		AttrEndpoint:                     r.Endpoint,
		AttrPendingConfirmation:          fmt.Sprint(r.Pending),
		AttrConfirmationWasAuthenticated: fmt.Sprint(!r.Pending),
		AttrRawMessageDelivery:           effective(r, AttrRawMessageDelivery),
	}
	for k, v := range r.Attributes {
		out[k] = v
	}
	if r.Attributes[AttrFilterPolicy] != "" {
		out[AttrFilterPolicyScope] = effective(r, AttrFilterPolicyScope)
	} else {
		delete(out, AttrFilterPolicyScope)
	}
	if r.Protocol == ProtocolHTTP || r.Protocol == ProtocolHTTPS {
		out[AttrEffectiveDeliveryPolicy] = s.effectiveDeliveryPolicy(r)
	}
	return out, nil
}

func (s *Service) effectiveDeliveryPolicy(r *subRecord) string {
	if dp := r.Attributes[AttrDeliveryPolicy]; dp != "" {
		return dp
	}
	s.mu.RLock()
	t := s.topics[r.Topic]
	s.mu.RUnlock()
	if t != nil && t.rec.Attributes[AttrDeliveryPolicy] != "" {
		return t.rec.Attributes[AttrDeliveryPolicy]
	}
	return defaultEffectiveDeliveryPolicy
}

// SetSubscriptionAttribute sets one attribute of a subscription; an empty
// value (or {} for FilterPolicy) removes it.
func (s *Service) SetSubscriptionAttribute(ctx context.Context, arn, name, value string) error {
	sub, err := s.subscription(arn)
	if err != nil {
		return err
	}
	v, err := checkSubAttribute(sub.rec.Protocol, name, value, "")
	if err != nil {
		return err
	}
	return s.updateSub(ctx, arn, func(rec *subRecord) error {
		if rec.Attributes == nil {
			rec.Attributes = map[string]string{}
		}
		if v == "" || name == AttrFilterPolicy && strings.TrimSpace(v) == "{}" {
			delete(rec.Attributes, name)
		} else {
			rec.Attributes[name] = v
		}
		if _, err := ParsePolicy(rec.Attributes[AttrFilterPolicy], effective(rec, AttrFilterPolicyScope)); err != nil {
			return invalid("%v", err)
		}
		return nil
	})
}

// updateSub applies change to a copy of a subscription's record and writes
// it, retrying when another writer got there first.
func (s *Service) updateSub(ctx context.Context, arn string, change func(*subRecord) error) error {
	for range 10 {
		sub, err := s.subscription(arn)
		if err != nil {
			return err
		}
		rec := *sub.rec
		rec.Attributes = maps.Clone(sub.rec.Attributes)
		if err := change(&rec); err != nil {
			return err
		}
		rev, err := s.put(ctx, subKey+rec.ID, sub.rev, &rec)
		if isConflict(err) {
			if e, gerr := s.kv.Get(ctx, subKey+rec.ID); gerr == nil {
				s.apply(e)
			} else if errors.Is(gerr, jetstream.ErrKeyNotFound) {
				return errNoSubscription()
			}
			continue
		}
		if err != nil {
			return internal("update subscription", err)
		}
		s.storeSub(rev, rec.ID, &rec)
		return nil
	}
	return fmt.Errorf("topic: update %s: too much contention", arn)
}
