package engine

import (
	"time"

	"github.com/nimbus-dev/nimbus/internal/workflow/asl"
	"github.com/nimbus-dev/nimbus/internal/workflow/jsonpath"
	"github.com/nimbus-dev/nimbus/internal/workflow/jsonv"
)

type threadKind uint8

const (
	kindMain      threadKind = iota
	kindBranch               // a Parallel branch
	kindIteration            // a Map iteration (inline) or child execution (distributed)
)

type phase uint8

const (
	phEnter         phase = iota // enter t.st with t.input
	phTaskStart                  // schedule a task attempt
	phTaskWait                   // blocked: task attempt running
	phTaskDone                   // t.result holds the task's result
	phWait                       // blocked: Wait state timer
	phWaitDone                   // the Wait is over
	phRetryWait                  // blocked: retry delay
	phChildrenStart              // start (or restart) the Parallel/Map children
	phChildren                   // blocked: children running
	phChildrenDone               // t.result holds the children's results
	phFailed                     // t.err must be handled (retry, catch or fail)
	phFinished                   // done; nothing left to do
)

// thread runs one machine: the top level, a Parallel branch or a Map
// iteration. Only the Run goroutine touches threads.
type thread struct {
	id       int
	parent   *thread
	kind     threadKind
	index    int // branch or item index
	machine  *asl.Machine
	quiet    bool // events are not recorded (inside a distributed Map's child executions)
	boundary bool // an execution of its own: runtime errors end here
	scope    *scope

	st         *asl.State
	phase      phase
	input      any // raw state input
	effective  any // input after InputPath (and Parameters for Task/Parallel)
	enteredID  int64
	enteredAt  time.Time
	lastEvent  int64
	retries    []int64 // attempts used, per retrier, in this visit
	retryCount int
	op         *taskOp
	timer      int
	timerAt    time.Time
	group      *group
	result     any
	err        *failure
	aborted    bool
}

// scope holds workflow variables; a branch or iteration gets a child scope
// that reads its parent's variables.
type scope struct {
	id     int
	parent *scope
	vars   map[string]any
}

// Lookup implements jsonpath.Variables.
func (s *scope) Lookup(name string) (any, bool) {
	for sc := s; sc != nil; sc = sc.parent {
		if v, ok := sc.vars[name]; ok {
			return v, true
		}
	}
	return nil, false
}

func (x *Execution) newScope(parent *scope) *scope {
	s := &scope{id: len(x.scopes), parent: parent, vars: map[string]any{}}
	x.scopes = append(x.scopes, s)
	return s
}

func (x *Execution) newThread(parent *thread, m *asl.Machine, kind threadKind, index int, sc *scope) *thread {
	t := &thread{id: len(x.threads), parent: parent, kind: kind, index: index, machine: m, scope: sc}
	if parent != nil {
		t.quiet = parent.quiet
		t.lastEvent = parent.lastEvent
	}
	x.threads = append(x.threads, t)
	return t
}

func (x *Execution) wakeThread(t *thread) {
	switch t.phase {
	case phWait:
		t.phase = phWaitDone
	case phRetryWait:
		if t.st.Type == asl.Task {
			t.phase = phTaskStart
		} else {
			t.phase = phChildrenStart
		}
	}
	x.runq = append(x.runq, t)
}

// enterState moves t to the named state of its machine.
func (x *Execution) enterState(t *thread, name string) {
	t.st = t.machine.States[name]
	t.phase = phEnter
	t.retries = t.retries[:0]
	t.retryCount = 0
	t.effective, t.result, t.err = nil, nil, nil
}

// step advances t until it blocks or ends.
func (x *Execution) step(t *thread) {
	for !t.aborted && x.result == nil {
		switch t.phase {
		case phEnter:
			x.enter(t)
		case phTaskStart:
			x.scheduleTask(t)
		case phTaskDone, phChildrenDone:
			x.afterResult(t)
		case phWaitDone:
			x.leaveWait(t)
		case phChildrenStart:
			x.startChildren(t)
		case phFailed:
			x.handleError(t)
		default: // blocked or finished
			return
		}
	}
}

func stateEnteredType(typ string) string { return typ + "StateEntered" }
func stateExitedType(typ string) string  { return typ + "StateExited" }

