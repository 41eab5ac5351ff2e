package engine

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nimbus-dev/nimbus/internal/workflow/asl"
	"github.com/nimbus-dev/nimbus/internal/workflow/jsonv"
)

// Errors of the task-token calls, as Step Functions names them.
var (
	ErrTaskDoesNotExist = errors.New("TaskDoesNotExist")
	ErrInvalidToken     = errors.New("InvalidToken")
	ErrInvalidOutput    = errors.New("InvalidOutput")
	ErrAlreadyRunning   = errors.New("engine: Run called twice")
	// ErrInvalidInput wraps an execution input that is not JSON or is too
	// large (InvalidExecutionInput).
	ErrInvalidInput = errors.New("InvalidExecutionInput")
)

// Execution is one run of a state machine. Create it with New or Resume,
// then call Run.
type Execution struct {
	cfg     Config
	def     *asl.Definition
	tasks   TaskRunner
	clock   Clock
	journal Journal
	log     *slog.Logger
	limit   int
	region  string
	account string

	// Owned by the goroutine in Run.
	threads   []*thread // live threads; index = id
	scopes    []*scope
	runq      []*thread
	ops       map[int]*taskOp
	timers    map[int]*timer
	nextOp    int
	nextTimer int
	toStart   []*taskOp
	pending   []Event // produced since the last commit (journal only)
	input     any
	startTime time.Time
	execObj   *jsonv.Object // $$.Execution
	smObj     *jsonv.Object // $$.StateMachine
	lastID    int64
	result    *Result
	timeoutAt time.Time // machine TimeoutSeconds deadline

	mu      sync.Mutex // guards events, inbox, tokens, running, ended
	events  []Event
	inbox   []message
	tokens  map[string]int // task token -> op id
	running bool
	ended   bool
	wake    chan struct{}
	wg      sync.WaitGroup // task goroutines
}

type msgKind uint8

const (
	msgTaskDone msgKind = iota + 1
	msgTimer
	msgSuccess
	msgFailure
	msgHeartbeat
	msgStop
	msgSubmitted
)

type message struct {
	kind   msgKind
	op     int
	timer  int
	output json.RawMessage
	err    error
	name   string
	cause  string
	hasErr bool
	hasCau bool
}

// New prepares an execution of cfg.Definition. It checks the input (an
// error wrapping ErrInvalidInput) and records nothing until Run.
func New(cfg Config, tasks TaskRunner, clock Clock, journal Journal) (*Execution, error) {
	x, err := newExecution(cfg, tasks, clock, journal)
	if err != nil {
		return nil, err
	}
	in := cfg.Input
	if len(strings.TrimSpace(string(in))) == 0 {
		in = json.RawMessage("{}")
	}
	v, err := jsonv.Parse(in)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidInput, err)
	}
	if jsonv.SizeExceeds(v, x.limit) {
		return nil, fmt.Errorf("%w: the input exceeds %d bytes", ErrInvalidInput, x.limit)
	}
	x.input = v
	return x, nil
}

