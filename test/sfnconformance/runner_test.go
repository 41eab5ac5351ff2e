// Package sfnconformance runs the AWS-recorded Step Functions conformance
// corpus (shared/conformance/sfn) against the workflow engine: every
// JSONPath-mode case that needs no S3, on a fake clock (testing/synctest),
// with the corpus' Lambda functions emulated in process, plus the
// validation cases against the ASL validator.
//
// The test fails only on regressions: known_failures.txt lists the cases
// that do not pass yet (with the reason); a failing case missing from it,
// or a listed case that now passes, fails the test. Run with -update to
// rewrite known_failures.txt and docs/sfn-conformance.md.
package sfnconformance

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/nimbus-dev/nimbus/internal/workflow/asl"
	"github.com/nimbus-dev/nimbus/internal/workflow/engine"
	"github.com/nimbus-dev/nimbus/internal/workflow/jsonpath"
	"github.com/nimbus-dev/nimbus/internal/workflow/jsonv"
	"github.com/nimbus-dev/nimbus/internal/workflow/lambdatask"
)

var (
	update    = flag.Bool("update", false, "rewrite known_failures.txt and docs/sfn-conformance.md")
	corpusDir = flag.String("corpus", "", "the corpus directory (default: shared/conformance/sfn found above the repository)")
	only      = flag.String("case", "", "run only cases whose name contains this")
)

const (
	region  = "us-east-1"
	account = "111111111111"
	roleARN = "arn:aws:iam::111111111111:role/sfn-role"
)

type caseFile struct {
	Name             string          `json:"name"`
	Category         string          `json:"category"`
	Features         []string        `json:"features"`
	API              string          `json:"api"`
	StateMachineType string          `json:"state_machine_type"`
	Definition       json.RawMessage `json:"definition"`
	Input            json.RawMessage `json:"input"`
	Expected         struct {
		Status            string          `json:"status"`
		Output            json.RawMessage `json:"output"`
		Error             *string         `json:"error"`
		Cause             *string         `json:"cause"`
		CauseJSON         json.RawMessage `json:"cause_json"`
		HistoryEventTypes []string        `json:"history_event_types"`
	} `json:"expected"`
	HistoryReliable *bool           `json:"expected_history_reliable"`
	History         json.RawMessage `json:"expected_history"`
	MaskedTokens    []string        `json:"masked_tokens"`
	Notes           []string        `json:"notes"`
	Lambda          map[string]struct {
		FunctionName string `json:"function_name"`
		Behavior     string `json:"behavior"`
	} `json:"lambda_functions"`
}

// outcome is one case's result.
type outcome struct {
	name     string
	category string
	features []string
	skipped  string // reason, when not run
	failure  string // "" when passed
	viaSkips bool   // passed only by ignoring fields LocalStack does not verify
	// history is the comparison of the full recorded history (ids, links,
	// details): "" when equal, "-" when not compared. Informational.
	history string
}

// findCorpus locates shared/conformance/sfn walking up from the package.
func findCorpus(t *testing.T) string {
	if *corpusDir != "" {
		return *corpusDir
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		c := filepath.Join(dir, "shared", "conformance", "sfn")
		if st, err := os.Stat(c); err == nil && st.IsDir() {
			return c
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("conformance corpus shared/conformance/sfn not found above the repository; pass -corpus")
		}
		dir = parent
	}
}

func loadCases(t *testing.T, dir string) []*caseFile {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var out []*caseFile
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c := &caseFile{}
		if err := json.Unmarshal(b, c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if *only != "" && !strings.Contains(c.Name, *only) {
			continue
		}
		out = append(out, c)
	}
	return out
}