// enter records the state's entry and runs it as far as it can.
func (x *Execution) enter(t *thread) {
	st := t.st
	t.enteredAt = x.clock.Now()
	t.enteredID = x.emit(t, Event{Type: stateEnteredType(st.Type), Name: st.Name, Input: t.input, HasInput: true})
	if st.QueryLanguage == asl.JSONata {
		x.fail(t, runtimeFailure("States.Runtime", x.runtimeCause(t, "JSONata query language states are not supported by this engine.")))
		return
	}
	switch st.Type {
	case asl.Pass:
		x.runPass(t)
	case asl.Choice:
		x.runChoice(t)
	case asl.Wait:
		x.runWait(t)
	case asl.Succeed:
		out, f := x.inputPath(t, t.input)
		if f == nil {
			out, f = x.outputPath(t, out)
		}
		if f != nil {
			x.fail(t, f)
			return
		}
		x.exit(t, out, nil, "")
	case asl.Fail:
		x.runFail(t)
	case asl.Task:
		x.startTask(t)
	case asl.Parallel, asl.Map:
		eff, f := x.inputPath(t, t.input)
		if f != nil {
			x.fail(t, f)
			return
		}
		t.effective = eff
		if st.Type == asl.Parallel && st.Parameters != nil {
			t.effective, f = x.template(t, st.Parameters, eff, nil)
			if f != nil {
				x.fail(t, f)
				return
			}
		}
		t.phase = phChildrenStart
	}
}

func (x *Execution) runPass(t *thread) {
	st := t.st
	eff, f := x.inputPath(t, t.input)
	if f != nil {
		x.fail(t, f)
		return
	}
	result := eff
	if st.Parameters != nil {
		if result, f = x.template(t, st.Parameters, eff, nil); f != nil {
			x.fail(t, f)
			return
		}
	}
	if st.HasResult {
		result = st.Result
	}
	x.finishResult(t, result)
}

// finishResult runs Assign, ResultPath and OutputPath on a state's result
// and exits the state.
func (x *Execution) finishResult(t *thread, result any) {
	st := t.st
	assigned, f := x.assign(t, st.Assign, result)
	if f != nil {
		x.fail(t, f)
		return
	}
	out, f := x.resultPath(t, st.ResultPath, t.input, result)
	if f == nil {
		out, f = x.outputPath(t, out)
	}
	if f != nil {
		x.fail(t, f)
		return
	}
	x.exit(t, out, assigned, "")
}

func (x *Execution) runWait(t *thread) {
	st := t.st
	eff, f := x.inputPath(t, t.input)
	if f != nil {
		x.fail(t, f)
		return
	}
	var until time.Time
	now := x.clock.Now()
	switch {
	case st.HasSeconds:
		until = now.Add(time.Duration(st.Seconds) * time.Second)
	case st.HasTimestamp:
		until = st.Timestamp
	case st.SecondsPath != nil:
		v, err := jsonpath.EvalPath(st.SecondsPath, x.scopeFor(t, eff))
		if err != nil {
			x.fail(t, runtimeFailure("States.Runtime", x.runtimeCause(t, "The SecondsPath parameter does not reference an input value: "+st.SecondsPath.String())))
			return
		}
		n, ok := v.(jsonv.Number)
		secs, isInt := n.Int64()
		if !ok || !isInt || !n.IsInteger() {
			x.fail(t, runtimeFailure("States.Runtime", x.runtimeCause(t, "The SecondsPath parameter cannot be parsed as a long value: "+st.SecondsPath.String()+" == "+valueText(v))))
			return
		}
		if secs < 0 {
			x.fail(t, runtimeFailure("States.Runtime", x.runtimeCause(t, "The SecondsPath parameter references a negative value: "+st.SecondsPath.String()+" == "+valueText(v))))
			return
		}
		until = now.Add(time.Duration(secs) * time.Second)
	case st.TimestampPath != nil:
		v, err := jsonpath.EvalPath(st.TimestampPath, x.scopeFor(t, eff))
		if err != nil {
			x.fail(t, runtimeFailure("States.Runtime", x.runtimeCause(t, "The TimestampPath parameter does not reference an input value: "+st.TimestampPath.String())))
			return
		}
		s, _ := v.(string)
		ts, ok := asl.ParseTimestamp(s)
		if !ok {
			x.fail(t, runtimeFailure("States.Runtime", x.runtimeCause(t, "The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: "+st.TimestampPath.String()+" == "+valueText(v))))
			return
		}
		until = ts
	}
	if !until.After(now) {
		x.leaveWait(t)
		return
	}
	t.phase = phWait
	t.timerAt = until
	t.timer = x.startTimer(until, t, nil, false)
}

