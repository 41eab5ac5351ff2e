package engine

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/nimbus-dev/nimbus/internal/workflow/asl"
	"github.com/nimbus-dev/nimbus/internal/workflow/jsonpath"
	"github.com/nimbus-dev/nimbus/internal/workflow/jsonv"
)

// taskOp is one attempt of a Task state.
type taskOp struct {
	id           int
	thread       *thread
	req          TaskRequest
	lambda       bool // a direct Lambda ARN: LambdaFunction* events
	resType      string
	res          string
	callback     bool
	submitted    bool
	scheduledID  int64
	timeoutTmr   int
	heartbeatTmr int
	timeoutAt    time.Time
	cancel       context.CancelFunc
	started      bool
	ended        bool
}

func taskNames(r asl.Resource) (lambda bool, resType, res string) {
	switch r.Kind {
	case asl.ResourceLambda:
		return true, "lambda", r.ARN
	case asl.ResourceSDK:
		return false, "aws-sdk:" + r.Service, r.Action + r.Pattern
	case asl.ResourceActivity:
		return false, "activity", r.ARN
	}
	return false, r.Service, r.Action + r.Pattern
}

// startTask enters a Task state: InputPath, then the timeouts.
func (x *Execution) startTask(t *thread) {
	eff, f := x.inputPath(t, t.input)
	if f != nil {
		x.fail(t, f)
		return
	}
	t.effective = eff
	t.phase = phTaskStart
}

func (x *Execution) secondsField(t *thread, fixed int64, p *jsonpath.Path, field string) (int64, *failure) {
	if p == nil {
		return fixed, nil
	}
	v, err := jsonpath.EvalPath(p, x.scopeFor(t, t.effective))
	if err != nil {
		return 0, runtimeFailure("States.Runtime", x.runtimeCause(t, "The "+field+" parameter does not reference an input value: "+p.String()))
	}
	n, ok := asl.IntValue(v)
	if !ok || n <= 0 {
		return 0, runtimeFailure("States.Runtime", x.runtimeCause(t, "The "+field+" parameter references an invalid value: "+p.String()+" == "+valueText(v)))
	}
	return n, nil
}

// scheduleTask starts one attempt of t's Task state.
func (x *Execution) scheduleTask(t *thread) {
	st := t.st
	res, err := asl.ParseResource(st.Resource)
	if err != nil {
		x.fail(t, runtimeFailure("States.Runtime", x.runtimeCause(t, "The resource "+st.Resource+" is not supported.")))
		return
	}
	timeout, f := x.secondsField(t, st.TimeoutSeconds, st.TimeoutSecondsPath, "TimeoutSecondsPath")
	if f != nil {
		x.fail(t, f)
		return
	}
	heartbeat, f := x.secondsField(t, st.HeartbeatSeconds, st.HeartbeatSecondsPath, "HeartbeatSecondsPath")
	if f != nil {
		x.fail(t, f)
		return
	}
	op := &taskOp{thread: t, callback: res.Pattern == asl.PatternCallback}
	op.lambda, op.resType, op.res = taskNames(res)
	ctx := &stateContext{x: x, t: t}
	if op.callback {
		ctx.token = x.newToken()
	}
	params := t.effective
	if st.Parameters != nil {
		if params, f = x.template(t, st.Parameters, t.effective, ctx); f != nil {
			x.fail(t, f)
			return
		}
	}
	var creds []byte
	if st.Credentials != nil {
		c, f := x.template(t, st.Credentials, t.effective, ctx)
		if f != nil {
			x.fail(t, f)
			return
		}
		creds = jsonv.Marshal(c)
	}
	x.nextOp++
	op.id = x.nextOp
	op.req = TaskRequest{
		ExecutionARN: x.cfg.ExecutionARN,
		StateName:    st.Name,
		Resource:     res,
		Input:        jsonv.Marshal(params),
		Credentials:  creds,
		Token:        ctx.token,
		Timeout:      time.Duration(timeout) * time.Second,
		Heartbeat:    time.Duration(heartbeat) * time.Second,
	}
	ev := Event{Timeout: timeout, Heartbeat: heartbeat}
	if op.lambda {
		ev.Type, ev.Resource, ev.Input, ev.HasInput = EvLambdaScheduled, res.ARN, params, true
	} else {
		ev.Type, ev.ResourceType, ev.Resource, ev.Region, ev.Parameters = EvTaskScheduled, op.resType, op.res, x.region, params
	}
	op.scheduledID = x.emit(t, ev)
	op.req.ID = x.cfg.ExecutionARN + "/" + strconv.FormatInt(op.scheduledID, 10)
	if op.scheduledID == 0 {
		op.req.ID = x.cfg.ExecutionARN + "/op" + strconv.Itoa(op.id)
	}
	x.ops[op.id] = op
	if op.callback {
		x.mu.Lock()
		x.tokens[op.req.Token] = op.id
		x.mu.Unlock()
	}
	t.op = op
	t.phase = phTaskWait
	x.toStart = append(x.toStart, op)
}

// dispatch starts the task attempts scheduled since the last call.
func (x *Execution) dispatch(ctx context.Context) {
	ops := x.toStart
	x.toStart = nil
	for _, op := range ops {
		if op.ended {
			continue
		}
		x.startOp(ctx, op)
	}
}

