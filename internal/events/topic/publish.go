package topic

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// Limits of published messages (AWS's).
const (
	// MaxMessageSize bounds a message plus its attributes (names, types and
	// values), and a whole PublishBatch.
	MaxMessageSize = 256 << 10
	// MaxBatch is the most entries a PublishBatch may have.
	MaxBatch = 10
)

// Attribute is one message attribute.
type Attribute struct {
	Name string `json:"name"`
	// DataType is String, String.Array, Number or Binary, optionally followed
	// by a custom ".label".
	DataType string `json:"type"`
	// StringValue holds String, String.Array and Number values, BinaryValue
	// Binary ones.
	StringValue string `json:"s,omitempty"`
	BinaryValue []byte `json:"b,omitempty"`
}

func baseType(dataType string) string {
	if i := strings.IndexByte(dataType, '.'); i >= 0 {
		return dataType[:i]
	}
	return dataType
}

// wireValue is the attribute's value as the SNS envelope shows it (Binary in base64).
func (a *Attribute) wireValue() string {
	if baseType(a.DataType) == "Binary" {
		return base64.StdEncoding.EncodeToString(a.BinaryValue)
	}
	return a.StringValue
}

func (a *Attribute) size() int {
	return len(a.Name) + len(a.DataType) + len(a.StringValue) + len(a.BinaryValue)
}

// PublishInput is one message to publish.
type PublishInput struct {
	// TopicARN is the topic (TopicArn, or TargetArn naming a topic).
	TopicARN string
	Message  string
	// Subject is the Subject parameter; nil when absent (an empty one is invalid).
	Subject *string
	// Structure is MessageStructure: "" or "json" (Message is then a JSON object
	// of strings by protocol, with a "default").
	Structure  string
	Attributes []Attribute
	// GroupID is MessageGroupId, passed on to queues.
	GroupID string
	// DeduplicationID is MessageDeduplicationId, valid on FIFO topics only.
	DeduplicationID string
}

// BatchEntry is one entry of a PublishBatch.
type BatchEntry struct {
	// ID identifies the entry in the batch's results.
	ID string
	PublishInput
}

// published is a message as stored in SNS_PUBLISH (JSON).
type published struct {
	ID        string            `json:"id"`
	Topic     string            `json:"topic"`   // name
	TopicID   string            `json:"topicId"` // incarnation
	Subject   string            `json:"subject,omitempty"`
	Message   string            `json:"message"`
	ByProto   map[string]string `json:"byProtocol,omitempty"` // MessageStructure json
	Attrs     []Attribute       `json:"attrs,omitempty"`
	Timestamp int64             `json:"ts"` // unix ms
	GroupID   string            `json:"group,omitempty"`
}

// content is the message a subscription of protocol receives.
func (p *published) content(protocol string) string {
	if p.ByProto == nil {
		return p.Message
	}
	if m, ok := p.ByProto[protocol]; ok {
		return m
	}
	return p.ByProto["default"]
}

// Publish stores one message for delivery to the topic's subscriptions and
// returns its MessageId once JetStream has stored it.
func (s *Service) Publish(ctx context.Context, in PublishInput) (string, error) {
	t, p, err := s.prepare(in, "TopicArn")
	if err != nil {
		return "", err
	}
	if _, err := s.js.PublishMsg(ctx, publishMsg(t, p), jetstream.WithMsgID(p.ID)); err != nil {
		return "", fmt.Errorf("topic: publish to %s: %w", t.Name, err)
	}
	return p.ID, nil
}

