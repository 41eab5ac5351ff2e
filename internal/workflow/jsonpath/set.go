package jsonpath

import (
	"fmt"

	"github.com/nimbus-dev/nimbus/internal/workflow/jsonv"
)

// MatchError reports a ResultPath that cannot be applied to the input
// (States.ResultPathMatchFailure).
type MatchError struct {
	Path string
	Msg  string
}

func (e *MatchError) Error() string {
	return fmt.Sprintf("Unable to apply ResultPath '%s': %s", e.Path, e.Msg)
}

// Set returns a copy of doc in which the node named by the reference path p
// holds v; objects missing on the way are created. doc is not modified.
func (p *Path) Set(doc, v any) (any, error) {
	if !p.IsReference() || p.root != RootInput {
		return nil, &MatchError{p.src, "not a reference path"}
	}
	return p.set(doc, 0, v)
}

func (p *Path) set(doc any, i int, v any) (any, error) {
	if i == len(p.segs) {
		return v, nil
	}
	s := p.segs[i]
	switch s.kind {
	case segField:
		o, ok := doc.(*jsonv.Object)
		if !ok {
			if doc == nil && i > 0 {
				o = jsonv.NewObject(1)
			} else {
				return nil, &MatchError{p.src, fmt.Sprintf("the node at %s is %s, not an object", render("$", p.segs[:i]), jsonv.KindOf(doc))}
			}
		}
		cur, _ := o.Get(s.names[0])
		nv, err := p.set(cur, i+1, v)
		if err != nil {
			return nil, err
		}
		return o.With(s.names[0], nv), nil
	case segIndex:
		a, ok := doc.([]any)
		if !ok {
			return nil, &MatchError{p.src, fmt.Sprintf("the node at %s is %s, not an array", render("$", p.segs[:i]), jsonv.KindOf(doc))}
		}
		idx := s.indices[0]
		if idx < 0 {
			idx += len(a)
		}
		if idx < 0 || idx >= len(a) {
			return nil, &MatchError{p.src, fmt.Sprintf("index %d is out of bounds at %s", s.indices[0], render("$", p.segs[:i]))}
		}
		nv, err := p.set(a[idx], i+1, v)
		if err != nil {
			return nil, err
		}
		c := make([]any, len(a))
		copy(c, a)
		c[idx] = nv
		return c, nil
	}
	return nil, &MatchError{p.src, "not a reference path"}
}
