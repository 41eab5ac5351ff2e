package template

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// kind is the kind of a template value.
type kind uint8

const (
	kNull kind = iota
	kString
	kNumber
	kBool
	kList
	kMap
)

func (k kind) String() string {
	return [...]string{"null", "string", "number", "boolean", "list", "map"}[k]
}

// node is one value of a template: a scalar (its text), a list or a map whose
// keys keep their order. Nodes are immutable once built; resolving makes new
// ones. line is where the value starts in the source (0 when computed).
type node struct {
	kind  kind
	text  string // scalars: the value as written (booleans as true/false)
	items []*node
	keys  []string
	vals  []*node
	line  int
}

func str(s string, line int) *node { return &node{kind: kString, text: s, line: line} }

// get returns the value of key in a map node, or nil.
func (n *node) get(key string) *node {
	if n == nil || n.kind != kMap {
		return nil
	}
	for i, k := range n.keys {
		if k == key {
			return n.vals[i]
		}
	}
	return nil
}

func (n *node) set(key string, v *node) {
	for i, k := range n.keys {
		if k == key {
			n.vals[i] = v
			return
		}
	}
	n.keys = append(n.keys, key)
	n.vals = append(n.vals, v)
}

// without returns a copy of a map node without the given keys.
func (n *node) without(keys ...string) *node {
	if n == nil || n.kind != kMap {
		return n
	}
	m := &node{kind: kMap, line: n.line}
	for i, k := range n.keys {
		drop := false
		for _, d := range keys {
			drop = drop || d == k
		}
		if !drop {
			m.keys = append(m.keys, k)
			m.vals = append(m.vals, n.vals[i])
		}
	}
	return m
}

func (n *node) isScalar() bool {
	return n != nil && (n.kind == kString || n.kind == kNumber || n.kind == kBool)
}

// intrinsic reports whether n is an intrinsic function call ({"Ref": …} or
// {"Fn::X": …}) and returns its name and argument.
func (n *node) intrinsic() (string, *node, bool) {
	if n == nil || n.kind != kMap || len(n.keys) != 1 {
		return "", nil, false
	}
	k := n.keys[0]
	if k == "Ref" || strings.HasPrefix(k, "Fn::") {
		return k, n.vals[0], true
	}
	return "", nil, false
}

// maxNodes bounds the values of one template (a 1 MiB template has far fewer).
const maxNodes = 1 << 20

// shortTags maps CloudFormation's YAML short forms to their functions.
var shortTags = map[string]string{
	"!Ref": "Ref", "!Condition": "Condition",
	"!GetAtt": "Fn::GetAtt", "!Sub": "Fn::Sub", "!Join": "Fn::Join", "!If": "Fn::If",
	"!Equals": "Fn::Equals", "!Not": "Fn::Not", "!And": "Fn::And", "!Or": "Fn::Or",
	"!Select": "Fn::Select", "!Split": "Fn::Split", "!FindInMap": "Fn::FindInMap",
	"!ImportValue": "Fn::ImportValue", "!Base64": "Fn::Base64", "!GetAZs": "Fn::GetAZs",
	"!Cidr": "Fn::Cidr", "!Transform": "Fn::Transform", "!Length": "Fn::Length",
	"!ToJsonString": "Fn::ToJsonString",
}

// fromYAML converts a yaml.v3 tree. Anchors and aliases are refused, as
// CloudFormation refuses them (which also rules out alias bombs).
type converter struct{ count int }

func (c *converter) convert(y *yaml.Node, path string) (*node, error) {
	c.count++
	if c.count > maxNodes {
		return nil, errAt(y.Line, path, "the template has too many values")
	}
	if y.Kind == yaml.AliasNode || y.Anchor != "" {
		return nil, errAt(y.Line, path, "YAML aliases and anchors are not allowed in templates")
	}
	var fn string
	if strings.HasPrefix(y.Tag, "!") && !strings.HasPrefix(y.Tag, "!!") && y.Tag != "!" {
		var ok bool
		if fn, ok = shortTags[y.Tag]; !ok {
			return nil, errAt(y.Line, path, "unknown tag %s", y.Tag)
		}
	}
	n, err := c.plain(y, path, fn != "")
	if err != nil || fn == "" {
		return n, err
	}
	if (fn == "Ref" || fn == "Condition") && n.kind != kString {
		return nil, errAt(y.Line, path, "!%s takes a name", fn)
	}
	return &node{kind: kMap, keys: []string{fn}, vals: []*node{n}, line: y.Line}, nil
}

