// Package sqsapi serves the Amazon SQS API in the AWS JSON 1.0 protocol that
// current SDKs and the AWS CLI v2 speak: POST / with "X-Amz-Target:
// AmazonSQS.<Action>" and "Content-Type: application/x-amz-json-1.0", over the
// queue service (events/queue). It only decodes, checks wire shapes, calls the
// service and encodes.
//
// Errors travel as *lambda.Error carrying the SQS exception name; they are
// written once, in writeError, in SQS's JSON shape: the HTTP status, body
// {"__type": "com.amazonaws.sqs#<Name>", "message": …}, header X-Amzn-ErrorType
// (the name) and header x-amzn-query-error ("<legacy query code>;Sender"), which
// SDKs in query-compatible mode use as the error code. Internal errors are
// logged and answered 500 without their text.
//
// Queue URLs are built from the Host the request came to
// (http://<host>/000000000000/<name>); any URL whose path is
// /000000000000/<name> is accepted, whatever its host and port.
package sqsapi

import (
	"encoding/json"
	"errors"
	"github.com/nimbus-dev/nimbus/internal/awsapi"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/nimbus-dev/nimbus/internal/events/queue"
	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// TargetPrefix starts the X-Amz-Target header of every SQS request.
const TargetPrefix = "AmazonSQS."

// MaxBody bounds a request body: ten 1 MiB messages, escaped in JSON, fit.
const MaxBody = 16 << 20

// API is the SQS API handler.
type API struct {
	log *slog.Logger
	q   *queue.Service
	ops map[string]op
}

// op serves one action: it decodes body and returns the value to encode.
type op func(r *http.Request, body []byte) (any, error)

// New returns the API over the queue service.
func New(log *slog.Logger, q *queue.Service) *API {
	a := &API{log: log, q: q}
	a.ops = map[string]op{
		"CreateQueue":                  a.createQueue,
		"GetQueueUrl":                  a.getQueueURL,
		"ListQueues":                   a.listQueues,
		"DeleteQueue":                  a.deleteQueue,
		"PurgeQueue":                   a.purgeQueue,
		"GetQueueAttributes":           a.getQueueAttributes,
		"SetQueueAttributes":           a.setQueueAttributes,
		"SendMessage":                  a.sendMessage,
		"SendMessageBatch":             a.sendMessageBatch,
		"ReceiveMessage":               a.receiveMessage,
		"DeleteMessage":                a.deleteMessage,
		"DeleteMessageBatch":           a.deleteMessageBatch,
		"ChangeMessageVisibility":      a.changeMessageVisibility,
		"ChangeMessageVisibilityBatch": a.changeMessageVisibilityBatch,
		"TagQueue":                     a.tagQueue,
		"UntagQueue":                   a.untagQueue,
		"ListQueueTags":                a.listQueueTags,
		"ListDeadLetterSourceQueues":   a.listDeadLetterSourceQueues,
		"AddPermission":                unsupported,
		"RemovePermission":             unsupported,
		"StartMessageMoveTask":         unsupported,
		"CancelMessageMoveTask":        unsupported,
		"ListMessageMoveTasks":         unsupported,
	}
	return a
}

// Handler returns the handler for POST / requests whose X-Amz-Target starts
// with TargetPrefix.
func (a *API) Handler() http.Handler { return a }

// ServeHTTP serves one SQS request.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	action, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), TargetPrefix)
	f := a.ops[action]
	if !ok || f == nil || r.Method != http.MethodPost {
		a.writeError(w, &lambda.Error{Code: codeUnknownOperation, Status: http.StatusBadRequest,
			Message: "Unknown operation " + r.Method + " " + r.Header.Get("X-Amz-Target")})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		a.writeError(w, errSerialization("The request body could not be read."))
		return
	}
	if len(body) > MaxBody {
		a.writeError(w, &lambda.Error{Code: codeRequestTooLarge, Status: http.StatusRequestEntityTooLarge,
			Message: "Request must be smaller than " + strconv.Itoa(MaxBody) + " bytes."})
		return
	}
	out, err := f(r, body)
	if err != nil && r.Context().Err() != nil {
		return // the client has gone
	}
	if err != nil {
		a.writeError(w, err)
		return
	}
	b, err := awsapi.MarshalJSON(out)
	if err != nil {
		a.writeError(w, err)
		return
	}
	awsapi.WriteJSONProtocol(w, "application/x-amz-json-1.0", b)
}

// decode reads a request body; an empty body is an empty request.
func decode(body []byte, v any) error {
	if len(body) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return errSerialization("Value for " + te.Field + " has an invalid type.")
		}
		return errSerialization("The request body is not valid JSON.")
	}
	return nil
}

// Error codes this package adds to the queue package's.
const (
	codeUnknownOperation = "UnknownOperationException"
	codeSerialization    = "SerializationException"
	codeRequestTooLarge  = "RequestEntityTooLarge"
	codeInternal         = "InternalError"
)

