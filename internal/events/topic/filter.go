package topic

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Filter policy scopes (the FilterPolicyScope subscription attribute).
const (
	ScopeAttributes = "MessageAttributes"
	ScopeBody       = "MessageBody"
)

// Limits of filter policies (AWS's).
const (
	maxPolicySize   = 256 << 10
	maxPolicyKeys   = 5
	maxCombinations = 150
)

// Policy is a parsed subscription filter policy. It is immutable and safe for
// concurrent use.
//
// Semantics (AWS's, which applies the EventBridge matching engine to a JSON
// view of the message): keys of an object are ANDed, the conditions in a key's
// array are ORed, "$or": [{…}, {…}] ORs whole sub-policies. A key names a
// message attribute (scope MessageAttributes) or a property of the JSON message
// body (scope MessageBody, where policies may nest objects). Values keep their
// JSON type: a String attribute is a string, a Number attribute a number, a
// String.Array attribute an array (its elements are matched one by one), a
// Binary attribute is ignored; a string condition never matches a number or
// the other way round. An array value matches when any of its elements does; a
// nested policy matched against an array of objects must match one element as
// a whole. A key absent from the message matches only {"exists": false}.
type Policy struct {
	root *pnode
}

// pnode is one object level of a policy.
type pnode struct {
	fields []pfield
	ors    [][]*pnode // each "$or": alternatives, one of which must match
}

type pfield struct {
	key   string
	conds []cond // a leaf: one of them must match
	child *pnode // or a nested policy (scope MessageBody)
}

type condKind uint8

const (
	condString condKind = iota
	condNumber
	condBool
	condNull
	condPrefix
	condSuffix
	condEqualsIgnoreCase
	condAnythingBut
	condNumeric
	condExists
	condCIDR
)

// cond is one match condition.
type cond struct {
	kind condKind
	s    string  // string, prefix, suffix, equals-ignore-case
	f    float64 // number
	b    bool    // bool, exists
	// anything-but: the excluded values, or a pattern (prefix, suffix,
	// equals-ignore-case) the value must not match.
	not []cond
	// numeric: the range, each bound optional.
	lo, hi         float64
	hasLo, hasHi   bool
	loIncl, hiIncl bool
	prefix         netip.Prefix // cidr
}

// policyError is a filter policy that is not valid; the message is AWS's
// reason text, which callers prefix ("Invalid parameter: [Attributes Reason: ]").
type policyError struct{ msg string }

func (e *policyError) Error() string { return e.msg }

func perr(format string, args ...any) error {
	return &policyError{msg: fmt.Sprintf(format, args...)}
}

// ParsePolicy parses and validates a filter policy for scope (ScopeAttributes
// or ScopeBody). An empty policy ("" or {}) is nil: it accepts everything.
func ParsePolicy(text, scope string) (*Policy, error) {
	if strings.TrimSpace(text) == "" {
		return nil, nil
	}
	if len(text) > maxPolicySize {
		return nil, perr("FilterPolicy: Filter policy is too big")
	}
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, perr("FilterPolicy: failed to parse JSON.")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, perr("FilterPolicy: failed to parse JSON.")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, perr("FilterPolicy: Filter policy must be a JSON object")
	}
	if len(obj) == 0 {
		return nil, nil
	}
	if len(obj) > maxPolicyKeys {
		return nil, perr("FilterPolicy: Filter policy can not have more than %d keys", maxPolicyKeys)
	}
	p := &parser{scope: scope}
	root, combos, err := p.node(obj, 1, 1)
	if err != nil {
		return nil, err
	}
	if combos > maxCombinations {
		return nil, perr("FilterPolicy: Filter policy is too complex")
	}
	return &Policy{root: root}, nil
}

type parser struct{ scope string }

