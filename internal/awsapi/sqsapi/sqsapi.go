// Package sqsapi serves the Amazon SQS API in the AWS JSON 1.0 protocol that
// current SDKs and the AWS CLI v2 speak: POST / with "X-Amz-Target:
// AmazonSQS.<Action>" and "Content-Type: application/x-amz-json-1.0", over the
// queue service (events/queue). It only decodes, checks wire shapes, calls the
// service and encodes.
//
// Errors travel as *lambda.Error carrying the SQS exception name;
// awsapi.JSONService writes them once, in SQS's JSON shape (wireCode): the HTTP
// status, body {"__type": "com.amazonaws.sqs#<Name>", "message": …}, header
// X-Amzn-ErrorType (the name) and header x-amzn-query-error ("<legacy query
// code>;Sender"), which SDKs in query-compatible mode use as the error code.
// Internal errors are logged and answered 500 InternalError without their text.
//
// Queue URLs are built from the Host the request came to
// (http://<host>/000000000000/<name>); any URL whose path is
// /000000000000/<name> is accepted, whatever its host and port.
package sqsapi

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/nimbus-dev/nimbus/internal/awsapi"
	"github.com/nimbus-dev/nimbus/internal/events/queue"
	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// TargetPrefix starts the X-Amz-Target header of every SQS request.
const TargetPrefix = "AmazonSQS."

// MaxBody bounds a request body: ten 1 MiB messages, escaped in JSON, fit.
const MaxBody = 16 << 20

// API is the SQS API handler.
type API struct {
	log  *slog.Logger
	q    *queue.Service
	json *awsapi.JSONService
}

// New returns the API over the queue service.
func New(log *slog.Logger, q *queue.Service) *API {
	a := &API{log: log, q: q}
	a.json = &awsapi.JSONService{
		Prefix:         TargetPrefix,
		ContentType:    "application/x-amz-json-1.0",
		MaxBody:        MaxBody,
		InternalCode:   codeInternal,
		Log:            log,
		UnknownMessage: awsapi.UnknownRequestMessage,
		TooLargeCode:   codeRequestTooLarge,
		WireType:       func(code string) string { return wireCode(code).typ },
		QueryError:     func(code string) string { return wireCode(code).query },
		Ops: map[string]awsapi.JSONOp{
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
		},
	}
	return a
}

// Handler returns the handler for POST / requests whose X-Amz-Target starts
// with TargetPrefix.
func (a *API) Handler() http.Handler { return a.json }

var decode = awsapi.DecodeJSON

// Error codes this package adds to the queue package's.
const (
	codeRequestTooLarge = "RequestEntityTooLarge"
	codeInternal        = "InternalError"
)

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
	awsapi.CodeUnknownOperation:        {"com.amazon.coral.service#UnknownOperationException", "InvalidAction"},
	awsapi.CodeSerialization:           {"com.amazon.coral.service#SerializationException", "MalformedInput"},
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
		return "", errNoQueue()
	}
	return name, nil
}

// errNoQueue is the error of a queue that does not exist.
func errNoQueue() error {
	return queue.Errorf(queue.CodeQueueDoesNotExist, "The specified queue does not exist.")
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