func (x *Execution) leaveWait(t *thread) {
	eff, f := x.inputPath(t, t.input)
	if f != nil {
		x.fail(t, f)
		return
	}
	x.finishResult(t, eff) // a Wait state has no ResultPath: its result is its input
}

func (x *Execution) runFail(t *thread) {
	st := t.st
	f := &failure{Name: st.Error, HasName: st.HasError, Cause: st.Cause, HasCause: st.HasCause}
	if st.ErrorPath != nil {
		v, err := st.ErrorPath.Eval(x.scopeFor(t, t.input))
		if err != nil {
			x.fail(t, x.fieldFailure(t, "ErrorPath", st.ErrorPath.String(), t.input, err))
			return
		}
		f.Name, f.HasName = valueText(v), true
	}
	if st.CausePath != nil {
		v, err := st.CausePath.Eval(x.scopeFor(t, t.input))
		if err != nil {
			x.fail(t, x.fieldFailure(t, "CausePath", st.CausePath.String(), t.input, err))
			return
		}
		f.Cause, f.HasCause = valueText(v), true
	}
	t.phase = phFinished
	x.threadFailed(t, f)
}

// valueText renders a value for messages: strings raw, others as JSON.
func valueText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return jsonv.String(v)
}

// exit records the state's exit, applies its variables and moves on: to
// next if given, else to the state's Next, or ends the thread.
func (x *Execution) exit(t *thread, out any, assigned []jsonv.Member, next string) {
	st := t.st
	if !sameValue(out, t.input) && jsonv.SizeExceeds(out, x.limit) {
		x.fail(t, runtimeFailure("States.DataLimitExceeded", "The state/task '"+st.Name+"' returned a result with a size exceeding the maximum number of bytes service limit."))
		return
	}
	ev := Event{Type: stateExitedType(st.Type), Name: st.Name, Output: out, HasOutput: true}
	if len(assigned) > 0 {
		ev.AssignedVariables = assigned
	}
	x.emit(t, ev)
	for _, m := range assigned {
		t.scope.vars[m.Key] = m.Value
	}
	if next == "" {
		next = st.Next
	}
	if next == "" || st.Type == asl.Succeed {
		t.phase = phFinished
		x.threadSucceeded(t, out)
		return
	}
	t.input = out
	x.enterState(t, next)
}

// threadSucceeded reports a finished thread to its parent or ends the execution.
func (x *Execution) threadSucceeded(t *thread, out any) {
	x.release(t)
	if t.parent == nil {
		x.finish(&Result{Status: StatusSucceeded, Output: jsonv.Marshal(out)},
			Event{Type: EvExecutionSucceeded, Output: out, HasOutput: true})
		return
	}
	x.childDone(t.parent, t, out, nil)
}

// threadFailed reports a failed thread to its parent or fails the execution.
func (x *Execution) threadFailed(t *thread, f *failure) {
	x.release(t)
	if t.parent == nil {
		x.finish(&Result{Status: StatusFailed, Error: f.Name, HasError: f.HasName, Cause: f.Cause, HasCause: f.HasCause},
			Event{Type: EvExecutionFailed, Error: f.Name, HasError: f.HasName, Cause: f.Cause, HasCause: f.HasCause})
		return
	}
	x.childDone(t.parent, t, nil, f)
}

// release forgets a finished thread.
func (x *Execution) release(t *thread) {
	if t.id < len(x.threads) && x.threads[t.id] == t {
		x.threads[t.id] = nil
	}
}

// abortThread stops t and its descendants: running tasks are cancelled,
// timers stopped.
func (x *Execution) abortThread(t *thread) {
	if t.aborted {
		return
	}
	t.aborted = true
	if t.op != nil {
		x.endOp(t.op)
	}
	if t.timer != 0 {
		x.stopTimer(t.timer)
		t.timer = 0
	}
	if t.group != nil {
		for _, c := range t.group.running {
			if c != nil {
				x.abortThread(c)
			}
		}
	}
	x.release(t)
}

// sameValue reports whether a and b are the same immutable value (so that
// an unchanged payload is not measured again).
func sameValue(a, b any) bool {
	switch av := a.(type) {
	case *jsonv.Object:
		bv, ok := b.(*jsonv.Object)
		return ok && av == bv
	case []any:
		bv, ok := b.([]any)
		return ok && len(av) == len(bv) && (len(av) == 0 || &av[0] == &bv[0])
	case string:
		bv, ok := b.(string)
		return ok && len(av) < 64 && av == bv
	case nil, bool, jsonv.Number:
		return true
	}
	return false
}