// node parses one object level at depth (1 = top). combos is the running
// product AWS uses for its complexity limit: each leaf array multiplies it by
// its length times its depth, and "$or" sums its alternatives.
func (p *parser) node(obj map[string]any, depth, combos int) (*pnode, int, error) {
	n := &pnode{}
	for _, key := range slices.Sorted(mapKeys(obj)) {
		switch v := obj[key].(type) {
		case map[string]any:
			if p.scope != ScopeBody {
				return nil, 0, perr("Filter policy scope MessageAttributes does not support nested filter policy")
			}
			child, c, err := p.node(v, depth+1, combos)
			if err != nil {
				return nil, 0, err
			}
			combos = c
			n.fields = append(n.fields, pfield{key: key, child: child})
		case []any:
			if len(v) == 0 {
				return nil, 0, perr("FilterPolicy: Empty arrays are not allowed")
			}
			if key == "$or" {
				var alts []*pnode
				sum := 0
				for _, e := range v {
					m, ok := e.(map[string]any)
					if !ok || len(m) == 0 {
						return nil, 0, perr("FilterPolicy: $or must be an array of non-empty objects")
					}
					alt, c, err := p.node(m, depth, combos)
					if err != nil {
						return nil, 0, err
					}
					alts = append(alts, alt)
					sum = min(sum+c, math.MaxInt32)
				}
				if len(alts) < 2 {
					return nil, 0, perr("FilterPolicy: $or must have at least two alternatives")
				}
				combos = sum
				n.ors = append(n.ors, alts)
				continue
			}
			conds := make([]cond, 0, len(v))
			for _, e := range v {
				c, err := parseCond(e)
				if err != nil {
					return nil, 0, err
				}
				conds = append(conds, c)
			}
			combos = min(combos*len(v)*depth, math.MaxInt32)
			n.fields = append(n.fields, pfield{key: key, conds: conds})
		default:
			return nil, 0, perr("FilterPolicy: \"%s\" must be an object or an array", key)
		}
		if combos > maxCombinations {
			return nil, 0, perr("FilterPolicy: Filter policy is too complex")
		}
	}
	return n, combos, nil
}

func mapKeys(m map[string]any) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// parseCond parses one element of a condition array.
func parseCond(e any) (cond, error) {
	switch v := e.(type) {
	case string:
		return cond{kind: condString, s: v}, nil
	case json.Number:
		f, err := number(v)
		if err != nil {
			return cond{}, err
		}
		return cond{kind: condNumber, f: f}, nil
	case bool:
		return cond{kind: condBool, b: v}, nil
	case nil:
		return cond{kind: condNull}, nil
	case map[string]any:
		if len(v) != 1 {
			return cond{}, perr("FilterPolicy: Only one key allowed in match expression")
		}
		for op, arg := range v {
			return parseOp(op, arg)
		}
	}
	return cond{}, perr("FilterPolicy: Match value must be String, number, true, false, or null")
}

func number(n json.Number) (float64, error) {
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, perr("FilterPolicy: Number %s is out of range", n)
	}
	return f, nil
}

func parseOp(op string, arg any) (cond, error) {
	switch op {
	case "prefix", "suffix", "equals-ignore-case":
		s, ok := arg.(string)
		if !ok {
			return cond{}, perr("FilterPolicy: %s match pattern must be a string", op)
		}
		kind := map[string]condKind{"prefix": condPrefix, "suffix": condSuffix, "equals-ignore-case": condEqualsIgnoreCase}[op]
		return cond{kind: kind, s: s}, nil
	case "anything-but":
		return parseAnythingBut(arg)
	case "exists":
		b, ok := arg.(bool)
		if !ok {
			return cond{}, perr("FilterPolicy: exists match pattern must be either true or false.")
		}
		return cond{kind: condExists, b: b}, nil
	case "numeric":
		return parseNumeric(arg)
	case "cidr":
		return parseCIDR(arg)
	}
	return cond{}, perr("FilterPolicy: Unrecognized match type %s", op)
}

func parseAnythingBut(arg any) (cond, error) {
	c := cond{kind: condAnythingBut}
	value := func(e any) error {
		switch v := e.(type) {
		case string:
			c.not = append(c.not, cond{kind: condString, s: v})
		case json.Number:
			f, err := number(v)
			if err != nil {
				return err
			}
			c.not = append(c.not, cond{kind: condNumber, f: f})
		default:
			return perr("FilterPolicy: Inside anything but list, start|null|boolean is not supported.")
		}
		return nil
	}
	switch v := arg.(type) {
	case []any:
		if len(v) == 0 {
			return cond{}, perr("FilterPolicy: Empty arrays are not allowed")
		}
		for _, e := range v {
			if err := value(e); err != nil {
				return cond{}, err
			}
		}
	case map[string]any:
		if len(v) != 1 {
			return cond{}, perr("FilterPolicy: Only one key allowed in match expression")
		}
		for op, inner := range v {
			if op != "prefix" && op != "suffix" && op != "equals-ignore-case" {
				return cond{}, perr("FilterPolicy: Unsupported anything-but pattern: %s", op)
			}
			ic, err := parseOp(op, inner)
			if err != nil {
				return cond{}, err
			}
			c.not = append(c.not, ic)
		}
	default:
		if err := value(v); err != nil {
			return cond{}, err
		}
	}
	return c, nil
}

