package template

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary templates to Parse and, when they parse, to Plan,
// Resolve and Diff: a bad template must be an error, never a panic, and a
// plan must encode and equal itself.
func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile("testdata/app/template.yaml"); err == nil {
		f.Add(b)
	}
	for _, s := range []string{
		sam + intrinsicsTemplate + "!Join [\",\", !Ref Names]\n",
		sam + diffBase,
		sam + "Resources:\n  Fn:" + nodeFn + "      Events:\n        A: {Type: HttpApi}\n        B: {Type: SQS, Properties: {Queue: !GetAtt Q.Arn}}\n  Q: {Type: AWS::SQS::Queue}\n",
		sam + "Resources:\n  SM: {Type: AWS::Serverless::StateMachine, Properties: {DefinitionUri: sm.json, DefinitionSubstitutions: {Fn: x}}}\n",
		`{"Resources": {"T": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": {"Fn::Sub": ["${A}\/b", {"A": "x"}]}}}}}`,
		"Conditions:\n  A: !Or [!Condition A, !Equals [1, 1]]\nResources:\n  T: {Type: AWS::SNS::Topic, Condition: A}\n",
		"Resources:\n  T: {Type: AWS::SNS::Topic, Properties: {TopicName: !Select [!Ref AWS::NoValue, !GetAZs '']}}\n",
		"Resources:\n  A: &a [*a]\n",
		"- !Ref\n",
		"",
	} {
		f.Add([]byte(s))
	}
	dir := codeDir(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		tpl, err := Parse(data)
		if err != nil {
			if _, ok := err.(interface{ Unwrap() []error }); !ok {
				if _, ok := err.(*Error); !ok {
					t.Fatalf("Parse error %T is not a *Error: %v", err, err)
				}
			}
			return
		}
		opts := Options{Stack: "s", Dir: dir, Imports: map[string]string{"x": "y"}}
		tpl.Resolve(opts)
		p, err := tpl.Plan(opts)
		if err != nil {
			return
		}
		if _, err := json.Marshal(p); err != nil {
			t.Fatalf("the plan does not encode: %v", err)
		}
		if c := Diff(p, p); !c.Empty() {
			t.Fatalf("a plan differs from itself: %+v", c)
		}
	})
}

// FuzzResolve evaluates arbitrary YAML values in a template that declares
// parameters, conditions, mappings and resources of every kind, as an output
// and as a function's environment variable and event properties.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{
		"!Ref Env", "!GetAtt Q.Arn", `!Sub "${AWS::Region}-${Fn.Arn}-${!x}"`, `!Join ["-", !Ref Names]`,
		`!If [IsDev, !Ref AWS::NoValue, [a]]`, `!Select [1, !Split [",", "a,b"]]`, `!FindInMap [M, dev, Zones, {DefaultValue: x}]`,
		`{"Fn::GetAtt": [Api, !Ref Env]}`, "!Base64 {Ref: Port}", "!Ref Aliased.Alias", "[!GetAZs '', {a: !Ref T}]",
	} {
		f.Add(s)
	}
	dir := codeDir(f)
	f.Fuzz(func(t *testing.T, expr string) {
		if strings.ContainsAny(expr, "\n\r") {
			return
		}
		srcs := []string{
			intrinsicsTemplate + expr + "\n",
			strings.Replace(intrinsicsTemplate, "Outputs:", "  Fn2:"+nodeFn+"      Environment: {Variables: {V: "+expr+"}}\n"+
				"      Events: {E: {Type: SQS, Properties: {Queue: "+expr+"}}, H: {Type: HttpApi, Properties: "+expr+"}}\nOutputs:", 1) + "x\n",
		}
		for _, src := range srcs {
			tpl, err := Parse([]byte(sam + src))
			if err != nil {
				continue
			}
			p, err := tpl.Plan(Options{Stack: "s", Dir: dir})
			if err == nil {
				if _, err := json.Marshal(p); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}
