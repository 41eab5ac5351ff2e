// Package archtest enforces the architecture's invariants (ARCHITECTURE.md):
// imports flow one way, one package owns each dependency, only config reads the
// environment, and every package documents its contract.
package archtest

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/nimbus-dev/nimbus/"

type pkg struct {
	dir     string
	imports map[string]bool
	doc     bool
	getenv  bool
}

func load(t *testing.T) map[string]*pkg {
	root := "../.."
	pkgs := map[string]*pkg{}
	fset := token.NewFileSet()
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		p := pkgs[rel]
		if p == nil {
			p = &pkg{dir: rel, imports: map[string]bool{}}
			pkgs[rel] = p
		}
		if f.Doc != nil {
			p.doc = true
		}
		for _, imp := range f.Imports {
			s, _ := strconv.Unquote(imp.Path.Value)
			p.imports[strings.TrimPrefix(s, module)] = true
		}
		src, _ := os.ReadFile(path)
		if strings.Contains(string(src), "os.Getenv(") || strings.Contains(string(src), "os.LookupEnv(") || strings.Contains(string(src), "os.Environ(") {
			p.getenv = true
		}
		return nil
	})
	if len(pkgs) < 10 {
		t.Fatalf("found only %d packages; is the test running from internal/archtest?", len(pkgs))
	}
	return pkgs
}

// allowed lists, for each package, the internal packages it may import. A
// package not listed here may not be imported by anyone but cmd and app.
var allowed = map[string][]string{
	"internal/lambda":              {},
	"internal/config":              {},
	"internal/backbone":            {},
	"internal/artifact/unzip":      {},
	"internal/sandbox":             {},
	"internal/logs":                {},
	"internal/awsapi/sigv4":        {},
	"internal/awsapi/eventstream":  {},
	"internal/sched/keepalive":     {},
	"internal/runtimeapi":          {"internal/lambda"},
	"internal/runtimes":            {"internal/lambda"},
	"internal/debugger":            {"internal/lambda", "internal/runtimes"},
	"internal/registry":            {"internal/lambda"},
	"internal/artifact":            {"internal/lambda", "internal/artifact/unzip"},
	"internal/concurrency":         {"internal/lambda"},
	"internal/metrics":             {"internal/concurrency"},
	"internal/sched":               {"internal/lambda", "internal/artifact", "internal/logs", "internal/runtimeapi", "internal/runtimes", "internal/sandbox", "internal/sched/keepalive", "internal/debugger"},
	"internal/invoke":              {"internal/lambda", "internal/registry", "internal/runtimeapi", "internal/sched", "internal/concurrency", "internal/metrics"},
	"internal/events/queue":        {"internal/lambda"},
	"internal/events/esm":          {"internal/lambda", "internal/events/queue", "internal/invoke"},
	"internal/events/topic":        {"internal/lambda", "internal/events/queue", "internal/invoke"},
	"internal/events/schedule":     {"internal/lambda", "internal/invoke"},
	"internal/gateway":             {"internal/lambda", "internal/invoke"},
	"internal/shift":               {"internal/lambda"},
	"internal/workflow/jsonv":      {},
	"internal/workflow/jsonpath":   {"internal/workflow/jsonv"},
	"internal/workflow/asl":        {"internal/workflow/jsonpath", "internal/workflow/jsonv"},
	"internal/workflow/engine":     {"internal/workflow/asl", "internal/workflow/jsonpath", "internal/workflow/jsonv"},
	"internal/workflow/lambdatask": {"internal/workflow/asl", "internal/workflow/engine", "internal/workflow/jsonv"},
	"internal/workflow/executions": {"internal/lambda", "internal/invoke", "internal/workflow/asl", "internal/workflow/engine", "internal/workflow/jsonv", "internal/workflow/lambdatask"},
	"internal/awsapi":              {"internal/lambda", "internal/awsapi/sigv4"},
	"internal/awsapi/lambdaapi":    {"internal/lambda", "internal/awsapi", "internal/artifact", "internal/invoke", "internal/registry", "internal/runtimes", "internal/concurrency", "internal/events/esm", "internal/events/queue", "internal/awsapi/eventstream"},
	"internal/awsapi/sqsapi":       {"internal/awsapi", "internal/lambda", "internal/events/queue"},
	"internal/awsapi/snsapi":       {"internal/lambda", "internal/events/topic"},
	"internal/awsapi/eventsapi":    {"internal/awsapi", "internal/lambda", "internal/events/schedule"},
	"internal/secrets":             {"internal/lambda"},
	"internal/awsapi/secretsapi":   {"internal/awsapi", "internal/lambda", "internal/secrets"},
	"internal/awsapi/sfnapi":       {"internal/awsapi", "internal/lambda", "internal/workflow/asl", "internal/workflow/engine", "internal/workflow/executions"},
	"internal/template":            {"internal/gateway", "internal/lambda"},
	"internal/template/build":      {"internal/template"},
	"internal/deploy":              {"internal/gateway", "internal/lambda", "internal/shift", "internal/template", "internal/template/build"},
	"internal/dev":                 {"internal/lambda", "internal/deploy", "internal/template", "internal/template/build"},
	"examples/app/add":             {}, // the example app's Go function: a Lambda main, nothing of nimbus
	"internal/cli":                 {"internal/lambda", "internal/config", "internal/deploy", "internal/shift", "internal/template", "internal/dev"},
}

func TestImportsFlowOneWay(t *testing.T) {
	for dir, p := range load(t) {
		if dir == "cmd/nimbus" || dir == "internal/app" || strings.HasPrefix(dir, "cmd/") || dir == "internal/archtest" {
			continue
		}
		ok, listed := allowed[dir]
		if !listed {
			t.Errorf("%s is not in archtest's layer table; add it with the packages it may import", dir)
			continue
		}
		for imp := range p.imports {
			if strings.HasPrefix(imp, "internal/") && !slices.Contains(ok, imp) {
				t.Errorf("%s imports %s, which its layer does not allow", dir, imp)
			}
			if imp == "cmd/nimbus" || imp == "internal/app" {
				t.Errorf("%s imports the composition root %s", dir, imp)
			}
		}
	}
}

func TestOneOwnerPerDependency(t *testing.T) {
	owners := map[string]string{
		"github.com/nats-io/nats-server/v2/server": "internal/backbone",
	}
	for dir, p := range load(t) {
		for imp := range p.imports {
			if owner, ok := owners[imp]; ok && owner != dir {
				t.Errorf("%s imports %s; only %s may", dir, imp, owner)
			}
		}
	}
}

func TestOnlyConfigReadsTheEnvironment(t *testing.T) {
	for dir, p := range load(t) {
		if p.getenv && dir != "internal/config" && dir != "cmd/nimbus" && !strings.HasPrefix(dir, "cmd/") {
			t.Errorf("%s reads the process environment; only internal/config (and main, passing os.Getenv) may", dir)
		}
	}
}

func TestEveryPackageHasADocComment(t *testing.T) {
	for dir, p := range load(t) {
		if !p.doc {
			t.Errorf("%s has no package comment stating its contract", dir)
		}
	}
}
