package gateway

import (
	"fmt"
	"net/url"
	"strings"
)

// methods are the route key methods besides ANY.
var methods = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}

// segKind orders segment kinds by precedence: literals first.
type segKind uint8

const (
	segLiteral segKind = iota
	segParam
	segGreedy
)

type segment struct {
	kind segKind
	text string // the literal, or the parameter name
}

// routePattern is a parsed "METHOD /path" key.
type routePattern struct {
	method string // upper case, or "ANY"
	path   string // "/items/{id}", the 1.0 resource
	segs   []segment
}

// shape is the path with parameter names erased: two routes with the same
// method and shape can never be told apart.
func (p *routePattern) shape() string {
	var b strings.Builder
	for _, s := range p.segs {
		b.WriteByte('/')
		switch s.kind {
		case segLiteral:
			b.WriteString(s.text)
		case segParam:
			b.WriteString("{}")
		case segGreedy:
			b.WriteString("{+}")
		}
	}
	return b.String()
}

func parseRouteKey(key string) (routePattern, error) {
	if key == "" {
		return routePattern{}, errEmptyKey
	}
	method, path, ok := strings.Cut(key, " ")
	if !ok {
		return routePattern{}, fmt.Errorf("route %q: want \"METHOD /path\" or \"$default\"", key)
	}
	if method != "ANY" && !contains(methods, method) {
		return routePattern{}, fmt.Errorf("route %q: unknown method %q", key, method)
	}
	if !strings.HasPrefix(path, "/") {
		return routePattern{}, fmt.Errorf("route %q: path must start with /", key)
	}
	p := routePattern{method: method, path: path}
	if path == "/" {
		return p, nil
	}
	names := map[string]bool{}
	parts := strings.Split(path[1:], "/")
	for i, part := range parts {
		switch {
		case part == "":
			return routePattern{}, fmt.Errorf("route %q: empty path segment", key)
		case strings.HasPrefix(part, "{") && strings.HasSuffix(part, "+}"):
			name := part[1 : len(part)-2]
			if !validParamName(name) {
				return routePattern{}, fmt.Errorf("route %q: bad greedy parameter %q", key, part)
			}
			if i != len(parts)-1 {
				return routePattern{}, fmt.Errorf("route %q: a greedy parameter must be the last segment", key)
			}
			if names[name] {
				return routePattern{}, fmt.Errorf("route %q: duplicate parameter %q", key, name)
			}
			names[name] = true
			p.segs = append(p.segs, segment{segGreedy, name})
		case strings.HasPrefix(part, "{") || strings.HasSuffix(part, "}"):
			name := strings.TrimSuffix(strings.TrimPrefix(part, "{"), "}")
			if len(name) != len(part)-2 || !validParamName(name) {
				return routePattern{}, fmt.Errorf("route %q: bad parameter %q (a parameter is a whole segment, {name})", key, part)
			}
			if names[name] {
				return routePattern{}, fmt.Errorf("route %q: duplicate parameter %q", key, name)
			}
			names[name] = true
			p.segs = append(p.segs, segment{segParam, name})
		default:
			if strings.ContainsAny(part, "{}") {
				return routePattern{}, fmt.Errorf("route %q: bad segment %q", key, part)
			}
			lit, err := url.PathUnescape(part)
			if err != nil {
				return routePattern{}, fmt.Errorf("route %q: bad segment %q", key, part)
			}
			p.segs = append(p.segs, segment{segLiteral, lit})
		}
	}
	return p, nil
}

func validParamName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// router is a segment trie searched depth first in precedence order (literal,
// parameter, greedy), so the first route found is the most specific one. It
// is immutable once built.
type router struct{ root node }

type node struct {
	lit    map[string]*node
	param  *node
	here   methodSet // routes ending at this node
	greedy methodSet // routes whose greedy parameter starts below this node
}

// methodSet holds the routes of one path shape, by method.
type methodSet struct {
	byMethod map[string]*route
	any      *route
}

func (m *methodSet) pick(method string) *route {
	if r := m.byMethod[method]; r != nil {
		return r
	}
	return m.any
}

func (m *methodSet) empty() bool { return len(m.byMethod) == 0 && m.any == nil }

// add inserts r. When a route of the same method and shape is already there it
// keeps that one and returns it.
func (t *router) add(r *route) (existing *route) {
	n := &t.root
	set := &n.here
	for _, s := range r.pattern.segs {
		switch s.kind {
		case segLiteral:
			if n.lit == nil {
				n.lit = map[string]*node{}
			}
			c := n.lit[s.text]
			if c == nil {
				c = &node{}
				n.lit[s.text] = c
			}
			n, set = c, &c.here
		case segParam:
			if n.param == nil {
				n.param = &node{}
			}
			n, set = n.param, &n.param.here
		case segGreedy: // always the last segment (parseRouteKey)
			set = &n.greedy
		}
	}
	if r.pattern.method == "ANY" {
		if set.any != nil {
			return set.any
		}
		set.any = r
		return nil
	}
	if prev := set.byMethod[r.pattern.method]; prev != nil {
		return prev
	}
	if set.byMethod == nil {
		set.byMethod = map[string]*route{}
	}
	set.byMethod[r.pattern.method] = r
	return nil
}

// match finds the most specific route for method and the decoded path
// segments, or nil.
func (t *router) match(method string, segs []string) *route {
	return t.root.match(method, segs)
}

func (n *node) match(method string, segs []string) *route {
	if len(segs) == 0 {
		return n.here.pick(method)
	}
	if c := n.lit[segs[0]]; c != nil {
		if r := c.match(method, segs[1:]); r != nil {
			return r
		}
	}
	if n.param != nil && segs[0] != "" {
		if r := n.param.match(method, segs[1:]); r != nil {
			return r
		}
	}
	if !n.greedy.empty() && !(len(segs) == 1 && segs[0] == "") {
		return n.greedy.pick(method)
	}
	return nil
}

// splitPath splits an escaped URL path into decoded segments: "/" is none,
// "/a/b%2Fc/" is ["a", "b/c", ""].
func splitPath(escaped string) []string {
	if escaped == "" || escaped == "/" {
		return nil
	}
	s := strings.TrimPrefix(escaped, "/")
	segs := strings.Split(s, "/")
	for i, seg := range segs {
		if strings.IndexByte(seg, '%') >= 0 {
			if d, err := url.PathUnescape(seg); err == nil {
				segs[i] = d
			}
		}
	}
	return segs
}

// params returns the path parameters of r for the matched segments, or nil.
func (r *route) params(segs []string) map[string]string {
	if r.nparams == 0 {
		return nil
	}
	out := make(map[string]string, r.nparams)
	for i, s := range r.pattern.segs {
		switch s.kind {
		case segParam:
			out[s.text] = segs[i]
		case segGreedy:
			out[s.text] = strings.Join(segs[i:], "/")
		}
	}
	return out
}
