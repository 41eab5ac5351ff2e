package template

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// codeDir makes a directory holding one function of each build kind:
// node/ (index.js), py/ (app.py), gomod/ (go.mod), bin/ (executable bootstrap),
// code.zip, and a state machine definition sm.json.
func codeDir(t testing.TB) string {
	dir := t.TempDir()
	files := map[string]string{
		"node/index.js":     "exports.handler = async () => 'ok';\n",
		"py/app.py":         "def handler(e, c):\n    return 'ok'\n",
		"gomod/go.mod":      "module example.com/fn\n\ngo 1.26\n",
		"gomod/main.go":     "package main\n\nfunc main() {}\n",
		"bin/bootstrap":     "#!/bin/sh\n",
		"noexec/boot":       "",
		"empty/README":      "",
		"code.zip":          "PK\x05\x06" + strings.Repeat("\x00", 18),
		"sm.json":           `{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "${Fn}", "End": true}}}`,
		"sm-bad.json":       `{"StartAt": `,
		"nonexec/bootstrap": "#!/bin/sh\n",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if name == "bin/bootstrap" {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const sam = "Transform: AWS::Serverless-2016-10-31\n"

// planOf parses and plans src (the SAM transform is prepended) for stack
// "app" in a codeDir.
func planOf(t testing.TB, src string, opts ...func(*Options)) (*Plan, error) {
	t.Helper()
	tpl, err := Parse([]byte(sam + src))
	if err != nil {
		return nil, err
	}
	o := Options{Stack: "app", Dir: codeDir(t)}
	for _, f := range opts {
		f(&o)
	}
	return tpl.Plan(o)
}

func mustPlan(t testing.TB, src string, opts ...func(*Options)) *Plan {
	t.Helper()
	p, err := planOf(t, src, opts...)
	if err != nil {
		t.Fatalf("plan: %v\n%s", err, src)
	}
	return p
}

func withParams(kv ...string) func(*Options) {
	return func(o *Options) {
		o.Parameters = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			o.Parameters[kv[i]] = kv[i+1]
		}
	}
}

func mustResource(t testing.TB, p *Plan, id string) *Resource {
	t.Helper()
	r := p.Resource(id)
	if r == nil {
		var ids []string
		for _, r := range p.Resources {
			ids = append(ids, r.LogicalID)
		}
		t.Fatalf("no resource %s in plan (have %v)", id, ids)
	}
	return r
}

// nodeFn is a minimal Node.js function's properties.
const nodeFn = `
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: node
      Handler: index.handler
      Runtime: nodejs22.x
`

func hasWarning(p *Plan, substr string) bool {
	for _, w := range p.Warnings {
		if strings.Contains(w, substr) {
			return true
		}
	}
	return false
}
