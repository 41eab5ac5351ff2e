// Package jsonpath evaluates the Amazon States Language's JSONPath-mode
// expressions over jsonv values: paths and reference paths (Jayway JsonPath
// dialect, as Step Functions uses), ResultPath merging, payload templates
// (Parameters, ResultSelector, ItemSelector, Assign, with ".$" keys) and the
// intrinsic functions (States.Format, States.Array, ...).
//
// Compiled paths, expressions and templates are immutable and safe for
// concurrent use. Evaluation never modifies its inputs. Errors are typed
// (*NotFoundError, *IntrinsicError) so that the engine can phrase them the
// way AWS does for the field being evaluated.
package jsonpath

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/nimbus-dev/nimbus/internal/workflow/jsonv"
)

// Root says which value a path starts from.
type Root uint8

// The roots.
const (
	RootInput    Root = iota // $
	RootContext              // $$
	RootVariable             // $name
)

type segKind uint8

const (
	segField    segKind = iota // .name, ['name'], ['a','b']
	segIndex                   // [0], [-1], [0,2]
	segSlice                   // [1:3]
	segWildcard                // .*, [*]
	segDeep                    // ..  (applies the next segment at every depth)
	segFilter                  // [?(...)]
	segFunc                    // .length()
)

type segment struct {
	kind    segKind
	names   []string
	indices []int
	from    int
	to      int
	hasFrom bool
	hasTo   bool
	filter  filterExpr
	fn      string
}

func (s segment) definite() bool {
	switch s.kind {
	case segField:
		return len(s.names) == 1
	case segIndex:
		return len(s.indices) == 1
	case segFunc:
		return true
	}
	return false
}

// Path is a compiled JSONPath.
type Path struct {
	src      string
	root     Root
	variable string // for RootVariable
	segs     []segment
	definite bool
}

// String returns the path's source text.
func (p *Path) String() string { return p.src }

// Root returns where the path starts.
func (p *Path) Root() Root { return p.root }

// Variable returns the variable name of a $name path.
func (p *Path) Variable() string { return p.variable }

// Definite reports whether the path names at most one node (no wildcard,
// slice, filter, deep scan or multiple names/indices): such a path is an
// error when it matches nothing, an indefinite one yields [].
func (p *Path) Definite() bool { return p.definite }

// IsReference reports whether p is a reference path: only single names and
// indices, so that it identifies one node and can be written to.
func (p *Path) IsReference() bool {
	for _, s := range p.segs {
		if (s.kind != segField && s.kind != segIndex) || !s.definite() {
			return false
		}
	}
	return true
}

// IsRoot reports whether p is just "$" (or "$$", "$name").
func (p *Path) IsRoot() bool { return len(p.segs) == 0 }

// SyntaxError reports an invalid path or expression.
type SyntaxError struct {
	Src string
	Msg string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("invalid path %q: %s", e.Src, e.Msg) }

// IsVariableName reports whether s is a valid workflow variable name.
func IsVariableName(s string) bool {
	if s == "" {
		return false
	}
	if !isVarStart(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isVarChar(s[i]) {
			return false
		}
	}
	return true
}

func isVarStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func isVarChar(c byte) bool { return isVarStart(c) || c >= '0' && c <= '9' }

// Parse compiles a path: "$..." (state input), "$$..." (context object) or
// "$name..." (a workflow variable).
func Parse(src string) (*Path, error) {
	p := &Path{src: src, definite: true}
	if !strings.HasPrefix(src, "$") {
		return nil, &SyntaxError{src, "a path must start with '$'"}
	}
	rest := src[1:]
	switch {
	case strings.HasPrefix(rest, "$"):
		p.root = RootContext
		rest = rest[1:]
	case rest != "" && isVarStart(rest[0]):
		i := 0
		for i < len(rest) && isVarChar(rest[i]) {
			i++
		}
		p.root = RootVariable
		p.variable = rest[:i]
		rest = rest[i:]
	}
	segs, err := parseSegments(src, rest)
	if err != nil {
		return nil, err
	}
	p.segs = segs
	for _, s := range segs {
		if !s.definite() {
			p.definite = false
		}
	}
	return p, nil
}

// MustParse is Parse for paths known to be valid; it panics otherwise.
func MustParse(src string) *Path {
	p, err := Parse(src)
	if err != nil {
		panic(err)
	}
	return p
}

