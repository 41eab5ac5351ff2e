package queue

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// SendInput is one message to send.
type SendInput struct {
	Body string
	// Attributes are the message attributes, in any order.
	Attributes []Attribute
	// Delay keeps the message invisible after sending (0–15 minutes); nil means
	// the queue's DelaySeconds.
	Delay *time.Duration
	// TraceHeader is the AWSTraceHeader system attribute, if any.
	TraceHeader string
	// GroupID is the MessageGroupId, which standard queues keep but do not order by.
	GroupID string
	// SenderID is the SenderId attribute receivers see.
	SenderID string
}

// SendResult describes a sent message.
type SendResult struct {
	MessageID             string
	MD5OfBody             string
	MD5OfAttributes       string // "" without attributes
	MD5OfSystemAttributes string // "" without a trace header
}

// Send stores one message. It returns once JetStream has stored it.
func (s *Service) Send(ctx context.Context, name string, in SendInput) (SendResult, error) {
	q, err := s.lookup(name)
	if err != nil {
		return SendResult{}, err
	}
	m, res, err := prepare(q, q.state.Load().set, in, time.Now())
	if err != nil {
		return SendResult{}, err
	}
	if _, err := s.js.PublishMsg(ctx, m); err != nil {
		return SendResult{}, fmt.Errorf("queue: send to %s: %w", name, err)
	}
	return res, nil
}

// SendBatch stores up to ten messages; each either has a result or an error
// (a *lambda.Error for invalid entries). The error is for the request as a
// whole: the queue does not exist, or the batch is too large.
func (s *Service) SendBatch(ctx context.Context, name string, in []SendInput) ([]SendResult, []error, error) {
	q, err := s.lookup(name)
	if err != nil {
		return nil, nil, err
	}
	if len(in) == 0 {
		return nil, nil, Errorf(CodeEmptyBatchRequest, "There should be at least one SendMessageBatchRequestEntry in the request.")
	}
	if len(in) > MaxBatch {
		return nil, nil, Errorf(CodeTooManyEntriesInBatch, "Maximum number of entries per request are %d. You have sent %d.", MaxBatch, len(in))
	}
	total := 0
	for i := range in {
		total += messageSize(&in[i])
	}
	if total > MaxMessageSizeLimit {
		return nil, nil, Errorf(CodeBatchRequestTooLong, "Batch requests cannot be longer than %d bytes. You have sent %d bytes.", MaxMessageSizeLimit, total)
	}
	set := q.state.Load().set
	now := time.Now()
	res := make([]SendResult, len(in))
	errs := make([]error, len(in))
	futures := make([]jetstream.PubAckFuture, len(in))
	for i := range in {
		m, r, err := prepare(q, set, in[i], now)
		if err != nil {
			errs[i] = err
			continue
		}
		res[i] = r
		if futures[i], err = s.js.PublishMsgAsync(m); err != nil {
			errs[i] = fmt.Errorf("queue: send to %s: %w", name, err)
		}
	}
	for i, f := range futures {
		if f == nil {
			continue
		}
		select {
		case <-f.Ok():
		case err := <-f.Err():
			errs[i] = fmt.Errorf("queue: send to %s: %w", name, err)
		case <-ctx.Done():
			errs[i] = ctx.Err()
		}
	}
	return res, errs, nil
}

func messageSize(in *SendInput) int {
	n := len(in.Body)
	for i := range in.Attributes {
		n += in.Attributes[i].size()
	}
	return n
}

// prepare validates a message and builds what is stored.
func prepare(q *queue, set settings, in SendInput, now time.Time) (*nats.Msg, SendResult, error) {
	if in.Body == "" {
		return nil, SendResult{}, Errorf(CodeMissingParameter, "The request must contain the parameter MessageBody.")
	}
	if !validText(in.Body) {
		return nil, SendResult{}, Errorf(CodeInvalidMessageContents, "Invalid binary character was found in the message body, the set of allowed characters is #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF")
	}
	attrs := slices.Clone(in.Attributes)
	if err := checkMessageAttributes(attrs); err != nil {
		return nil, SendResult{}, err
	}
	if size := messageSize(&in); size > set.maxSize {
		return nil, SendResult{}, errInvalidParam("One or more parameters are invalid. Reason: Message must be shorter than %d bytes.", set.maxSize)
	}
	delay := set.delay
	if in.Delay != nil {
		delay = *in.Delay
		if delay < 0 || delay > MaxDelay {
			return nil, SendResult{}, errInvalidParam("Value %d for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.", int64(delay/time.Second))
		}
	}
	if in.TraceHeader != "" && (!validText(in.TraceHeader) || len(in.TraceHeader) > 1024) {
		return nil, SendResult{}, errInvalidParam("The message system attribute 'AWSTraceHeader' is invalid.")
	}

	if len(in.GroupID) > 128 || !validText(in.GroupID) {
		return nil, SendResult{}, errInvalidParam("Value %s for parameter MessageGroupId is invalid. Reason: MessageGroupId can only include alphanumeric and punctuation characters. 1 to 128 in length.", in.GroupID)
	}

	id := lambda.NewRequestID()
	data := make([]byte, 0, len(in.Body)+64*len(attrs))
	data = encodeAttributes(data, attrs)
	nattr := len(data)
	data = append(data, in.Body...)
	res := SendResult{MessageID: id, MD5OfBody: md5Hex(data[nattr:]), MD5OfSystemAttributes: traceMD5(in.TraceHeader)}
	h := nats.Header{
		hdrID:   {id},
		hdrSent: {strconv.FormatInt(now.UnixMilli(), 10)},
	}
	if in.SenderID != "" {
		h[hdrSender] = []string{in.SenderID}
	}
	if nattr > 0 {
		h[hdrAttrs] = []string{strconv.Itoa(nattr)}
		res.MD5OfAttributes = md5Hex(data[:nattr])
	}
	if in.TraceHeader != "" {
		h[hdrTrace] = []string{in.TraceHeader}
	}
	if in.GroupID != "" {
		h[hdrGroup] = []string{in.GroupID}
	}
	subject := q.subject
	if delay > 0 {
		subject = q.subject + delayedInfix + id
		h[hdrSchedule] = []string{"@at " + now.Add(delay).UTC().Format(time.RFC3339Nano)}
		h[hdrSchedTgt] = []string{q.subject}
	}
	return &nats.Msg{Subject: subject, Header: h, Data: data}, res, nil
}
