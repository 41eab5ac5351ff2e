package snsapi

import (
	"encoding/base64"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/nimbus-dev/nimbus/internal/events/topic"
)

// pageSize is how many topics or subscriptions one List call returns.
const pageSize = 100

func decodeBase64(s string) ([]byte, error) {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}

// page returns the items (sorted by key) after the position in token, and a
// token for the rest if there are more than pageSize.
func page[T any](items []T, key func(T) string, token string) ([]T, string, error) {
	if token != "" {
		after, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil {
			return nil, "", topic.Errorf(topic.CodeInvalidParameter, "Invalid parameter: NextToken")
		}
		i, _ := slices.BinarySearchFunc(items, string(after), func(it T, k string) int { return strings.Compare(key(it), k) })
		if i < len(items) && key(items[i]) == string(after) {
			i++
		}
		items = items[i:]
	}
	if len(items) <= pageSize {
		return items, "", nil
	}
	items = items[:pageSize]
	return items, base64.RawURLEncoding.EncodeToString([]byte(key(items[len(items)-1]))), nil
}

func (a *API) createTopic(r *http.Request, p params) (func(*xmlw), error) {
	name, err := p.required("Name", "name")
	if err != nil {
		return nil, err
	}
	attrs := p.entries("Attributes")
	if p.has("DataProtectionPolicy") {
		if attrs == nil {
			attrs = map[string]string{}
		}
		attrs[topic.AttrDataProtectionPolicy] = p.get("DataProtectionPolicy")
	}
	arn, err := a.t.CreateTopic(r.Context(), name, attrs, p.tags("Tags"))
	if err != nil {
		return nil, err
	}
	return func(x *xmlw) { x.elem("TopicArn", arn) }, nil
}

func (a *API) deleteTopic(r *http.Request, p params) (func(*xmlw), error) {
	arn, err := p.required("TopicArn", "topicArn")
	if err != nil {
		return nil, err
	}
	return nil, a.t.DeleteTopic(r.Context(), arn)
}

func (a *API) listTopics(r *http.Request, p params) (func(*xmlw), error) {
	arns, next, err := page(a.t.Topics(), func(s string) string { return s }, p.get("NextToken"))
	if err != nil {
		return nil, err
	}
	return func(x *xmlw) {
		x.open("Topics")
		for _, arn := range arns {
			x.open("member")
			x.elem("TopicArn", arn)
			x.close("member")
		}
		x.close("Topics")
		if next != "" {
			x.elem("NextToken", next)
		}
	}, nil
}

func (a *API) getTopicAttributes(r *http.Request, p params) (func(*xmlw), error) {
	arn, err := p.required("TopicArn", "topicArn")
	if err != nil {
		return nil, err
	}
	attrs, err := a.t.TopicAttributes(arn)
	if err != nil {
		return nil, err
	}
	return func(x *xmlw) { x.attributes("Attributes", attrs) }, nil
}

func (a *API) setTopicAttributes(r *http.Request, p params) (func(*xmlw), error) {
	arn, err := p.required("TopicArn", "topicArn")
	if err != nil {
		return nil, err
	}
	name, err := p.required("AttributeName", "attributeName")
	if err != nil {
		return nil, err
	}
	return nil, a.t.SetTopicAttribute(r.Context(), arn, name, p.get("AttributeValue"))
}

func (a *API) subscribe(r *http.Request, p params) (func(*xmlw), error) {
	arn, err := p.required("TopicArn", "topicArn")
	if err != nil {
		return nil, err
	}
	protocol, err := p.required("Protocol", "protocol")
	if err != nil {
		return nil, err
	}
	ret, err := boolParam(p, "ReturnSubscriptionArn")
	if err != nil {
		return nil, err
	}
	sub, err := a.t.Subscribe(r.Context(), topic.SubscribeInput{TopicARN: arn, Protocol: protocol,
		Endpoint: p.get("Endpoint"), Attributes: p.entries("Attributes"), ReturnARN: ret})
	if err != nil {
		return nil, err
	}
	return func(x *xmlw) { x.elem("SubscriptionArn", sub) }, nil
}

func boolParam(p params, key string) (bool, error) {
	if !p.has(key) {
		return false, nil
	}
	b, err := strconv.ParseBool(p.get(key))
	if err != nil {
		return false, topic.Errorf(topic.CodeValidation, "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must be a boolean", p.get(key), key)
	}
	return b, nil
}

