package awsapi

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/nimbus-dev/nimbus/internal/lambda"
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
type JSONService struct {
	Prefix       string // e.g. "secretsmanager."
	ContentType  string // application/x-amz-json-1.0 or -1.1
	MaxBody      int
	InternalCode string // e.g. InternalServiceError
	Log          *slog.Logger
	Ops          map[string]JSONOp
}

// ServeHTTP serves one request.
func (s *JSONService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	action, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), s.Prefix)
	f := s.Ops[action]
	if !ok || f == nil || r.Method != http.MethodPost {
		s.WriteError(w, &lambda.Error{Code: "UnknownOperationException", Status: http.StatusBadRequest,
			Message: "Operation " + action + " is not supported by nimbus."})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(s.MaxBody)+1))
	if err != nil {
		s.WriteError(w, ErrSerialization("The request body could not be read."))
		return
	}
	if len(body) > s.MaxBody {
		s.WriteError(w, &lambda.Error{Code: "RequestEntityTooLargeException", Status: http.StatusRequestEntityTooLarge,
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
	if !ok {
		s.Log.Error("internal error", "service", s.Prefix, "err", err)
		e = &lambda.Error{Code: s.InternalCode, Status: http.StatusInternalServerError, Message: "An internal error occurred; see the server log."}
	}
	b, _ := MarshalJSON(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{e.Code, e.Message})
	w.Header()["X-Amzn-Errortype"] = []string{e.Code}
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
	return &lambda.Error{Code: "SerializationException", Status: http.StatusBadRequest, Message: msg}
}