func parseSegments(src, s string) ([]segment, error) {
	var segs []segment
	fail := func(msg string) ([]segment, error) { return nil, &SyntaxError{src, msg} }
	for len(s) > 0 {
		switch {
		case strings.HasPrefix(s, ".."):
			s = s[2:]
			segs = append(segs, segment{kind: segDeep})
			if s == "" {
				return fail("path must not end with '..'")
			}
			if s[0] == '[' {
				continue
			}
			if s[0] == '*' {
				segs = append(segs, segment{kind: segWildcard})
				s = s[1:]
				continue
			}
			name, n := dotName(s)
			if name == "" {
				return fail("expected a name after '..'")
			}
			segs = append(segs, segment{kind: segField, names: []string{name}})
			s = s[n:]
		case s[0] == '.':
			s = s[1:]
			if s == "" {
				return fail("path must not end with '.'")
			}
			if s[0] == '*' {
				segs = append(segs, segment{kind: segWildcard})
				s = s[1:]
				continue
			}
			name, n := dotName(s)
			if name == "" {
				return fail("expected a name after '.'")
			}
			s = s[n:]
			if strings.HasPrefix(s, "()") {
				switch name {
				case "length", "size", "min", "max", "avg", "sum", "stddev", "keys", "first", "last":
				default:
					return fail("unknown function " + name + "()")
				}
				segs = append(segs, segment{kind: segFunc, fn: name})
				s = s[2:]
				if s != "" {
					return fail("a function must end the path")
				}
				continue
			}
			segs = append(segs, segment{kind: segField, names: []string{name}})
		case s[0] == '[':
			seg, n, err := parseBracket(src, s)
			if err != nil {
				return nil, err
			}
			segs = append(segs, seg)
			s = s[n:]
		default:
			return fail(fmt.Sprintf("unexpected %q", s[0]))
		}
	}
	return segs, nil
}

// dotName reads a name in dot notation: up to the next '.', '[' or '('.
func dotName(s string) (string, int) {
	i := 0
	for i < len(s) && s[i] != '.' && s[i] != '[' && s[i] != '(' && s[i] != ' ' {
		i++
	}
	return s[:i], i
}

// parseBracket parses "[...]" at the start of s, returning the segment and
// the number of bytes consumed.
func parseBracket(src, s string) (segment, int, error) {
	fail := func(msg string) (segment, int, error) { return segment{}, 0, &SyntaxError{src, msg} }
	i := 1
	skip := func() {
		for i < len(s) && s[i] == ' ' {
			i++
		}
	}
	skip()
	if i >= len(s) {
		return fail("unterminated '['")
	}
	switch c := s[i]; {
	case c == '*':
		i++
		skip()
		if i >= len(s) || s[i] != ']' {
			return fail("expected ']' after '*'")
		}
		return segment{kind: segWildcard}, i + 1, nil
	case c == '?':
		i++
		skip()
		if i >= len(s) || s[i] != '(' {
			return fail("expected '(' after '?'")
		}
		end := matchParen(s, i)
		if end < 0 {
			return fail("unterminated filter")
		}
		f, err := parseFilter(src, s[i+1:end])
		if err != nil {
			return segment{}, 0, err
		}
		i = end + 1
		skip()
		if i >= len(s) || s[i] != ']' {
			return fail("expected ']' after a filter")
		}
		return segment{kind: segFilter, filter: f}, i + 1, nil
	case c == '\'' || c == '"':
		var names []string
		for {
			skip()
			if i >= len(s) || (s[i] != '\'' && s[i] != '"') {
				return fail("expected a quoted name")
			}
			name, n, ok := quoted(s[i:])
			if !ok {
				return fail("unterminated quoted name")
			}
			names = append(names, name)
			i += n
			skip()
			if i >= len(s) {
				return fail("unterminated '['")
			}
			if s[i] == ',' {
				i++
				continue
			}
			if s[i] == ']' {
				return segment{kind: segField, names: names}, i + 1, nil
			}
			return fail("expected ',' or ']'")
		}
	}
	end := strings.IndexByte(s[i:], ']')
	if end < 0 {
		return fail("unterminated '['")
	}
	body := strings.TrimSpace(s[i : i+end])
	n := i + end + 1
	if strings.Contains(body, ":") {
		parts := strings.Split(body, ":")
		if len(parts) > 3 {
			return fail("invalid slice")
		}
		seg := segment{kind: segSlice}
		if a := strings.TrimSpace(parts[0]); a != "" {
			v, err := strconv.Atoi(a)
			if err != nil {
				return fail("invalid slice start")
			}
			seg.from, seg.hasFrom = v, true
		}
		if b := strings.TrimSpace(parts[1]); b != "" {
			v, err := strconv.Atoi(b)
			if err != nil {
				return fail("invalid slice end")
			}
			seg.to, seg.hasTo = v, true
		}
		if len(parts) == 3 && strings.TrimSpace(parts[2]) != "" && strings.TrimSpace(parts[2]) != "1" {
			return fail("slice steps are not supported")
		}
		return seg, n, nil
	}
	var idx []int
	for _, part := range strings.Split(body, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil {
			return fail("invalid array index")
		}
		idx = append(idx, v)
	}
	return segment{kind: segIndex, indices: idx}, n, nil
}