func newExecution(cfg Config, tasks TaskRunner, clock Clock, journal Journal) (*Execution, error) {
	if cfg.Definition == nil {
		return nil, errors.New("engine: no definition")
	}
	if clock == nil {
		clock = SystemClock{}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	x := &Execution{
		cfg:     cfg,
		def:     cfg.Definition,
		tasks:   tasks,
		clock:   clock,
		journal: journal,
		log:     log,
		limit:   PayloadLimit,
		region:  cfg.Region,
		ops:     map[int]*taskOp{},
		timers:  map[int]*timer{},
		tokens:  map[string]int{},
		wake:    make(chan struct{}, 1),
	}
	if cfg.PayloadLimit > 0 {
		x.limit = cfg.PayloadLimit
	}
	if parts := strings.Split(cfg.ExecutionARN, ":"); len(parts) > 4 {
		if x.region == "" {
			x.region = parts[3]
		}
		x.account = parts[4]
	}
	return x, nil
}

// Events returns a copy of the history so far (nil with DiscardEvents).
func (x *Execution) Events() []Event {
	x.mu.Lock()
	defer x.mu.Unlock()
	return append([]Event(nil), x.events...)
}

// Run executes until the execution ends, and returns how it ended. If ctx
// is cancelled first, Run stops the running tasks and returns ctx.Err();
// the execution can then be resumed from its last committed snapshot. A
// journal error also stops it and is returned.
func (x *Execution) Run(ctx context.Context) (*Result, error) {
	x.mu.Lock()
	if x.running {
		x.mu.Unlock()
		return nil, ErrAlreadyRunning
	}
	x.running = true
	x.mu.Unlock()
	defer func() {
		x.mu.Lock()
		x.ended = true
		x.mu.Unlock()
		x.shutdown()
	}()
	if x.lastID == 0 {
		x.begin()
	} else {
		x.restart()
	}
	for {
		for len(x.runq) > 0 && x.result == nil {
			t := x.runq[0]
			x.runq[0] = nil
			x.runq = x.runq[1:]
			x.step(t)
		}
		if err := x.commit(ctx); err != nil {
			return nil, err
		}
		if x.result != nil {
			return x.result, nil
		}
		x.dispatch(ctx)
		if err := x.waitMessages(ctx); err != nil {
			return nil, err
		}
	}
}

// begin starts a fresh execution.
func (x *Execution) begin() {
	x.startTime = x.clock.Now()
	x.buildContext()
	x.emit(nil, Event{Type: EvExecutionStarted, Input: x.input, HasInput: true, RoleARN: x.cfg.RoleARN})
	if x.def.TimeoutSeconds > 0 {
		x.timeoutAt = x.startTime.Add(time.Duration(x.def.TimeoutSeconds) * time.Second)
		x.startTimer(x.timeoutAt, nil, nil, false)
	}
	main := x.newThread(nil, &x.def.Machine, kindMain, 0, x.newScope(nil))
	main.boundary = true
	main.input = x.input
	main.lastEvent = 0
	x.enterState(main, x.def.StartAt)
	x.runq = append(x.runq, main)
}

func (x *Execution) buildContext() {
	e := jsonv.NewObject(6)
	e.Set("Id", x.cfg.ExecutionARN)
	e.Set("Input", x.input)
	express := x.cfg.Type == asl.Express
	if !express {
		e.Set("StartTime", formatTime(x.startTime))
	}
	e.Set("Name", x.cfg.ExecutionName)
	e.Set("RoleArn", x.cfg.RoleARN)
	if express {
		e.Set("StartTime", formatTime(x.startTime))
	}
	if !x.cfg.Sync {
		e.Set("RedriveCount", jsonv.Int(int64(x.cfg.RedriveCount)))
	}
	x.execObj = e
	sm := jsonv.NewObject(2)
	sm.Set("Id", x.cfg.StateMachineARN)
	sm.Set("Name", x.cfg.StateMachineName)
	x.smObj = sm
}

func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// emit appends an event produced by thread t (nil: the execution itself).
func (x *Execution) emit(t *thread, ev Event) int64 {
	if t != nil && t.quiet {
		return 0
	}
	x.lastID++
	ev.ID = x.lastID
	if x.cfg.MaxEvents > 0 && x.lastID == x.cfg.MaxEvents && x.result == nil && !strings.HasPrefix(ev.Type, "Execution") {
		defer x.finish(&Result{Status: StatusFailed, Error: "States.Runtime", HasError: true,
			Cause: fmt.Sprintf("The execution reached the maximum number of history events (%d).", x.cfg.MaxEvents), HasCause: true},
			Event{Type: EvExecutionFailed, Error: "States.Runtime", HasError: true,
				Cause: fmt.Sprintf("The execution reached the maximum number of history events (%d).", x.cfg.MaxEvents), HasCause: true})
	}
	switch {
	case t != nil:
		ev.PreviousEventID = t.lastEvent
		if !sideEvent(ev.Type) {
			t.lastEvent = ev.ID
		}
	case ev.Type == EvExecutionStarted, ev.Type == EvExecutionAborted:
		// AWS records these with previousEventId 0.
	default:
		ev.PreviousEventID = ev.ID - 1
	}
	ev.Timestamp = x.clock.Now()
	if !x.cfg.DiscardEvents {
		x.mu.Lock()
		x.events = append(x.events, ev)
		x.mu.Unlock()
	}
	if x.journal != nil {
		x.pending = append(x.pending, ev)
	}
	return ev.ID
}

// sideEvent reports whether an event type leaves the thread's causal chain
// alone: the next event links to the same predecessor (as AWS records it).
func sideEvent(typ string) bool {
	switch typ {
	case EvMapIterationSucceeded, EvMapIterationFailed, EvMapStateSucceeded, EvParallelStateSucceeded:
		return true
	}
	return false
}

// commit hands the events since the last commit and a snapshot to the journal.
func (x *Execution) commit(ctx context.Context) error {
	if x.journal == nil || len(x.pending) == 0 {
		return nil
	}
	snap := x.snapshot()
	if err := x.journal.Commit(ctx, x.pending, snap); err != nil {
		return err
	}
	x.pending = x.pending[:0]
	return nil
}

// waitMessages blocks until at least one message arrived, then handles all.
func (x *Execution) waitMessages(ctx context.Context) error {
	for {
		x.mu.Lock()
		msgs := x.inbox
		x.inbox = nil
		x.mu.Unlock()
		if len(msgs) > 0 {
			for _, m := range msgs {
				if x.result != nil {
					break
				}
				x.handle(m)
			}
			return nil
		}
		select {
		case <-x.wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// post queues a message for the Run goroutine.
func (x *Execution) post(m message) bool {
	x.mu.Lock()
	if x.ended {
		x.mu.Unlock()
		return false
	}
	x.inbox = append(x.inbox, m)
	x.mu.Unlock()
	select {
	case x.wake <- struct{}{}:
	default:
	}
	return true
}

func (x *Execution) handle(m message) {
	switch m.kind {
	case msgTaskDone:
		x.taskDone(m)
	case msgTimer:
		x.timerFired(m.timer)
	case msgSuccess, msgFailure, msgHeartbeat:
		x.callback(m)
	case msgSubmitted:
		if op, ok := x.ops[m.op]; ok && !op.ended {
			x.submitted(op, m.output)
		}
	case msgStop:
		x.finish(&Result{Status: StatusAborted, Error: m.name, Cause: m.cause, HasError: m.hasErr, HasCause: m.hasCau},
			Event{Type: EvExecutionAborted, Error: m.name, HasError: m.hasErr, Cause: m.cause, HasCause: m.hasCau})
	}
}

// Stop aborts the execution (StopExecution). It returns false if the
// execution has already ended.
func (x *Execution) Stop(errName, cause string) bool {
	return x.post(message{kind: msgStop, name: errName, cause: cause, hasErr: errName != "", hasCau: cause != ""})
}

// SendTaskSuccess completes the .waitForTaskToken task holding token with
// output (JSON text).
func (x *Execution) SendTaskSuccess(token string, output json.RawMessage) error {
	if _, err := jsonv.Parse(output); err != nil {
		return ErrInvalidOutput
	}
	return x.sendToken(message{kind: msgSuccess, output: output}, token)
}

// SendTaskFailure fails the .waitForTaskToken task holding token.
func (x *Execution) SendTaskFailure(token, errName, cause string) error {
	return x.sendToken(message{kind: msgFailure, name: errName, cause: cause, hasErr: true, hasCau: true}, token)
}

// SendTaskHeartbeat resets the heartbeat timeout of the task holding token.
func (x *Execution) SendTaskHeartbeat(token string) error {
	return x.sendToken(message{kind: msgHeartbeat}, token)
}

func (x *Execution) sendToken(m message, token string) error {
	if _, ok := TokenExecution(token); !ok {
		return ErrInvalidToken
	}
	x.mu.Lock()
	op, ok := x.tokens[token]
	x.mu.Unlock()
	if !ok {
		return ErrTaskDoesNotExist
	}
	m.op = op
	if !x.post(m) {
		return ErrTaskDoesNotExist
	}
	return nil
}

// newToken returns a task token that names the execution it belongs to.
func (x *Execution) newToken() string {
	var b [24]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString([]byte(x.cfg.ExecutionARN)) + "." + base64.RawURLEncoding.EncodeToString(b[:])
}

// TokenExecution returns the ARN of the execution a task token belongs to,
// so that a caller can route SendTask* calls.
func TokenExecution(token string) (string, bool) {
	head, _, ok := strings.Cut(token, ".")
	if !ok {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return "", false
	}
	return string(b), true
}

// timer is a pending timer and what it is for: a thread's Wait or retry
// delay, a task's timeout or heartbeat, or (neither) the execution timeout.
type timer struct {
	stop      func() bool
	thread    *thread
	op        *taskOp
	heartbeat bool
}

// startTimer arranges a msgTimer at the given time and returns its id.
func (x *Execution) startTimer(at time.Time, th *thread, op *taskOp, heartbeat bool) int {
	x.nextTimer++
	id := x.nextTimer
	d := at.Sub(x.clock.Now())
	stop := x.clock.AfterFunc(max(d, 0), func() { x.post(message{kind: msgTimer, timer: id}) })
	x.timers[id] = &timer{stop: stop, thread: th, op: op, heartbeat: heartbeat}
	return id
}

func (x *Execution) stopTimer(id int) {
	if tm, ok := x.timers[id]; ok {
		tm.stop()
		delete(x.timers, id)
	}
}

func (x *Execution) timerFired(id int) {
	tm, ok := x.timers[id]
	if !ok {
		return // stopped meanwhile
	}
	delete(x.timers, id)
	switch {
	case tm.op != nil && tm.heartbeat:
		x.taskTimedOut(tm.op, "States.HeartbeatTimeout")
	case tm.op != nil:
		x.taskTimedOut(tm.op, "States.Timeout")
	case tm.thread != nil:
		tm.thread.timer = 0
		x.wakeThread(tm.thread)
	default:
		x.finish(&Result{Status: StatusTimedOut}, Event{Type: EvExecutionTimedOut})
	}
}

// finish ends the execution with r, recording ev.
func (x *Execution) finish(r *Result, ev Event) {
	if x.result != nil {
		return
	}
	x.emit(nil, ev)
	r.Start = x.startTime
	r.Stop = x.clock.Now()
	x.result = r
	for _, t := range x.threads {
		if t != nil {
			x.abortThread(t)
		}
	}
	x.runq = nil
}

// shutdown stops timers and running tasks and waits for task goroutines.
func (x *Execution) shutdown() {
	for id := range x.timers {
		x.stopTimer(id)
	}
	for _, op := range x.ops {
		if op.cancel != nil {
			op.cancel()
		}
	}
	x.wg.Wait()
}
