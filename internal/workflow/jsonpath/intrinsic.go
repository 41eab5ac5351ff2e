package jsonpath

import (
	"fmt"
	"strings"

	"github.com/nimbus-dev/nimbus/internal/workflow/jsonv"
)

// MaxNesting is the deepest nesting of intrinsic function calls accepted.
const MaxNesting = 10

// IntrinsicError is an intrinsic function's failure (States.IntrinsicFailure).
type IntrinsicError struct {
	Func  string
	Cause string
}

func (e *IntrinsicError) Error() string { return e.Cause }

type argKind uint8

const (
	argLiteral argKind = iota // string, number, boolean, null
	argPath
	argCall
)

type arg struct {
	kind argKind
	lit  any
	raw  string // a string literal's text between the quotes, escapes kept
	path *Path
	call *call
}

type call struct {
	name string // without "States."
	args []arg
	fn   intrinsic
}

type intrinsicFunc func(c *call, args []any, raw []string) (any, error)

// intrinsic is one States.<name> function: its implementation and the
// argument counts it accepts (none listed: it checks its arguments itself).
type intrinsic struct {
	fn    intrinsicFunc
	arity []int
}

// intrinsics maps a name (without "States.") to its function.
var intrinsics = map[string]intrinsic{
	"Format":         {fn: fnFormat},
	"StringToJson":   {fnStringToJSON, []int{1}},
	"JsonToString":   {fnJSONToString, []int{1}},
	"Array":          {fn: fnArray},
	"ArrayPartition": {fnArrayPartition, []int{2}},
	"ArrayContains":  {fnArrayContains, []int{2}},
	"ArrayRange":     {fnArrayRange, []int{3}},
	"ArrayGetItem":   {fnArrayGetItem, []int{2}},
	"ArrayLength":    {fnArrayLength, []int{1}},
	"ArrayUnique":    {fnArrayUnique, []int{1}},
	"Base64Encode":   {fnBase64Encode, []int{1}},
	"Base64Decode":   {fnBase64Decode, []int{1}},
	"Hash":           {fnHash, []int{2}},
	"JsonMerge":      {fnJSONMerge, []int{3}},
	"MathRandom":     {fnMathRandom, []int{2, 3}},
	"MathAdd":        {fnMathAdd, []int{2}},
	"StringSplit":    {fnStringSplit, []int{2}},
	"UUID":           {fnUUID, []int{0}},
}

type callParser struct {
	src string
	pos int
}

func (p *callParser) fail(msg string) error { return &SyntaxError{p.src, msg} }

func (p *callParser) space() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t' || p.src[p.pos] == '\n' || p.src[p.pos] == '\r') {
		p.pos++
	}
}

func parseCall(src string) (*call, error) {
	p := &callParser{src: src}
	c, err := p.call(1)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos != len(src) {
		return nil, p.fail("unexpected text after the function call")
	}
	return c, nil
}

func (p *callParser) call(depth int) (*call, error) {
	if depth > MaxNesting {
		return nil, p.fail(fmt.Sprintf("intrinsic functions nest deeper than %d", MaxNesting))
	}
	if !strings.HasPrefix(p.src[p.pos:], "States.") {
		return nil, p.fail("expected States.<function>")
	}
	p.pos += len("States.")
	start := p.pos
	for p.pos < len(p.src) && (isVarChar(p.src[p.pos]) && p.src[p.pos] < 0x80) {
		p.pos++
	}
	name := p.src[start:p.pos]
	fn, ok := intrinsics[name]
	if !ok {
		return nil, p.fail("unknown intrinsic function States." + name)
	}
	p.space()
	if p.pos >= len(p.src) || p.src[p.pos] != '(' {
		return nil, p.fail("expected '('")
	}
	p.pos++
	c := &call{name: name, fn: fn}
	p.space()
	if p.pos < len(p.src) && p.src[p.pos] == ')' {
		p.pos++
		return c, nil
	}
	for {
		p.space()
		a, err := p.arg(depth)
		if err != nil {
			return nil, err
		}
		c.args = append(c.args, a)
		p.space()
		if p.pos >= len(p.src) {
			return nil, p.fail("unterminated argument list")
		}
		if p.src[p.pos] == ',' {
			p.pos++
			continue
		}
		if p.src[p.pos] == ')' {
			p.pos++
			return c, nil
		}
		return nil, p.fail("expected ',' or ')'")
	}
}