// PublishBatch stores up to ten messages of one topic (their TopicARN is
// ignored) and returns their MessageIds in order. Invalid entries fail the whole request, as in SNS; each stored entry
// has its MessageId, and an entry JetStream failed to store has an error.
func (s *Service) PublishBatch(ctx context.Context, topicARN string, entries []BatchEntry) ([]string, []error, error) {
	if _, err := s.topic(topicARN, "TopicArn"); err != nil {
		return nil, nil, err
	}
	if len(entries) == 0 {
		return nil, nil, Errorf(CodeEmptyBatchRequest, "The batch request doesn't contain any entries.")
	}
	if len(entries) > MaxBatch {
		return nil, nil, Errorf(CodeTooManyEntriesInBatch, "The batch request contains more entries than permissible.")
	}
	if err := checkBatchIDs(entries); err != nil {
		return nil, nil, err
	}
	total := 0
	recs := make([]*published, len(entries))
	var t *topicRecord
	for i := range entries {
		in := entries[i].PublishInput
		in.TopicARN = topicARN
		tt, p, err := s.prepare(in, "TopicArn")
		if err != nil {
			return nil, nil, err
		}
		t, recs[i] = tt, p
		total += messageSize(&in)
	}
	if total > MaxMessageSize {
		return nil, nil, Errorf(CodeBatchRequestTooLong, "The length of all the messages put together is more than the limit.")
	}
	out := make([]string, len(entries))
	errs := make([]error, len(entries))
	futures := make([]jetstream.PubAckFuture, len(entries))
	for i, p := range recs {
		f, err := s.js.PublishMsgAsync(publishMsg(t, p), jetstream.WithMsgID(p.ID))
		if err != nil {
			errs[i] = fmt.Errorf("topic: publish to %s: %w", t.Name, err)
			continue
		}
		futures[i] = f
	}
	for i, f := range futures {
		if f == nil {
			continue
		}
		select {
		case <-f.Ok():
			out[i] = recs[i].ID
		case err := <-f.Err():
			errs[i] = fmt.Errorf("topic: publish to %s: %w", t.Name, err)
		case <-ctx.Done():
			errs[i] = ctx.Err()
		}
	}
	return out, errs, nil
}

var batchIDRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

func checkBatchIDs(entries []BatchEntry) error {
	seen := make(map[string]bool, len(entries))
	for i := range entries {
		id := entries[i].ID
		if seen[id] {
			return Errorf(CodeBatchEntryIdsNotDistinct, "Two or more batch entries in the request have the same Id.")
		}
		seen[id] = true
		if len(id) > 80 {
			return Errorf(CodeInvalidBatchEntryID, "The Id of a batch entry in the batch request is too long: %s", id)
		}
		if !batchIDRE.MatchString(id) {
			return Errorf(CodeInvalidBatchEntryID, "The Id of a batch entry in the batch request contains an impermissible character: %s", id)
		}
	}
	return nil
}

// Send publishes body to the topic arn: the invoke service's Sender for
// destinations and dead-letter targets of ARN service "sns".
func (s *Service) Send(ctx context.Context, arn string, body []byte) error {
	_, err := s.Publish(ctx, PublishInput{TopicARN: arn, Message: string(body)})
	return err
}

func publishMsg(t *topicRecord, p *published) *nats.Msg {
	data, _ := json.Marshal(p)
	return &nats.Msg{Subject: publishSubject + t.Name, Data: data, Header: nats.Header{}}
}

// prepare validates a message and builds its record.
func (s *Service) prepare(in PublishInput, param string) (*topicRecord, *published, error) {
	if in.Subject != nil {
		if err := checkSubject(*in.Subject); err != nil {
			return nil, nil, err
		}
	}
	if in.Message == "" {
		return nil, nil, invalid("Empty message")
	}
	if !utf8.ValidString(in.Message) {
		return nil, nil, invalid("Message")
	}
	attrs := slices.Clone(in.Attributes)
	if err := checkAttributes(attrs); err != nil {
		return nil, nil, err
	}
	if messageSize(&in) > MaxMessageSize {
		return nil, nil, invalid("Message too long")
	}
	if in.TopicARN == "" {
		return nil, nil, invalid("TopicArn or TargetArn Reason: no value for required parameter")
	}
	t, err := s.topic(in.TopicARN, param)
	if err != nil {
		return nil, nil, err
	}
	if in.DeduplicationID != "" {
		return nil, nil, invalid("MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter that is not valid for this topic type")
	}
	p := &published{ID: lambda.NewRequestID(), Topic: t.rec.Name, TopicID: t.rec.ID, Message: in.Message,
		Attrs: attrs, Timestamp: time.Now().UnixMilli(), GroupID: in.GroupID}
	if in.Subject != nil {
		p.Subject = *in.Subject
	}
	switch in.Structure {
	case "":
	case "json":
		if p.ByProto, err = parseStructure(in.Message); err != nil {
			return nil, nil, err
		}
	default:
		return nil, nil, invalid("MessageStructure")
	}
	return t.rec, p, nil
}

func messageSize(in *PublishInput) int {
	n := len(in.Message)
	for i := range in.Attributes {
		n += in.Attributes[i].size()
	}
	return n
}

// checkSubject accepts what SNS does: ASCII text that starts with a letter,
// digit or punctuation mark, without control characters, under 100 characters.
func checkSubject(s string) error {
	if s == "" || len(s) >= 100 || s[0] == ' ' {
		return invalid("Subject")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return invalid("Subject")
		}
	}
	return nil
}