func errSerialization(msg string) error {
	return &lambda.Error{Code: codeSerialization, Status: http.StatusBadRequest, Message: msg}
}

// wire is how an error code appears on the wire: the "__type" and the legacy
// query code of x-amzn-query-error.
type wire struct{ typ, query string }

var wireCodes = map[string]wire{
	queue.CodeQueueDoesNotExist:        {"com.amazonaws.sqs#QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue"},
	queue.CodeQueueNameExists:          {"com.amazonaws.sqs#QueueNameExists", "QueueAlreadyExists"},
	queue.CodeMessageNotInflight:       {"com.amazonaws.sqs#MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight"},
	queue.CodeEmptyBatchRequest:        {"com.amazonaws.sqs#EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest"},
	queue.CodeTooManyEntriesInBatch:    {"com.amazonaws.sqs#TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"},
	queue.CodeBatchEntryIdsNotDistinct: {"com.amazonaws.sqs#BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"},
	queue.CodeInvalidBatchEntryID:      {"com.amazonaws.sqs#InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId"},
	queue.CodeBatchRequestTooLong:      {"com.amazonaws.sqs#BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong"},
	queue.CodePurgeQueueInProgress:     {"com.amazonaws.sqs#PurgeQueueInProgress", "AWS.SimpleQueueService.PurgeQueueInProgress"},
	queue.CodeUnsupportedOperation:     {"com.amazonaws.sqs#UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation"},
	codeUnknownOperation:               {"com.amazon.coral.service#UnknownOperationException", "InvalidAction"},
	codeSerialization:                  {"com.amazon.coral.service#SerializationException", "MalformedInput"},
	codeInternal:                       {"com.amazonaws.sqs#InternalError", "InternalError"},
}

// wireCode returns the wire form of code; modelled SQS errors whose query code
// is their name, and the common errors (InvalidParameterValue, …), take the default.
func wireCode(code string) wire {
	if w, ok := wireCodes[code]; ok {
		return w
	}
	return wire{"com.amazonaws.sqs#" + code, code}
}

// writeError writes err in SQS's JSON error shape.
func (a *API) writeError(w http.ResponseWriter, err error) {
	e, ok := lambda.AsError(err)
	if !ok {
		a.log.Error("sqs: internal error", "err", err)
		e = &lambda.Error{Code: codeInternal, Status: http.StatusInternalServerError, Message: "An internal error occurred; see the server log."}
	}
	wc := wireCode(e.Code)
	fault := "Sender"
	if e.Status >= 500 {
		fault = "Receiver"
	}
	b, _ := awsapi.MarshalJSON(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{wc.typ, e.Message})
	h := w.Header()
	h["Content-Type"] = []string{"application/x-amz-json-1.0"}
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	h["X-Amzn-Errortype"] = []string{e.Code}
	h["X-Amzn-Query-Error"] = []string{wc.query + ";" + fault}
	h["X-Amzn-Requestid"] = []string{lambda.NewRequestID()}
	w.WriteHeader(e.Status)
	w.Write(b)
}

// queueURL is the URL of a queue as seen by the client of r.
func queueURL(r *http.Request, name string) string {
	scheme := "http://"
	if r.TLS != nil {
		scheme = "https://"
	}
	return scheme + r.Host + "/" + lambda.Account + "/" + name
}

// queueName returns the name in a queue URL: any scheme, host and port, path
// /<account>/<name>.
func queueName(raw string) (string, error) {
	if raw == "" {
		return "", queue.Errorf(queue.CodeMissingParameter, "The request must contain the parameter QueueUrl.")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", queue.Errorf(queue.CodeInvalidAddress, "The address %s is not valid for this endpoint.", raw)
	}
	account, name, ok := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if !ok || len(account) != 12 || strings.Trim(account, "0123456789") != "" || name == "" || strings.Contains(name, "/") {
		return "", queue.Errorf(queue.CodeInvalidAddress, "The address %s is not valid for this endpoint.", raw)
	}
	if account != lambda.Account || !queue.ValidName(name) {
		return "", queue.Errorf(queue.CodeQueueDoesNotExist, "The specified queue does not exist.")
	}
	return name, nil
}

// senderID is the SenderId of a request's messages: the access key id it was
// signed with, or the account id for unsigned requests.
func senderID(r *http.Request) string {
	auth := r.Header.Get("Authorization")
	if _, cred, ok := strings.Cut(auth, "Credential="); ok {
		if key, _, ok := strings.Cut(cred, "/"); ok && key != "" && len(key) <= 128 {
			return key
		}
	}
	return lambda.Account
}

func unsupported(*http.Request, []byte) (any, error) {
	return nil, queue.Errorf(queue.CodeUnsupportedOperation, "This operation is not supported by nimbus.")
}
