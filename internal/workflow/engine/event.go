package engine

import (
	"strconv"
	"strings"
	"time"

	"github.com/nimbus-dev/nimbus/internal/workflow/jsonv"
)

// Event is one history event. Type is Step Functions' event type
// (HistoryEventType); which of the detail fields are meaningful depends on
// it, exactly as in GetExecutionHistory, and MarshalJSON writes the AWS
// shape ({"id", "previousEventId", "timestamp", "type",
// "<type>EventDetails": {...}}).
//
// Input, Output and Parameters hold jsonv values (immutable). Events are
// immutable once produced.
type Event struct {
	ID              int64
	PreviousEventID int64
	Timestamp       time.Time
	Type            string

	Name       string // state name; Map state name of a MapIteration event
	Input      any
	HasInput   bool
	Output     any
	HasOutput  bool
	Parameters any // TaskScheduled
	Error      string
	HasError   bool
	Cause      string
	HasCause   bool

	Resource     string // task / Lambda function
	ResourceType string
	Region       string
	Timeout      int64 // timeoutInSeconds, 0: absent
	Heartbeat    int64 // heartbeatInSeconds, 0: absent

	Index     int    // MapIteration events
	Length    int    // MapStateStarted
	MapRunARN string // MapRunStarted
	RoleARN   string // ExecutionStarted

	// AssignedVariables are the variables a state assigned (StateExited).
	AssignedVariables []jsonv.Member
}

// Event types.
const (
	EvExecutionStarted   = "ExecutionStarted"
	EvExecutionSucceeded = "ExecutionSucceeded"
	EvExecutionFailed    = "ExecutionFailed"
	EvExecutionAborted   = "ExecutionAborted"
	EvExecutionTimedOut  = "ExecutionTimedOut"

	EvTaskScheduled = "TaskScheduled"
	EvTaskStarted   = "TaskStarted"
	EvTaskSubmitted = "TaskSubmitted"
	EvTaskSucceeded = "TaskSucceeded"
	EvTaskFailed    = "TaskFailed"
	EvTaskTimedOut  = "TaskTimedOut"

	EvLambdaScheduled = "LambdaFunctionScheduled"
	EvLambdaStarted   = "LambdaFunctionStarted"
	EvLambdaSucceeded = "LambdaFunctionSucceeded"
	EvLambdaFailed    = "LambdaFunctionFailed"
	EvLambdaTimedOut  = "LambdaFunctionTimedOut"

	EvMapStateStarted        = "MapStateStarted"
	EvMapStateSucceeded      = "MapStateSucceeded"
	EvMapStateFailed         = "MapStateFailed"
	EvMapStateAborted        = "MapStateAborted"
	EvMapIterationStarted    = "MapIterationStarted"
	EvMapIterationSucceeded  = "MapIterationSucceeded"
	EvMapIterationFailed     = "MapIterationFailed"
	EvMapIterationAborted    = "MapIterationAborted"
	EvMapRunStarted          = "MapRunStarted"
	EvMapRunSucceeded        = "MapRunSucceeded"
	EvMapRunFailed           = "MapRunFailed"
	EvParallelStateStarted   = "ParallelStateStarted"
	EvParallelStateSucceeded = "ParallelStateSucceeded"
	EvParallelStateFailed    = "ParallelStateFailed"
	EvParallelStateAborted   = "ParallelStateAborted"
)

// detailsKey returns the name of the event's details member, "" if none.
func detailsKey(typ string) string {
	switch {
	case strings.HasSuffix(typ, "StateEntered"):
		return "stateEnteredEventDetails"
	case strings.HasSuffix(typ, "StateExited"):
		return "stateExitedEventDetails"
	}
	switch typ {
	case EvMapStateSucceeded, EvMapStateFailed, EvMapStateAborted, EvParallelStateStarted,
		EvParallelStateSucceeded, EvParallelStateFailed, EvParallelStateAborted, EvLambdaStarted,
		EvMapRunSucceeded:
		return ""
	}
	return strings.ToLower(typ[:1]) + typ[1:] + "EventDetails"
}

func appendField(b []byte, first *bool, key string) []byte {
	if !*first {
		b = append(b, ',')
	}
	*first = false
	b = jsonv.AppendString(b, key)
	return append(b, ':')
}

// appendText appends a jsonv value as a JSON string holding its JSON text,
// as the AWS API carries inputs and outputs.
func appendText(b []byte, v any) []byte { return jsonv.AppendString(b, jsonv.String(v)) }

// MarshalJSON writes the event as GetExecutionHistory returns it.
func (e Event) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 256)
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, e.ID, 10)
	b = append(b, `,"previousEventId":`...)
	b = strconv.AppendInt(b, e.PreviousEventID, 10)
	b = append(b, `,"timestamp":`...)
	b = jsonv.AppendString(b, e.Timestamp.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
	b = append(b, `,"type":`...)
	b = jsonv.AppendString(b, e.Type)
	key := detailsKey(e.Type)
	if key == "" {
		return append(b, '}'), nil
	}
	b = append(b, ',')
	b = jsonv.AppendString(b, key)
	b = append(b, ":{"...)
	first := true
	str := func(k, v string) {
		b = appendField(b, &first, k)
		b = jsonv.AppendString(b, v)
	}
	num := func(k string, v int64) {
		b = appendField(b, &first, k)
		b = strconv.AppendInt(b, v, 10)
	}
	if e.Name != "" {
		str("name", e.Name)
	}
	if e.Type == EvMapIterationStarted || e.Type == EvMapIterationSucceeded || e.Type == EvMapIterationFailed || e.Type == EvMapIterationAborted {
		num("index", int64(e.Index))
	}
	if e.Type == EvMapStateStarted {
		num("length", int64(e.Length))
	}
	if e.RoleARN != "" {
		str("roleArn", e.RoleARN)
	}
	if e.ResourceType != "" {
		str("resourceType", e.ResourceType)
	}
	if e.Resource != "" {
		str("resource", e.Resource)
	}
	if e.Region != "" {
		str("region", e.Region)
	}
	if e.Parameters != nil || e.Type == EvTaskScheduled {
		b = appendField(b, &first, "parameters")
		b = appendText(b, e.Parameters)
	}
	if e.Timeout > 0 {
		num("timeoutInSeconds", e.Timeout)
	}
	if e.Heartbeat > 0 {
		num("heartbeatInSeconds", e.Heartbeat)
	}
	if e.HasInput {
		b = appendField(b, &first, "input")
		b = appendText(b, e.Input)
		b = appendField(b, &first, "inputDetails")
		b = append(b, `{"truncated":false}`...)
	}
	if e.HasOutput {
		b = appendField(b, &first, "output")
		b = appendText(b, e.Output)
		b = appendField(b, &first, "outputDetails")
		b = append(b, `{"truncated":false}`...)
	}
	if e.AssignedVariables != nil {
		b = appendField(b, &first, "assignedVariables")
		b = append(b, '{')
		for i, m := range e.AssignedVariables {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonv.AppendString(b, m.Key)
			b = append(b, ':')
			b = appendText(b, m.Value)
		}
		b = append(b, '}')
		b = appendField(b, &first, "assignedVariablesDetails")
		b = append(b, `{"truncated":false}`...)
	}
	if e.MapRunARN != "" {
		str("mapRunArn", e.MapRunARN)
	}
	if e.HasError {
		str("error", e.Error)
	}
	if e.HasCause {
		str("cause", e.Cause)
	}
	b = append(b, "}}"...)
	return b, nil
}