func TestConformance(t *testing.T) {
	corpus := findCorpus(t)
	cases := loadCases(t, filepath.Join(corpus, "cases"))
	if len(cases) == 0 {
		t.Fatal("no cases")
	}
	results := make([]outcome, len(cases))
	var mu sync.Mutex
	t.Run("case", func(t *testing.T) {
		for i, c := range cases {
			results[i] = outcome{name: c.Name, category: c.Category, features: c.Features}
			switch {
			case slices.Contains(c.Features, "jsonata"):
				results[i].skipped = "JSONata query language"
				continue
			case c.Category == "s3":
				results[i].skipped = "needs S3 (ItemReader/ResultWriter)"
				continue
			}
			t.Run(c.Name, func(t *testing.T) {
				t.Parallel()
				var o outcome
				synctest.Test(t, func(t *testing.T) {
					o = runCase(t, c)
				})
				mu.Lock()
				results[i].failure, results[i].viaSkips, results[i].history = o.failure, o.viaSkips, o.history
				mu.Unlock()
			})
		}
	})
	if *only != "" {
		for _, r := range results {
			if r.skipped == "" {
				t.Logf("%s: %s", r.name, orPass(r.failure))
			}
		}
		return
	}
	validation := runValidation(t, filepath.Join(corpus, "validation"))
	unverified := runUnverified(t, filepath.Join(corpus, "cases_unverified"))
	checkKnown(t, results, validation)
	writeReport(t, results, validation, unverified)
}

func orPass(f string) string {
	if f == "" {
		return "PASS"
	}
	return "FAIL: " + f
}

// runUnverified runs the corpus' doubtful recordings, for information only.
func runUnverified(t *testing.T, dir string) []outcome {
	var out []outcome
	for _, c := range loadCases(t, dir) {
		o := outcome{name: c.Name, category: c.Category, features: c.Features}
		switch {
		case slices.Contains(c.Features, "jsonata"):
			o.skipped = "JSONata query language"
		case c.Category == "s3":
			o.skipped = "needs S3"
		default:
			synctest.Test(t, func(t *testing.T) {
				r := runCase(t, c)
				o.failure, o.history = r.failure, r.history
			})
		}
		out = append(out, o)
	}
	return out
}

// runCase executes one case inside a synctest bubble and compares.
func runCase(t *testing.T, c *caseFile) (o outcome) {
	o.history = "-"
	fail := func(s string) outcome { o.failure = s; return o }
	typ := c.StateMachineType
	if typ == "" {
		typ = asl.Standard
	}
	def, err := asl.Parse(c.Definition, asl.Options{Type: typ})
	if err != nil {
		return fail("definition rejected: " + err.Error())
	}
	fl := &fakeLambda{region: region, account: account, behaviors: map[string]string{}}
	for _, fn := range c.Lambda {
		fl.behaviors[fn.FunctionName] = fn.Behavior
	}
	runner := &lambdatask.Runner{Invoker: fl}
	smName := "sm_" + shortName(c.Name)
	execName := jsonpath.NewUUID()
	execARN := fmt.Sprintf("arn:aws:states:%s:%s:execution:%s:%s", region, account, smName, execName)
	if typ == asl.Express {
		execARN = fmt.Sprintf("arn:aws:states:%s:%s:express:%s:%s:%s", region, account, smName, execName, jsonpath.NewUUID())
	}
	input := c.Input
	if len(bytes.TrimSpace(input)) == 0 || string(bytes.TrimSpace(input)) == "null" {
		input = json.RawMessage("{}")
	}
	x, err := engine.New(engine.Config{
		Definition:       def,
		ExecutionARN:     execARN,
		ExecutionName:    execName,
		StateMachineARN:  fmt.Sprintf("arn:aws:states:%s:%s:stateMachine:%s", region, account, smName),
		StateMachineName: smName,
		RoleARN:          roleARN,
		Type:             typ,
		Sync:             c.API == "StartSyncExecution",
		Input:            input,
	}, runner, engine.SystemClock{}, nil)
	if err != nil {
		return fail("start: " + err.Error())
	}
	var res *engine.Result
	var runErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, runErr = x.Run(t.Context())
	}()
	if stopCalled(c) {
		synctest.Wait()
		x.Stop("", "")
	}
	<-done
	if runErr != nil {
		return fail("run: " + runErr.Error())
	}
	events := x.Events()
	if len(c.History) > 0 && (c.HistoryReliable == nil || *c.HistoryReliable) {
		o.history = compareHistoryDetails(c, c.History, events)
	}
	m := &matcher{tokens: c.MaskedTokens, skip: skipPaths(c.Notes)}
	if d := compareResult(m, c, res, events); d != "" {
		m.useSkip = true
		if len(m.skip) == 0 || compareResult(m, c, res, events) != "" {
			return fail(d)
		}
		if testing.Verbose() {
			t.Logf("passes only ignoring unverified fields; strict: %s", d)
		}
		o.viaSkips = true
	}
	return o
}

