package template

import (
	"math"
	"strconv"
	"strings"
)

// reader reads typed properties from a resolved map, reporting problems to
// the planner with their paths, and remembers which keys it read so that the
// rest can be reported as unsupported.
type reader struct {
	p    *planner
	n    *node
	path string
	used map[string]bool
}

// reader returns a reader of n (a resolved map or nil).
func (p *planner) reader(n *node, path string) *reader {
	if n != nil && n.kind != kMap {
		p.errs.add(errNode(n, path, "must be a map, not %s", describe(n)))
		n = nil
	}
	return &reader{p: p, n: n, path: path, used: map[string]bool{}}
}

func (r *reader) at(key string) string { return join(r.path, key) }

func (r *reader) has(key string) bool { return r.n.get(key) != nil }

// node returns a property (nil when absent) and marks it read.
func (r *reader) node(key string) *node {
	r.used[key] = true
	return r.n.get(key)
}

func (r *reader) fail(n *node, key, format string, args ...any) {
	if n == nil {
		n = r.n
	}
	r.p.errs.add(errNode(n, r.at(key), format, args...))
}

// str returns a string property ("" when absent).
func (r *reader) str(key string) string {
	n := r.node(key)
	if n == nil || n.kind == kNull {
		return ""
	}
	if !n.isScalar() {
		r.fail(n, key, "must be a string, not %s", describe(n))
		return ""
	}
	return n.text
}

// required returns a string property that must be present and not empty.
func (r *reader) required(key string) string {
	if !r.has(key) {
		r.fail(nil, key, "is required")
		return ""
	}
	s := r.str(key)
	if s == "" && r.n.get(key).isScalar() {
		r.fail(r.n.get(key), key, "must not be empty")
	}
	return s
}

// integer returns an integer property in [lo, hi], def when absent.
func (r *reader) integer(key string, def, lo, hi int) int {
	n := r.node(key)
	if n == nil || n.kind == kNull {
		return def
	}
	v, ok := asInt(n)
	if !ok {
		r.fail(n, key, "must be an integer, not %s", show(n))
		return def
	}
	if v < lo || v > hi {
		r.fail(n, key, "must be between %d and %d, not %d", lo, hi, v)
		return def
	}
	return v
}

// optInt is integer for properties whose absence matters.
func (r *reader) optInt(key string, lo, hi int) *int {
	if !r.has(key) || r.n.get(key).kind == kNull {
		r.used[key] = true
		return nil
	}
	v := r.integer(key, lo, lo, hi)
	return &v
}

func asInt(n *node) (int, bool) {
	if !n.isScalar() || n.kind == kBool {
		return 0, false
	}
	s := strings.TrimSpace(n.text)
	if i, err := strconv.Atoi(s); err == nil {
		return i, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<40 {
		return 0, false
	}
	return int(f), true
}

func show(n *node) string {
	if n.isScalar() {
		return strconv.Quote(n.text)
	}
	return describe(n)
}

// boolean returns a boolean property, def when absent.
func (r *reader) boolean(key string, def bool) bool {
	n := r.node(key)
	if n == nil || n.kind == kNull {
		return def
	}
	if n.isScalar() {
		switch strings.ToLower(n.text) {
		case "true":
			return true
		case "false":
			return false
		}
	}
	r.fail(n, key, "must be true or false, not %s", show(n))
	return def
}

// strs returns a list of strings (a single string is a list of one).
func (r *reader) strs(key string) []string {
	n := r.node(key)
	if n == nil || n.kind == kNull {
		return nil
	}
	if n.isScalar() {
		return []string{n.text}
	}
	if n.kind != kList {
		r.fail(n, key, "must be a list of strings, not %s", describe(n))
		return nil
	}
	out := make([]string, 0, len(n.items))
	for i, e := range n.items {
		if !e.isScalar() {
			r.p.errs.add(errNode(e, index(r.at(key), i), "must be a string, not %s", describe(e)))
			continue
		}
		out = append(out, e.text)
	}
	return out
}

// sub returns a reader of a map property (reading nothing when absent).
func (r *reader) sub(key string) *reader {
	return r.p.reader(r.node(key), r.at(key))
}

// oneOf checks a string property against allowed values.
func (r *reader) oneOf(key, def string, allowed ...string) string {
	s := r.str(key)
	if s == "" {
		return def
	}
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	r.fail(r.n.get(key), key, "must be one of %s, not %q", strings.Join(allowed, ", "), s)
	return def
}

// rest reports the properties not read: notes (ignored on purpose, with the
// reason) once per template, anything else as an unsupported property.
func (r *reader) rest(id string, notes map[string]string) {
	if r.n == nil {
		return
	}
	for _, k := range r.n.keys {
		if r.used[k] {
			continue
		}
		if why, ok := notes[k]; ok {
			if why == "" {
				r.p.note(k+": ignored", id)
			} else {
				r.p.note(k+": "+why+"; ignored", id)
			}
			continue
		}
		r.p.warnf("%s: not supported; ignored", r.at(k))
	}
}
