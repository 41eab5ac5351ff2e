package template

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// noEcho is how a NoEcho parameter's value is shown.
const noEcho = "****"

// parameters decides every parameter's value: the override, else the default.
func (t *Template) parameters(overrides map[string]string) (map[string]*node, error) {
	var errs errorList
	declared := map[string]bool{}
	for _, p := range t.Parameters {
		declared[p.Name] = true
	}
	var unknown []string
	for k := range overrides {
		if !declared[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		errs.add(&Error{Path: "Parameters", Msg: "the template declares no parameter " + strconv.Quote(k)})
	}
	vals := map[string]*node{}
	for i := range t.Parameters {
		p := &t.Parameters[i]
		path := "Parameters." + p.Name
		v, ok := overrides[p.Name]
		line := 0
		if !ok {
			if p.Default == nil {
				errs.add(errAt(p.line, path, "needs a value (it has no Default)"))
				continue
			}
			v, line = *p.Default, p.line
		}
		n, err := p.value(v, line, path)
		if err != nil {
			errs.add(err)
			continue
		}
		vals[p.Name] = n
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return vals, nil
}

// value checks v against the parameter's type and constraints.
func (p *Parameter) value(v string, line int, path string) (*node, error) {
	shown := v
	if p.NoEcho {
		shown = noEcho
	}
	fail := func(format string, args ...any) error {
		msg := "value " + strconv.Quote(shown) + " " + fmt.Sprintf(format, args...)
		if p.ConstraintDescription != "" {
			msg += " (" + p.ConstraintDescription + ")"
		}
		return errAt(line, path, "%s", msg)
	}
	var elems []string
	list := p.Type == "CommaDelimitedList" || p.Type == "List<Number>"
	if list {
		elems = strings.Split(v, ",")
	} else {
		elems = []string{v}
	}
	number := p.Type == "Number" || p.Type == "List<Number>"
	k := kString
	if number {
		k = kNumber
	}
	items := make([]*node, 0, len(elems))
	for _, e := range elems {
		if list {
			e = strings.TrimSpace(e)
		}
		if len(p.AllowedValues) > 0 && !slices.Contains(p.AllowedValues, e) {
			return nil, fail("is not one of the allowed values %s", strings.Join(p.AllowedValues, ", "))
		}
		if p.pattern != nil && !p.pattern.MatchString(e) {
			return nil, fail("does not match the pattern %s", p.AllowedPattern)
		}
		if number {
			f, err := strconv.ParseFloat(e, 64)
			if err != nil {
				return nil, fail("is not a number")
			}
			if p.MinValue != nil && f < *p.MinValue {
				return nil, fail("is less than MinValue %v", *p.MinValue)
			}
			if p.MaxValue != nil && f > *p.MaxValue {
				return nil, fail("is greater than MaxValue %v", *p.MaxValue)
			}
		} else {
			n := utf8.RuneCountInString(e)
			if p.MinLength != nil && n < *p.MinLength {
				return nil, fail("is shorter than MinLength %d", *p.MinLength)
			}
			if p.MaxLength != nil && n > *p.MaxLength {
				return nil, fail("is longer than MaxLength %d", *p.MaxLength)
			}
		}
		items = append(items, &node{kind: k, text: e, line: line})
	}
	if list {
		return &node{kind: kList, items: items, line: line}, nil
	}
	return items[0], nil
}