// quoted reads a quoted name starting at s[0] (a quote). A backslash escapes
// the quote character and a backslash; any other backslash is literal.
func quoted(s string) (string, int, bool) {
	q := s[0]
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) && (s[i+1] == q) {
			b.WriteByte(s[i+1])
			i++
			continue
		}
		if c == q {
			return b.String(), i + 1, true
		}
		b.WriteByte(c)
	}
	return "", 0, false
}

// matchParen returns the index of the ')' matching the '(' at s[open],
// skipping quoted strings and regex literals, or -1.
func matchParen(s string, open int) int {
	depth := 0
	for i := open; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'', '"':
			_, n, ok := quoted(s[i:])
			if !ok {
				return -1
			}
			i += n - 1
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// render writes segments the way Jayway prints a path: $['a'][0].
func render(root string, segs []segment) string {
	var b strings.Builder
	b.WriteString(root)
	for _, s := range segs {
		switch s.kind {
		case segField:
			b.WriteByte('[')
			for i, n := range s.names {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString("'" + n + "'")
			}
			b.WriteByte(']')
		case segIndex:
			b.WriteByte('[')
			for i, n := range s.indices {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(strconv.Itoa(n))
			}
			b.WriteByte(']')
		case segSlice:
			b.WriteByte('[')
			if s.hasFrom {
				b.WriteString(strconv.Itoa(s.from))
			}
			b.WriteByte(':')
			if s.hasTo {
				b.WriteString(strconv.Itoa(s.to))
			}
			b.WriteByte(']')
		case segWildcard:
			b.WriteString("[*]")
		case segDeep:
			b.WriteString("..")
		case segFilter:
			b.WriteString("[?]")
		case segFunc:
			b.WriteString("." + s.fn + "()")
		}
	}
	return b.String()
}

// NotFoundError reports a definite path that matched nothing. Reason is
// Jayway's message ("No results for path: $['x']", "Missing property in
// path $['a']", ...).
type NotFoundError struct {
	Path   string
	Reason string
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("Invalid path '%s' : %s", e.Path, e.Reason)
}

// Eval evaluates p against root (the value the path starts from: the input,
// the context object or the variable's value). A definite path returns the
// node it names or a *NotFoundError; an indefinite one returns a []any of
// the matches, possibly empty.
func (p *Path) Eval(root any) (any, error) {
	if len(p.segs) == 0 {
		return root, nil
	}
	e := evaluator{p: p, root: root}
	e.walk(root, 0, true)
	if e.err != nil {
		return nil, e.err
	}
	if p.definite {
		if len(e.out) == 0 {
			return nil, &NotFoundError{p.src, "No results for path: " + render("$", p.segs)}
		}
		return e.out[0], nil
	}
	if e.out == nil {
		return []any{}, nil
	}
	return e.out, nil
}

type evaluator struct {
	p    *Path
	root any // the document the path started from ("$" in filters)
	out  []any
	err  error
}

func (e *evaluator) add(v any) { e.out = append(e.out, v) }

func javaClass(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return "java.lang.String"
	case bool:
		return "java.lang.Boolean"
	case jsonv.Number:
		if v.IsInteger() {
			return "java.lang.Integer"
		}
		return "java.lang.Double"
	case []any:
		return "java.util.ArrayList"
	}
	return "java.util.LinkedHashMap"
}

