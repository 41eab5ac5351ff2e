package lambda

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is the one error vocabulary of the platform: an AWS exception name, the
// HTTP status it travels with, and a message that is safe to show to a client.
// Internal failures are not Errors; the API edge maps them to ServiceException
// without their text.
type Error struct {
	Code    string // AWS exception name, e.g. ResourceNotFoundException
	Status  int    // HTTP status
	Message string
	Reason  string // TooManyRequestsException's Reason, empty otherwise
	// RetryAfter is the Retry-After header value in seconds for throttles.
	RetryAfter int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// AsError returns err's *Error if it has one.
func AsError(err error) (*Error, bool) { return errors.AsType[*Error](err) }

func newErr(code string, status int, format string, args ...any) *Error {
	return &Error{Code: code, Status: status, Message: fmt.Sprintf(format, args...)}
}

// Constructors for the exceptions the Lambda API answers.
func InvalidParameter(format string, args ...any) *Error {
	return newErr("InvalidParameterValueException", http.StatusBadRequest, format, args...)
}
func NotFound(format string, args ...any) *Error {
	return newErr("ResourceNotFoundException", http.StatusNotFound, format, args...)
}
func Conflict(format string, args ...any) *Error {
	return newErr("ResourceConflictException", http.StatusConflict, format, args...)
}
func PreconditionFailed(format string, args ...any) *Error {
	return newErr("PreconditionFailedException", http.StatusPreconditionFailed, format, args...)
}
func RequestTooLarge(format string, args ...any) *Error {
	return newErr("RequestTooLargeException", http.StatusRequestEntityTooLarge, format, args...)
}
func InvalidRequestContent(format string, args ...any) *Error {
	return newErr("InvalidRequestContentException", http.StatusBadRequest, format, args...)
}
func Validation(format string, args ...any) *Error {
	return newErr("ValidationException", http.StatusBadRequest, format, args...)
}
func ServiceError(format string, args ...any) *Error {
	return newErr("ServiceException", http.StatusInternalServerError, format, args...)
}
func TooManyRequests(reason string, retryAfter int) *Error {
	e := newErr("TooManyRequestsException", http.StatusTooManyRequests, "Rate Exceeded.")
	e.Reason = reason
	e.RetryAfter = retryAfter
	return e
}
