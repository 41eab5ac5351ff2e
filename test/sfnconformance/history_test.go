package sfnconformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/nimbus-dev/nimbus/internal/workflow/engine"
	"github.com/nimbus-dev/nimbus/internal/workflow/jsonv"
)

// historyTokens finds the <...> masking tokens in a recorded history.
var angleToken = regexp.MustCompile(`<[A-Za-z0-9_:\-]+>`)

// compareHistoryDetails compares our events with the full recorded history
// (ids, previous ids, types and details), masking tokens as wildcards.
// JSON carried as text (input, output, parameters, cause) compares as JSON.
func compareHistoryDetails(c *caseFile, raw json.RawMessage, events []engine.Event) string {
	want, err := jsonv.Parse(raw)
	if err != nil {
		return "unparsable expected history"
	}
	wl, _ := want.([]any)
	tokens := append([]string{"snf_role_arn", "sfn_role_arn", "timestamp", "date", "111111111111"}, c.MaskedTokens...)
	tokens = append(tokens, noteReplacements(c.Notes)...)
	for _, tok := range angleToken.FindAllString(string(raw), -1) {
		tokens = append(tokens, tok)
	}
	m := &matcher{tokens: tokens, skip: skipPaths(c.Notes), useSkip: true}
	subs := noteSubstitutions(c.Notes)
	if len(wl) != len(events) {
		return fmt.Sprintf("want %d events, got %d", len(wl), len(events))
	}
	for i, w := range wl {
		b, _ := json.Marshal(events[i])
		for _, sub := range subs {
			b = bytes.ReplaceAll(b, []byte(sub[0]), []byte(sub[1]))
		}
		g, _ := jsonv.Parse(b)
		wo, _ := w.(*jsonv.Object)
		go_ := g.(*jsonv.Object)
		for _, mem := range wo.Members() {
			if mem.Key == "timestamp" {
				continue
			}
			gv, ok := go_.Get(mem.Key)
			if !ok {
				return fmt.Sprintf("event %d (%v): missing %s", i+1, typeOf(wo), mem.Key)
			}
			if d := detailDiff(m, fmt.Sprintf("event %d (%v).%s", i+1, typeOf(wo), mem.Key), mem.Value, gv); d != "" {
				return d
			}
		}
		for _, mem := range go_.Members() {
			if _, ok := wo.Get(mem.Key); !ok {
				return fmt.Sprintf("event %d (%v): unexpected %s", i+1, typeOf(wo), mem.Key)
			}
		}
	}
	return ""
}

func typeOf(o *jsonv.Object) any { v, _ := o.Get("type"); return v }

var textFields = map[string]bool{"input": true, "output": true, "parameters": true, "cause": true}

func detailDiff(m *matcher, path string, want, got any) string {
	wo, ok1 := want.(*jsonv.Object)
	g, ok2 := got.(*jsonv.Object)
	if !ok1 || !ok2 {
		return m.diff(path, "", want, got)
	}
	for _, mem := range wo.Members() {
		gv, ok := g.Get(mem.Key)
		if !ok {
			return fmt.Sprintf("%s: missing %s", path, mem.Key)
		}
		p := path + "." + mem.Key
		if textFields[mem.Key] || mem.Key == "assignedVariables" {
			if d := textDiff(m, p, mem.Value, gv); d != "" {
				return d
			}
			continue
		}
		if d := detailDiff(m, p, mem.Value, gv); d != "" {
			return d
		}
	}
	for _, mem := range g.Members() {
		if _, ok := wo.Get(mem.Key); !ok {
			return fmt.Sprintf("%s: unexpected %s", path, mem.Key)
		}
	}
	return ""
}

// textDiff compares a field that carries JSON text; the recording may hold
// it parsed (LocalStack's snapshot) or as text.
func textDiff(m *matcher, path string, want, got any) string {
	if wo, ok := want.(*jsonv.Object); ok {
		if go_, ok := got.(*jsonv.Object); ok { // assignedVariables: name -> text
			for _, mem := range wo.Members() {
				gv, ok := go_.Get(mem.Key)
				if !ok {
					return fmt.Sprintf("%s: missing %s", path, mem.Key)
				}
				if d := textDiff(m, path+"."+mem.Key, mem.Value, gv); d != "" {
					return d
				}
			}
			if wo.Len() != go_.Len() {
				return fmt.Sprintf("%s: want %d variables, got %d", path, wo.Len(), go_.Len())
			}
			return ""
		}
	}
	gs, ok := got.(string)
	if !ok {
		return m.diff(path, "", want, got)
	}
	gv, err := jsonv.ParseString(gs)
	if err != nil {
		return m.diff(path, "", want, got)
	}
	if ws, ok := want.(string); ok {
		if wv, err := jsonv.ParseString(ws); err == nil {
			return m.diff(path, "", wv, gv)
		}
		if strings.TrimSpace(ws) == ws {
			if m.tokenMatch(ws, gs) {
				return ""
			}
		}
		return m.diff(path, "", want, gv)
	}
	return m.diff(path, "", want, gv)
}

var (
	regexTransformer = regexp.MustCompile(`RegexTransformer\('([^']*)', '([^']*)'\)`)
	pathTransformer  = regexp.MustCompile(`JsonpathTransformer\(jsonpath='[^']*', replacement='([^']*)'`)
)

// noteSubstitutions returns LocalStack's RegexTransformer rewrites, to apply
// to our events as the recording had them applied.
func noteSubstitutions(notes []string) [][2]string {
	var out [][2]string
	for _, n := range notes {
		for _, m := range regexTransformer.FindAllStringSubmatch(n, -1) {
			out = append(out, [2]string{m[1], m[2]})
		}
	}
	return out
}

// noteReplacements returns the whole-value replacements of JsonpathTransformers.
func noteReplacements(notes []string) []string {
	var out []string
	for _, n := range notes {
		for _, m := range pathTransformer.FindAllStringSubmatch(n, -1) {
			out = append(out, m[1])
		}
	}
	return out
}
