package eventsapi

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/nimbus-dev/nimbus/internal/events/schedule"
	"github.com/nimbus-dev/nimbus/internal/lambda"
)

type empty struct{}

// checkBus accepts the default event bus, by name or ARN.
func checkBus(bus string) error {
	switch bus {
	case "", "default", "arn:aws:events:" + lambda.Region + ":" + lambda.Account + ":event-bus/default":
		return nil
	}
	return &lambda.Error{Code: schedule.CodeResourceNotFound, Status: http.StatusBadRequest, Message: "Event bus " + bus + " does not exist."}
}

func required(v *string, field string) (string, error) {
	if v == nil {
		return "", lambda.Validation("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", field)
	}
	return *v, nil
}

// ruleOut is a rule as DescribeRule and ListRules show it.
type ruleOut struct {
	Name               string
	Arn                string
	ScheduleExpression string
	State              string
	Description        string `json:",omitempty"`
	RoleArn            string `json:",omitempty"`
	EventBusName       string
}

func viewRule(r schedule.Rule) ruleOut {
	return ruleOut{Name: r.Name, Arn: r.ARN(), ScheduleExpression: r.ScheduleExpression, State: r.State,
		Description: r.Description, RoleArn: r.RoleARN, EventBusName: "default"}
}

func (a *API) putRule(r *http.Request, body []byte) (any, error) {
	var in struct {
		Name               *string
		ScheduleExpression string
		EventPattern       string
		State              string
		Description        string
		RoleArn            string
		EventBusName       string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	name, err := required(in.Name, "name")
	if err != nil {
		return nil, err
	}
	if err := checkBus(in.EventBusName); err != nil {
		return nil, err
	}
	if in.EventPattern != "" {
		return nil, lambda.Validation("event patterns are not supported yet")
	}
	rule, err := a.s.PutRule(r.Context(), schedule.PutRuleInput{Name: name, ScheduleExpression: in.ScheduleExpression,
		State: in.State, Description: in.Description, RoleARN: in.RoleArn})
	if err != nil {
		return nil, err
	}
	return struct{ RuleArn string }{rule.ARN()}, nil
}

type ruleRef struct {
	Name         *string
	EventBusName string
}

func (a *API) ruleName(body []byte) (string, error) {
	var in ruleRef
	if err := decode(body, &in); err != nil {
		return "", err
	}
	if err := checkBus(in.EventBusName); err != nil {
		return "", err
	}
	return required(in.Name, "name")
}

func (a *API) describeRule(r *http.Request, body []byte) (any, error) {
	name, err := a.ruleName(body)
	if err != nil {
		return nil, err
	}
	rule, ok := a.s.Rule(name)
	if !ok {
		return nil, notFound(name)
	}
	return struct {
		ruleOut
		CreatedBy string
	}{viewRule(rule), lambda.Account}, nil
}

func notFound(name string) error {
	return &lambda.Error{Code: schedule.CodeResourceNotFound, Status: http.StatusBadRequest, Message: "Rule " + name + " does not exist on EventBus default."}
}

func (a *API) deleteRule(r *http.Request, body []byte) (any, error) {
	name, err := a.ruleName(body)
	if err != nil {
		return nil, err
	}
	return empty{}, a.s.DeleteRule(r.Context(), name)
}

func (a *API) enableRule(r *http.Request, body []byte) (any, error) {
	name, err := a.ruleName(body)
	if err != nil {
		return nil, err
	}
	return empty{}, a.s.SetState(r.Context(), name, schedule.Enabled)
}

func (a *API) disableRule(r *http.Request, body []byte) (any, error) {
	name, err := a.ruleName(body)
	if err != nil {
		return nil, err
	}
	return empty{}, a.s.SetState(r.Context(), name, schedule.Disabled)
}

// page returns the items after the position in token, at most limit (1-100,
// default 100), and the token of the rest.
func page[T any](items []T, key func(T) string, token string, limit *int) ([]T, string, error) {
	n := 100
	if limit != nil {
		if *limit < 1 || *limit > 100 {
			return nil, "", lambda.Validation("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value between 1 and 100", *limit)
		}
		n = *limit
	}
	if token != "" {
		after, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil {
			return nil, "", lambda.Validation("The NextToken value is invalid.")
		}
		i := slices.IndexFunc(items, func(it T) bool { return key(it) > string(after) })
		if i < 0 {
			i = len(items)
		}
		items = items[i:]
	}
	if len(items) <= n {
		return items, "", nil
	}
	return items[:n], base64.RawURLEncoding.EncodeToString([]byte(key(items[n-1]))), nil
}

func (a *API) listRules(r *http.Request, body []byte) (any, error) {
	var in struct {
		NamePrefix   string
		EventBusName string
		NextToken    string
		Limit        *int
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := checkBus(in.EventBusName); err != nil {
		return nil, err
	}
	rules, next, err := page(a.s.Rules(in.NamePrefix), func(r schedule.Rule) string { return r.Name }, in.NextToken, in.Limit)
	if err != nil {
		return nil, err
	}
	out := struct {
		Rules     []ruleOut
		NextToken string `json:",omitempty"`
	}{Rules: []ruleOut{}, NextToken: next}
	for _, rule := range rules {
		out.Rules = append(out.Rules, viewRule(rule))
	}
	return out, nil
}

// targetIn is a target as PutTargets sends it. Fields nimbus does not act on
// are accepted and dropped (RoleArn is kept), except those that would change
// what the target receives, which fail the entry.
type targetIn struct {
	Id               *string
	Arn              *string
	Input            *string
	InputPath        *string
	InputTransformer json.RawMessage
	RoleArn          string
}

type failedEntry struct {
	TargetId     string
	ErrorCode    string
	ErrorMessage string
}

type failedOut struct {
	FailedEntryCount int
	FailedEntries    []failedEntry
}

func viewFailed(pre []failedEntry, fs []schedule.FailedEntry) failedOut {
	out := failedOut{FailedEntries: pre}
	for _, f := range fs {
		out.FailedEntries = append(out.FailedEntries, failedEntry{f.TargetID, f.ErrorCode, f.ErrorMessage})
	}
	if out.FailedEntries == nil {
		out.FailedEntries = []failedEntry{}
	}
	out.FailedEntryCount = len(out.FailedEntries)
	return out
}

func (a *API) putTargets(r *http.Request, body []byte) (any, error) {
	var in struct {
		Rule         *string
		EventBusName string
		Targets      []targetIn
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	name, err := required(in.Rule, "rule")
	if err != nil {
		return nil, err
	}
	if err := checkBus(in.EventBusName); err != nil {
		return nil, err
	}
	if in.Targets == nil {
		return nil, lambda.Validation("1 validation error detected: Value null at 'targets' failed to satisfy constraint: Member must not be null")
	}
	var pre []failedEntry
	var targets []schedule.Target
	for i, t := range in.Targets {
		id, err := required(t.Id, "targets."+strconv.Itoa(i+1)+".member.id")
		if err != nil {
			return nil, err
		}
		arn, err := required(t.Arn, "targets."+strconv.Itoa(i+1)+".member.arn")
		if err != nil {
			return nil, err
		}
		switch {
		case t.InputPath != nil:
			pre = append(pre, failedEntry{id, schedule.CodeValidation, "InputPath is not supported yet by nimbus; use Input."})
			continue
		case len(t.InputTransformer) > 0 && string(t.InputTransformer) != "null":
			pre = append(pre, failedEntry{id, schedule.CodeValidation, "InputTransformer is not supported yet by nimbus; use Input."})
			continue
		}
		st := schedule.Target{ID: id, ARN: arn, RoleARN: t.RoleArn}
		if t.Input != nil {
			st.Input = *t.Input
		}
		targets = append(targets, st)
	}
	if len(targets) == 0 && len(pre) > 0 {
		if _, ok := a.s.Rule(name); !ok {
			return nil, notFound(name)
		}
		return viewFailed(pre, nil), nil
	}
	failed, err := a.s.PutTargets(r.Context(), name, targets)
	if err != nil {
		return nil, err
	}
	return viewFailed(pre, failed), nil
}

func (a *API) removeTargets(r *http.Request, body []byte) (any, error) {
	var in struct {
		Rule         *string
		EventBusName string
		Ids          []string
		Force        bool
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	name, err := required(in.Rule, "rule")
	if err != nil {
		return nil, err
	}
	if err := checkBus(in.EventBusName); err != nil {
		return nil, err
	}
	failed, err := a.s.RemoveTargets(r.Context(), name, in.Ids)
	if err != nil {
		return nil, err
	}
	return viewFailed(nil, failed), nil
}

type targetOut struct {
	Id      string
	Arn     string
	Input   string `json:",omitempty"`
	RoleArn string `json:",omitempty"`
}

func (a *API) listTargetsByRule(r *http.Request, body []byte) (any, error) {
	var in struct {
		Rule         *string
		EventBusName string
		NextToken    string
		Limit        *int
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	name, err := required(in.Rule, "rule")
	if err != nil {
		return nil, err
	}
	if err := checkBus(in.EventBusName); err != nil {
		return nil, err
	}
	targets, err := a.s.Targets(name)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(targets, func(x, y schedule.Target) int { return strings.Compare(x.ID, y.ID) })
	targets, next, err := page(targets, func(t schedule.Target) string { return t.ID }, in.NextToken, in.Limit)
	if err != nil {
		return nil, err
	}
	out := struct {
		Targets   []targetOut
		NextToken string `json:",omitempty"`
	}{Targets: []targetOut{}, NextToken: next}
	for _, t := range targets {
		out.Targets = append(out.Targets, targetOut{Id: t.ID, Arn: t.ARN, Input: t.Input, RoleArn: t.RoleARN})
	}
	return out, nil
}

func (a *API) listRuleNamesByTarget(r *http.Request, body []byte) (any, error) {
	var in struct {
		TargetArn    *string
		EventBusName string
		NextToken    string
		Limit        *int
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	arn, err := required(in.TargetArn, "targetArn")
	if err != nil {
		return nil, err
	}
	if err := checkBus(in.EventBusName); err != nil {
		return nil, err
	}
	var names []string
	for _, rule := range a.s.Rules("") {
		if slices.ContainsFunc(rule.Targets, func(t schedule.Target) bool { return t.ARN == arn }) {
			names = append(names, rule.Name)
		}
	}
	names, next, err := page(names, func(s string) string { return s }, in.NextToken, in.Limit)
	if err != nil {
		return nil, err
	}
	return struct {
		RuleNames []string
		NextToken string `json:",omitempty"`
	}{append([]string{}, names...), next}, nil
}
