package executions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/workflow/asl"
	"github.com/nimbus-dev/nimbus/internal/workflow/engine"
	"github.com/nimbus-dev/nimbus/internal/workflow/jsonv"
)

// Execution is an execution as DescribeExecution (or StartSyncExecution)
// describes it.
type Execution struct {
	ARN         string
	MachineARN  string
	VersionARN  string // when started through a version ARN
	Name        string
	Status      string
	Start       time.Time
	Stop        time.Time // zero while running
	Input       string
	Output      *string
	Error       *string
	Cause       *string
	TraceHeader string

	// StartSyncExecution only.
	BilledDuration time.Duration
	BilledMemoryMB int
}

// StartInput is a StartExecution or StartSyncExecution request.
type StartInput struct {
	MachineARN  string // may name a version
	Name        string // "" generates one
	Input       *string
	TraceHeader string

	startedBy string // a parent task attempt (states:startExecution)
}

// checkInput validates an execution input as StartExecution does.
func checkInput(in string) error {
	if in == "" {
		return apiError(CodeInvalidExecutionInput, "Invalid State Machine Execution Input: 'Invalid execution input.'")
	}
	v, err := jsonv.ParseString(in)
	if err != nil {
		return apiError(CodeInvalidExecutionInput, "Invalid State Machine Execution Input: '"+jacksonMessage(in, err)+"'")
	}
	if jsonv.SizeExceeds(v, engine.PayloadLimit) {
		return validation("1 validation error detected: Value at 'input' failed to satisfy constraint: Member must have length less than or equal to %d", engine.PayloadLimit)
	}
	return nil
}

// jacksonMessage phrases a JSON syntax error as AWS's parser (Jackson) does.
func jacksonMessage(text string, err error) string {
	se, ok := errors.AsType[*jsonv.SyntaxError](err)
	if !ok {
		return "Invalid execution input."
	}
	off := se.Offset
	end := off
	for end < len(text) && (text[end] >= 'a' && text[end] <= 'z' || text[end] >= 'A' && text[end] <= 'Z' || text[end] >= '0' && text[end] <= '9' || text[end] == '_') {
		end++
	}
	if end > off && (off == 0 || se.Msg != "expected a string key") {
		return "Unrecognized token '" + text[off:end] + "': was expecting (JSON String, Number, Array, Object or token 'null', 'true' or 'false')"
	}
	if off >= len(text) {
		return "Unexpected end-of-input"
	}
	reason := "expected a valid value (JSON String, Number, Array, Object or token 'null', 'true' or 'false')"
	switch se.Msg {
	case "expected a string key":
		reason = "was expecting double-quote to start field name"
	case "expected ':'":
		reason = "was expecting a colon to separate field name and value"
	case "expected ',' or '}'":
		reason = "was expecting comma to separate Object entries"
	case "expected ',' or ']'":
		reason = "was expecting comma to separate Array entries"
	}
	return fmt.Sprintf("Unexpected character ('%c' (code %d)): %s", text[off], text[off], reason)
}

func (in *StartInput) prepare() (string, error) {
	input := "{}"
	if in.Input != nil {
		input = *in.Input
	}
	if err := checkInput(input); err != nil {
		return "", err
	}
	if in.Name == "" {
		in.Name = lambda.NewRequestID()
	} else if err := checkName(in.Name, "name"); err != nil {
		return "", err
	}
	return input, nil
}

// Start starts an execution (StartExecution). A Standard execution is
// durable when Start returns; starting one again with the same name and
// input while it runs returns it, anything else with that name is
// ExecutionAlreadyExists. An Express execution runs in memory.
func (s *Service) Start(ctx context.Context, in StartInput) (Execution, error) {
	m, v, err := s.resolveMachine(ctx, in.MachineARN)
	if err != nil {
		return Execution{}, err
	}
	input, err := in.prepare()
	if err != nil {
		return Execution{}, err
	}
	if m.Type == asl.Express {
		return s.startExpress(ctx, m, v, in, input)
	}
	rec := s.newRecord(m, v, in, input)
	def, err := s.compiled(ctx, rec.Definition, rec.Type)
	if err != nil {
		return Execution{}, err
	}
	j := &journal{s: s, subject: historySubject + rec.key()}
	x, err := engine.New(s.engineConfig(rec, def), s.tasks, s.clock, j)
	if errors.Is(err, engine.ErrInvalidInput) {
		return Execution{}, apiError(CodeInvalidExecutionInput, "Invalid State Machine Execution Input: 'Invalid execution input.'")
	}
	if err != nil {
		return Execution{}, err
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return Execution{}, err
	}
	rev, err := s.st.execs.Create(ctx, rec.key(), b)
	if errors.Is(err, jetstream.ErrKeyExists) {
		cur, _, gerr := s.st.execution(ctx, rec.key())
		if gerr != nil {
			return Execution{}, gerr
		}
		if cur.Input == rec.Input && (cur.Status == engine.StatusRunning || in.startedBy != "" && cur.StartedBy == in.startedBy) {
			return s.view(cur), nil
		}
		return Execution{}, apiError(CodeExecutionAlreadyExists, "Execution Already Exists: '"+rec.ARN+"'")
	}
	if err != nil {
		return Execution{}, fmt.Errorf("executions: start %s: %w", rec.ARN, err)
	}
	c := *rec
	trimRecord(&c)
	s.execs.store(rec.key(), rev, &c)
	s.enqueue(&live{rec: rec, x: x, j: j, done: make(chan struct{})})
	return s.view(rec), nil
}

