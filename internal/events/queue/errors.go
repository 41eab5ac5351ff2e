package queue

import (
	"fmt"
	"net/http"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// Error codes: the SQS exception names (the Smithy shape names the JSON protocol
// puts in "__type") that this package's *lambda.Error values carry. The SQS API
// adapter adds the legacy query-protocol code for each (x-amzn-query-error).
const (
	CodeQueueDoesNotExist        = "QueueDoesNotExist"
	CodeQueueNameExists          = "QueueNameExists"
	CodeInvalidAttributeName     = "InvalidAttributeName"
	CodeInvalidAttributeValue    = "InvalidAttributeValue"
	CodeInvalidParameterValue    = "InvalidParameterValue"
	CodeMissingParameter         = "MissingParameter"
	CodeReceiptHandleIsInvalid   = "ReceiptHandleIsInvalid"
	CodeMessageNotInflight       = "MessageNotInflight"
	CodeEmptyBatchRequest        = "EmptyBatchRequest"
	CodeTooManyEntriesInBatch    = "TooManyEntriesInBatchRequest"
	CodeBatchEntryIdsNotDistinct = "BatchEntryIdsNotDistinct"
	CodeInvalidBatchEntryID      = "InvalidBatchEntryId"
	CodeBatchRequestTooLong      = "BatchRequestTooLong"
	CodePurgeQueueInProgress     = "PurgeQueueInProgress"
	CodeInvalidMessageContents   = "InvalidMessageContents"
	CodeUnsupportedOperation     = "UnsupportedOperation"
	CodeInvalidAddress           = "InvalidAddress"
	CodeOverLimit                = "OverLimit"
)

// Errorf returns a client error (HTTP 400, or the status AWS uses for code) with
// an SQS exception code.
func Errorf(code, format string, args ...any) *lambda.Error {
	status := http.StatusBadRequest
	switch code {
	case CodeInvalidAddress:
		status = http.StatusNotFound
	case CodeOverLimit:
		status = http.StatusForbidden
	}
	return &lambda.Error{Code: code, Status: status, Message: fmt.Sprintf(format, args...)}
}

func errNoQueue() *lambda.Error {
	return Errorf(CodeQueueDoesNotExist, "The specified queue does not exist.")
}

func errReceipt(handle string) *lambda.Error {
	if len(handle) > 100 {
		handle = handle[:100] + "…"
	}
	return Errorf(CodeReceiptHandleIsInvalid, "The input receipt handle \"%s\" is not a valid receipt handle.", handle)
}

func errInvalidParam(format string, args ...any) *lambda.Error {
	return Errorf(CodeInvalidParameterValue, format, args...)
}