func (c *converter) plain(y *yaml.Node, path string, tagged bool) (*node, error) {
	switch y.Kind {
	case yaml.ScalarNode:
		n := &node{kind: kString, text: y.Value, line: y.Line}
		if tagged {
			return n, nil
		}
		switch y.ShortTag() {
		case "!!null":
			n.kind, n.text = kNull, ""
		case "!!bool":
			n.kind = kBool
			n.text = strconv.FormatBool(strings.EqualFold(y.Value, "true"))
		case "!!int", "!!float":
			n.kind = kNumber
		}
		return n, nil
	case yaml.SequenceNode:
		n := &node{kind: kList, line: y.Line, items: make([]*node, 0, len(y.Content))}
		for i, e := range y.Content {
			v, err := c.convert(e, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			n.items = append(n.items, v)
		}
		return n, nil
	case yaml.MappingNode:
		n := &node{kind: kMap, line: y.Line}
		seen := make(map[string]bool, len(y.Content)/2)
		for i := 0; i+1 < len(y.Content); i += 2 {
			k, v := y.Content[i], y.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return nil, errAt(k.Line, path, "map keys must be strings")
			}
			if k.Value == "<<" && k.ShortTag() == "!!merge" {
				return nil, errAt(k.Line, path, "YAML merge keys are not allowed in templates")
			}
			if seen[k.Value] {
				return nil, errAt(k.Line, join(path, k.Value), "duplicate key %q", k.Value)
			}
			val, err := c.convert(v, join(path, k.Value))
			if err != nil {
				return nil, err
			}
			seen[k.Value] = true
			n.keys = append(n.keys, k.Value)
			n.vals = append(n.vals, val)
		}
		return n, nil
	}
	return nil, errAt(y.Line, path, "unexpected YAML node")
}

// join extends a property path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// toJSON encodes a resolved node as JSON, keeping map order.
func (n *node) toJSON() []byte {
	var b bytes.Buffer
	n.writeJSON(&b)
	return b.Bytes()
}

func (n *node) writeJSON(b *bytes.Buffer) {
	if n == nil {
		b.WriteString("null")
		return
	}
	switch n.kind {
	case kNull:
		b.WriteString("null")
	case kBool:
		b.WriteString(n.text)
	case kNumber:
		b.WriteString(jsonNumber(n.text))
	case kString:
		writeJSONString(b, n.text)
	case kList:
		b.WriteByte('[')
		for i, e := range n.items {
			if i > 0 {
				b.WriteByte(',')
			}
			e.writeJSON(b)
		}
		b.WriteByte(']')
	case kMap:
		b.WriteByte('{')
		for i, k := range n.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(b, k)
			b.WriteByte(':')
			n.vals[i].writeJSON(b)
		}
		b.WriteByte('}')
	}
}

// writeJSONString writes s as a JSON string, without escaping <, > and &
// (definitions and filter policies are not HTML).
func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)           // a string always encodes
	b.Truncate(b.Len() - 1) // Encode's newline
}

// jsonNumber renders a YAML number as a JSON number (or a string when JSON
// has none, as for .inf).
func jsonNumber(text string) string {
	if json.Valid([]byte(text)) {
		return text
	}
	if i, err := strconv.ParseInt(strings.ReplaceAll(text, "_", ""), 0, 64); err == nil {
		return strconv.FormatInt(i, 10)
	}
	if f, err := strconv.ParseFloat(strings.ReplaceAll(text, "_", ""), 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	enc, _ := json.Marshal(text)
	return string(enc)
}