func shortName(name string) string {
	s := name[strings.LastIndexByte(name, '.')+1:]
	s = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, s)
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}

func stopCalled(c *caseFile) bool {
	for _, n := range c.Notes {
		if strings.Contains(n, "stop_execution") {
			return true
		}
	}
	return false
}

func parseJSON(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	v, err := jsonv.Parse(raw)
	if err != nil {
		return nil
	}
	return v
}

func compareResult(m *matcher, c *caseFile, res *engine.Result, events []engine.Event) string {
	exp := c.Expected
	if res.Status != exp.Status {
		detail := ""
		if res.HasError || res.HasCause {
			detail = fmt.Sprintf(" (error %q, cause %q)", res.Error, short(res.Cause))
		}
		return fmt.Sprintf("status: want %s, got %s%s", exp.Status, res.Status, detail)
	}
	if exp.Status == engine.StatusSucceeded {
		got, err := jsonv.Parse(res.Output)
		if err != nil {
			return "output is not JSON"
		}
		if d := m.diff("output", "", parseJSON(exp.Output), got); d != "" {
			return d
		}
	}
	if exp.Error != nil || res.HasError {
		want := ""
		if exp.Error != nil {
			want = *exp.Error
		}
		if !m.tokenMatch(want, res.Error) {
			return fmt.Sprintf("error: want %q, got %q", want, res.Error)
		}
	}
	switch {
	case len(exp.CauseJSON) > 0:
		got, err := jsonv.ParseString(res.Cause)
		if err != nil {
			return fmt.Sprintf("cause: want JSON, got %q", short(res.Cause))
		}
		if d := m.diff("cause", "", parseJSON(exp.CauseJSON), got); d != "" {
			return d
		}
	case exp.Cause != nil || res.HasCause:
		want := ""
		if exp.Cause != nil {
			want = *exp.Cause
		}
		if !m.useSkip || !m.skipped("", "cause") {
			if !m.tokenMatch(want, res.Cause) {
				return fmt.Sprintf("cause: want %q, got %q", short(want), short(res.Cause))
			}
		}
	}
	if len(exp.HistoryEventTypes) > 0 && (c.HistoryReliable == nil || *c.HistoryReliable) {
		var got []string
		for _, e := range events {
			got = append(got, e.Type)
		}
		if !slices.Equal(got, exp.HistoryEventTypes) {
			return "history: " + historyDiff(exp.HistoryEventTypes, got)
		}
	}
	return ""
}

func historyDiff(want, got []string) string {
	i := 0
	for i < len(want) && i < len(got) && want[i] == got[i] {
		i++
	}
	at := func(s []string) string {
		if i < len(s) {
			return s[i]
		}
		return "(end)"
	}
	return fmt.Sprintf("event %d: want %s, got %s (want %d events, got %d)", i+1, at(want), at(got), len(want), len(got))
}

// ---- validation cases ----

type validationCase struct {
	Name             string          `json:"name"`
	Kind             string          `json:"kind"`
	StateMachineType string          `json:"state_machine_type"`
	Definition       json.RawMessage `json:"definition"`
	DefinitionText   *string         `json:"definition_text"`
	Expected         struct {
		Result      string `json:"result"`
		Diagnostics []struct {
			Code     string `json:"code"`
			Message  string `json:"message"`
			Location string `json:"location"`
		} `json:"diagnostics"`
		Error *struct {
			Code    string `json:"Code"`
			Message string `json:"Message"`
		} `json:"error"`
		ExceptionType    string `json:"exception_typename"`
		ExceptionMessage string `json:"exception_message"`
	} `json:"expected"`
}