func (p *callParser) arg(depth int) (arg, error) {
	if p.pos >= len(p.src) {
		return arg{}, p.fail("expected an argument")
	}
	c := p.src[p.pos]
	switch {
	case c == '\'':
		return p.stringLit()
	case c == '$':
		start := p.pos
		depthB := 0
		for p.pos < len(p.src) {
			ch := p.src[p.pos]
			if ch == '[' || ch == '(' {
				depthB++
			} else if ch == ']' || (ch == ')' && depthB > 0) {
				depthB--
			} else if ch == '\'' || ch == '"' {
				_, n, ok := quoted(p.src[p.pos:])
				if !ok {
					return arg{}, p.fail("unterminated quoted name in path")
				}
				p.pos += n
				continue
			} else if depthB == 0 && (ch == ',' || ch == ')') {
				break
			}
			p.pos++
		}
		text := strings.TrimRight(p.src[start:p.pos], " \t")
		path, err := Parse(text)
		if err != nil {
			return arg{}, err
		}
		return arg{kind: argPath, path: path}, nil
	case strings.HasPrefix(p.src[p.pos:], "States."):
		sub, err := p.call(depth + 1)
		if err != nil {
			return arg{}, err
		}
		return arg{kind: argCall, call: sub}, nil
	}
	start := p.pos
	for p.pos < len(p.src) && p.src[p.pos] != ',' && p.src[p.pos] != ')' && p.src[p.pos] != ' ' {
		p.pos++
	}
	word := p.src[start:p.pos]
	switch word {
	case "true":
		return arg{lit: true}, nil
	case "false":
		return arg{lit: false}, nil
	case "null":
		return arg{lit: nil}, nil
	}
	v, err := jsonv.ParseString(word)
	if n, ok := v.(jsonv.Number); err == nil && ok {
		return arg{lit: n}, nil
	}
	return arg{}, p.fail("invalid argument " + word)
}

// stringLit reads a single-quoted literal. Legal escapes: \' \{ \} \\.
func (p *callParser) stringLit() (arg, error) {
	p.pos++ // '
	start := p.pos
	var b strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch c {
		case '\\':
			if p.pos+1 >= len(p.src) {
				return arg{}, p.fail("unterminated escape")
			}
			e := p.src[p.pos+1]
			switch e {
			case '\'', '{', '}', '\\':
				b.WriteByte(e)
			default:
				return arg{}, p.fail(fmt.Sprintf("illegal escape sequence '\\%c'", e))
			}
			p.pos += 2
		case '\'':
			raw := p.src[start:p.pos]
			p.pos++
			return arg{lit: b.String(), raw: raw}, nil
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
	return arg{}, p.fail("unterminated string literal")
}

func (c *call) eval(s *Scope, depth int) (any, error) {
	vals := make([]any, len(c.args))
	raws := make([]string, len(c.args))
	for i, a := range c.args {
		switch a.kind {
		case argLiteral:
			vals[i] = a.lit
			raws[i] = a.raw
			if _, isStr := a.lit.(string); !isStr {
				raws[i] = "\x00" // not a string literal
			}
		case argPath:
			v, err := EvalPath(a.path, s)
			if err != nil {
				return nil, err
			}
			vals[i] = v
			raws[i] = "\x00"
		case argCall:
			v, err := a.call.eval(s, depth+1)
			if err != nil {
				return nil, err
			}
			vals[i] = v
			raws[i] = "\x00"
		}
	}
	if len(c.fn.arity) > 0 {
		if err := c.wantArgs(vals, c.fn.arity...); err != nil {
			return nil, err
		}
	}
	return c.fn.fn(c, vals, raws)
}

func (c *call) fail(format string, args ...any) error {
	return &IntrinsicError{Func: "States." + c.name, Cause: fmt.Sprintf(format, args...)}
}

func (c *call) wantArgs(args []any, n ...int) error {
	for _, want := range n {
		if len(args) == want {
			return nil
		}
	}
	if len(n) == 1 {
		return c.fail("Function States.%s requires exactly %d argument(s) but received %d", c.name, n[0], len(args))
	}
	return c.fail("Function States.%s requires %d to %d arguments but received %d", c.name, n[0], n[len(n)-1], len(args))
}
