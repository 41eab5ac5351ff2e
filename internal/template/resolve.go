package template

import (
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// noValue is what AWS::NoValue resolves to: the enclosing property or list
// element is removed.
var noValue = &node{kind: kNull}

// Pseudo parameter values of every nimbus installation.
const (
	Region    = lambda.Region
	AccountID = lambda.Account
	Partition = "aws"
	URLSuffix = "amazonaws.com"
)

// resolve returns n with every intrinsic function evaluated; noValue when n
// itself is AWS::NoValue (or an Fn::If choosing it).
func (p *planner) resolve(n *node, path string) (*node, error) {
	if n == nil {
		return nil, nil
	}
	if fn, arg, ok := n.intrinsic(); ok {
		return p.call(fn, arg, n, join(path, fn))
	}
	switch n.kind {
	case kList:
		out := &node{kind: kList, line: n.line, items: make([]*node, 0, len(n.items))}
		for i, e := range n.items {
			v, err := p.resolve(e, index(path, i))
			if err != nil {
				return nil, err
			}
			if v != noValue {
				out.items = append(out.items, v)
			}
		}
		return out, nil
	case kMap:
		out := &node{kind: kMap, line: n.line}
		for i, k := range n.keys {
			v, err := p.resolve(n.vals[i], join(path, k))
			if err != nil {
				return nil, err
			}
			if v != noValue {
				out.keys = append(out.keys, k)
				out.vals = append(out.vals, v)
			}
		}
		return out, nil
	}
	return n, nil
}

// resolveString resolves n and requires a string (numbers and booleans are
// taken as their text, as CloudFormation does).
func (p *planner) resolveString(n *node, path string) (string, *node, error) {
	v, err := p.resolve(n, path)
	if err != nil {
		return "", nil, err
	}
	if v == noValue || !v.isScalar() {
		return "", nil, errNode(n, path, "must be a string, not %s", describe(v))
	}
	return v.text, v, nil
}

func describe(n *node) string {
	switch {
	case n == noValue:
		return "AWS::NoValue"
	case n == nil:
		return "nothing"
	}
	return "a " + n.kind.String()
}

// resolveList resolves n and requires a list.
func (p *planner) resolveList(n *node, path string) (*node, error) {
	v, err := p.resolve(n, path)
	if err != nil {
		return nil, err
	}
	if v == noValue || v == nil || v.kind != kList {
		return nil, errNode(n, path, "must be a list, not %s", describe(v))
	}
	return v, nil
}

func (p *planner) call(fn string, arg, at *node, path string) (*node, error) {
	switch fn {
	case "Ref":
		if arg.kind != kString {
			return nil, errNode(at, path, "Ref takes a parameter or resource name")
		}
		return p.ref(arg.text, at, path)
	case "Fn::GetAtt":
		return p.getAttCall(arg, at, path)
	case "Fn::Sub":
		return p.sub(arg, at, path)
	case "Fn::Join":
		return p.join(arg, at, path)
	case "Fn::Select":
		return p.selectFn(arg, at, path)
	case "Fn::Split":
		if arg.kind != kList || len(arg.items) != 2 {
			return nil, errNode(at, path, "takes [delimiter, string]")
		}
		delim, _, err := p.resolveString(arg.items[0], index(path, 0))
		if err != nil {
			return nil, err
		}
		if delim == "" {
			return nil, errNode(at, path, "the delimiter must not be empty")
		}
		s, _, err := p.resolveString(arg.items[1], index(path, 1))
		if err != nil {
			return nil, err
		}
		out := &node{kind: kList, line: at.line}
		for _, part := range strings.Split(s, delim) {
			out.items = append(out.items, str(part, at.line))
		}
		return out, nil
	case "Fn::If":
		if arg.kind != kList || len(arg.items) != 3 || arg.items[0].kind != kString {
			return nil, errNode(at, path, "takes [condition name, value if true, value if false]")
		}
		ok, err := p.condition(arg.items[0].text, arg.items[0], index(path, 0))
		if err != nil {
			return nil, err
		}
		if ok {
			return p.resolve(arg.items[1], index(path, 1))
		}
		return p.resolve(arg.items[2], index(path, 2))
	case "Fn::FindInMap":
		return p.findInMap(arg, at, path)
	case "Fn::Base64":
		s, _, err := p.resolveString(arg, path)
		if err != nil {
			return nil, err
		}
		return str(base64.StdEncoding.EncodeToString([]byte(s)), at.line), nil
	case "Fn::GetAZs":
		if _, _, err := p.resolveString(arg, path); err != nil {
			return nil, err
		}
		return &node{kind: kList, items: []*node{str(Region+"a", at.line)}, line: at.line}, nil
	case "Fn::ImportValue":
		name, _, err := p.resolveString(arg, path)
		if err != nil {
			return nil, err
		}
		v, ok := p.opts.Imports[name]
		if !ok {
			return nil, errNode(at, path, "no deployed stack exports %q", name)
		}
		p.imports[name] = true
		return str(v, at.line), nil
	case "Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or":
		return nil, errNode(at, path, "%s can only be used in Conditions (use Fn::If here)", fn)
	}
	return nil, errNode(at, path, "%s is not supported", fn)
}

func (p *planner) join(arg, at *node, path string) (*node, error) {
	if arg.kind != kList || len(arg.items) != 2 {
		return nil, errNode(at, path, "takes [delimiter, list]")
	}
	delim, _, err := p.resolveString(arg.items[0], index(path, 0))
	if err != nil {
		return nil, err
	}
	list, err := p.resolveList(arg.items[1], index(path, 1))
	if err != nil {
		return nil, err
	}
	parts := make([]string, 0, len(list.items))
	for i, e := range list.items {
		if !e.isScalar() {
			return nil, errNode(e, index(index(path, 1), i), "Fn::Join joins strings, not %s", describe(e))
		}
		parts = append(parts, e.text)
	}
	return str(strings.Join(parts, delim), at.line), nil
}

func (p *planner) selectFn(arg, at *node, path string) (*node, error) {
	if arg.kind != kList || len(arg.items) != 2 {
		return nil, errNode(at, path, "takes [index, list]")
	}
	is, _, err := p.resolveString(arg.items[0], index(path, 0))
	if err != nil {
		return nil, err
	}
	i, err := strconv.Atoi(is)
	if err != nil || i < 0 {
		return nil, errNode(arg.items[0], index(path, 0), "the index must be a non-negative integer, not %q", is)
	}
	list, err := p.resolveList(arg.items[1], index(path, 1))
	if err != nil {
		return nil, err
	}
	if i >= len(list.items) {
		return nil, errNode(at, path, "index %d is out of range (the list has %d elements)", i, len(list.items))
	}
	return list.items[i], nil
}

func (p *planner) findInMap(arg, at *node, path string) (*node, error) {
	if arg.kind != kList || len(arg.items) < 3 || len(arg.items) > 4 {
		return nil, errNode(at, path, "takes [map name, top-level key, second-level key]")
	}
	var keys [3]string
	for i := range keys {
		s, _, err := p.resolveString(arg.items[i], index(path, i))
		if err != nil {
			return nil, err
		}
		keys[i] = s
	}
	var def *node
	if len(arg.items) == 4 {
		d := arg.items[3]
		if d.kind != kMap || len(d.keys) != 1 || d.keys[0] != "DefaultValue" {
			return nil, errNode(d, index(path, 3), "must be {DefaultValue: …}")
		}
		def = d.vals[0]
	}
	m := p.t.mappings.get(keys[0])
	if m == nil {
		return nil, errNode(at, path, "no mapping named %q", keys[0])
	}
	if v := m.get(keys[1]).get(keys[2]); v != nil {
		return p.resolve(v, "Mappings."+keys[0]+"."+keys[1]+"."+keys[2])
	}
	if def != nil {
		return p.resolve(def, index(path, 3))
	}
	if m.get(keys[1]) == nil {
		return nil, errNode(at, path, "mapping %s has no key %q", keys[0], keys[1])
	}
	return nil, errNode(at, path, "mapping %s.%s has no key %q", keys[0], keys[1], keys[2])
}

func (p *planner) getAttCall(arg, at *node, path string) (*node, error) {
	var id, attr string
	switch {
	case arg.kind == kString:
		var ok bool
		if id, attr, ok = strings.Cut(arg.text, "."); !ok {
			return nil, errNode(at, path, "takes LogicalId.Attribute or [LogicalId, Attribute]")
		}
	case arg.kind == kList && len(arg.items) == 2 && arg.items[0].kind == kString:
		id = arg.items[0].text
		var err error
		if attr, _, err = p.resolveString(arg.items[1], index(path, 1)); err != nil {
			return nil, err
		}
	default:
		return nil, errNode(at, path, "takes LogicalId.Attribute or [LogicalId, Attribute]")
	}
	s, err := p.getAtt(id, attr, at, path)
	if err != nil {
		return nil, err
	}
	return str(s, at.line), nil
}

// sub evaluates Fn::Sub: "text ${Name} ${Res.Attr} ${!Literal}" or
// [text, {Name: value}].
func (p *planner) sub(arg, at *node, path string) (*node, error) {
	var tmpl string
	vars := map[string]string{}
	switch {
	case arg.kind == kString:
		tmpl = arg.text
	case arg.kind == kList && len(arg.items) == 2 && arg.items[0].kind == kString && arg.items[1].kind == kMap:
		tmpl = arg.items[0].text
		m := arg.items[1]
		for i, k := range m.keys {
			s, _, err := p.resolveString(m.vals[i], join(index(path, 1), k))
			if err != nil {
				return nil, err
			}
			vars[k] = s
		}
	default:
		return nil, errNode(at, path, "takes a string or [string, {Name: value}]")
	}
	var b strings.Builder
	s := tmpl
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		s = s[i+2:]
		if strings.HasPrefix(s, "!") {
			b.WriteString("${")
			s = s[1:]
			continue
		}
		j := strings.IndexByte(s, '}')
		if j < 0 {
			return nil, errNode(at, path, "unterminated ${ in %q", tmpl)
		}
		name := strings.TrimSpace(s[:j])
		s = s[j+1:]
		if v, ok := vars[name]; ok {
			b.WriteString(v)
			continue
		}
		var v *node
		var err error
		if id, attr, ok := strings.Cut(name, "."); ok && !referable[attr] {
			var sv string
			if sv, err = p.getAtt(id, attr, at, path); err == nil {
				v = str(sv, at.line)
			}
		} else {
			v, err = p.ref(name, at, path)
		}
		if err != nil {
			return nil, err
		}
		if v == noValue || !v.isScalar() {
			return nil, errNode(at, path, "${%s} is %s; Fn::Sub needs a string", name, describe(v))
		}
		b.WriteString(v.text)
	}
	return str(b.String(), at.line), nil
}