// parseStructure parses a MessageStructure json message: keys with string
// values (others are ignored), "default" required.
func parseStructure(msg string) (map[string]string, error) {
	var m map[string]any
	if err := json.Unmarshal([]byte(msg), &m); err != nil || m == nil {
		return nil, invalid("Message Structure - JSON message body failed to parse")
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	if _, ok := out["default"]; !ok {
		return nil, invalid("Message Structure - No default entry in JSON message body")
	}
	return out, nil
}

// checkAttributes validates message attributes the way SNS does and sorts them by name.
func checkAttributes(attrs []Attribute) error {
	slices.SortFunc(attrs, func(a, b Attribute) int { return strings.Compare(a.Name, b.Name) })
	for i := range attrs {
		a := &attrs[i]
		if i > 0 && attrs[i-1].Name == a.Name {
			return Errorf(CodeInvalidParameterValue, "Message attribute name %s is specified more than once.", a.Name)
		}
		if err := checkAttributeName(a.Name); err != nil {
			return err
		}
		if a.DataType == "" {
			return Errorf(CodeValidation, "1 validation error detected: Value null at 'messageAttributes.%s.member.dataType' failed to satisfy constraint: Member must not be null", a.Name)
		}
		if len(a.DataType) > 256 {
			return Errorf(CodeInvalidParameterValue, "Message attribute type can not be longer than 256 bytes")
		}
		base := baseType(a.DataType)
		if base != "String" && base != "Number" && base != "Binary" {
			return Errorf(CodeInvalidParameterValue, "The message attribute '%s' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.", a.Name)
		}
		field, empty, other := "String", a.StringValue == "", len(a.BinaryValue) > 0
		if base == "Binary" {
			field, empty, other = "Binary", len(a.BinaryValue) == 0, a.StringValue != ""
		}
		if empty && other {
			return Errorf(CodeInvalidParameterValue, "The message attribute '%s' with type '%s' must use field '%s'.", a.Name, a.DataType, field)
		}
		if empty {
			return Errorf(CodeInvalidParameterValue, "The message attribute '%s' must contain non-empty message attribute value for message attribute type '%s'.", a.Name, a.DataType)
		}
		switch {
		case base == "Number":
			f, err := strconv.ParseFloat(strings.TrimSpace(a.StringValue), 64)
			if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
				return Errorf(CodeInvalidParameterValue, "Could not cast message attribute '%s' value to number.", a.Name)
			}
		case a.DataType == "String.Array":
			if !validStringArray(a.StringValue) {
				return Errorf(CodeInvalidParameterValue, "The message attribute '%s' with type 'String.Array' must be a JSON array of strings, numbers, true, false or null.", a.Name)
			}
		case base == "String" && !utf8.ValidString(a.StringValue):
			return Errorf(CodeInvalidParameterValue, "Invalid characters found in the message attribute '%s'.", a.Name)
		}
	}
	return nil
}

func checkAttributeName(name string) error {
	if name == "" || len(name) > 256 {
		return Errorf(CodeInvalidParameterValue, "Length of message attribute name must be less than 256 bytes.")
	}
	if name[0] == '.' {
		return Errorf(CodeInvalidParameterValue, "Invalid message attribute name starting with character '.' was found.")
	}
	if name[len(name)-1] == '.' {
		return Errorf(CodeInvalidParameterValue, "Invalid message attribute name ending with character '.' was found.")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return Errorf(CodeInvalidParameterValue, "Invalid non-alphanumeric character '#x%X' was found in the message attribute name. Can only include alphanumeric characters, hyphens, underscores, or dots.", c)
		}
		if c == '.' && name[i-1] == '.' {
			return Errorf(CodeInvalidParameterValue, "Message attribute name can not have successive '.' character.")
		}
	}
	lower := strings.ToLower(name)
	if strings.HasPrefix(lower, "aws.") || strings.HasPrefix(lower, "amazon.") {
		return Errorf(CodeInvalidParameterValue, "Message attribute name must not start with the reserved prefixes 'AWS.' or 'Amazon.'.")
	}
	return nil
}

// validStringArray reports whether v is a JSON array of strings, numbers,
// booleans and nulls.
func validStringArray(v string) bool {
	var arr []any
	if err := json.Unmarshal([]byte(v), &arr); err != nil || arr == nil {
		return false
	}
	for _, e := range arr {
		switch e.(type) {
		case string, float64, bool, nil:
		default:
			return false
		}
	}
	return true
}
