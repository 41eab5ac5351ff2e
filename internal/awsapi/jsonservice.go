package awsapi

import (
	"cmp"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// Error codes JSONService answers with on its own.
const (
	CodeUnknownOperation = "UnknownOperationException"      // unknown target, or not POST
	CodeSerialization    = "SerializationException"         // a body that does not decode
	CodeRequestTooLarge  = "RequestEntityTooLargeException" // a body over MaxBody, unless TooLargeCode
)

// JSONOp serves one action of a JSON-protocol service: it decodes body and
// returns the value to encode.
type JSONOp func(r *http.Request, body []byte) (any, error)

// JSONService serves an AWS JSON-protocol service (POST with
// "X-Amz-Target: <Prefix><Action>"): it bounds and reads the body, runs the
// action's op, and writes the answer or the error once, in the JSON
// protocol's shape: the status, header X-Amzn-ErrorType and body
// {"__type": name, "message": …}. Errors that are not *lambda.Error are
// logged and answered 500 with InternalCode, without their text.
//
// The fields after Ops let a service keep its own wire where it differs
// from that shape; the zero value of each is the plain protocol above.
type JSONService struct {
	Prefix       string // e.g. "secretsmanager."
	ContentType  string // application/x-amz-json-1.0 or -1.1
	MaxBody      int
	InternalCode string // e.g. InternalServiceError
	Log          *slog.Logger
	Ops          map[string]JSONOp

	// UnknownMessage is the message of the UnknownOperationException
	// answered to an unknown target or a method other than POST; nil:
	// "Operation <action> is not supported by nimbus.". See
	// UnknownRequestMessage.
	UnknownMessage func(r *http.Request) string
	// TooLargeCode is the error code of a body over MaxBody (413); "":
	// CodeRequestTooLarge.
	TooLargeCode string
	// Classify, if set, sees each error that is not a *lambda.Error before it
	// is answered as internal; a non-nil result is answered instead (e.g. a
	// wait cut short by shutdown as 503).
	Classify func(err error) *lambda.Error
	// WireType maps an error code to the body's "__type" (e.g. a shape id
	// with its namespace); nil: the code itself. Header X-Amzn-ErrorType
	// carries the code either way.
	WireType func(code string) string
	// QueryError, if set, makes errors query-compatible (Smithy's
	// awsQueryCompatible trait): they carry header x-amzn-query-error
	// "<QueryError(code)>;Sender", or ";Receiver" for a 5xx status, which
	// SDKs in query-compatible mode take as the error code.
	QueryError func(code string) string
}

// UnknownRequestMessage is an UnknownMessage naming the request's method and
// whole target: "Unknown operation POST <X-Amz-Target>".
func UnknownRequestMessage(r *http.Request) string {
	return "Unknown operation " + r.Method + " " + r.Header.Get("X-Amz-Target")
}

// ServeHTTP serves one request.
func (s *JSONService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	action, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), s.Prefix)
	f := s.Ops[action]
	if !ok || f == nil || r.Method != http.MethodPost {
		msg := "Operation " + action + " is not supported by nimbus."
		if s.UnknownMessage != nil {
			msg = s.UnknownMessage(r)
		}
		s.WriteError(w, &lambda.Error{Code: CodeUnknownOperation, Status: http.StatusBadRequest, Message: msg})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(s.MaxBody)+1))
	if err != nil {
		s.WriteError(w, ErrSerialization("The request body could not be read."))
		return
	}
	if len(body) > s.MaxBody {
		code := cmp.Or(s.TooLargeCode, CodeRequestTooLarge)
		s.WriteError(w, &lambda.Error{Code: code, Status: http.StatusRequestEntityTooLarge,
			Message: "Request must be smaller than " + strconv.Itoa(s.MaxBody) + " bytes."})
		return
	}
	out, err := f(r, body)
	if err != nil && r.Context().Err() != nil {
		return // the client has gone
	}
	if err != nil {
		s.WriteError(w, err)
		return
	}
	b, err := MarshalJSON(out)
	if err != nil {
		s.WriteError(w, err)
		return
	}
	s.write(w, http.StatusOK, b)
}

func (s *JSONService) write(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h["Content-Type"] = []string{s.ContentType}
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	h["X-Amzn-Requestid"] = []string{lambda.NewRequestID()}
	w.WriteHeader(status)
	w.Write(b)
}

// WriteError writes err in the JSON protocol's error shape.
func (s *JSONService) WriteError(w http.ResponseWriter, err error) {
	e, ok := lambda.AsError(err)
	if !ok && s.Classify != nil {
		e = s.Classify(err)
		ok = e != nil
	}
	if !ok {
		s.Log.Error("internal error", "service", s.Prefix, "err", err)
		e = &lambda.Error{Code: s.InternalCode, Status: http.StatusInternalServerError, Message: "An internal error occurred; see the server log."}
	}
	typ := e.Code
	if s.WireType != nil {
		typ = s.WireType(e.Code)
	}
	b, _ := MarshalJSON(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{typ, e.Message})
	h := w.Header()
	h["X-Amzn-Errortype"] = []string{e.Code}
	if s.QueryError != nil {
		fault := "Sender"
		if e.Status >= 500 {
			fault = "Receiver"
		}
		h["X-Amzn-Query-Error"] = []string{s.QueryError(e.Code) + ";" + fault}
	}
	s.write(w, e.Status, b)
}

// DecodeJSON reads a JSON-protocol request body into v; an empty body is an
// empty request. Its errors name fields, never values.
func DecodeJSON(body []byte, v any) error {
	if len(body) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return ErrSerialization("Value for " + te.Field + " has an invalid type.")
		}
		return ErrSerialization("The request body is not valid JSON.")
	}
	return nil
}

// ErrSerialization is a request that does not decode.
func ErrSerialization(msg string) error {
	return &lambda.Error{Code: CodeSerialization, Status: http.StatusBadRequest, Message: msg}
}