func parseNumeric(arg any) (cond, error) {
	terms, ok := arg.([]any)
	if !ok || len(terms) == 0 {
		return cond{}, perr("FilterPolicy: Value of numeric must be an array.")
	}
	c := cond{kind: condNumeric}
	operand := func(i int, op string) (float64, error) {
		if i >= len(terms) {
			return 0, perr("FilterPolicy: Value of %s must be numeric", opName(op))
		}
		n, ok := terms[i].(json.Number)
		if !ok {
			return 0, perr("FilterPolicy: Value of %s must be numeric", opName(op))
		}
		return number(n)
	}
	op, ok := terms[0].(string)
	if !ok {
		return cond{}, perr("FilterPolicy: Invalid member in numeric match: %v", terms[0])
	}
	x, err := operand(1, op)
	if err != nil && validNumericOp(op) {
		return cond{}, err
	}
	switch op {
	case "=":
		c.lo, c.hi, c.hasLo, c.hasHi, c.loIncl, c.hiIncl = x, x, true, true, true, true
	case ">", ">=":
		c.lo, c.hasLo, c.loIncl = x, true, op == ">="
	case "<", "<=":
		c.hi, c.hasHi, c.hiIncl = x, true, op == "<="
	default:
		return cond{}, perr("FilterPolicy: Unrecognized numeric range operator: %s", op)
	}
	if len(terms) == 2 {
		return c, nil
	}
	if op != ">" && op != ">=" {
		return cond{}, perr("FilterPolicy: Too many elements in numeric expression")
	}
	op2, ok := terms[2].(string)
	if !ok {
		return cond{}, perr("FilterPolicy: Bad value in numeric range: %v", terms[2])
	}
	if op2 != "<" && op2 != "<=" {
		return cond{}, perr("FilterPolicy: Bad numeric range operator: %s", op2)
	}
	y, err := operand(3, op2)
	if err != nil {
		return cond{}, err
	}
	if y <= x {
		return cond{}, perr("FilterPolicy: Bottom must be less than top")
	}
	if len(terms) > 4 {
		return cond{}, perr("FilterPolicy: Too many terms in numeric range expression")
	}
	c.hi, c.hasHi, c.hiIncl = y, true, op2 == "<="
	return c, nil
}

func validNumericOp(op string) bool {
	switch op {
	case "=", "<", "<=", ">", ">=":
		return true
	}
	return false
}

func opName(op string) string {
	if op == "=" {
		return "equals"
	}
	return op
}

func parseCIDR(arg any) (cond, error) {
	s, ok := arg.(string)
	if !ok {
		return cond{}, perr("FilterPolicy: prefix match pattern must be a string")
	}
	ip, bits, ok := strings.Cut(s, "/")
	if !ok || strings.Contains(bits, "/") {
		return cond{}, perr("FilterPolicy: Malformed CIDR, one '/' required")
	}
	if _, err := strconv.Atoi(bits); err != nil {
		return cond{}, perr("FilterPolicy: Malformed CIDR, mask bits must be an integer")
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return cond{}, perr("FilterPolicy: Nonstandard IP address: %s", ip)
	}
	return cond{kind: condCIDR, prefix: p.Masked()}, nil
}

// value is a leaf value of a message: a string, a number, a bool or null.
type value struct {
	kind condKind // condString, condNumber, condBool or condNull
	s    string
	f    float64
	b    bool
}

// leaves appends the leaf values of v: v itself if it is a scalar, the
// scalars of an array (recursively); objects have none.
func leaves(dst []value, v any) []value {
	switch x := v.(type) {
	case string:
		return append(dst, value{kind: condString, s: x})
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil && !math.IsInf(f, 0) {
			return dst
		}
		return append(dst, value{kind: condNumber, f: f})
	case float64:
		return append(dst, value{kind: condNumber, f: x})
	case bool:
		return append(dst, value{kind: condBool, b: x})
	case nil:
		return append(dst, value{kind: condNull})
	case []any:
		for _, e := range x {
			dst = leaves(dst, e)
		}
	}
	return dst
}

