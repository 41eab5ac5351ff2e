package topic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// Topic attribute names.
const (
	AttrTopicArn                = "TopicArn"
	AttrOwner                   = "Owner"
	AttrPolicy                  = "Policy"
	AttrDisplayName             = "DisplayName"
	AttrDeliveryPolicy          = "DeliveryPolicy"
	AttrEffectiveDeliveryPolicy = "EffectiveDeliveryPolicy"
	AttrSubscriptionsPending    = "SubscriptionsPending"
	AttrSubscriptionsConfirmed  = "SubscriptionsConfirmed"
	AttrSubscriptionsDeleted    = "SubscriptionsDeleted"
	AttrSignatureVersion        = "SignatureVersion"
	AttrTracingConfig           = "TracingConfig"
	AttrKmsMasterKeyID          = "KmsMasterKeyId"
	AttrFifoTopic               = "FifoTopic"
	AttrDataProtectionPolicy    = "DataProtectionPolicy"
)

// storedTopicAttrs are the topic attributes CreateTopic and SetTopicAttributes
// accept and GetTopicAttributes shows as given. The delivery-status logging
// attributes are kept but have no effect.
var storedTopicAttrs = map[string]bool{
	AttrPolicy: true, AttrDisplayName: true, AttrDeliveryPolicy: true, AttrSignatureVersion: true,
	AttrTracingConfig: true, AttrKmsMasterKeyID: true, AttrDataProtectionPolicy: true,
	"ApplicationSuccessFeedbackRoleArn": true, "ApplicationSuccessFeedbackSampleRate": true, "ApplicationFailureFeedbackRoleArn": true,
	"HTTPSuccessFeedbackRoleArn": true, "HTTPSuccessFeedbackSampleRate": true, "HTTPFailureFeedbackRoleArn": true,
	"LambdaSuccessFeedbackRoleArn": true, "LambdaSuccessFeedbackSampleRate": true, "LambdaFailureFeedbackRoleArn": true,
	"SQSSuccessFeedbackRoleArn": true, "SQSSuccessFeedbackSampleRate": true, "SQSFailureFeedbackRoleArn": true,
	"FirehoseSuccessFeedbackRoleArn": true, "FirehoseSuccessFeedbackSampleRate": true, "FirehoseFailureFeedbackRoleArn": true,
}

// defaultEffectiveDeliveryPolicy is AWS's EffectiveDeliveryPolicy of a topic
// (and of an HTTP/S subscription) without a DeliveryPolicy.
const defaultEffectiveDeliveryPolicy = `{"http":{"defaultHealthyRetryPolicy":{"minDelayTarget":20,"maxDelayTarget":20,"numRetries":3,"numMaxDelayRetries":0,"numNoDelayRetries":0,"numMinDelayRetries":0,"backoffFunction":"linear"},"disableSubscriptionOverrides":false,"defaultRequestPolicy":{"headerContentType":"text/plain; charset=UTF-8"}}}`

func defaultPolicy(arn string) string {
	return `{"Version":"2008-10-17","Id":"__default_policy_ID","Statement":[{"Sid":"__default_statement_ID","Effect":"Allow","Principal":{"AWS":"*"},"Action":["SNS:GetTopicAttributes","SNS:SetTopicAttributes","SNS:AddPermission","SNS:RemovePermission","SNS:DeleteTopic","SNS:Subscribe","SNS:ListSubscriptionsByTopic","SNS:Publish"],"Resource":"` +
		arn + `","Condition":{"StringEquals":{"AWS:SourceOwner":"` + lambda.Account + `"}}}]}`
}

// maxTags is the most tags a topic may have.
const maxTags = 50

