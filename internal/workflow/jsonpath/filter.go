package jsonpath

import (
	"regexp"
	"strings"

	"github.com/nimbus-dev/nimbus/internal/workflow/jsonv"
)

// filterExpr is a compiled [?(...)] predicate.
type filterExpr interface {
	match(node, root any) bool
}

type orExpr struct{ l, r filterExpr }
type andExpr struct{ l, r filterExpr }
type notExpr struct{ e filterExpr }
type existsExpr struct{ o operand }
type cmpExpr struct {
	op   string
	l, r operand
	re   *regexp.Regexp
}

func (e orExpr) match(n, root any) bool  { return e.l.match(n, root) || e.r.match(n, root) }
func (e andExpr) match(n, root any) bool { return e.l.match(n, root) && e.r.match(n, root) }
func (e notExpr) match(n, root any) bool { return !e.e.match(n, root) }
func (e existsExpr) match(n, root any) bool {
	v, ok := e.o.value(n, root)
	if !ok {
		return false
	}
	if b, isBool := v.(bool); isBool && e.o.path == nil {
		return b
	}
	return true
}

// operand is a literal, @-relative path or $-absolute path.
type operand struct {
	lit     any
	path    *Path
	current bool // @ rather than $
}

func (o operand) value(node, root any) (any, bool) {
	if o.path == nil {
		return o.lit, true
	}
	base := root
	if o.current {
		base = node
	}
	v, err := o.path.Eval(base)
	if err != nil {
		return nil, false
	}
	return v, true
}

func (e cmpExpr) match(n, root any) bool {
	l, lok := e.l.value(n, root)
	r, rok := e.r.value(n, root)
	if !lok || !rok {
		return e.op == "!=" && lok != rok
	}
	switch e.op {
	case "==":
		return jsonv.Equal(l, r)
	case "!=":
		return !jsonv.Equal(l, r)
	case "<", "<=", ">", ">=":
		c, ok := compare(l, r)
		if !ok {
			return false
		}
		switch e.op {
		case "<":
			return c < 0
		case "<=":
			return c <= 0
		case ">":
			return c > 0
		}
		return c >= 0
	case "=~":
		s, ok := l.(string)
		return ok && e.re != nil && e.re.MatchString(s)
	case "in", "nin":
		a, ok := r.([]any)
		if !ok {
			return false
		}
		found := false
		for _, x := range a {
			if jsonv.Equal(l, x) {
				found = true
				break
			}
		}
		return found == (e.op == "in")
	case "size":
		n, ok := r.(jsonv.Number)
		if !ok {
			return false
		}
		want, _ := n.Int64()
		switch x := l.(type) {
		case []any:
			return int64(len(x)) == want
		case string:
			return int64(len([]rune(x))) == want
		}
		return false
	case "empty":
		want, _ := r.(bool)
		switch x := l.(type) {
		case []any:
			return (len(x) == 0) == want
		case string:
			return (x == "") == want
		}
		return false
	case "subsetof", "anyof", "noneof":
		la, lok := l.([]any)
		ra, rok := r.([]any)
		if !lok || !rok {
			return false
		}
		contains := func(a []any, v any) bool {
			for _, x := range a {
				if jsonv.Equal(x, v) {
					return true
				}
			}
			return false
		}
		switch e.op {
		case "subsetof":
			for _, x := range la {
				if !contains(ra, x) {
					return false
				}
			}
			return true
		case "anyof":
			for _, x := range la {
				if contains(ra, x) {
					return true
				}
			}
			return false
		}
		for _, x := range la {
			if contains(ra, x) {
				return false
			}
		}
		return true
	}
	return false
}

func compare(l, r any) (int, bool) {
	switch l := l.(type) {
	case jsonv.Number:
		rn, ok := r.(jsonv.Number)
		if !ok {
			return 0, false
		}
		return jsonv.CompareNumbers(l, rn), true
	case string:
		rs, ok := r.(string)
		if !ok {
			return 0, false
		}
		return strings.Compare(l, rs), true
	}
	return 0, false
}

type filterParser struct {
	src string // the whole path, for errors
	s   string
	pos int
}

func parseFilter(src, body string) (filterExpr, error) {
	p := &filterParser{src: src, s: body}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos != len(p.s) {
		return nil, p.fail("unexpected text in filter")
	}
	return e, nil
}

func (p *filterParser) fail(msg string) error { return &SyntaxError{p.src, msg} }

func (p *filterParser) space() {
	for p.pos < len(p.s) && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t') {
		p.pos++
	}
}

func (p *filterParser) eat(tok string) bool {
	p.space()
	if strings.HasPrefix(p.s[p.pos:], tok) {
		p.pos += len(tok)
		return true
	}
	return false
}

func (p *filterParser) or() (filterExpr, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.eat("||") {
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = orExpr{l, r}
	}
	return l, nil
}

func (p *filterParser) and() (filterExpr, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.eat("&&") {
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = andExpr{l, r}
	}
	return l, nil
}

