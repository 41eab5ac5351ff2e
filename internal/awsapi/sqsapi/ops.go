package sqsapi

import (
	"encoding/base64"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nimbus-dev/nimbus/internal/events/queue"
	"github.com/nimbus-dev/nimbus/internal/lambda"
)

type queueRef struct {
	QueueUrl string
}

type empty struct{}

type queueURLOut struct {
	QueueUrl string
}

func (a *API) createQueue(r *http.Request, body []byte) (any, error) {
	var in struct {
		QueueName  *string
		Attributes map[string]string
		Tags       map[string]string `json:"tags"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.QueueName == nil {
		return nil, queue.Errorf(queue.CodeMissingParameter, "The request must contain the parameter QueueName.")
	}
	if err := a.q.CreateQueue(r.Context(), *in.QueueName, in.Attributes, in.Tags); err != nil {
		return nil, err
	}
	return queueURLOut{queueURL(r, *in.QueueName)}, nil
}

func (a *API) getQueueURL(r *http.Request, body []byte) (any, error) {
	var in struct {
		QueueName              string
		QueueOwnerAWSAccountId string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.QueueName == "" {
		return nil, queue.Errorf(queue.CodeMissingParameter, "The request must contain the parameter QueueName.")
	}
	if (in.QueueOwnerAWSAccountId != "" && in.QueueOwnerAWSAccountId != lambda.Account) || !a.q.Exists(in.QueueName) {
		return nil, errNoQueue()
	}
	return queueURLOut{queueURL(r, in.QueueName)}, nil
}

type listIn struct {
	QueueUrl        string
	QueueNamePrefix string
	NextToken       string
	MaxResults      *int
}

type listOut struct {
	QueueUrls []string `json:",omitempty"`
	NextToken string   `json:",omitempty"`
}

// page returns one page of names (in order) after the position in token: all of
// them (up to 1000) without max, else max and a token for the rest.
func page(names []string, token string, maxResults *int) ([]string, string, error) {
	if token != "" {
		after, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil {
			return nil, "", queue.Errorf(queue.CodeInvalidParameterValue, "Invalid NextToken value.")
		}
		i, _ := slices.BinarySearch(names, string(after)+"\x00")
		names = names[i:]
	}
	limit := 1000
	if maxResults != nil {
		if *maxResults < 1 || *maxResults > 1000 {
			return nil, "", queue.Errorf(queue.CodeInvalidParameterValue, "Value %d for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000.", *maxResults)
		}
		limit = *maxResults
	}
	if len(names) <= limit {
		return names, "", nil
	}
	names = names[:limit]
	next := ""
	if maxResults != nil {
		next = base64.RawURLEncoding.EncodeToString([]byte(names[len(names)-1]))
	}
	return names, next, nil
}

func (a *API) listQueues(r *http.Request, body []byte) (any, error) {
	var in listIn
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	names, next, err := page(a.q.List(in.QueueNamePrefix), in.NextToken, in.MaxResults)
	if err != nil {
		return nil, err
	}
	out := listOut{NextToken: next}
	for _, n := range names {
		out.QueueUrls = append(out.QueueUrls, queueURL(r, n))
	}
	return out, nil
}

func (a *API) listDeadLetterSourceQueues(r *http.Request, body []byte) (any, error) {
	var in listIn
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	name, err := queueName(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	srcs, err := a.q.DeadLetterSources(name)
	if err != nil {
		return nil, err
	}
	names, next, err := page(srcs, in.NextToken, in.MaxResults)
	if err != nil {
		return nil, err
	}
	out := struct {
		QueueUrls []string `json:"queueUrls"`
		NextToken string   `json:",omitempty"`
	}{QueueUrls: []string{}, NextToken: next}
	for _, n := range names {
		out.QueueUrls = append(out.QueueUrls, queueURL(r, n))
	}
	return out, nil
}

// named decodes a request that names a queue, returning the queue's name.
func named(body []byte, in interface{ url() string }) (string, error) {
	if err := decode(body, in); err != nil {
		return "", err
	}
	return queueName(in.url())
}

func (q *queueRef) url() string { return q.QueueUrl }

func (a *API) deleteQueue(r *http.Request, body []byte) (any, error) {
	name, err := named(body, &queueRef{})
	if err != nil {
		return nil, err
	}
	return empty{}, a.q.DeleteQueue(r.Context(), name)
}

func (a *API) purgeQueue(r *http.Request, body []byte) (any, error) {
	name, err := named(body, &queueRef{})
	if err != nil {
		return nil, err
	}
	return empty{}, a.q.PurgeQueue(r.Context(), name)
}

type attributesIn struct {
	queueRef
	AttributeNames []string
	Attributes     map[string]string
}

func (a *API) getQueueAttributes(r *http.Request, body []byte) (any, error) {
	var in attributesIn
	name, err := named(body, &in)
	if err != nil {
		return nil, err
	}
	attrs, err := a.q.Attributes(r.Context(), name, in.AttributeNames)
	if err != nil {
		return nil, err
	}
	return struct {
		Attributes map[string]string `json:",omitempty"`
	}{attrs}, nil
}

func (a *API) setQueueAttributes(r *http.Request, body []byte) (any, error) {
	var in attributesIn
	name, err := named(body, &in)
	if err != nil {
		return nil, err
	}
	return empty{}, a.q.SetAttributes(r.Context(), name, in.Attributes)
}

type tagsIn struct {
	queueRef
	Tags    map[string]string
	TagKeys []string
}

func (a *API) tagQueue(r *http.Request, body []byte) (any, error) {
	var in tagsIn
	name, err := named(body, &in)
	if err != nil {
		return nil, err
	}
	return empty{}, a.q.Tag(r.Context(), name, in.Tags)
}

func (a *API) untagQueue(r *http.Request, body []byte) (any, error) {
	var in tagsIn
	name, err := named(body, &in)
	if err != nil {
		return nil, err
	}
	return empty{}, a.q.Untag(r.Context(), name, in.TagKeys)
}

func (a *API) listQueueTags(r *http.Request, body []byte) (any, error) {
	name, err := named(body, &queueRef{})
	if err != nil {
		return nil, err
	}
	tags, err := a.q.Tags(name)
	if err != nil {
		return nil, err
	}
	return struct {
		Tags map[string]string `json:",omitempty"`
	}{tags}, nil
}

// attributeValue is a MessageAttributeValue.
type attributeValue struct {
	DataType         string
	StringValue      *string  `json:",omitempty"`
	BinaryValue      []byte   `json:",omitempty"`
	StringListValues []string `json:",omitempty"`
	BinaryListValues [][]byte `json:",omitempty"`
}

type sendEntry struct {
	Id                      string
	MessageBody             *string
	DelaySeconds            *int64
	MessageAttributes       map[string]attributeValue
	MessageSystemAttributes map[string]attributeValue
	MessageDeduplicationId  *string
	MessageGroupId          *string
}

type sendOut struct {
	Id                           string `json:",omitempty"`
	MessageId                    string
	MD5OfMessageBody             string
	MD5OfMessageAttributes       string `json:",omitempty"`
	MD5OfMessageSystemAttributes string `json:",omitempty"`
}

// input converts an entry to the service's input.
func (e *sendEntry) input(r *http.Request) (queue.SendInput, error) {
	if e.MessageBody == nil {
		return queue.SendInput{}, queue.Errorf(queue.CodeMissingParameter, "The request must contain the parameter MessageBody.")
	}
	in := queue.SendInput{Body: *e.MessageBody, SenderID: senderID(r)}
	if e.DelaySeconds != nil {
		if *e.DelaySeconds < 0 || *e.DelaySeconds > 900 {
			return in, queue.Errorf(queue.CodeInvalidParameterValue, "Value %d for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.", *e.DelaySeconds)
		}
		d := time.Duration(*e.DelaySeconds) * time.Second
		in.Delay = &d
	}
	if e.MessageDeduplicationId != nil {
		return in, queue.Errorf(queue.CodeInvalidParameterValue, "The request include parameter that is not valid for this queue type")
	}
	if e.MessageGroupId != nil {
		in.GroupID = *e.MessageGroupId
	}
	for name, v := range e.MessageAttributes {
		if len(v.StringListValues) > 0 || len(v.BinaryListValues) > 0 {
			return in, queue.Errorf(queue.CodeInvalidParameterValue, "Message attribute list values in SendMessage operation are not supported.")
		}
		at := queue.Attribute{Name: name, DataType: v.DataType, BinaryValue: v.BinaryValue}
		if v.StringValue != nil {
			at.StringValue = *v.StringValue
		}
		if at.IsBinary() != (v.StringValue == nil) {
			return in, queue.Errorf(queue.CodeInvalidParameterValue, "Message (user) attribute '%s' must contain a non-empty value of message attribute type '%s'.", name, v.DataType)
		}
		in.Attributes = append(in.Attributes, at)
	}
	for name, v := range e.MessageSystemAttributes {
		if name != "AWSTraceHeader" || v.DataType != "String" || v.StringValue == nil {
			return in, queue.Errorf(queue.CodeInvalidParameterValue, "Message system attribute name '%s' is invalid.", name)
		}
		in.TraceHeader = *v.StringValue
	}
	return in, nil
}

func (a *API) sendMessage(r *http.Request, body []byte) (any, error) {
	var in struct {
		queueRef
		sendEntry
	}
	name, err := named(body, &in)
	if err != nil {
		return nil, err
	}
	si, err := in.input(r)
	if err != nil {
		return nil, err
	}
	res, err := a.q.Send(r.Context(), name, si)
	if err != nil {
		return nil, err
	}
	return sendOut{MessageId: res.MessageID, MD5OfMessageBody: res.MD5OfBody,
		MD5OfMessageAttributes: res.MD5OfAttributes, MD5OfMessageSystemAttributes: res.MD5OfSystemAttributes}, nil
}

// batchError is a BatchResultErrorEntry.
type batchError struct {
	Id          string
	SenderFault bool
	Code        string
	Message     string
}

func (a *API) failure(id string, err error) batchError {
	e, ok := lambda.AsError(err)
	if !ok {
		a.log.Error("sqs: internal error in batch entry", "err", err)
		return batchError{Id: id, SenderFault: false, Code: codeInternal, Message: "An internal error occurred; see the server log."}
	}
	return batchError{Id: id, SenderFault: e.Status < 500, Code: wireCode(e.Code).query, Message: e.Message}
}

type batchOut[T any] struct {
	Successful []T
	Failed     []batchError
}

// checkIDs checks the entry ids of a batch request of kind (for messages).
func checkIDs(kind string, ids []string) error {
	if len(ids) == 0 {
		return queue.Errorf(queue.CodeEmptyBatchRequest, "There should be at least one %s in the request.", kind)
	}
	if len(ids) > queue.MaxBatch {
		return queue.Errorf(queue.CodeTooManyEntriesInBatch, "Maximum number of entries per request are %d. You have sent %d.", queue.MaxBatch, len(ids))
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if id == "" || len(id) > 80 || strings.Trim(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
			return queue.Errorf(queue.CodeInvalidBatchEntryID, "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.")
		}
		if seen[id] {
			return queue.Errorf(queue.CodeBatchEntryIdsNotDistinct, "Id %s repeated.", id)
		}
		seen[id] = true
	}
	return nil
}

func (a *API) sendMessageBatch(r *http.Request, body []byte) (any, error) {
	var in struct {
		queueRef
		Entries []sendEntry
	}
	name, err := named(body, &in)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(in.Entries))
	for i := range in.Entries {
		ids[i] = in.Entries[i].Id
	}
	if err := checkIDs("SendMessageBatchRequestEntry", ids); err != nil {
		return nil, err
	}
	out := batchOut[sendOut]{Successful: []sendOut{}, Failed: []batchError{}}
	var inputs []queue.SendInput
	var idx []int
	for i := range in.Entries {
		si, err := in.Entries[i].input(r)
		if err != nil {
			out.Failed = append(out.Failed, a.failure(ids[i], err))
			continue
		}
		inputs = append(inputs, si)
		idx = append(idx, i)
	}
	if len(inputs) == 0 {
		return out, nil
	}
	res, errs, err := a.q.SendBatch(r.Context(), name, inputs)
	if err != nil {
		return nil, err
	}
	for j, i := range idx {
		if errs[j] != nil {
			out.Failed = append(out.Failed, a.failure(ids[i], errs[j]))
			continue
		}
		out.Successful = append(out.Successful, sendOut{Id: ids[i], MessageId: res[j].MessageID, MD5OfMessageBody: res[j].MD5OfBody,
			MD5OfMessageAttributes: res[j].MD5OfAttributes, MD5OfMessageSystemAttributes: res[j].MD5OfSystemAttributes})
	}
	return out, nil
}

type messageOut struct {
	MessageId              string
	ReceiptHandle          string
	MD5OfBody              string
	Body                   string
	Attributes             map[string]string         `json:",omitempty"`
	MD5OfMessageAttributes string                    `json:",omitempty"`
	MessageAttributes      map[string]attributeValue `json:",omitempty"`
}

// System attribute names a receive may ask for.
var systemAttributes = []string{"All", "SenderId", "SentTimestamp", "ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp",
	"SequenceNumber", "MessageDeduplicationId", "MessageGroupId", "AWSTraceHeader", "DeadLetterQueueSourceArn"}

func (a *API) receiveMessage(r *http.Request, body []byte) (any, error) {
	var in struct {
		queueRef
		AttributeNames              []string
		MessageSystemAttributeNames []string
		MessageAttributeNames       []string
		MaxNumberOfMessages         *int64
		VisibilityTimeout           *int64
		WaitTimeSeconds             *int64
		ReceiveRequestAttemptId     string
	}
	name, err := named(body, &in)
	if err != nil {
		return nil, err
	}
	var o queue.ReceiveOptions
	if in.MaxNumberOfMessages != nil {
		if n := *in.MaxNumberOfMessages; n < 1 || n > queue.MaxBatch {
			return nil, queue.Errorf(queue.CodeInvalidParameterValue, "Value %d for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.", n)
		}
		o.Max = int(*in.MaxNumberOfMessages)
	}
	if o.Visibility, err = optSeconds("VisibilityTimeout", in.VisibilityTimeout, 43200); err != nil {
		return nil, err
	}
	if o.Wait, err = optSeconds("WaitTimeSeconds", in.WaitTimeSeconds, 20); err != nil {
		return nil, err
	}
	sys := map[string]bool{}
	for _, n := range slices.Concat(in.AttributeNames, in.MessageSystemAttributeNames) {
		if !slices.Contains(systemAttributes, n) {
			return nil, queue.Errorf(queue.CodeInvalidAttributeName, "Unknown Attribute %s.", n)
		}
		sys[n] = true
	}
	msgs, err := a.q.Receive(r.Context(), name, o)
	if err != nil {
		return nil, err
	}
	out := struct {
		Messages []messageOut `json:",omitempty"`
	}{}
	for i := range msgs {
		out.Messages = append(out.Messages, present(&msgs[i], sys, in.MessageAttributeNames))
	}
	return out, nil
}

// optSeconds reads an optional number of seconds of parameter name, from 0
// to most.
func optSeconds(name string, v *int64, most int64) (*time.Duration, error) {
	if v == nil {
		return nil, nil
	}
	if *v < 0 || *v > most {
		return nil, queue.Errorf(queue.CodeInvalidParameterValue, "Value %d for parameter %s is invalid. Reason: Must be >= 0 and <= %d, if provided.", *v, name, most)
	}
	d := time.Duration(*v) * time.Second
	return &d, nil
}

// present shapes a received message with the requested attributes.
func present(m *queue.Message, sys map[string]bool, attrNames []string) messageOut {
	out := messageOut{MessageId: m.ID, ReceiptHandle: m.ReceiptHandle, MD5OfBody: m.MD5OfBody, Body: m.Body}
	all := sys["All"]
	add := func(name, v string) {
		if v != "" && (all || sys[name]) {
			if out.Attributes == nil {
				out.Attributes = map[string]string{}
			}
			out.Attributes[name] = v
		}
	}
	add("SenderId", m.SenderID)
	add("SentTimestamp", strconv.FormatInt(m.SentTimestamp.UnixMilli(), 10))
	add("ApproximateReceiveCount", strconv.Itoa(m.ReceiveCount))
	add("ApproximateFirstReceiveTimestamp", strconv.FormatInt(m.FirstReceive.UnixMilli(), 10))
	add("AWSTraceHeader", m.TraceHeader)
	add("MessageGroupId", m.GroupID)
	add("DeadLetterQueueSourceArn", m.DeadLetterFrom)

	selected := m.Attributes[:0:0]
	for _, at := range m.Attributes {
		if wanted(at.Name, attrNames) {
			selected = append(selected, at)
		}
	}
	if len(selected) == 0 {
		return out
	}
	if len(selected) == len(m.Attributes) {
		out.MD5OfMessageAttributes = m.MD5OfAttributes
	} else {
		out.MD5OfMessageAttributes = queue.AttributesMD5(selected)
	}
	out.MessageAttributes = make(map[string]attributeValue, len(selected))
	for _, at := range selected {
		v := attributeValue{DataType: at.DataType}
		if at.IsBinary() {
			v.BinaryValue = at.BinaryValue
		} else {
			v.StringValue = &at.StringValue
		}
		out.MessageAttributes[at.Name] = v
	}
	return out
}

// wanted reports whether MessageAttributeNames select the attribute name: "All"
// or ".*" select all, "prefix.*" those starting with "prefix.", others by name.
func wanted(name string, names []string) bool {
	for _, n := range names {
		if n == "All" || n == ".*" || n == name {
			return true
		}
		if p, ok := strings.CutSuffix(n, "*"); ok && strings.HasSuffix(p, ".") && strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

type receiptIn struct {
	queueRef
	ReceiptHandle     *string
	VisibilityTimeout *int64
}

func (in *receiptIn) handle() (string, error) {
	if in.ReceiptHandle == nil {
		return "", queue.Errorf(queue.CodeMissingParameter, "The request must contain the parameter ReceiptHandle.")
	}
	return *in.ReceiptHandle, nil
}

func (a *API) deleteMessage(r *http.Request, body []byte) (any, error) {
	var in receiptIn
	name, err := named(body, &in)
	if err != nil {
		return nil, err
	}
	h, err := in.handle()
	if err != nil {
		return nil, err
	}
	return empty{}, a.q.Delete(r.Context(), name, h)
}

type idOut struct {
	Id string
}

type receiptEntry struct {
	Id                string
	ReceiptHandle     string
	VisibilityTimeout *int64
}

func (a *API) deleteMessageBatch(r *http.Request, body []byte) (any, error) {
	var in struct {
		queueRef
		Entries []receiptEntry
	}
	name, err := named(body, &in)
	if err != nil {
		return nil, err
	}
	ids, handles := make([]string, len(in.Entries)), make([]string, len(in.Entries))
	for i, e := range in.Entries {
		ids[i], handles[i] = e.Id, e.ReceiptHandle
	}
	if err := checkIDs("DeleteMessageBatchRequestEntry", ids); err != nil {
		return nil, err
	}
	errs, err := a.q.DeleteBatch(r.Context(), name, handles)
	if err != nil {
		return nil, err
	}
	out := batchOut[idOut]{Successful: []idOut{}, Failed: []batchError{}}
	for i, e := range errs {
		if e != nil {
			out.Failed = append(out.Failed, a.failure(ids[i], e))
		} else {
			out.Successful = append(out.Successful, idOut{ids[i]})
		}
	}
	return out, nil
}

func (a *API) changeMessageVisibility(r *http.Request, body []byte) (any, error) {
	var in receiptIn
	name, err := named(body, &in)
	if err != nil {
		return nil, err
	}
	h, err := in.handle()
	if err != nil {
		return nil, err
	}
	if in.VisibilityTimeout == nil {
		return nil, queue.Errorf(queue.CodeMissingParameter, "The request must contain the parameter VisibilityTimeout.")
	}
	return empty{}, a.q.ChangeVisibility(r.Context(), name, h, seconds(*in.VisibilityTimeout))
}

// seconds converts an API number of seconds, saturating far out of range values
// (the service rejects them).
func seconds(n int64) time.Duration {
	return time.Duration(min(max(n, -1), 1<<32)) * time.Second
}

func (a *API) changeMessageVisibilityBatch(r *http.Request, body []byte) (any, error) {
	var in struct {
		queueRef
		Entries []receiptEntry
	}
	name, err := named(body, &in)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(in.Entries))
	for i, e := range in.Entries {
		ids[i] = e.Id
	}
	if err := checkIDs("ChangeMessageVisibilityBatchRequestEntry", ids); err != nil {
		return nil, err
	}
	if !a.q.Exists(name) {
		return nil, errNoQueue()
	}
	out := batchOut[idOut]{Successful: []idOut{}, Failed: []batchError{}}
	for _, e := range in.Entries {
		var err error
		if e.VisibilityTimeout == nil {
			err = queue.Errorf(queue.CodeMissingParameter, "The request must contain the parameter VisibilityTimeout.")
		} else {
			err = a.q.ChangeVisibility(r.Context(), name, e.ReceiptHandle, seconds(*e.VisibilityTimeout))
		}
		if err != nil {
			out.Failed = append(out.Failed, a.failure(e.Id, err))
		} else {
			out.Successful = append(out.Successful, idOut{e.Id})
		}
	}
	return out, nil
}
