package sfnapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/workflow/asl"
	"github.com/nimbus-dev/nimbus/internal/workflow/engine"
	"github.com/nimbus-dev/nimbus/internal/workflow/executions"
)

// epoch is a timestamp in the AWS JSON protocol: epoch seconds.
type epoch time.Time

func (t epoch) MarshalJSON() ([]byte, error) {
	ms := time.Time(t).UnixMilli()
	return strconv.AppendFloat(nil, float64(ms)/1000, 'f', -1, 64), nil
}

func epochPtr(t time.Time) *epoch {
	if t.IsZero() {
		return nil
	}
	e := epoch(t)
	return &e
}

type logging struct {
	Level                string            `json:"level,omitempty"`
	IncludeExecutionData bool              `json:"includeExecutionData"`
	Destinations         []json.RawMessage `json:"destinations,omitempty"`
}

type tracing struct {
	Enabled bool `json:"enabled"`
}

type included struct {
	Included bool `json:"included"`
}

func toLogging(l *logging) *executions.Logging {
	if l == nil {
		return nil
	}
	return &executions.Logging{Level: l.Level, IncludeExecutionData: l.IncludeExecutionData, Destinations: l.Destinations}
}

func fromLogging(l executions.Logging) *logging {
	return &logging{Level: l.Level, IncludeExecutionData: l.IncludeExecutionData, Destinations: l.Destinations}
}

// ---- state machines ----