func (p *filterParser) unary() (filterExpr, error) {
	p.space()
	if p.pos < len(p.s) && p.s[p.pos] == '!' && !strings.HasPrefix(p.s[p.pos:], "!=") {
		p.pos++
		e, err := p.unary()
		if err != nil {
			return nil, err
		}
		return notExpr{e}, nil
	}
	if p.pos < len(p.s) && p.s[p.pos] == '(' {
		end := matchParen(p.s, p.pos)
		if end < 0 {
			return nil, p.fail("unbalanced parentheses in filter")
		}
		sub := &filterParser{src: p.src, s: p.s[p.pos+1 : end]}
		e, err := sub.or()
		if err != nil {
			return nil, err
		}
		sub.space()
		if sub.pos != len(sub.s) {
			return nil, p.fail("unexpected text in filter")
		}
		p.pos = end + 1
		return e, nil
	}
	l, err := p.operand()
	if err != nil {
		return nil, err
	}
	p.space()
	for _, op := range []string{"==", "!=", "<=", ">=", "=~", "<", ">", " in ", " nin ", " subsetof ", " anyof ", " noneof ", " size ", " empty "} {
		word := strings.TrimSpace(op)
		matched := false
		if op[0] == ' ' {
			if strings.HasPrefix(p.s[p.pos:], word+" ") || strings.HasPrefix(p.s[p.pos:], word+"[") || strings.HasPrefix(p.s[p.pos:], word+"'") {
				matched = true
			}
		} else if strings.HasPrefix(p.s[p.pos:], op) {
			matched = true
		}
		if !matched {
			continue
		}
		p.pos += len(word)
		if word == "=~" {
			p.space()
			re, err := p.regex()
			if err != nil {
				return nil, err
			}
			return cmpExpr{op: word, l: l, re: re}, nil
		}
		r, err := p.operand()
		if err != nil {
			return nil, err
		}
		return cmpExpr{op: word, l: l, r: r}, nil
	}
	return existsExpr{l}, nil
}

func (p *filterParser) regex() (*regexp.Regexp, error) {
	if p.pos >= len(p.s) || p.s[p.pos] != '/' {
		return nil, p.fail("expected a /regex/")
	}
	end := -1
	for i := p.pos + 1; i < len(p.s); i++ {
		if p.s[i] == '\\' {
			i++
			continue
		}
		if p.s[i] == '/' {
			end = i
			break
		}
	}
	if end < 0 {
		return nil, p.fail("unterminated regex")
	}
	pat := p.s[p.pos+1 : end]
	p.pos = end + 1
	flags := ""
	for p.pos < len(p.s) && strings.IndexByte("imsx", p.s[p.pos]) >= 0 {
		if p.s[p.pos] != 'x' {
			flags += string(p.s[p.pos])
		}
		p.pos++
	}
	if flags != "" {
		pat = "(?" + flags + ")" + pat
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		return nil, p.fail("invalid regex: " + err.Error())
	}
	return re, nil
}

func (p *filterParser) operand() (operand, error) {
	p.space()
	if p.pos >= len(p.s) {
		return operand{}, p.fail("expected an operand in filter")
	}
	c := p.s[p.pos]
	switch {
	case c == '@' || c == '$':
		start := p.pos
		p.pos++
		depth := 0
		for p.pos < len(p.s) {
			ch := p.s[p.pos]
			if ch == '[' {
				depth++
			} else if ch == ']' {
				depth--
			} else if ch == '\'' || ch == '"' {
				_, n, ok := quoted(p.s[p.pos:])
				if !ok {
					return operand{}, p.fail("unterminated string in filter")
				}
				p.pos += n
				continue
			} else if depth == 0 && strings.IndexByte(" =!<>&|)", ch) >= 0 {
				break
			}
			p.pos++
		}
		text := p.s[start:p.pos]
		current := c == '@'
		if current {
			text = "$" + text[1:]
		}
		path, err := Parse(text)
		if err != nil {
			return operand{}, p.fail("invalid path in filter: " + text)
		}
		return operand{path: path, current: current}, nil
	case c == '\'' || c == '"':
		s, n, ok := quoted(p.s[p.pos:])
		if !ok {
			return operand{}, p.fail("unterminated string in filter")
		}
		p.pos += n
		return operand{lit: s}, nil
	case c == '[' || c == '{':
		end := matchJSON(p.s, p.pos)
		if end < 0 {
			return operand{}, p.fail("invalid JSON literal in filter")
		}
		text := strings.ReplaceAll(p.s[p.pos:end], "'", "\"")
		v, err := jsonv.ParseString(text)
		if err != nil {
			return operand{}, p.fail("invalid JSON literal in filter")
		}
		p.pos = end
		return operand{lit: v}, nil
	}
	start := p.pos
	for p.pos < len(p.s) && strings.IndexByte(" =!<>&|)", p.s[p.pos]) < 0 {
		p.pos++
	}
	word := p.s[start:p.pos]
	switch word {
	case "true":
		return operand{lit: true}, nil
	case "false":
		return operand{lit: false}, nil
	case "null":
		return operand{lit: nil}, nil
	}
	v, err := jsonv.ParseString(word)
	if n, ok := v.(jsonv.Number); err == nil && ok {
		return operand{lit: n}, nil
	}
	return operand{}, p.fail("invalid literal in filter: " + word)
}

// matchJSON returns the end (exclusive) of the bracketed JSON literal at s[i].
func matchJSON(s string, i int) int {
	depth := 0
	for j := i; j < len(s); j++ {
		switch s[j] {
		case '\'', '"':
			_, n, ok := quoted(s[j:])
			if !ok {
				return -1
			}
			j += n - 1
		case '[', '{':
			depth++
		case ']', '}':
			depth--
			if depth == 0 {
				return j + 1
			}
		}
	}
	return -1
}