func (s *Service) newRecord(m *machineRecord, v *versionRecord, in StartInput, input string) *execRecord {
	rec := &execRecord{
		ARN: s.arns.execution(m.Name, in.Name), Name: in.Name, Machine: m.Name, Type: m.Type,
		RoleARN: m.RoleARN, Definition: m.Definition, RevisionID: m.RevisionID, MachineDate: m.Created,
		Logging: m.Logging, Tracing: m.Tracing, Status: engine.StatusRunning, Start: s.now(), Input: input,
		TraceHeader: in.TraceHeader, StartedBy: in.startedBy,
	}
	if !m.Updated.IsZero() {
		rec.MachineDate = m.Updated
	}
	if v != nil {
		rec.Version, rec.RoleARN, rec.Definition, rec.RevisionID, rec.MachineDate = v.Version, v.RoleARN, v.Definition, v.RevisionID, v.Created
		rec.Logging, rec.Tracing = v.Logging, v.Tracing
	}
	return rec
}

// view renders a record.
func (s *Service) view(r *execRecord) Execution {
	e := Execution{ARN: r.ARN, MachineARN: s.arns.machine(r.Machine), Name: r.Name, Status: r.Status, Start: r.Start,
		Stop: r.Stop, Input: r.Input, Output: r.Output, Error: r.Error, Cause: r.Cause, TraceHeader: r.TraceHeader}
	if r.Version != 0 {
		e.VersionARN = s.arns.version(r.Machine, r.Version)
	}
	return e
}

// expressRun prepares an in-memory Express execution.
func (s *Service) expressRun(ctx context.Context, m *machineRecord, v *versionRecord, in StartInput, input string, sync bool) (*engine.Execution, *execRecord, error) {
	rec := s.newRecord(m, v, in, input)
	rec.ARN = s.arns.express(m.Name, in.Name, lambda.NewRequestID())
	def, err := s.compiled(ctx, rec.Definition, rec.Type)
	if err != nil {
		return nil, nil, err
	}
	cfg := s.engineConfig(rec, def)
	cfg.Sync, cfg.DiscardEvents, cfg.MaxEvents = sync, true, 0
	x, err := engine.New(cfg, s.tasks, s.clock, nil)
	if err != nil {
		return nil, nil, apiError(CodeInvalidExecutionInput, "Invalid State Machine Execution Input: 'Invalid execution input.'")
	}
	return x, rec, nil
}

func (s *Service) startExpress(ctx context.Context, m *machineRecord, v *versionRecord, in StartInput, input string) (Execution, error) {
	x, rec, err := s.expressRun(ctx, m, v, in, input, false)
	if err != nil {
		return Execution{}, err
	}
	s.enqueue(&live{x: x, done: make(chan struct{})})
	return s.view(rec), nil
}

// StartSync runs an Express execution to its end (StartSyncExecution).
func (s *Service) StartSync(ctx context.Context, in StartInput) (Execution, error) {
	m, v, err := s.resolveMachine(ctx, in.MachineARN)
	if err != nil {
		return Execution{}, err
	}
	if m.Type != asl.Express {
		return Execution{}, apiError(CodeTypeNotSupported, "This operation is not supported by this type of state machine")
	}
	input, err := in.prepare()
	if err != nil {
		return Execution{}, err
	}
	x, rec, err := s.expressRun(ctx, m, v, in, input, true)
	if err != nil {
		return Execution{}, err
	}
	return s.runSync(ctx, x, rec)
}

// runSync runs an in-memory execution in the caller's goroutine.
func (s *Service) runSync(ctx context.Context, x *engine.Execution, rec *execRecord) (Execution, error) {
	runCtx, cancel := context.WithTimeout(ctx, s.cfg.ExpressTimeout)
	defer cancel()
	res, err := x.Run(runCtx)
	e := s.view(rec)
	switch {
	case err == nil:
		closeFromResult(rec, res)
		e = s.view(rec)
		e.Start = res.Start
	case ctx.Err() != nil:
		return Execution{}, ctx.Err()
	default:
		e.Status, e.Stop = engine.StatusTimedOut, s.now()
		errName := "States.Timeout"
		e.Error = &errName
	}
	d := e.Stop.Sub(e.Start)
	e.BilledDuration = time.Duration(math.Ceil(float64(d)/float64(100*time.Millisecond))) * 100 * time.Millisecond
	if e.BilledDuration < 100*time.Millisecond {
		e.BilledDuration = 100 * time.Millisecond
	}
	e.BilledMemoryMB = 64
	return e, nil
}
