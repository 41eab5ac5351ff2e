package jsonpath

import (
	"fmt"
	"strings"

	"github.com/nimbus-dev/nimbus/internal/workflow/jsonv"
)

// Template is a compiled payload template (Parameters, ResultSelector,
// ItemSelector, Assign, ...): an object whose keys ending in ".$" hold
// expressions; other values are literals, nested objects and arrays are
// templates themselves.
type Template struct {
	root tnode
}

type tnode interface {
	eval(s *Scope) (any, error)
}

type litNode struct{ v any }

func (n litNode) eval(*Scope) (any, error) { return n.v, nil }

type objNode struct {
	keys []string
	vals []tnode
	src  []string // the keys as written, for errors
}

func (n *objNode) eval(s *Scope) (any, error) {
	o := jsonv.NewObject(len(n.keys))
	for i, k := range n.keys {
		v, err := n.vals[i].eval(s)
		if err != nil {
			return nil, err
		}
		o.Set(k, v)
	}
	return o, nil
}

type arrNode struct{ elems []tnode }

func (n *arrNode) eval(s *Scope) (any, error) {
	a := make([]any, len(n.elems))
	for i, e := range n.elems {
		v, err := e.eval(s)
		if err != nil {
			return nil, err
		}
		a[i] = v
	}
	return a, nil
}

type exprNode struct {
	field string // the key with its ".$"
	expr  *Expr
}

func (n *exprNode) eval(s *Scope) (any, error) {
	v, err := n.expr.Eval(s)
	if err != nil {
		return nil, &FieldError{Field: n.field, Expr: n.expr.src, Err: err}
	}
	return v, nil
}

// FieldError says which template field failed to evaluate.
type FieldError struct {
	Field string // e.g. "value.$"
	Expr  string // its expression
	Err   error
}

func (e *FieldError) Error() string { return fmt.Sprintf("field %s: %v", e.Field, e.Err) }
func (e *FieldError) Unwrap() error { return e.Err }

// TemplateError reports an invalid template at compile time.
type TemplateError struct {
	Field string // the offending key
	Msg   string
}

func (e *TemplateError) Error() string { return fmt.Sprintf("field %q: %s", e.Field, e.Msg) }

// CompileTemplate compiles a template from its JSON value.
func CompileTemplate(v any) (*Template, error) {
	n, err := compileNode(v)
	if err != nil {
		return nil, err
	}
	return &Template{root: n}, nil
}

func compileNode(v any) (tnode, error) {
	switch x := v.(type) {
	case *jsonv.Object:
		n := &objNode{}
		dynamic := false
		for _, m := range x.Members() {
			if strings.HasSuffix(m.Key, ".$") && len(m.Key) > 2 {
				str, ok := m.Value.(string)
				if !ok {
					return nil, &TemplateError{m.Key, "must be a valid JSONPath or a valid intrinsic function call"}
				}
				e, err := ParseExpr(str)
				if err != nil {
					return nil, &TemplateError{m.Key, "must be a valid JSONPath or a valid intrinsic function call"}
				}
				n.keys = append(n.keys, strings.TrimSuffix(m.Key, ".$"))
				n.vals = append(n.vals, &exprNode{field: m.Key, expr: e})
				n.src = append(n.src, m.Key)
				dynamic = true
				continue
			}
			c, err := compileNode(m.Value)
			if err != nil {
				return nil, err
			}
			if _, lit := c.(litNode); !lit {
				dynamic = true
			}
			n.keys = append(n.keys, m.Key)
			n.vals = append(n.vals, c)
			n.src = append(n.src, m.Key)
		}
		if !dynamic {
			return litNode{v}, nil
		}
		return n, nil
	case []any:
		n := &arrNode{}
		dynamic := false
		for _, e := range x {
			c, err := compileNode(e)
			if err != nil {
				return nil, err
			}
			if _, lit := c.(litNode); !lit {
				dynamic = true
			}
			n.elems = append(n.elems, c)
		}
		if !dynamic {
			return litNode{v}, nil
		}
		return n, nil
	}
	return litNode{v}, nil
}

// Eval evaluates the template.
func (t *Template) Eval(s *Scope) (any, error) { return t.root.eval(s) }

// Fields calls f for each top-level key (".$" stripped) in order, with
// a function evaluating that key's value. Assign uses it to evaluate and
// check each variable on its own.
func (t *Template) Fields() []TemplateField {
	o, ok := t.root.(*objNode)
	if !ok {
		lit, ok := t.root.(litNode)
		if !ok {
			return nil
		}
		lo, ok := lit.v.(*jsonv.Object)
		if !ok {
			return nil
		}
		var out []TemplateField
		for _, m := range lo.Members() {
			out = append(out, TemplateField{Name: m.Key, Key: m.Key, node: litNode{m.Value}})
		}
		return out
	}
	out := make([]TemplateField, len(o.keys))
	for i := range o.keys {
		out[i] = TemplateField{Name: o.keys[i], Key: o.src[i], node: o.vals[i]}
	}
	return out
}

// TemplateField is one top-level entry of a template.
type TemplateField struct {
	Name string // the key without ".$"
	Key  string // the key as written
	node tnode
}

// Eval evaluates the field's value.
func (f TemplateField) Eval(s *Scope) (any, error) { return f.node.eval(s) }