func (x *Execution) startOp(ctx context.Context, op *taskOp) {
	t := op.thread
	op.started = true
	if op.lambda {
		x.emit(t, Event{Type: EvLambdaStarted})
	} else {
		x.emit(t, Event{Type: EvTaskStarted, ResourceType: op.resType, Resource: op.res})
	}
	if op.req.Timeout > 0 {
		if op.timeoutAt.IsZero() {
			op.timeoutAt = x.clock.Now().Add(op.req.Timeout)
		}
		op.timeoutTmr = x.startTimer(op.timeoutAt, nil, op, false)
	}
	if op.callback && op.req.Heartbeat > 0 {
		op.heartbeatTmr = x.startTimer(x.clock.Now().Add(op.req.Heartbeat), nil, op, true)
	}
	if op.submitted && op.callback {
		return // a callback task whose request went out before a restart
	}
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	op.cancel = cancel
	req := op.req
	id := op.id
	req.Submitted = func(out json.RawMessage) { x.post(message{kind: msgSubmitted, op: id, output: out}) }
	x.wg.Go(func() {
		out, err := x.tasks.RunTask(cctx, req)
		x.post(message{kind: msgTaskDone, op: id, output: out, err: err})
	})
}

func (x *Execution) taskDone(m message) {
	op, ok := x.ops[m.op]
	if !ok || op.ended {
		return
	}
	if m.err != nil {
		if te, ok := errors.AsType[*TaskError](m.err); ok {
			x.failOp(op, newFailure(te.Name, te.Cause))
			return
		}
		x.log.Warn("task runner error", "execution", x.cfg.ExecutionARN, "state", op.req.StateName, "err", m.err)
		x.failOp(op, newFailure("States.TaskFailed", ""))
		return
	}
	if op.callback {
		x.submitted(op, m.output)
		return
	}
	x.succeedOp(op, m.output)
}

// submitted records TaskSubmitted once per attempt.
func (x *Execution) submitted(op *taskOp, output json.RawMessage) {
	if op.submitted {
		return
	}
	op.submitted = true
	var out any
	if v, err := jsonv.Parse(output); err == nil {
		out = v
	}
	x.emit(op.thread, Event{Type: EvTaskSubmitted, ResourceType: op.resType, Resource: op.res, Output: out, HasOutput: true})
}

func (x *Execution) succeedOp(op *taskOp, output []byte) {
	v, err := jsonv.Parse(output)
	if err != nil {
		x.failOp(op, newFailure("States.Runtime", "The task returned a result that is not valid JSON."))
		return
	}
	if jsonv.SizeExceeds(v, x.limit) {
		name := op.resType
		if op.lambda {
			name = op.req.Resource.ARN
		}
		x.failOp(op, newFailure("States.DataLimitExceeded", "The state/task '"+name+"' returned a result with a size exceeding the maximum number of bytes service limit."))
		return
	}
	t := op.thread
	if op.lambda {
		x.emit(t, Event{Type: EvLambdaSucceeded, Output: v, HasOutput: true})
	} else {
		x.emit(t, Event{Type: EvTaskSucceeded, ResourceType: op.resType, Resource: op.res, Output: v, HasOutput: true})
	}
	x.endOp(op)
	t.result = v
	t.phase = phTaskDone
	x.runq = append(x.runq, t)
}

func (x *Execution) failOp(op *taskOp, f *failure) {
	t := op.thread
	if op.lambda {
		x.emit(t, Event{Type: EvLambdaFailed, Error: f.Name, HasError: f.HasName, Cause: f.Cause, HasCause: f.HasCause})
	} else {
		x.emit(t, Event{Type: EvTaskFailed, ResourceType: op.resType, Resource: op.res, Error: f.Name, HasError: f.HasName, Cause: f.Cause, HasCause: f.HasCause})
	}
	x.endOp(op)
	t.err = f
	t.phase = phFailed
	x.runq = append(x.runq, t)
}

func (x *Execution) taskTimedOut(op *taskOp, name string) {
	t := op.thread
	if op.lambda {
		x.emit(t, Event{Type: EvLambdaTimedOut, Error: name, HasError: true})
	} else {
		x.emit(t, Event{Type: EvTaskTimedOut, ResourceType: op.resType, Resource: op.res, Error: name, HasError: true})
	}
	x.endOp(op)
	t.err = &failure{Name: name, HasName: true}
	t.phase = phFailed
	x.runq = append(x.runq, t)
}

// callback handles SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat.
func (x *Execution) callback(m message) {
	op, ok := x.ops[m.op]
	if !ok || op.ended {
		return
	}
	switch m.kind {
	case msgSuccess:
		x.succeedOp(op, m.output)
	case msgFailure:
		x.failOp(op, &failure{Name: m.name, HasName: m.hasErr, Cause: m.cause, HasCause: m.hasCau})
	case msgHeartbeat:
		if op.heartbeatTmr != 0 {
			x.stopTimer(op.heartbeatTmr)
			op.heartbeatTmr = x.startTimer(x.clock.Now().Add(op.req.Heartbeat), nil, op, true)
		}
	}
}

// endOp forgets a task attempt and stops what belongs to it.
func (x *Execution) endOp(op *taskOp) {
	if op.ended {
		return
	}
	op.ended = true
	if op.cancel != nil {
		op.cancel()
	}
	if op.timeoutTmr != 0 {
		x.stopTimer(op.timeoutTmr)
	}
	if op.heartbeatTmr != 0 {
		x.stopTimer(op.heartbeatTmr)
	}
	delete(x.ops, op.id)
	if op.req.Token != "" {
		x.mu.Lock()
		delete(x.tokens, op.req.Token)
		x.mu.Unlock()
	}
	if op.thread.op == op {
		op.thread.op = nil
	}
}

// afterResult finishes a Task, Parallel or Map state from t.result:
// ResultSelector, Assign, ResultPath, OutputPath.
func (x *Execution) afterResult(t *thread) {
	st := t.st
	result := t.result
	if st.ResultSelector != nil {
		var f *failure
		if result, f = x.template(t, st.ResultSelector, result, nil); f != nil {
			x.fail(t, f)
			return
		}
	}
	x.finishResult(t, result)
}
