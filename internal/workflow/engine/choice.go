package engine

import (
	"strings"

	"github.com/nimbus-dev/nimbus/internal/workflow/asl"
	"github.com/nimbus-dev/nimbus/internal/workflow/jsonpath"
	"github.com/nimbus-dev/nimbus/internal/workflow/jsonv"
)

func (x *Execution) runChoice(t *thread) {
	st := t.st
	eff, f := x.inputPath(t, t.input)
	if f != nil {
		x.fail(t, f)
		return
	}
	s := x.scopeFor(t, eff)
	next := ""
	var matched *asl.ChoiceRule
	for _, r := range st.Choices {
		ok, f := x.evalRule(t, r, s)
		if f != nil {
			x.fail(t, f)
			return
		}
		if ok {
			next, matched = r.Next, r
			break
		}
	}
	if next == "" {
		if st.Default == "" {
			x.fail(t, newFailure("States.NoChoiceMatched", x.runtimeCause(t, "No Matches!")))
			return
		}
		next = st.Default
	}
	// The state's Assign applies whichever way the state goes; the matched
	// rule's Assign adds to it (and wins for a name both set).
	assigned, f := x.assign(t, st.Assign, eff)
	if f != nil {
		x.fail(t, f)
		return
	}
	if matched != nil && matched.Assign != nil {
		more, f := x.assign(t, matched.Assign, eff)
		if f != nil {
			x.fail(t, f)
			return
		}
		assigned = mergeAssigned(assigned, more)
	}
	out, f := x.outputPath(t, eff)
	if f != nil {
		x.fail(t, f)
		return
	}
	x.exit(t, out, assigned, next)
}

// evalRule evaluates a choice rule. Type mismatches are false, never errors;
// a Variable that names nothing is an error except for IsPresent.
func (x *Execution) evalRule(t *thread, r *asl.ChoiceRule, s *jsonpath.Scope) (bool, *failure) {
	switch r.Operator {
	case "And":
		for _, sub := range r.And {
			ok, f := x.evalRule(t, sub, s)
			if f != nil || !ok {
				return false, f
			}
		}
		return true, nil
	case "Or":
		for _, sub := range r.Or {
			ok, f := x.evalRule(t, sub, s)
			if f != nil {
				return false, f
			}
			if ok {
				return true, nil
			}
		}
		return false, nil
	case "Not":
		ok, f := x.evalRule(t, r.Not, s)
		return !ok && f == nil, f
	}
	v, err := jsonpath.EvalPath(r.Variable, s)
	present := err == nil
	if r.Operator == "IsPresent" {
		want, _ := r.Value.(bool)
		return present == want, nil
	}
	if !present {
		return false, x.pathFailure(t, err)
	}
	if strings.HasPrefix(r.Operator, "Is") {
		want, _ := r.Value.(bool)
		var is bool
		switch r.Operator {
		case "IsNull":
			is = v == nil
		case "IsNumeric":
			_, is = v.(jsonv.Number)
		case "IsString":
			_, is = v.(string)
		case "IsBoolean":
			_, is = v.(bool)
		case "IsTimestamp":
			str, ok := v.(string)
			_, is = asl.ParseTimestamp(str)
			is = is && ok
		}
		return is == want, nil
	}
	op, operand := r.Operator, r.Value
	if base, ok := strings.CutSuffix(op, "Path"); ok && r.ValuePath != nil {
		op = base
		w, err := jsonpath.EvalPath(r.ValuePath, s)
		if err != nil {
			return false, x.pathFailure(t, err)
		}
		operand = w
	}
	return compare(op, v, operand), nil
}

func compare(op string, v, w any) bool {
	switch {
	case strings.HasPrefix(op, "String"):
		a, ok1 := v.(string)
		b, ok2 := w.(string)
		if !ok1 || !ok2 {
			return false
		}
		if op == "StringMatches" {
			return wildcardMatch(b, a)
		}
		return cmpResult(op[len("String"):], strings.Compare(a, b))
	case strings.HasPrefix(op, "Numeric"):
		a, ok1 := v.(jsonv.Number)
		b, ok2 := w.(jsonv.Number)
		if !ok1 || !ok2 {
			return false
		}
		return cmpResult(op[len("Numeric"):], jsonv.CompareNumbers(a, b))
	case op == "BooleanEquals":
		a, ok1 := v.(bool)
		b, ok2 := w.(bool)
		return ok1 && ok2 && a == b
	case strings.HasPrefix(op, "Timestamp"):
		as, ok1 := v.(string)
		bs, ok2 := w.(string)
		if !ok1 || !ok2 {
			return false
		}
		a, ok1 := asl.ParseTimestamp(as)
		b, ok2 := asl.ParseTimestamp(bs)
		if !ok1 || !ok2 {
			return false
		}
		return cmpResult(op[len("Timestamp"):], a.Compare(b))
	}
	return false
}

func cmpResult(rel string, c int) bool {
	switch rel {
	case "Equals":
		return c == 0
	case "LessThan":
		return c < 0
	case "GreaterThan":
		return c > 0
	case "LessThanEquals":
		return c <= 0
	case "GreaterThanEquals":
		return c >= 0
	}
	return false
}

// wildcardMatch matches s against a StringMatches pattern: "*" matches any
// run of characters, "\*" a literal star and "\\" a backslash.
func wildcardMatch(pattern, s string) bool {
	type tok struct {
		star bool
		lit  rune
	}
	var toks []tok
	rs := []rune(pattern)
	for i := 0; i < len(rs); i++ {
		switch {
		case rs[i] == '\\' && i+1 < len(rs) && (rs[i+1] == '*' || rs[i+1] == '\\'):
			toks = append(toks, tok{lit: rs[i+1]})
			i++
		case rs[i] == '*':
			toks = append(toks, tok{star: true})
		default:
			toks = append(toks, tok{lit: rs[i]})
		}
	}
	str := []rune(s)
	// Iterative glob matching with backtracking to the last star.
	pi, si, starP, starS := 0, 0, -1, 0
	for si < len(str) {
		switch {
		case pi < len(toks) && !toks[pi].star && toks[pi].lit == str[si]:
			pi++
			si++
		case pi < len(toks) && toks[pi].star:
			starP, starS = pi, si
			pi++
		case starP >= 0:
			starS++
			pi, si = starP+1, starS
		default:
			return false
		}
	}
	for pi < len(toks) && toks[pi].star {
		pi++
	}
	return pi == len(toks)
}

// mergeAssigned adds b's variables to a, b winning for names in both.
func mergeAssigned(a, b []jsonv.Member) []jsonv.Member {
	for _, m := range b {
		found := false
		for i := range a {
			if a[i].Key == m.Key {
				a[i].Value, found = m.Value, true
			}
		}
		if !found {
			a = append(a, m)
		}
	}
	return a
}
