package asl

import "strings"

// Diagnostic codes.
const (
	CodeSchema              = "SCHEMA_VALIDATION_FAILED"
	CodeInvalidJSON         = "INVALID_JSON_DESCRIPTION"
	CodeMissingTarget       = "MISSING_TRANSITION_TARGET"
	CodeUnreachable         = "UNREACHABLE_STATE"
	CodeNoTerminalState     = "NO_TERMINAL_STATE"
	CodeDuplicateStateName  = "DUPLICATE_STATE_NAME"
	CodeInvalidResource     = "INVALID_RESOURCE"
	CodeDowngradeQueryLangs = "INVALID_DOWNGRADE_QUERY_LANGUAGE"
)

// Diagnostic is one problem found in a definition, as
// ValidateStateMachineDefinition reports it.
type Diagnostic struct {
	Severity string `json:"severity"` // ERROR or WARNING
	Code     string `json:"code"`
	Message  string `json:"message"`
	Location string `json:"location,omitempty"` // JSON pointer, e.g. /States/A/Next
}

// String formats d as CreateStateMachine does inside its message.
func (d Diagnostic) String() string {
	if d.Location == "" {
		return d.Code + ": " + d.Message
	}
	return d.Code + ": " + d.Message + " at " + d.Location
}

// Error is an invalid definition: the InvalidDefinition exception of
// CreateStateMachine.
type Error struct {
	Diagnostics []Diagnostic
}

func (e *Error) Error() string {
	parts := make([]string, 0, len(e.Diagnostics))
	for _, d := range e.Diagnostics {
		if d.Severity == "ERROR" {
			parts = append(parts, d.String())
		}
	}
	return "Invalid State Machine Definition: '" + strings.Join(parts, ", ") + "'"
}