func runValidation(t *testing.T, dir string) []outcome {
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	var out []outcome
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var c validationCase
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		o := outcome{name: c.Name, category: "validation", features: []string{"validation"}}
		o.skipped, o.failure = checkValidation(&c)
		out = append(out, o)
	}
	return out
}

// activityPlaceholder is the corpus' stand-in for an activity ARN created
// by its test.
const activityPlaceholder = "create_activity()[activityArn]"

func checkValidation(c *validationCase) (skipped, failure string) {
	text := []byte(c.Definition)
	if c.DefinitionText != nil {
		text = []byte(*c.DefinitionText)
	}
	text = bytes.ReplaceAll(text, []byte(activityPlaceholder), []byte("arn:aws:states:us-east-1:111111111111:activity:corpus"))
	opts := asl.Options{Type: c.StateMachineType}
	mask := func(s string) string { return strings.ReplaceAll(s, "arn:aws:", "arn:<partition>:") }
	exp := c.Expected
	switch {
	case c.Kind == "ValidateStateMachineDefinition":
		diags := asl.Validate(text, opts)
		result := "OK"
		for _, d := range diags {
			if d.Severity == "ERROR" {
				result = "FAIL"
			}
		}
		if result != exp.Result {
			return "", fmt.Sprintf("result: want %s, got %s %v", exp.Result, result, diags)
		}
		if len(diags) != len(exp.Diagnostics) {
			return "", fmt.Sprintf("diagnostics: want %d, got %d: %v", len(exp.Diagnostics), len(diags), diags)
		}
		for i, d := range exp.Diagnostics {
			g := diags[i]
			if g.Code != d.Code || mask(g.Message) != d.Message || g.Location != d.Location {
				return "", fmt.Sprintf("diagnostic %d: want %s %q at %q, got %s %q at %q", i, d.Code, d.Message, d.Location, g.Code, g.Message, g.Location)
			}
		}
		return "", ""
	default:
		want := ""
		switch {
		case exp.Error != nil && exp.Error.Code == "InvalidDefinition":
			want = exp.Error.Message
		case exp.ExceptionType == "InvalidDefinition":
			_, want, _ = strings.Cut(exp.ExceptionMessage, "operation: ")
		default:
			code := exp.ExceptionType
			if exp.Error != nil {
				code = exp.Error.Code
			}
			return "API-level check (" + code + "), not a definition check", ""
		}
		_, err := asl.Parse(text, opts)
		var de *asl.Error
		if !errors.As(err, &de) {
			return "", "definition accepted; want " + want
		}
		if got := mask(de.Error()); got != want {
			return "", fmt.Sprintf("message: want %q, got %q", want, got)
		}
		return "", ""
	}
}

// ---- known failures ----

func readKnown(t *testing.T) map[string]string {
	known := map[string]string{}
	b, err := os.ReadFile("known_failures.txt")
	if errors.Is(err, os.ErrNotExist) {
		return known
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, reason, _ := strings.Cut(line, " ")
		known[name] = strings.TrimSpace(reason)
	}
	return known
}

func checkKnown(t *testing.T, results, validation []outcome) {
	known := readKnown(t)
	all := append(append([]outcome(nil), results...), validation...)
	var lines []string
	for _, r := range all {
		if r.skipped != "" {
			continue
		}
		_, listed := known[r.name]
		switch {
		case r.failure != "" && !listed && !*update:
			t.Errorf("regression: %s: %s", r.name, r.failure)
		case r.failure == "" && listed && !*update:
			t.Errorf("%s now passes: remove it from known_failures.txt", r.name)
		}
		if r.failure != "" {
			lines = append(lines, r.name+" "+oneLine(r.failure))
		}
	}
	if *update {
		slices.Sort(lines)
		content := "# Conformance cases that do not pass yet: <case name> <reason>.\n" +
			"# Regenerate with: go test ./test/sfnconformance/ -update\n" + strings.Join(lines, "\n") + "\n"
		if err := os.WriteFile("known_failures.txt", []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", `\n`)
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}
