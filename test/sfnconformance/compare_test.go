package sfnconformance

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/nimbus-dev/nimbus/internal/workflow/jsonv"
)

// matcher compares an AWS-recorded value with ours: masking tokens are
// wildcards, and keys LocalStack did not verify can be skipped.
type matcher struct {
	tokens  []string
	skip    []skipPath // used only when skipping is enabled
	useSkip bool
}

type skipPath struct{ parent, key string } // "$..parent.key" or "$..key"

// substringToken reports whether a token may stand for part of a string
// (ARN parts, ids); plain words like "date" only replace whole values.
func substringToken(tok string) bool {
	return strings.ContainsAny(tok, "<\\") || strings.Contains(tok, "111111111111")
}

func (m *matcher) tokenMatch(want, got string) bool {
	for _, tok := range m.tokens {
		if want == tok {
			return true
		}
	}
	pat := regexp.QuoteMeta(want)
	used := false
	for _, tok := range m.tokens {
		if !substringToken(tok) {
			continue
		}
		q := regexp.QuoteMeta(tok)
		if strings.Contains(pat, q) {
			pat = strings.ReplaceAll(pat, q, "(?s:.*?)")
			used = true
		}
	}
	if !used {
		return want == got
	}
	ok, _ := regexp.MatchString("^"+pat+"$", got)
	return ok
}

func (m *matcher) skipped(parent, key string) bool {
	if !m.useSkip {
		return false
	}
	for _, s := range m.skip {
		if s.key == key && (s.parent == "" || s.parent == parent) {
			return true
		}
	}
	return false
}

// diff returns "" when got matches want, else a description.
func (m *matcher) diff(path, parent string, want, got any) string {
	if ws, ok := want.(string); ok {
		for _, tok := range m.tokens {
			if ws == tok {
				return ""
			}
		}
	}
	switch w := want.(type) {
	case nil:
		if got != nil {
			return fmt.Sprintf("%s: want null, got %s", path, short(got))
		}
	case bool:
		if g, ok := got.(bool); !ok || g != w {
			return fmt.Sprintf("%s: want %v, got %s", path, w, short(got))
		}
	case jsonv.Number:
		if g, ok := got.(jsonv.Number); !ok || jsonv.CompareNumbers(w, g) != 0 {
			return fmt.Sprintf("%s: want %s, got %s", path, w, short(got))
		}
	case string:
		g, ok := got.(string)
		if !ok || !m.tokenMatch(w, g) {
			return fmt.Sprintf("%s: want %q, got %s", path, short(w), short(got))
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("%s: want %s, got %s", path, short(w), short(got))
		}
		for i := range w {
			if d := m.diff(fmt.Sprintf("%s[%d]", path, i), parent, w[i], g[i]); d != "" {
				return d
			}
		}
	case *jsonv.Object:
		g, ok := got.(*jsonv.Object)
		if !ok {
			return fmt.Sprintf("%s: want %s, got %s", path, short(w), short(got))
		}
		key := path[strings.LastIndexAny(path, ".]")+1:]
		for _, mem := range w.Members() {
			if m.skipped(key, mem.Key) {
				continue
			}
			gv, ok := g.Get(mem.Key)
			if !ok {
				return fmt.Sprintf("%s: missing key %q", path, mem.Key)
			}
			if d := m.diff(path+"."+mem.Key, key, mem.Value, gv); d != "" {
				return d
			}
		}
		for _, mem := range g.Members() {
			if _, ok := w.Get(mem.Key); !ok && !m.skipped(key, mem.Key) {
				return fmt.Sprintf("%s: unexpected key %q", path, mem.Key)
			}
		}
	}
	return ""
}

func short(v any) string {
	s := jsonv.String(v)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

var skipNote = regexp.MustCompile(`LocalStack skips verification of: (.*)`)

// skipPaths reads the "LocalStack skips verification of" notes.
func skipPaths(notes []string) []skipPath {
	var out []skipPath
	for _, n := range notes {
		mm := skipNote.FindStringSubmatch(n)
		if mm == nil {
			continue
		}
		for _, p := range strings.Split(mm[1], ",") {
			p = strings.TrimSpace(p)
			rest, ok := strings.CutPrefix(p, "$..")
			if !ok || strings.ContainsAny(rest, "[") || strings.Contains(rest, "..") {
				continue
			}
			parts := strings.Split(rest, ".")
			switch len(parts) {
			case 1:
				out = append(out, skipPath{key: parts[0]})
			case 2:
				out = append(out, skipPath{parent: parts[0], key: parts[1]})
			}
		}
	}
	return out
}