// MatchAttributes reports whether message attributes attrs pass the policy
// (scope MessageAttributes). A nil policy accepts everything.
func (p *Policy) MatchAttributes(attrs []Attribute) bool {
	if p == nil {
		return true
	}
	return p.root.match(attributeView(attrs))
}

// MatchBody reports whether a message body passes the policy (scope
// MessageBody): the body must be a JSON object.
func (p *Policy) MatchBody(body string) bool {
	if p == nil {
		return true
	}
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return false
	}
	return p.root.match(obj)
}

// attributeView is the JSON view of message attributes filter policies see.
func attributeView(attrs []Attribute) map[string]any {
	m := make(map[string]any, len(attrs))
	for i := range attrs {
		a := &attrs[i]
		switch {
		case a.DataType == "String.Array":
			dec := json.NewDecoder(strings.NewReader(a.StringValue))
			dec.UseNumber()
			var arr []any
			if dec.Decode(&arr) == nil {
				m[a.Name] = arr
			}
		case baseType(a.DataType) == "String":
			m[a.Name] = a.StringValue
		case baseType(a.DataType) == "Number":
			m[a.Name] = json.Number(strings.TrimSpace(a.StringValue))
		}
	}
	return m
}

func (n *pnode) match(obj map[string]any) bool {
	for i := range n.fields {
		f := &n.fields[i]
		v, present := obj[f.key]
		if f.child != nil {
			if !f.child.matchValue(v) {
				return false
			}
			continue
		}
		var buf [8]value
		var ls []value
		if present {
			ls = leaves(buf[:0], v)
		}
		if !matchLeaf(f.conds, ls) {
			return false
		}
	}
	for _, alts := range n.ors {
		if !slices.ContainsFunc(alts, func(a *pnode) bool { return a.match(obj) }) {
			return false
		}
	}
	return true
}

// matchValue matches a nested policy against the value at its key: an
// object, one object of an array, or (anything else) an empty object.
func (n *pnode) matchValue(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		return n.match(x)
	case []any:
		found := false
		for _, e := range x {
			if m, ok := e.(map[string]any); ok {
				found = true
				if n.match(m) {
					return true
				}
			} else if arr, ok := e.([]any); ok && n.matchValue(arr) {
				return true
			}
		}
		if found {
			return false
		}
	}
	return n.match(map[string]any{})
}

// matchLeaf reports whether any condition matches the leaf values ls (none:
// the key is absent or holds no scalar).
func matchLeaf(conds []cond, ls []value) bool {
	for i := range conds {
		c := &conds[i]
		if c.kind == condExists {
			if c.b == (len(ls) > 0) {
				return true
			}
			continue
		}
		for j := range ls {
			if c.match(&ls[j]) {
				return true
			}
		}
	}
	return false
}

func (c *cond) match(v *value) bool {
	switch c.kind {
	case condString:
		return v.kind == condString && v.s == c.s
	case condNumber:
		return v.kind == condNumber && v.f == c.f
	case condBool:
		return v.kind == condBool && v.b == c.b
	case condNull:
		return v.kind == condNull
	case condPrefix:
		return v.kind == condString && strings.HasPrefix(v.s, c.s)
	case condSuffix:
		return v.kind == condString && strings.HasSuffix(v.s, c.s)
	case condEqualsIgnoreCase:
		return v.kind == condString && strings.EqualFold(v.s, c.s)
	case condAnythingBut:
		for i := range c.not {
			if c.not[i].match(v) {
				return false
			}
		}
		return true
	case condNumeric:
		if v.kind != condNumber {
			return false
		}
		if c.hasLo && (v.f < c.lo || !c.loIncl && v.f == c.lo) {
			return false
		}
		if c.hasHi && (v.f > c.hi || !c.hiIncl && v.f == c.hi) {
			return false
		}
		return true
	case condCIDR:
		if v.kind != condString {
			return false
		}
		a, err := netip.ParseAddr(v.s)
		return err == nil && c.prefix.Contains(a.Unmap())
	}
	return false
}
