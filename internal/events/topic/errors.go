package topic

import (
	"fmt"
	"net/http"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// Error codes: the SNS query-protocol error codes (the <Code> of an
// ErrorResponse, e.g. "NotFound" for NotFoundException) that this package's
// *lambda.Error values carry. The SNS API adapter writes them as they are.
const (
	CodeInvalidParameter         = "InvalidParameter"
	CodeInvalidParameterValue    = "ParameterValueInvalid"
	CodeNotFound                 = "NotFound"
	CodeResourceNotFound         = "ResourceNotFound"
	CodeValidation               = "ValidationError"
	CodeEmptyBatchRequest        = "EmptyBatchRequest"
	CodeTooManyEntriesInBatch    = "TooManyEntriesInBatchRequest"
	CodeBatchEntryIdsNotDistinct = "BatchEntryIdsNotDistinct"
	CodeInvalidBatchEntryID      = "InvalidBatchEntryId"
	CodeBatchRequestTooLong      = "BatchRequestTooLong"
	CodeTagLimitExceeded         = "TagLimitExceeded"
	CodeInternalError            = "InternalError"
)

// Errorf returns a client error with an SNS error code and the HTTP status
// SNS's model gives that code (404 for the not-found codes, else 400).
func Errorf(code, format string, args ...any) *lambda.Error {
	status := http.StatusBadRequest
	switch code {
	case CodeNotFound, CodeResourceNotFound:
		status = http.StatusNotFound
	case CodeInternalError:
		status = http.StatusInternalServerError
	}
	return &lambda.Error{Code: code, Status: status, Message: fmt.Sprintf(format, args...)}
}

// invalid is InvalidParameter with AWS's "Invalid parameter: " prefix.
func invalid(format string, args ...any) *lambda.Error {
	return Errorf(CodeInvalidParameter, "Invalid parameter: "+format, args...)
}

func errNoTopic() *lambda.Error { return Errorf(CodeNotFound, "Topic does not exist") }

func errNoSubscription() *lambda.Error { return Errorf(CodeNotFound, "Subscription does not exist") }