func (a *API) confirmSubscription(r *http.Request, p params) (func(*xmlw), error) {
	arn, err := p.required("TopicArn", "topicArn")
	if err != nil {
		return nil, err
	}
	token, err := p.required("Token", "token")
	if err != nil {
		return nil, err
	}
	sub, err := a.t.ConfirmSubscription(r.Context(), arn, token)
	if err != nil {
		return nil, err
	}
	return func(x *xmlw) { x.elem("SubscriptionArn", sub) }, nil
}

func (a *API) unsubscribe(r *http.Request, p params) (func(*xmlw), error) {
	arn, err := p.required("SubscriptionArn", "subscriptionArn")
	if err != nil {
		return nil, err
	}
	return nil, a.t.Unsubscribe(r.Context(), arn)
}

func (a *API) listSubscriptions(r *http.Request, p params) (func(*xmlw), error) {
	subs, err := a.t.Subscriptions("")
	if err != nil {
		return nil, err
	}
	return subscriptionList(subs, p.get("NextToken"))
}

func (a *API) listSubscriptionsByTopic(r *http.Request, p params) (func(*xmlw), error) {
	arn, err := p.required("TopicArn", "topicArn")
	if err != nil {
		return nil, err
	}
	subs, err := a.t.Subscriptions(arn)
	if err != nil {
		return nil, err
	}
	return subscriptionList(subs, p.get("NextToken"))
}

func subscriptionList(subs []topic.Subscription, token string) (func(*xmlw), error) {
	// Pending subscriptions all show the same ARN; page by position among
	// equal ARNs through the topic and endpoint as well.
	key := func(s topic.Subscription) string { return s.ARN + "\x00" + s.TopicARN + "\x00" + s.Endpoint }
	slices.SortFunc(subs, func(a, b topic.Subscription) int { return strings.Compare(key(a), key(b)) })
	subs, next, err := page(subs, key, token)
	if err != nil {
		return nil, err
	}
	return func(x *xmlw) {
		x.open("Subscriptions")
		for _, s := range subs {
			x.open("member")
			x.elem("SubscriptionArn", s.ARN)
			x.elem("Owner", s.Owner)
			x.elem("Protocol", s.Protocol)
			x.elem("Endpoint", s.Endpoint)
			x.elem("TopicArn", s.TopicARN)
			x.close("member")
		}
		x.close("Subscriptions")
		if next != "" {
			x.elem("NextToken", next)
		}
	}, nil
}

func (a *API) getSubscriptionAttributes(r *http.Request, p params) (func(*xmlw), error) {
	arn, err := p.required("SubscriptionArn", "subscriptionArn")
	if err != nil {
		return nil, err
	}
	attrs, err := a.t.SubscriptionAttributes(arn)
	if err != nil {
		return nil, err
	}
	return func(x *xmlw) { x.attributes("Attributes", attrs) }, nil
}

func (a *API) setSubscriptionAttributes(r *http.Request, p params) (func(*xmlw), error) {
	arn, err := p.required("SubscriptionArn", "subscriptionArn")
	if err != nil {
		return nil, err
	}
	name, err := p.required("AttributeName", "attributeName")
	if err != nil {
		return nil, err
	}
	return nil, a.t.SetSubscriptionAttribute(r.Context(), arn, name, p.get("AttributeValue"))
}

// publishInput reads the fields Publish and PublishBatch entries share.
func publishInput(p params, prefix string) (topic.PublishInput, error) {
	in := topic.PublishInput{Message: p.get(prefix + "Message"), Structure: p.get(prefix + "MessageStructure"),
		GroupID: p.get(prefix + "MessageGroupId"), DeduplicationID: p.get(prefix + "MessageDeduplicationId")}
	if p.has(prefix + "Subject") {
		in.Subject = new(p.get(prefix + "Subject"))
	}
	var err error
	in.Attributes, err = p.messageAttributes(prefix + "MessageAttributes")
	return in, err
}

func (a *API) publish(r *http.Request, p params) (func(*xmlw), error) {
	if _, err := p.required("Message", "message"); err != nil {
		return nil, err
	}
	if p.has("PhoneNumber") {
		return nil, topic.Errorf(topic.CodeInvalidParameter, "Invalid parameter: PhoneNumber Reason: nimbus does not send SMS")
	}
	in, err := publishInput(p, "")
	if err != nil {
		return nil, err
	}
	in.TopicARN = p.get("TopicArn")
	if target := p.get("TargetArn"); target != "" {
		if in.TopicARN != "" && in.TopicARN != target {
			return nil, topic.Errorf(topic.CodeInvalidParameter, "Invalid parameter: TopicArn or TargetArn Reason: Only one of TopicArn or TargetArn may be specified")
		}
		if strings.Contains(target, ":endpoint/") {
			return nil, topic.Errorf(topic.CodeInvalidParameter, "Invalid parameter: TargetArn Reason: No endpoint found for the target arn specified")
		}
		in.TopicARN = target
	}
	id, err := a.t.Publish(r.Context(), in)
	if err != nil {
		return nil, err
	}
	return func(x *xmlw) { x.elem("MessageId", id) }, nil
}

