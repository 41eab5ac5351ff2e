// Package eventsapi serves the subset of the Amazon EventBridge API that
// scheduled rules need, in the AWS JSON 1.1 protocol that the SDKs and the
// AWS CLI speak: POST / with "X-Amz-Target: AWSEvents.<Action>" and
// "Content-Type: application/x-amz-json-1.1", over the schedule service
// (events/schedule). Actions: PutRule, DescribeRule, ListRules, DeleteRule,
// EnableRule, DisableRule, PutTargets, RemoveTargets, ListTargetsByRule,
// ListRuleNamesByTarget. It only decodes, checks wire shapes, calls the
// service and encodes.
//
// Only the default event bus exists, and only schedule rules: a rule with an
// EventPattern is refused (ValidationException). Rule ARNs are
// arn:aws:events:us-east-1:000000000000:rule/NAME.
//
// Errors travel as *lambda.Error carrying the EventBridge exception name;
// they are written once, in writeError, in the JSON 1.1 shape: the HTTP
// status, header X-Amzn-ErrorType (the name) and body {"__type": name,
// "message": …}. Internal errors are logged and answered 500
// InternalException without their text.
//
// SchedulesHandler serves nimbus's own GET /nimbus/v1/schedules (rules with
// their next fire times) for `nimbus schedules list`.
package eventsapi

import (
	"encoding/json"
	"errors"
	"github.com/nimbus-dev/nimbus/internal/awsapi"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/nimbus-dev/nimbus/internal/events/schedule"
	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// TargetPrefix starts the X-Amz-Target header of every EventBridge request.
const TargetPrefix = "AWSEvents."

// MaxBody bounds a request body (ten targets of 8 KB constant input fit).
const MaxBody = 1 << 20

// API is the EventBridge API handler.
type API struct {
	log *slog.Logger
	s   *schedule.Service
	ops map[string]op
}

// op serves one action: it decodes body and returns the value to encode.
type op func(r *http.Request, body []byte) (any, error)

// New returns the API over the schedule service.
func New(log *slog.Logger, s *schedule.Service) *API {
	a := &API{log: log, s: s}
	a.ops = map[string]op{
		"PutRule":               a.putRule,
		"DescribeRule":          a.describeRule,
		"ListRules":             a.listRules,
		"DeleteRule":            a.deleteRule,
		"EnableRule":            a.enableRule,
		"DisableRule":           a.disableRule,
		"PutTargets":            a.putTargets,
		"RemoveTargets":         a.removeTargets,
		"ListTargetsByRule":     a.listTargetsByRule,
		"ListRuleNamesByTarget": a.listRuleNamesByTarget,
	}
	return a
}

// Handler returns the handler for POST / requests whose X-Amz-Target starts
// with TargetPrefix.
func (a *API) Handler() http.Handler { return a }

// ServeHTTP serves one EventBridge request.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	action, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), TargetPrefix)
	f := a.ops[action]
	if !ok || f == nil || r.Method != http.MethodPost {
		a.writeError(w, &lambda.Error{Code: codeUnknownOperation, Status: http.StatusBadRequest,
			Message: "Operation " + action + " is not supported by nimbus."})
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
	a.write(w, http.StatusOK, b)
}

func (a *API) write(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h["Content-Type"] = []string{"application/x-amz-json-1.1"}
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	h["X-Amzn-Requestid"] = []string{lambda.NewRequestID()}
	w.WriteHeader(status)
	w.Write(b)
}

// decode reads a request body; an empty body is an empty request.
func decode(body []byte, v any) error {
	if len(body) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return errSerialization("Value for " + te.Field + " has an invalid type.")
		}
		return errSerialization("The request body is not valid JSON.")
	}
	return nil
}

// Error codes this package adds to the schedule package's.
const (
	codeUnknownOperation = "UnknownOperationException"
	codeSerialization    = "SerializationException"
	codeRequestTooLarge  = "RequestEntityTooLargeException"
	codeInternal         = "InternalException"
)

func errSerialization(msg string) error {
	return &lambda.Error{Code: codeSerialization, Status: http.StatusBadRequest, Message: msg}
}

// writeError writes err in the JSON 1.1 error shape.
func (a *API) writeError(w http.ResponseWriter, err error) {
	e, ok := lambda.AsError(err)
	if !ok {
		a.log.Error("events: internal error", "err", err)
		e = &lambda.Error{Code: codeInternal, Status: http.StatusInternalServerError, Message: "An internal error occurred; see the server log."}
	}
	b, _ := awsapi.MarshalJSON(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{e.Code, e.Message})
	w.Header()["X-Amzn-Errortype"] = []string{e.Code}
	a.write(w, e.Status, b)
}

// SchedulesHandler serves GET /nimbus/v1/schedules[?next=N]: every rule with
// its last fire and next N fire times (default 3, at most 100), as JSON
// {"schedules": [schedule.Status…]}.
func (a *API) SchedulesHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := 3
		if v := r.URL.Query().Get("next"); v != "" {
			var err error
			if n, err = strconv.Atoi(v); err != nil || n < 0 || n > 100 {
				a.writeError(w, lambda.Validation("next must be a number from 0 to 100"))
				return
			}
		}
		b, err := awsapi.MarshalJSON(struct {
			Schedules []schedule.Status `json:"schedules"`
		}{a.s.Status(n)})
		if err != nil {
			a.writeError(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.Write(b)
	})
}