// CreateTopic creates a standard topic with attributes and tags and returns
// its ARN. Creating a topic that exists returns its ARN if the given
// attributes and tags are the topic's, and InvalidParameter otherwise.
func (s *Service) CreateTopic(ctx context.Context, name string, attrs, tags map[string]string) (string, error) {
	if strings.EqualFold(attrs[AttrFifoTopic], "true") || strings.HasSuffix(name, ".fifo") {
		return "", invalid("FifoTopic Reason: FIFO topics are not supported by nimbus")
	}
	if !ValidName(name) {
		return "", invalid("Topic Name")
	}
	norm := maps.Clone(attrs)
	delete(norm, AttrFifoTopic)
	for k, v := range norm {
		if err := checkTopicAttribute(k, v); err != nil {
			return "", err
		}
	}
	if err := checkTags(tags); err != nil {
		return "", err
	}
	for {
		s.mu.RLock()
		t := s.topics[name]
		s.mu.RUnlock()
		if t != nil {
			return ARN(name), sameTopic(t.rec, norm, tags)
		}
		now := time.Now().UnixMilli()
		rec := &topicRecord{ID: lambda.NewHexID(8), Name: name, Created: now, Attributes: norm, Tags: maps.Clone(tags)}
		rev, err := s.put(ctx, topicKey+name, 0, rec)
		if isConflict(err) {
			// Created concurrently: compare with what is stored.
			e, gerr := s.kv.Get(ctx, topicKey+name)
			if gerr != nil {
				return "", internal("create topic", gerr)
			}
			s.apply(e)
			continue
		}
		if err != nil {
			return "", internal("create topic", err)
		}
		s.storeTopic(rev, name, rec)
		return ARN(name), nil
	}
}

func sameTopic(rec *topicRecord, attrs, tags map[string]string) error {
	for k, v := range attrs {
		if rec.Attributes[k] != v {
			return invalid("Attributes Reason: Topic already exists with different attributes")
		}
	}
	for k, v := range tags {
		if cur, ok := rec.Tags[k]; !ok || cur != v {
			return invalid("Tags Reason: Topic already exists with different tags")
		}
	}
	return nil
}

func checkTopicAttribute(name, v string) error {
	if !storedTopicAttrs[name] {
		return invalid("AttributeName")
	}
	switch name {
	case AttrPolicy, AttrDeliveryPolicy, AttrDataProtectionPolicy:
		if v != "" && !json.Valid([]byte(v)) {
			return invalid("%s: failed to parse JSON.", name)
		}
	case AttrDisplayName:
		if len(v) > 100 {
			return invalid("DisplayName Reason: must be at most 100 characters")
		}
	case AttrSignatureVersion:
		if v != "1" && v != "2" {
			return invalid("SignatureVersion Reason: must be 1 or 2")
		}
	case AttrTracingConfig:
		if v != "PassThrough" && v != "Active" {
			return invalid("TracingConfig Reason: must be PassThrough or Active")
		}
	}
	return nil
}

func checkTags(tags map[string]string) error {
	if len(tags) > maxTags {
		return Errorf(CodeTagLimitExceeded, "Could not complete request: tag quota of per resource exceeded")
	}
	for k, v := range tags {
		if k == "" || len(k) > 128 {
			return invalid("TagKey Reason: must be between 1 and 128 characters long")
		}
		if len(v) > 256 {
			return invalid("TagValue Reason: must be at most 256 characters long")
		}
	}
	return nil
}

// DeleteTopic deletes a topic and its subscriptions. Deleting a topic that
// does not exist succeeds. Messages of the topic not yet delivered are dropped.
func (s *Service) DeleteTopic(ctx context.Context, arn string) error {
	name, err := topicName(arn, "TopicArn")
	if err != nil {
		if e, ok := lambda.AsError(err); ok && e.Code == CodeNotFound {
			return nil
		}
		return err
	}
	s.mu.RLock()
	t := s.topics[name]
	s.mu.RUnlock()
	if t == nil {
		return nil
	}
	// The record first: a crash before the subscriptions are gone leaves
	// orphans, which Open removes.
	if err := s.deleteKey(ctx, topicKey+name); err != nil {
		return err
	}
	for _, sub := range s.subscriptionsOf(t.rec) {
		if err := s.deleteKey(ctx, subKey+sub.rec.ID); err != nil {
			return err
		}
	}
	return nil
}

// Topics returns the ARNs of all topics, in order.
func (s *Service) Topics() []string {
	s.mu.RLock()
	out := make([]string, 0, len(s.topics))
	for name := range s.topics {
		out = append(out, ARN(name))
	}
	s.mu.RUnlock()
	slices.Sort(out)
	return out
}

