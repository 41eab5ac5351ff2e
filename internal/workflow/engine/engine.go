// Package engine executes Amazon States Language state machines (JSONPath
// query language) parsed by package asl.
//
// An Execution is an event-sourced state machine: everything it does is a
// sequence of history events with Step Functions' types and details
// (ExecutionStarted, PassStateEntered, TaskScheduled, MapIterationStarted,
// ...), which is what GetExecutionHistory returns. The engine never calls
// anything itself: Task states go through the TaskRunner the caller
// provides, and time goes through a Clock, so that Waits, retry delays and
// timeouts can run on a test clock and be persisted as timers.
//
// Durability: when a Journal is configured, the execution calls Commit with
// the events produced since the previous commit and a Snapshot of its state
// before every side effect (starting a task) and whenever it is about to
// wait, and again when it ends. Between two commits it only evaluates
// (Pass, Choice, data flow), so a crash loses nothing that was committed:
// Resume continues from the last Snapshot, re-starting the tasks that were
// scheduled but had not completed (at least once; TaskRequest.ID is stable
// across attempts so a runner can deduplicate).
//
// Concurrency: one goroutine, the caller of Run, owns the execution's state.
// Task calls run in goroutines that Run starts and waits for before it
// returns. Stop, SendTaskSuccess, SendTaskFailure, SendTaskHeartbeat and
// Events may be called from any goroutine.
package engine

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/nimbus-dev/nimbus/internal/workflow/asl"
)

// Execution statuses.
const (
	StatusRunning   = "RUNNING"
	StatusSucceeded = "SUCCEEDED"
	StatusFailed    = "FAILED"
	StatusTimedOut  = "TIMED_OUT"
	StatusAborted   = "ABORTED"
)

// PayloadLimit is the largest state input/output and task result, in bytes
// of JSON text (States.DataLimitExceeded beyond it).
const PayloadLimit = 256 * 1024

// TaskRunner runs the work of Task states.
//
// RunTask performs the task named by req.Resource with req.Input and returns
// its result as JSON text, or an error. A *TaskError reports the task's own
// failure with Step Functions' error name and cause (a Lambda function's
// errorType, "Lambda.Unknown", ...); any other error is reported as
// States.TaskFailed with an empty cause (the runner should log it).
//
// RunTask must return when ctx is cancelled (timeout, execution stopped or
// shut down); its result is then ignored. For a .waitForTaskToken resource
// RunTask only delivers the request (req.Token is set) and returns; the task
// completes when SendTaskSuccess or SendTaskFailure is called with the
// token. A .sync resource's RunTask returns when the job has finished.
type TaskRunner interface {
	RunTask(ctx context.Context, req TaskRequest) (json.RawMessage, error)
}

// TaskRequest is one attempt to run a Task state.
type TaskRequest struct {
	// ID identifies the task attempt and is stable across a Resume:
	// "<execution ARN>/<event id of TaskScheduled>".
	ID           string
	ExecutionARN string
	StateName    string
	Resource     asl.Resource
	Input        json.RawMessage // the state's effective input (after Parameters)
	Credentials  json.RawMessage // evaluated Credentials, or nil
	Token        string          // for .waitForTaskToken resources
	Timeout      time.Duration   // 0: none given
	Heartbeat    time.Duration   // 0: none given

	// Submitted may be called by the runner, once, when a .sync job has been
	// started (or a callback request sent) to record a TaskSubmitted event
	// with output. It is safe to call from any goroutine, and is nil in
	// snapshots.
	Submitted func(output json.RawMessage) `json:"-"`
}

// TaskError is a task's failure as Step Functions names it.
type TaskError struct {
	Name  string // e.g. "Lambda.Unknown", "States.TaskFailed", a function's errorType
	Cause string
}

func (e *TaskError) Error() string { return e.Name + ": " + e.Cause }

// Clock is the execution's source of time.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d; stop cancels it.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// AfterFunc is time.AfterFunc.
func (SystemClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// Journal persists an execution's progress (see the package comment).
type Journal interface {
	// Commit durably records events (in order, ids consecutive) and the
	// state after them. An error stops the execution: Run returns it and
	// the execution can be resumed from the previous snapshot.
	Commit(ctx context.Context, events []Event, snap *Snapshot) error
}

// Config describes one execution.
type Config struct {
	Definition *asl.Definition

	ExecutionARN     string
	ExecutionName    string
	StateMachineARN  string
	StateMachineName string
	RoleARN          string
	Region           string // for task events; from the ARN when empty
	Type             string // asl.Standard (default) or asl.Express
	Sync             bool   // started by StartSyncExecution (Express): no RedriveCount in $$.Execution
	RedriveCount     int

	// Input is the execution input (JSON text); empty means {}.
	Input json.RawMessage

	// PayloadLimit overrides PayloadLimit when positive.
	PayloadLimit int

	// MaxEvents fails the execution (States.Runtime) when its history
	// reaches that many events; 0: no limit. Step Functions allows 25,000
	// for Standard executions.
	MaxEvents int64

	// DiscardEvents keeps no in-memory history (Express executions without
	// a journal): Events returns nil and Result.Events is empty.
	DiscardEvents bool

	Logger *slog.Logger // nil: discard
}

// Result is how an execution ended.
type Result struct {
	Status   string
	Output   json.RawMessage // SUCCEEDED only
	Error    string
	Cause    string
	HasError bool // false when the execution failed without an error name (a bare Fail state)
	HasCause bool
	Start    time.Time
	Stop     time.Time
}