// walk applies segment i (and the following) to v. upstream is true while
// every segment before i was definite.
func (e *evaluator) walk(v any, i int, upstream bool) {
	if e.err != nil {
		return
	}
	if i == len(e.p.segs) {
		e.add(v)
		return
	}
	s := &e.p.segs[i]
	leaf := i == len(e.p.segs)-1
	next := func(x any) { e.walk(x, i+1, upstream && s.definite()) }
	switch s.kind {
	case segField:
		o, ok := v.(*jsonv.Object)
		if !ok {
			if upstream && e.p.definite {
				e.err = &NotFoundError{e.p.src, fmt.Sprintf(
					"Expected to find an object with property %s in path %s but found '%s'. This is not a json object according to the JsonProvider: 'com.jayway.jsonpath.spi.json.JacksonJsonProvider'.",
					render("", e.p.segs[i:i+1]), render("$", e.p.segs[:i]), javaClass(v))}
			}
			return
		}
		for _, name := range s.names {
			x, ok := o.Get(name)
			if !ok {
				if !leaf && upstream && s.definite() && e.p.definite {
					e.err = &NotFoundError{e.p.src, "Missing property in path " + render("$", e.p.segs[:i+1])}
					return
				}
				continue
			}
			next(x)
		}
	case segIndex:
		a, ok := v.([]any)
		if !ok {
			if upstream && e.p.definite {
				if v == nil {
					e.err = &NotFoundError{e.p.src, "The path " + render("$", e.p.segs[:i]) + " is null"}
				} else {
					e.err = &NotFoundError{e.p.src, fmt.Sprintf("Filter: %s can only be applied to arrays. Current context is: %s", render("", e.p.segs[i:i+1]), jsonv.String(v))}
				}
			}
			return
		}
		for _, idx := range s.indices {
			if idx < 0 {
				idx += len(a)
			}
			if idx < 0 || idx >= len(a) {
				continue
			}
			next(a[idx])
		}
	case segSlice:
		a, ok := v.([]any)
		if !ok {
			return
		}
		from, to := 0, len(a)
		if s.hasFrom {
			from = s.from
			if from < 0 {
				from = max(0, len(a)+from)
			}
		}
		if s.hasTo {
			to = s.to
			if to < 0 {
				to = len(a) + to
			}
		}
		to = min(to, len(a))
		for j := from; j < to; j++ {
			next(a[j])
		}
	case segWildcard:
		switch x := v.(type) {
		case []any:
			for _, el := range x {
				next(el)
			}
		case *jsonv.Object:
			for _, m := range x.Members() {
				next(m.Value)
			}
		}
	case segDeep:
		e.deep(v, i+1)
	case segFilter:
		switch x := v.(type) {
		case []any:
			for _, el := range x {
				if s.filter.match(el, e.root) {
					next(el)
				}
			}
		case *jsonv.Object:
			if s.filter.match(x, e.root) {
				next(x)
			}
		}
	case segFunc:
		r, ok := applyFunc(s.fn, v)
		if !ok {
			e.err = &NotFoundError{e.p.src, fmt.Sprintf("Function %s() can not be applied to %s", s.fn, jsonv.KindOf(v))}
			return
		}
		next(r)
	}
}

// deep applies segment i at v and every node below it, in document order.
func (e *evaluator) deep(v any, i int) {
	if e.err != nil {
		return
	}
	sub := evaluator{p: e.p, root: e.root}
	sub.walk(v, i, false)
	e.out = append(e.out, sub.out...)
	switch x := v.(type) {
	case []any:
		for _, el := range x {
			e.deep(el, i)
		}
	case *jsonv.Object:
		for _, m := range x.Members() {
			e.deep(m.Value, i)
		}
	}
}

func applyFunc(fn string, v any) (any, bool) {
	switch fn {
	case "length", "size":
		switch x := v.(type) {
		case []any:
			return jsonv.Int(int64(len(x))), true
		case *jsonv.Object:
			return jsonv.Int(int64(x.Len())), true
		case string:
			return jsonv.Int(int64(len([]rune(x)))), true
		}
		return nil, false
	case "keys":
		o, ok := v.(*jsonv.Object)
		if !ok {
			return nil, false
		}
		keys := make([]any, 0, o.Len())
		for _, m := range o.Members() {
			keys = append(keys, m.Key)
		}
		return keys, true
	case "first", "last":
		a, ok := v.([]any)
		if !ok || len(a) == 0 {
			return nil, false
		}
		if fn == "first" {
			return a[0], true
		}
		return a[len(a)-1], true
	}
	a, ok := v.([]any)
	if !ok || len(a) == 0 {
		return nil, false
	}
	nums := make([]float64, 0, len(a))
	for _, el := range a {
		n, ok := el.(jsonv.Number)
		if !ok {
			return nil, false
		}
		nums = append(nums, n.Float64())
	}
	var r float64
	switch fn {
	case "min":
		r = nums[0]
		for _, f := range nums {
			r = min(r, f)
		}
	case "max":
		r = nums[0]
		for _, f := range nums {
			r = max(r, f)
		}
	case "sum", "avg", "stddev":
		var sum float64
		for _, f := range nums {
			sum += f
		}
		r = sum
		if fn != "sum" {
			avg := sum / float64(len(nums))
			r = avg
			if fn == "stddev" {
				var sq float64
				for _, f := range nums {
					sq += (f - avg) * (f - avg)
				}
				r = math.Sqrt(sq / float64(len(nums)))
			}
		}
	}
	return jsonv.Float(r), true
}
