package engine

import (
	"errors"
	"fmt"

	"github.com/nimbus-dev/nimbus/internal/workflow/asl"
	"github.com/nimbus-dev/nimbus/internal/workflow/jsonpath"
	"github.com/nimbus-dev/nimbus/internal/workflow/jsonv"
)

// failure is an error raised in a state.
type failure struct {
	Name     string
	Cause    string
	HasName  bool
	HasCause bool
	// runtime failures (States.Runtime, an oversized state output) can be
	// neither retried nor caught: they end the execution.
	runtime bool
}

func newFailure(name, cause string) *failure {
	return &failure{Name: name, Cause: cause, HasName: true, HasCause: true}
}

func runtimeFailure(name, cause string) *failure {
	f := newFailure(name, cause)
	f.runtime = true
	return f
}

// errorOutput is the value a catcher passes on: {"Error", "Cause"}.
func (f *failure) errorOutput() any {
	o := jsonv.NewObject(2)
	if f.HasName {
		o.Set("Error", f.Name)
	} else {
		o.Set("Error", nil)
	}
	o.Set("Cause", f.Cause) // "" when there is none (a timeout)
	return o
}

// fail handles a failure raised while processing t's current state.
func (x *Execution) fail(t *thread, f *failure) {
	if f.runtime {
		t.phase = phFinished
		x.threadFailed(t, f)
		return
	}
	t.err = f
	t.phase = phFailed
}

func (x *Execution) runtimeCause(t *thread, msg string) string {
	return fmt.Sprintf("An error occurred while executing the state '%s' (entered at the event id #%d). %s", t.st.Name, t.enteredID, msg)
}

// pathFailure turns a path evaluation error into the failure AWS reports.
func (x *Execution) pathFailure(t *thread, err error) *failure {
	var ie *jsonpath.IntrinsicError
	if errors.As(err, &ie) {
		return newFailure("States.IntrinsicFailure", x.runtimeCause(t, ie.Cause))
	}
	var me *jsonpath.MatchError
	if errors.As(err, &me) {
		return newFailure("States.ResultPathMatchFailure", x.runtimeCause(t, me.Error()))
	}
	return runtimeFailure("States.Runtime", x.runtimeCause(t, err.Error()))
}

// fieldFailure reports a field (a template's "x.$", ErrorPath, ...) whose
// expression could not be evaluated against input.
func (x *Execution) fieldFailure(t *thread, field, expr string, input any, err error) *failure {
	var nf *jsonpath.NotFoundError
	if errors.As(err, &nf) {
		return runtimeFailure("States.Runtime", x.runtimeCause(t, fmt.Sprintf(
			"The JSONPath '%s' specified for the field '%s' could not be found in the input '%s'", expr, field, jsonv.String(input))))
	}
	return x.pathFailure(t, err)
}

// ContextObject implements jsonpath.ContextSource: the context object of
// the thread's current state.
func (c *stateContext) ContextObject() any {
	x, t := c.x, c.t
	o := jsonv.NewObject(5)
	o.Set("Execution", x.execObj)
	o.Set("StateMachine", x.smObj)
	s := jsonv.NewObject(3)
	if t.st != nil {
		s.Set("Name", t.st.Name)
	}
	s.Set("EnteredTime", formatTime(t.enteredAt))
	if t.st != nil && asl.IsTaskLike(t.st.Type) {
		s.Set("RetryCount", jsonv.Int(int64(t.retryCount)))
	}
	o.Set("State", s)
	if c.token != "" {
		tk := jsonv.NewObject(1)
		tk.Set("Token", c.token)
		o.Set("Task", tk)
	}
	if c.hasItem {
		item := jsonv.NewObject(2)
		item.Set("Index", jsonv.Int(int64(c.index)))
		item.Set("Value", c.value)
		m := jsonv.NewObject(1)
		m.Set("Item", item)
		o.Set("Map", m)
	}
	return o
}

type stateContext struct {
	x       *Execution
	t       *thread
	token   string
	hasItem bool
	index   int
	value   any
}

// scopeFor returns the scope for evaluating t's fields against input.
func (x *Execution) scopeFor(t *thread, input any) *jsonpath.Scope {
	return &jsonpath.Scope{Input: input, Context: &stateContext{x: x, t: t}, Vars: t.scope}
}

func (x *Execution) inputPath(t *thread, in any) (any, *failure) {
	return x.applyPath(t, t.st.InputPath, in)
}

func (x *Execution) outputPath(t *thread, out any) (any, *failure) {
	return x.applyPath(t, t.st.OutputPath, out)
}

func (x *Execution) applyPath(t *thread, f asl.PathField, v any) (any, *failure) {
	if f.Null {
		return jsonv.NewObject(0), nil
	}
	if f.Path == nil || (f.Path.IsRoot() && f.Path.Root() == jsonpath.RootInput) {
		return v, nil
	}
	out, err := jsonpath.EvalPath(f.Path, x.scopeFor(t, v))
	if err != nil {
		return nil, x.pathFailure(t, err)
	}
	return out, nil
}

// template evaluates a payload template against input. ctx, when not nil,
// replaces the state's context object source.
func (x *Execution) template(t *thread, tpl *jsonpath.Template, input any, ctx jsonpath.ContextSource) (any, *failure) {
	s := x.scopeFor(t, input)
	if ctx != nil {
		s.Context = ctx
	}
	v, err := tpl.Eval(s)
	if err != nil {
		var fe *jsonpath.FieldError
		if errors.As(err, &fe) {
			return nil, x.fieldFailure(t, fe.Field, fe.Expr, input, fe.Err)
		}
		return nil, x.pathFailure(t, err)
	}
	return v, nil
}

// resultPath merges result into the raw state input.
func (x *Execution) resultPath(t *thread, f asl.PathField, in, result any) (any, *failure) {
	if f.Null {
		return in, nil
	}
	if f.Path == nil || f.Path.IsRoot() {
		return result, nil
	}
	out, err := f.Path.Set(in, result)
	if err != nil {
		return nil, x.pathFailure(t, err)
	}
	return out, nil
}

// assign evaluates an Assign field against input ($), returning the
// variables to set when the state exits.
func (x *Execution) assign(t *thread, tpl *jsonpath.Template, input any) ([]jsonv.Member, *failure) {
	if tpl == nil {
		return nil, nil
	}
	fields := tpl.Fields()
	out := make([]jsonv.Member, 0, len(fields))
	s := x.scopeFor(t, input)
	for _, fl := range fields {
		v, err := fl.Eval(s)
		if err != nil {
			var fe *jsonpath.FieldError
			if errors.As(err, &fe) {
				return nil, x.fieldFailure(t, fe.Field, fe.Expr, input, fe.Err)
			}
			return nil, x.pathFailure(t, err)
		}
		out = append(out, jsonv.Member{Key: fl.Name, Value: v})
	}
	return out, nil
}
