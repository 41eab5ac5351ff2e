package template

import (
	"errors"
	"fmt"
	"strings"
)

// Error is a problem with a template, at a place in it. Parse and Plan
// return one, or several joined with errors.Join (errors.AsType finds the
// first).
type Error struct {
	// Line is the 1-based line of the offending value; 0 when unknown (a
	// value computed by an intrinsic, or a parameter override).
	Line int
	// Path is the property path: "Resources.Fn.Properties.Events.Api.Properties.Path",
	// "Parameters.Stage", "Outputs.Url.Value".
	Path string
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

func errAt(line int, path, format string, args ...any) *Error {
	return &Error{Line: line, Path: path, Msg: fmt.Sprintf(format, args...)}
}

// errNode is errAt at a node's line.
func errNode(n *node, path, format string, args ...any) *Error {
	line := 0
	if n != nil {
		line = n.line
	}
	return errAt(line, path, format, args...)
}

// maxErrors bounds how many problems one Plan reports.
const maxErrors = 50

// errorList collects problems.
type errorList struct{ errs []error }

func (l *errorList) add(err error) {
	if err == nil {
		return
	}
	// Joined errors (from a nested step) are flattened.
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			l.add(e)
		}
		return
	}
	if len(l.errs) < maxErrors {
		l.errs = append(l.errs, err)
	} else if len(l.errs) == maxErrors {
		l.errs = append(l.errs, errors.New("too many errors"))
	}
}

func (l *errorList) err() error { return errors.Join(l.errs...) }
