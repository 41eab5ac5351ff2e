package jsonpath

import (
	"fmt"
	"strings"

	"github.com/nimbus-dev/nimbus/internal/workflow/jsonv"
)

// Variables looks workflow variables up by name.
type Variables interface {
	Lookup(name string) (any, bool)
}

// ContextSource builds the context object ("$$") on demand.
type ContextSource interface {
	ContextObject() any
}

// Scope is what an expression can see.
type Scope struct {
	Input   any           // "$"
	Context ContextSource // "$$"; nil means {}
	Vars    Variables     // "$name"; nil means none
}

func (s *Scope) context() any {
	if s.Context == nil {
		return jsonv.NewObject(0)
	}
	return s.Context.ContextObject()
}

// UndefinedVariableError reports a reference to a variable that has no value.
type UndefinedVariableError struct{ Name, Path string }

func (e *UndefinedVariableError) Error() string {
	return fmt.Sprintf("The variable '$%s' referenced by '%s' is not defined", e.Name, e.Path)
}

// EvalPath evaluates p in s, picking the root it names.
func EvalPath(p *Path, s *Scope) (any, error) {
	switch p.root {
	case RootContext:
		return p.Eval(s.context())
	case RootVariable:
		var v any
		ok := false
		if s.Vars != nil {
			v, ok = s.Vars.Lookup(p.variable)
		}
		if !ok {
			return nil, &UndefinedVariableError{p.variable, p.src}
		}
		return p.Eval(v)
	}
	return p.Eval(s.Input)
}

// Expr is the value of a ".$" field, a "…Path" field or an Assign entry: a
// path ($, $$, $name) or an intrinsic function call.
type Expr struct {
	src  string
	path *Path
	call *call
}

// ParseExpr compiles a path or an intrinsic function call.
func ParseExpr(src string) (*Expr, error) {
	if strings.HasPrefix(src, "$") {
		p, err := Parse(src)
		if err != nil {
			return nil, err
		}
		return &Expr{src: src, path: p}, nil
	}
	if strings.HasPrefix(src, "States.") {
		c, err := parseCall(src)
		if err != nil {
			return nil, err
		}
		return &Expr{src: src, call: c}, nil
	}
	return nil, &SyntaxError{src, "not a JSONPath or an intrinsic function call"}
}

// String returns the expression's source.
func (e *Expr) String() string { return e.src }

// Path returns the expression's path, or nil for a function call.
func (e *Expr) Path() *Path { return e.path }

// IsCall reports whether e is an intrinsic function call.
func (e *Expr) IsCall() bool { return e.call != nil }

// Eval evaluates e.
func (e *Expr) Eval(s *Scope) (any, error) {
	if e.call != nil {
		return e.call.eval(s, 0)
	}
	return EvalPath(e.path, s)
}