// TopicAttributes returns a topic's attributes as GetTopicAttributes shows them.
func (s *Service) TopicAttributes(arn string) (map[string]string, error) {
	t, err := s.topic(arn, "TopicArn")
	if err != nil {
		return nil, err
	}
	a := ARN(t.rec.Name)
	out := map[string]string{
		AttrTopicArn:                a,
		AttrOwner:                   lambda.Account,
		AttrPolicy:                  defaultPolicy(a),
		AttrDisplayName:             "",
		AttrEffectiveDeliveryPolicy: defaultEffectiveDeliveryPolicy,
		AttrSubscriptionsDeleted:    "0",
	}
	for k, v := range t.rec.Attributes {
		if v != "" || k == AttrDisplayName {
			out[k] = v
		}
	}
	if dp := t.rec.Attributes[AttrDeliveryPolicy]; dp != "" {
		out[AttrEffectiveDeliveryPolicy] = dp
	}
	pending, confirmed := 0, 0
	for _, sub := range s.subscriptionsOf(t.rec) {
		if sub.rec.Pending {
			pending++
		} else {
			confirmed++
		}
	}
	out[AttrSubscriptionsPending] = strconv.Itoa(pending)
	out[AttrSubscriptionsConfirmed] = strconv.Itoa(confirmed)
	return out, nil
}

// SetTopicAttribute sets one attribute of a topic (an empty value unsets it).
func (s *Service) SetTopicAttribute(ctx context.Context, arn, name, value string) error {
	if _, err := s.topic(arn, "TopicArn"); err != nil {
		return err
	}
	if !storedTopicAttrs[name] {
		return invalid("AttributeName")
	}
	if value != "" {
		if err := checkTopicAttribute(name, value); err != nil {
			return err
		}
	}
	return s.updateTopic(ctx, arn, func(rec *topicRecord) error {
		if rec.Attributes == nil {
			rec.Attributes = map[string]string{}
		}
		if value == "" && name != AttrDisplayName {
			delete(rec.Attributes, name)
		} else {
			rec.Attributes[name] = value
		}
		return nil
	})
}

// updateTopic applies change to a copy of a topic's record and writes it,
// retrying when another writer got there first.
func (s *Service) updateTopic(ctx context.Context, arn string, change func(*topicRecord) error) error {
	for range 10 {
		t, err := s.topic(arn, "TopicArn")
		if err != nil {
			return err
		}
		rec := *t.rec
		rec.Attributes = maps.Clone(t.rec.Attributes)
		rec.Tags = maps.Clone(t.rec.Tags)
		if err := change(&rec); err != nil {
			return err
		}
		rev, err := s.put(ctx, topicKey+rec.Name, t.rev, &rec)
		if isConflict(err) {
			if e, gerr := s.kv.Get(ctx, topicKey+rec.Name); gerr == nil {
				s.apply(e)
			} else if errors.Is(gerr, jetstream.ErrKeyNotFound) {
				return errNoTopic()
			}
			continue
		}
		if err != nil {
			return internal("update topic", err)
		}
		s.storeTopic(rev, rec.Name, &rec)
		return nil
	}
	return fmt.Errorf("topic: update %s: too much contention", arn)
}

// resourceTopic resolves the ResourceArn of the tagging operations.
func (s *Service) resourceTopic(arn string) error {
	if _, err := s.topic(arn, "ResourceArn"); err != nil {
		if e, ok := lambda.AsError(err); ok && e.Code == CodeNotFound {
			return Errorf(CodeResourceNotFound, "Resource does not exist")
		}
		return err
	}
	return nil
}

// Tags returns a topic's tags.
func (s *Service) Tags(arn string) (map[string]string, error) {
	if err := s.resourceTopic(arn); err != nil {
		return nil, err
	}
	t, _ := s.topic(arn, "ResourceArn")
	return maps.Clone(t.rec.Tags), nil
}

// Tag adds or replaces tags of a topic.
func (s *Service) Tag(ctx context.Context, arn string, tags map[string]string) error {
	if err := s.resourceTopic(arn); err != nil {
		return err
	}
	if err := checkTags(tags); err != nil {
		return err
	}
	return s.updateTopic(ctx, arn, func(rec *topicRecord) error {
		if rec.Tags == nil {
			rec.Tags = map[string]string{}
		}
		maps.Copy(rec.Tags, tags)
		return checkTags(rec.Tags)
	})
}

// Untag removes tags of a topic.
func (s *Service) Untag(ctx context.Context, arn string, keys []string) error {
	if err := s.resourceTopic(arn); err != nil {
		return err
	}
	return s.updateTopic(ctx, arn, func(rec *topicRecord) error {
		for _, k := range keys {
			delete(rec.Tags, k)
		}
		return nil
	})
}