func (a *API) createStateMachine(r *http.Request, body []byte) (any, error) {
	var in struct {
		Name                 string          `json:"name"`
		Definition           string          `json:"definition"`
		RoleARN              string          `json:"roleArn"`
		Type                 string          `json:"type"`
		LoggingConfiguration *logging        `json:"loggingConfiguration"`
		TracingConfiguration *tracing        `json:"tracingConfiguration"`
		Publish              bool            `json:"publish"`
		VersionDescription   string          `json:"versionDescription"`
		Tags                 json.RawMessage `json:"tags"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	for _, f := range [][2]string{{"name", in.Name}, {"definition", in.Definition}, {"roleArn", in.RoleARN}} {
		if err := required(f[0], f[1]); err != nil {
			return nil, err
		}
	}
	cin := executions.CreateMachineInput{Name: in.Name, Definition: in.Definition, RoleARN: in.RoleARN, Type: in.Type,
		Logging: toLogging(in.LoggingConfiguration), Publish: in.Publish, VersionDescription: in.VersionDescription}
	if in.TracingConfiguration != nil {
		cin.Tracing = &in.TracingConfiguration.Enabled
	}
	m, err := a.svc.CreateMachine(r.Context(), cin)
	if err != nil {
		return nil, err
	}
	return struct {
		StateMachineARN string `json:"stateMachineArn"`
		CreationDate    epoch  `json:"creationDate"`
		VersionARN      string `json:"stateMachineVersionArn,omitempty"`
	}{m.ARN, epoch(m.Created), m.VersionARN}, nil
}

type machineOut struct {
	StateMachineARN string   `json:"stateMachineArn"`
	Name            string   `json:"name"`
	Status          string   `json:"status,omitempty"`
	Definition      string   `json:"definition"`
	RoleARN         string   `json:"roleArn"`
	Type            string   `json:"type,omitempty"`
	CreationDate    *epoch   `json:"creationDate,omitempty"`
	UpdateDate      *epoch   `json:"updateDate,omitempty"`
	Logging         *logging `json:"loggingConfiguration"`
	Tracing         tracing  `json:"tracingConfiguration"`
	RevisionID      string   `json:"revisionId,omitempty"`
	Description     string   `json:"description,omitempty"`
}

// machineARN decodes a request that names a state machine by its required
// stateMachineArn.
func machineARN(body []byte) (string, error) {
	var in struct {
		StateMachineARN string `json:"stateMachineArn"`
	}
	if err := decode(body, &in); err != nil {
		return "", err
	}
	return in.StateMachineARN, required("stateMachineArn", in.StateMachineARN)
}

func (a *API) describeStateMachine(r *http.Request, body []byte) (any, error) {
	arn, err := machineARN(body)
	if err != nil {
		return nil, err
	}
	m, err := a.svc.DescribeMachine(r.Context(), arn)
	if err != nil {
		return nil, err
	}
	return machineOut{StateMachineARN: m.ARN, Name: m.Name, Status: m.Status, Definition: m.Definition, RoleARN: m.RoleARN,
		Type: m.Type, CreationDate: epochPtr(m.Created), Logging: fromLogging(m.Logging), Tracing: tracing{m.Tracing},
		RevisionID: m.RevisionID, Description: m.Description}, nil
}

func (a *API) updateStateMachine(r *http.Request, body []byte) (any, error) {
	var in struct {
		StateMachineARN      string   `json:"stateMachineArn"`
		Definition           *string  `json:"definition"`
		RoleARN              *string  `json:"roleArn"`
		LoggingConfiguration *logging `json:"loggingConfiguration"`
		TracingConfiguration *tracing `json:"tracingConfiguration"`
		Publish              bool     `json:"publish"`
		VersionDescription   string   `json:"versionDescription"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := required("stateMachineArn", in.StateMachineARN); err != nil {
		return nil, err
	}
	uin := executions.UpdateMachineInput{ARN: in.StateMachineARN, Definition: in.Definition, RoleARN: in.RoleARN,
		Logging: toLogging(in.LoggingConfiguration), Publish: in.Publish, VersionDescription: in.VersionDescription}
	if in.TracingConfiguration != nil {
		uin.Tracing = &in.TracingConfiguration.Enabled
	}
	m, err := a.svc.UpdateMachine(r.Context(), uin)
	if err != nil {
		return nil, err
	}
	return struct {
		UpdateDate epoch  `json:"updateDate"`
		RevisionID string `json:"revisionId"`
		VersionARN string `json:"stateMachineVersionArn,omitempty"`
	}{epoch(m.Updated), m.RevisionID, m.VersionARN}, nil
}

func (a *API) deleteStateMachine(r *http.Request, body []byte) (any, error) {
	arn, err := machineARN(body)
	if err != nil {
		return nil, err
	}
	return struct{}{}, a.svc.DeleteMachine(r.Context(), arn)
}

func (a *API) listStateMachines(r *http.Request, body []byte) (any, error) {
	var in struct {
		MaxResults int    `json:"maxResults"`
		NextToken  string `json:"nextToken"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	ms, next, err := a.svc.ListMachines(r.Context(), in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	type item struct {
		StateMachineARN string `json:"stateMachineArn"`
		Name            string `json:"name"`
		Type            string `json:"type"`
		CreationDate    epoch  `json:"creationDate"`
	}
	out := struct {
		StateMachines []item `json:"stateMachines"`
		NextToken     string `json:"nextToken,omitempty"`
	}{StateMachines: []item{}, NextToken: next}
	for _, m := range ms {
		out.StateMachines = append(out.StateMachines, item{m.ARN, m.Name, m.Type, epoch(m.Created)})
	}
	return out, nil
}

func (a *API) validateDefinition(r *http.Request, body []byte) (any, error) {
	var in struct {
		Definition string `json:"definition"`
		Type       string `json:"type"`
		Severity   string `json:"severity"`
		MaxResults int    `json:"maxResults"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := required("definition", in.Definition); err != nil {
		return nil, err
	}
	if in.MaxResults <= 0 || in.MaxResults > 100 {
		in.MaxResults = 100
	}
	diags := asl.Validate([]byte(in.Definition), asl.Options{Type: in.Type})
	out := struct {
		Result      string           `json:"result"`
		Diagnostics []asl.Diagnostic `json:"diagnostics"`
		Truncated   bool             `json:"truncated"`
	}{Result: "OK", Diagnostics: []asl.Diagnostic{}}
	for _, d := range diags {
		if d.Severity == "ERROR" {
			out.Result = "FAIL"
		}
		if in.Severity == "ERROR" && d.Severity != "ERROR" {
			continue
		}
		if len(out.Diagnostics) == in.MaxResults {
			out.Truncated = true
			break
		}
		out.Diagnostics = append(out.Diagnostics, d)
	}
	return out, nil
}

// ---- executions ----

type startIn struct {
	StateMachineARN string  `json:"stateMachineArn"`
	Name            string  `json:"name"`
	Input           *string `json:"input"`
	TraceHeader     string  `json:"traceHeader"`
}

func (in *startIn) service() (executions.StartInput, error) {
	if err := required("stateMachineArn", in.StateMachineARN); err != nil {
		return executions.StartInput{}, err
	}
	return executions.StartInput{MachineARN: in.StateMachineARN, Name: in.Name, Input: in.Input, TraceHeader: in.TraceHeader}, nil
}

func (a *API) startExecution(r *http.Request, body []byte) (any, error) {
	var in startIn
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	sin, err := in.service()
	if err != nil {
		return nil, err
	}
	e, err := a.svc.Start(r.Context(), sin)
	if err != nil {
		return nil, err
	}
	return StartOutput(e), nil
}

// StartOutput is StartExecution's answer for e (the gateway's
// StepFunctions-StartExecution integration answers it too).
func StartOutput(e executions.Execution) any {
	return struct {
		ExecutionARN string `json:"executionArn"`
		StartDate    epoch  `json:"startDate"`
	}{e.ARN, epoch(e.Start)}
}

func (a *API) startSyncExecution(r *http.Request, body []byte) (any, error) {
	var in startIn
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	sin, err := in.service()
	if err != nil {
		return nil, err
	}
	e, err := a.svc.StartSync(r.Context(), sin)
	if err != nil {
		return nil, err
	}
	return StartSyncOutput(e), nil
}

// StartSyncOutput is StartSyncExecution's answer for the ended execution e
// (the gateway's StepFunctions-StartSyncExecution integration answers it too).
func StartSyncOutput(e executions.Execution) any {
	type billing struct {
		Memory   int64 `json:"billedMemoryUsedInMB"`
		Duration int64 `json:"billedDurationInMilliseconds"`
	}
	out := struct {
		ExecutionARN    string    `json:"executionArn"`
		StateMachineARN string    `json:"stateMachineArn"`
		Name            string    `json:"name"`
		StartDate       epoch     `json:"startDate"`
		StopDate        epoch     `json:"stopDate"`
		Status          string    `json:"status"`
		Input           string    `json:"input"`
		InputDetails    included  `json:"inputDetails"`
		Output          *string   `json:"output,omitempty"`
		OutputDetails   *included `json:"outputDetails,omitempty"`
		Error           *string   `json:"error,omitempty"`
		Cause           *string   `json:"cause,omitempty"`
		TraceHeader     string    `json:"traceHeader,omitempty"`
		Billing         billing   `json:"billingDetails"`
	}{ExecutionARN: e.ARN, StateMachineARN: e.MachineARN, Name: e.Name, StartDate: epoch(e.Start), StopDate: epoch(e.Stop),
		Status: e.Status, Input: e.Input, InputDetails: included{true}, Output: e.Output, Error: e.Error, Cause: e.Cause,
		TraceHeader: e.TraceHeader, Billing: billing{int64(e.BilledMemoryMB), e.BilledDuration.Milliseconds()}}
	if e.Output != nil {
		out.OutputDetails = &included{true}
	}
	return out
}

type arnIn struct {
	ExecutionARN string `json:"executionArn"`
}

func (a *API) executionARN(body []byte) (string, error) {
	var in arnIn
	if err := decode(body, &in); err != nil {
		return "", err
	}
	return in.ExecutionARN, required("executionArn", in.ExecutionARN)
}

func redrive(status string) string {
	switch status {
	case engine.StatusRunning, engine.StatusSucceeded:
		return "Execution is " + status + " and cannot be redriven"
	}
	return "nimbus does not support RedriveExecution"
}

func (a *API) describeExecution(r *http.Request, body []byte) (any, error) {
	arn, err := a.executionARN(body)
	if err != nil {
		return nil, err
	}
	e, err := a.svc.Describe(r.Context(), arn)
	if err != nil {
		return nil, err
	}
	out := struct {
		ExecutionARN  string    `json:"executionArn"`
		MachineARN    string    `json:"stateMachineArn"`
		VersionARN    string    `json:"stateMachineVersionArn,omitempty"`
		Name          string    `json:"name"`
		Status        string    `json:"status"`
		StartDate     epoch     `json:"startDate"`
		StopDate      *epoch    `json:"stopDate,omitempty"`
		Input         string    `json:"input"`
		InputDetails  included  `json:"inputDetails"`
		Output        *string   `json:"output,omitempty"`
		OutputDetails *included `json:"outputDetails,omitempty"`
		Error         *string   `json:"error,omitempty"`
		Cause         *string   `json:"cause,omitempty"`
		TraceHeader   string    `json:"traceHeader,omitempty"`
		RedriveCount  int       `json:"redriveCount"`
		RedriveStatus string    `json:"redriveStatus"`
		RedriveReason string    `json:"redriveStatusReason"`
	}{ExecutionARN: e.ARN, MachineARN: e.MachineARN, VersionARN: e.VersionARN, Name: e.Name, Status: e.Status,
		StartDate: epoch(e.Start), StopDate: epochPtr(e.Stop), Input: e.Input, InputDetails: included{true}, Output: e.Output,
		Error: e.Error, Cause: e.Cause, TraceHeader: e.TraceHeader, RedriveStatus: "NOT_REDRIVABLE", RedriveReason: redrive(e.Status)}
	if e.Output != nil {
		out.OutputDetails = &included{true}
	}
	return out, nil
}

func (a *API) listExecutions(r *http.Request, body []byte) (any, error) {
	var in struct {
		StateMachineARN string `json:"stateMachineArn"`
		StatusFilter    string `json:"statusFilter"`
		MaxResults      int    `json:"maxResults"`
		NextToken       string `json:"nextToken"`
		MapRunARN       string `json:"mapRunArn"`
		RedriveFilter   string `json:"redriveFilter"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.MapRunARN != "" {
		return nil, &lambda.Error{Code: executions.CodeValidation, Status: http.StatusBadRequest, Message: "nimbus has no Map Runs: mapRunArn is not supported"}
	}
	if err := required("stateMachineArn", in.StateMachineARN); err != nil {
		return nil, err
	}
	es, next, err := a.svc.List(r.Context(), executions.ListInput{MachineARN: in.StateMachineARN, StatusFilter: in.StatusFilter,
		MaxResults: in.MaxResults, NextToken: in.NextToken})
	if err != nil {
		return nil, err
	}
	type item struct {
		ExecutionARN string `json:"executionArn"`
		MachineARN   string `json:"stateMachineArn"`
		VersionARN   string `json:"stateMachineVersionArn,omitempty"`
		Name         string `json:"name"`
		Status       string `json:"status"`
		StartDate    epoch  `json:"startDate"`
		StopDate     *epoch `json:"stopDate,omitempty"`
		RedriveCount int    `json:"redriveCount"`
	}
	out := struct {
		Executions []item `json:"executions"`
		NextToken  string `json:"nextToken,omitempty"`
	}{Executions: []item{}, NextToken: next}
	for _, e := range es {
		out.Executions = append(out.Executions, item{e.ARN, e.MachineARN, e.VersionARN, e.Name, e.Status, epoch(e.Start), epochPtr(e.Stop), 0})
	}
	return out, nil
}

func (a *API) stopExecution(r *http.Request, body []byte) (any, error) {
	var in struct {
		ExecutionARN string `json:"executionArn"`
		Error        string `json:"error"`
		Cause        string `json:"cause"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := required("executionArn", in.ExecutionARN); err != nil {
		return nil, err
	}
	stop, err := a.svc.Stop(r.Context(), in.ExecutionARN, in.Error, in.Cause)
	if err != nil {
		return nil, err
	}
	return struct {
		StopDate epoch `json:"stopDate"`
	}{epoch(stop)}, nil
}

func (a *API) getExecutionHistory(r *http.Request, body []byte) (any, error) {
	var in struct {
		ExecutionARN         string `json:"executionArn"`
		MaxResults           int    `json:"maxResults"`
		NextToken            string `json:"nextToken"`
		ReverseOrder         bool   `json:"reverseOrder"`
		IncludeExecutionData *bool  `json:"includeExecutionData"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := required("executionArn", in.ExecutionARN); err != nil {
		return nil, err
	}
	evs, next, err := a.svc.History(r.Context(), executions.HistoryInput{ARN: in.ExecutionARN, MaxResults: in.MaxResults,
		NextToken: in.NextToken, ReverseOrder: in.ReverseOrder, IncludeExecutionData: in.IncludeExecutionData})
	if err != nil {
		return nil, err
	}
	if evs == nil {
		evs = []json.RawMessage{}
	}
	return struct {
		Events    []json.RawMessage `json:"events"`
		NextToken string            `json:"nextToken,omitempty"`
	}{evs, next}, nil
}

func (a *API) describeStateMachineForExecution(r *http.Request, body []byte) (any, error) {
	arn, err := a.executionARN(body)
	if err != nil {
		return nil, err
	}
	m, err := a.svc.MachineForExecution(r.Context(), arn)
	if err != nil {
		return nil, err
	}
	return machineOut{StateMachineARN: m.ARN, Name: m.Name, Definition: m.Definition, RoleARN: m.RoleARN,
		UpdateDate: epochPtr(m.Updated), Logging: fromLogging(m.Logging), Tracing: tracing{m.Tracing}, RevisionID: m.RevisionID}, nil
}

// ---- task tokens ----

type tokenIn struct {
	TaskToken string `json:"taskToken"`
	Output    string `json:"output"`
	Error     string `json:"error"`
	Cause     string `json:"cause"`
}

func (a *API) token(body []byte) (tokenIn, error) {
	var in tokenIn
	if err := decode(body, &in); err != nil {
		return in, err
	}
	return in, required("taskToken", in.TaskToken)
}

func (a *API) sendTaskSuccess(r *http.Request, body []byte) (any, error) {
	in, err := a.token(body)
	if err != nil {
		return nil, err
	}
	if err := required("output", in.Output); err != nil {
		return nil, err
	}
	return struct{}{}, a.svc.SendTaskSuccess(r.Context(), in.TaskToken, in.Output)
}

func (a *API) sendTaskFailure(r *http.Request, body []byte) (any, error) {
	in, err := a.token(body)
	if err != nil {
		return nil, err
	}
	return struct{}{}, a.svc.SendTaskFailure(r.Context(), in.TaskToken, in.Error, in.Cause)
}

func (a *API) sendTaskHeartbeat(r *http.Request, body []byte) (any, error) {
	in, err := a.token(body)
	if err != nil {
		return nil, err
	}
	return struct{}{}, a.svc.SendTaskHeartbeat(r.Context(), in.TaskToken)
}

// listTags answers ListTagsForResource with no tags (tags are not kept),
// which the AWS CLI and infrastructure tools call after creating.
func (a *API) listTags(r *http.Request, body []byte) (any, error) {
	var in struct {
		ResourceARN string `json:"resourceArn"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := required("resourceArn", in.ResourceARN); err != nil {
		return nil, err
	}
	return struct {
		Tags []struct{} `json:"tags"`
	}{[]struct{}{}}, nil
}
