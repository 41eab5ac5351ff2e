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
// awsapi.JSONService writes them once, in the JSON 1.1 shape: the HTTP
// status, header X-Amzn-ErrorType (the name) and body {"__type": name,
// "message": …}. Internal errors are logged and answered 500
// InternalException without their text.
//
// SchedulesHandler serves nimbus's own GET /nimbus/v1/schedules (rules with
// their next fire times) for `nimbus schedules list`.
package eventsapi

import (
	"log/slog"
	"net/http"
	"strconv"

	"github.com/nimbus-dev/nimbus/internal/awsapi"
	"github.com/nimbus-dev/nimbus/internal/events/schedule"
	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// TargetPrefix starts the X-Amz-Target header of every EventBridge request.
const TargetPrefix = "AWSEvents."

// MaxBody bounds a request body (ten targets of 8 KB constant input fit).
const MaxBody = 1 << 20

// API is the EventBridge API handler.
type API struct {
	s    *schedule.Service
	json *awsapi.JSONService
}

// New returns the API over the schedule service.
func New(log *slog.Logger, s *schedule.Service) *API {
	a := &API{s: s}
	a.json = &awsapi.JSONService{
		Prefix:       TargetPrefix,
		ContentType:  "application/x-amz-json-1.1",
		MaxBody:      MaxBody,
		InternalCode: "InternalException",
		Log:          log,
		Ops: map[string]awsapi.JSONOp{
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
		},
	}
	return a
}

// Handler returns the handler for POST / requests whose X-Amz-Target starts
// with TargetPrefix.
func (a *API) Handler() http.Handler { return a.json }

var decode = awsapi.DecodeJSON

// SchedulesHandler serves GET /nimbus/v1/schedules[?next=N]: every rule with
// its last fire and next N fire times (default 3, at most 100), as JSON
// {"schedules": [schedule.Status…]}.
func (a *API) SchedulesHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := 3
		if v := r.URL.Query().Get("next"); v != "" {
			var err error
			if n, err = strconv.Atoi(v); err != nil || n < 0 || n > 100 {
				a.json.WriteError(w, lambda.Validation("next must be a number from 0 to 100"))
				return
			}
		}
		b, err := awsapi.MarshalJSON(struct {
			Schedules []schedule.Status `json:"schedules"`
		}{a.s.Status(n)})
		if err != nil {
			a.json.WriteError(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.Write(b)
	})
}