func (a *API) publishBatch(r *http.Request, p params) (func(*xmlw), error) {
	arn, err := p.required("TopicArn", "topicArn")
	if err != nil {
		return nil, err
	}
	var entries []topic.BatchEntry
	for _, i := range p.indices("PublishBatchRequestEntries.member") {
		prefix := "PublishBatchRequestEntries.member." + strconv.Itoa(i) + "."
		in, err := publishInput(p, prefix)
		if err != nil {
			return nil, err
		}
		entries = append(entries, topic.BatchEntry{ID: p.get(prefix + "Id"), PublishInput: in})
	}
	ids, errs, err := a.t.PublishBatch(r.Context(), arn, entries)
	if err != nil {
		return nil, err
	}
	for _, e := range errs {
		if e != nil {
			a.log.Error("sns: publish batch entry", "topic", arn, "err", e)
		}
	}
	return func(x *xmlw) {
		x.open("Successful")
		for i, id := range ids {
			if errs[i] == nil {
				x.open("member")
				x.elem("Id", entries[i].ID)
				x.elem("MessageId", id)
				x.close("member")
			}
		}
		x.close("Successful")
		x.open("Failed")
		for i, e := range errs {
			if e != nil {
				x.open("member")
				x.elem("Id", entries[i].ID)
				x.elem("Code", topic.CodeInternalError)
				x.elem("Message", "The message could not be stored.")
				x.elem("SenderFault", "false")
				x.close("member")
			}
		}
		x.close("Failed")
	}, nil
}

func (a *API) tagResource(r *http.Request, p params) (func(*xmlw), error) {
	arn, err := p.required("ResourceArn", "resourceArn")
	if err != nil {
		return nil, err
	}
	if !p.has("Tags") && len(p.indices("Tags.member")) == 0 {
		return nil, topic.Errorf(topic.CodeValidation, "1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null")
	}
	if err := a.t.Tag(r.Context(), arn, p.tags("Tags")); err != nil {
		return nil, err
	}
	return func(*xmlw) {}, nil
}

func (a *API) untagResource(r *http.Request, p params) (func(*xmlw), error) {
	arn, err := p.required("ResourceArn", "resourceArn")
	if err != nil {
		return nil, err
	}
	if err := a.t.Untag(r.Context(), arn, p.members("TagKeys")); err != nil {
		return nil, err
	}
	return func(*xmlw) {}, nil
}

func (a *API) listTagsForResource(r *http.Request, p params) (func(*xmlw), error) {
	arn, err := p.required("ResourceArn", "resourceArn")
	if err != nil {
		return nil, err
	}
	tags, err := a.t.Tags(arn)
	if err != nil {
		return nil, err
	}
	return func(x *xmlw) {
		x.open("Tags")
		for _, k := range slices.Sorted(maps.Keys(tags)) {
			x.open("member")
			x.elem("Key", k)
			x.elem("Value", tags[k])
			x.close("member")
		}
		x.close("Tags")
	}, nil
}

func (a *API) getDataProtectionPolicy(r *http.Request, p params) (func(*xmlw), error) {
	arn, err := p.required("ResourceArn", "resourceArn")
	if err != nil {
		return nil, err
	}
	attrs, err := a.t.TopicAttributes(arn)
	if err != nil {
		return nil, err
	}
	return func(x *xmlw) { x.elem("DataProtectionPolicy", attrs[topic.AttrDataProtectionPolicy]) }, nil
}

func (a *API) putDataProtectionPolicy(r *http.Request, p params) (func(*xmlw), error) {
	arn, err := p.required("ResourceArn", "resourceArn")
	if err != nil {
		return nil, err
	}
	policy, err := p.required("DataProtectionPolicy", "dataProtectionPolicy")
	if err != nil {
		return nil, err
	}
	return nil, a.t.SetTopicAttribute(r.Context(), arn, topic.AttrDataProtectionPolicy, policy)
}