// condition evaluates a named condition (once).
func (p *planner) condition(name string, at *node, path string) (bool, error) {
	if v, ok := p.conds[name]; ok {
		return v, nil
	}
	def := p.t.conditions.get(name)
	if def == nil {
		return false, errNode(at, path, "no condition named %q", name)
	}
	if p.condBusy[name] {
		return false, errNode(at, path, "condition %s depends on itself", name)
	}
	p.condBusy[name] = true
	defer delete(p.condBusy, name)
	saved := p.inCondition
	p.inCondition = true
	v, err := p.evalCondition(def, "Conditions."+name)
	p.inCondition = saved
	if err != nil {
		return false, err
	}
	p.conds[name] = v
	return v, nil
}

func (p *planner) evalCondition(n *node, path string) (bool, error) {
	if n.kind == kMap && len(n.keys) == 1 && n.keys[0] == "Condition" {
		c := n.vals[0]
		if c.kind != kString {
			return false, errNode(n, path, "Condition takes a condition name")
		}
		return p.condition(c.text, c, join(path, "Condition"))
	}
	fn, arg, ok := n.intrinsic()
	if !ok {
		return false, errNode(n, path, "a condition must be Fn::Equals, Fn::Not, Fn::And, Fn::Or or a Condition")
	}
	path = join(path, fn)
	switch fn {
	case "Fn::Equals":
		if arg.kind != kList || len(arg.items) != 2 {
			return false, errNode(n, path, "takes [value, value]")
		}
		var vals [2]string
		for i, e := range arg.items {
			v, err := p.resolve(e, index(path, i))
			if err != nil {
				return false, err
			}
			switch {
			case v == noValue || v == nil:
				return false, errNode(e, index(path, i), "cannot compare AWS::NoValue")
			case v.isScalar():
				vals[i] = v.text
			default:
				vals[i] = string(v.toJSON())
			}
		}
		return vals[0] == vals[1], nil
	case "Fn::Not":
		if arg.kind != kList || len(arg.items) != 1 {
			return false, errNode(n, path, "takes [condition]")
		}
		v, err := p.evalCondition(arg.items[0], index(path, 0))
		return !v, err
	case "Fn::And", "Fn::Or":
		if arg.kind != kList || len(arg.items) < 2 || len(arg.items) > 10 {
			return false, errNode(n, path, "takes 2 to 10 conditions")
		}
		and := fn == "Fn::And"
		result := and
		for i, e := range arg.items {
			v, err := p.evalCondition(e, index(path, i))
			if err != nil {
				return false, err
			}
			if and {
				result = result && v
			} else {
				result = result || v
			}
		}
		return result, nil
	}
	return false, errNode(n, path, "a condition must be Fn::Equals, Fn::Not, Fn::And, Fn::Or or a Condition")
}
