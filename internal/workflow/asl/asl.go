// Package asl parses and validates Amazon States Language definitions into a
// typed, compiled model: every path, payload template, intrinsic call and
// Choice rule is compiled once here, so that an execution only evaluates.
//
// Validation reports problems the way Step Functions does: a list of
// Diagnostics (ValidateStateMachineDefinition) that Error formats as the
// InvalidDefinition message of CreateStateMachine. JSONata-mode states are
// parsed and validated but their expressions are kept as text: the engine
// only executes the JSONPath query language.
//
// A Definition is immutable after Parse and safe for concurrent use.
package asl

import (
	"time"

	"github.com/nimbus-dev/nimbus/internal/workflow/jsonpath"
)

// Query languages.
const (
	JSONPath = "JSONPath"
	JSONata  = "JSONata"
)

// State types.
const (
	Pass     = "Pass"
	Task     = "Task"
	Choice   = "Choice"
	Wait     = "Wait"
	Succeed  = "Succeed"
	Fail     = "Fail"
	Parallel = "Parallel"
	Map      = "Map"
)

// Machine is a set of states with a start: the top level, a Parallel
// branch or a Map's item processor.
type Machine struct {
	StartAt string
	States  map[string]*State
	Order   []string // state names in declaration order
}

// Definition is a parsed state machine definition.
type Definition struct {
	Machine
	Comment        string
	Version        string
	QueryLanguage  string // JSONPath unless set
	TimeoutSeconds int64  // 0: none
	Source         []byte // the definition text
}

// PathField is an InputPath, OutputPath or ResultPath: nil Path and !Null
// means the default "$"; Null means the field was JSON null.
type PathField struct {
	Path *jsonpath.Path
	Null bool
}

// IsDefault reports whether the field is absent or "$".
func (f PathField) IsDefault() bool {
	return !f.Null && (f.Path == nil || f.Path.IsRoot() && f.Path.Root() == jsonpath.RootInput)
}

// State is one state. Which fields are meaningful depends on Type.
type State struct {
	Name          string
	Type          string
	Comment       string
	QueryLanguage string // effective language of this state
	Next          string
	End           bool

	InputPath      PathField
	OutputPath     PathField
	ResultPath     PathField
	Parameters     *jsonpath.Template // also a legacy Map's Parameters (item selector)
	ResultSelector *jsonpath.Template
	Result         any // Pass
	HasResult      bool
	Assign         *jsonpath.Template

	// Task
	Resource             string
	TimeoutSeconds       int64 // 0: none given
	TimeoutSecondsPath   *jsonpath.Path
	HeartbeatSeconds     int64
	HeartbeatSecondsPath *jsonpath.Path
	Credentials          *jsonpath.Template
	Retry                []*Retrier
	Catch                []*Catcher

	// Choice
	Choices []*ChoiceRule
	Default string

	// Wait
	Seconds       int64
	HasSeconds    bool
	Timestamp     time.Time
	HasTimestamp  bool
	SecondsPath   *jsonpath.Path
	TimestampPath *jsonpath.Path

	// Fail
	Error     string
	HasError  bool
	Cause     string
	HasCause  bool
	ErrorPath *jsonpath.Expr
	CausePath *jsonpath.Expr

	// Parallel
	Branches []*Machine

	// Map
	Processor                      *Machine
	ProcessorMode                  string // INLINE or DISTRIBUTED
	ExecutionType                  string // STANDARD or EXPRESS (distributed)
	ItemsPath                      *jsonpath.Path
	ItemSelector                   *jsonpath.Template
	MaxConcurrency                 int64
	MaxConcurrencyPath             *jsonpath.Path
	ToleratedFailurePercentage     float64
	HasToleratedFailurePercentage  bool
	ToleratedFailurePercentagePath *jsonpath.Path
	ToleratedFailureCount          int64
	HasToleratedFailureCount       bool
	ToleratedFailureCountPath      *jsonpath.Path
	ItemBatcher                    *ItemBatcher
	HasItemReader                  bool
	HasResultWriter                bool
	Label                          string

	// JSONata-mode fields, kept as their JSON values.
	Arguments any
	Output    any
	HasOutput bool
	Items     any
}

// ItemBatcher groups Map items into batches.
type ItemBatcher struct {
	MaxItemsPerBatch          int64
	MaxItemsPerBatchPath      *jsonpath.Path
	MaxInputBytesPerBatch     int64
	MaxInputBytesPerBatchPath *jsonpath.Path
	BatchInput                *jsonpath.Template
}

// Retrier is one entry of a Retry field.
type Retrier struct {
	ErrorEquals     []string
	IntervalSeconds int64   // default 1
	MaxAttempts     int64   // default 3
	BackoffRate     float64 // default 2.0
	MaxDelaySeconds int64   // 0: no cap
	JitterStrategy  string  // FULL or NONE (default)
}

// Catcher is one entry of a Catch field.
type Catcher struct {
	ErrorEquals []string
	Next        string
	ResultPath  PathField
	Assign      *jsonpath.Template
	Output      any
	HasOutput   bool
}

// ChoiceRule is a Choice rule: a comparison (Variable + Operator), a boolean
// combination (And, Or, Not) or, in JSONata, a Condition.
type ChoiceRule struct {
	Variable  *jsonpath.Path
	Operator  string // e.g. "StringEquals", "NumericLessThanPath", "IsPresent"
	Value     any    // the operand of a literal comparison
	ValuePath *jsonpath.Path
	And       []*ChoiceRule
	Or        []*ChoiceRule
	Not       *ChoiceRule
	Condition string // JSONata
	Next      string // top-level rules only
	Assign    *jsonpath.Template
	Output    any
	HasOutput bool
}

// IsTaskLike reports whether states of type t have Retry, Catch and a result.
func IsTaskLike(t string) bool { return t == Task || t == Parallel || t == Map }
