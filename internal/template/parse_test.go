package template

import (
	"errors"
	"strings"
	"testing"
)

func TestParseErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{"", "the template is empty"},
		{"[a, b]", "line 1: a template must be a map of sections, not a list"},
		{"Resources:\n  Fn: {Type: x\n", "line 1: did not find expected ',' or '}'"},
		{"a: b\n  c: d\n", "line 2: mapping values are not allowed in this context"},
		{"Resources:\n  A: !Foo x\n", "line 2: Resources.A: unknown tag !Foo"},
		{"Resources:\n  A: &x {Type: AWS::SNS::Topic}\n  B: *x\n", "YAML aliases and anchors are not allowed"},
		{"Resources:\n  A: {Type: AWS::SNS::Topic}\n  A: {Type: AWS::SNS::Topic}\n", `line 3: Resources.A: duplicate key "A"`},
		{"Resources:\n  A:\n    <<: {Type: AWS::SNS::Topic}\n", "merge keys are not allowed"},
		{"Resources: {}\n", "Resources: must be a map of at least one resource"},
		{"Description: x\n", "Resources: a template needs at least one resource"},
		{"Resources:\n  Fn:" + nodeFn, "line 3: Resources.Fn.Type: AWS::Serverless::Function needs Transform: AWS::Serverless-2016-10-31"},
		{"Transform: AWS::Include\nResources:\n  A: {Type: AWS::SNS::Topic}\n", "transform AWS::Include is not supported"},
		{"AWSTemplateFormatVersion: '2012-01-01'\nResources:\n  A: {Type: AWS::SNS::Topic}\n", "AWSTemplateFormatVersion: must be 2010-09-09"},
		{"Resourcez:\n  A: {Type: AWS::SNS::Topic}\n", "Resourcez: not a template section"},
		{"Resources:\n  my-topic: {Type: AWS::SNS::Topic}\n", "Resources.my-topic: logical ids must be letters and digits"},
		{"Resources:\n  A: {Properties: {}}\n", "Resources.A.Type: a resource needs a Type"},
		{"Resources:\n  A: {Type: AWS::SNS::Topic, Properties: [x]}\n", "Resources.A.Properties: must be a map"},
		{"Resources:\n  A: {Type: AWS::SNS::Topic, Condition: Nope}\n", `Resources.A.Condition: no condition named "Nope"`},
		{"Resources:\n  A: {Type: AWS::SNS::Topic, DependsOn: [B]}\n", `Resources.A.DependsOn: no other resource named "B"`},
		{"Resources:\n  A: {Type: AWS::SNS::Topic, Bogus: 1}\n", "Resources.A.Bogus: not a resource attribute"},
		{"Parameters:\n  A: {Type: AWS::SSM::Parameter::Value<String>, Default: /x}\nResources:\n  A: {Type: AWS::SNS::Topic}\n",
			"line 2: Parameters.A.Type: parameter type AWS::SSM::Parameter::Value<String> is not supported"},
		{"Parameters:\n  P: {Type: AWS::EC2::VPC::Id}\nResources:\n  A: {Type: AWS::SNS::Topic}\n", "is not supported"},
		{"Parameters:\n  P: {Type: Strin}\nResources:\n  A: {Type: AWS::SNS::Topic}\n", `unknown parameter type "Strin"`},
		{"Parameters:\n  P: {Default: x}\nResources:\n  A: {Type: AWS::SNS::Topic}\n", "Parameters.P: Type is required"},
		{"Parameters:\n  P: {Type: String, AllowedPattern: '(['}\nResources:\n  A: {Type: AWS::SNS::Topic}\n", "not a regular expression"},
		{"Parameters:\n  P: {Type: String, Colour: red}\nResources:\n  A: {Type: AWS::SNS::Topic}\n", "Parameters.P.Colour: not a parameter attribute"},
		{"Parameters:\n  A: {Type: String}\nResources:\n  A: {Type: AWS::SNS::Topic}\n", "Parameters.A: a resource has the same logical id"},
		{"Outputs:\n  O: {Description: x}\nResources:\n  A: {Type: AWS::SNS::Topic}\n", "Outputs.O: an output needs a Value"},
		{"Outputs:\n  O: {Value: x, Export: y}\nResources:\n  A: {Type: AWS::SNS::Topic}\n", "Outputs.O.Export: must be a map with a Name"},
		{"Mappings:\n  M: {a: b}\nResources:\n  A: {Type: AWS::SNS::Topic}\n", "Mappings.M.a: a mapping must be a map of maps"},
		{"Resources:\n  A: {Type: AWS::SNS::Topic}\n---\nResources: {}\n", "a template is one YAML document"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.src))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q): error %v, want %q", tt.src, err, tt.want)
			continue
		}
		if _, ok := errors.AsType[*Error](err); !ok {
			t.Errorf("Parse(%q): error %T is not a *template.Error", tt.src, err)
		}
	}
	if _, err := Parse(make([]byte, MaxTemplateBytes+1)); err == nil {
		t.Errorf("an oversized template was accepted")
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	_, err := Parse([]byte("Resources:\n  a-b: {Type: AWS::SNS::Topic}\n  C: {Properties: {}}\nBogus: 1\n"))
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok || len(joined.Unwrap()) != 3 {
		t.Fatalf("error %v, want 3 problems", err)
	}
}

func TestParseJSON(t *testing.T) {
	src := `{
  "AWSTemplateFormatVersion": "2010-09-09",
  "Transform": ["AWS::Serverless-2016-10-31"],
  "Parameters": {"Name": {"Type": "String", "Default": "caf\u00e9\/x"}},
  "Resources": {
    "T": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": {"Fn::Join": ["-", ["a", {"Ref": "AWS::StackName"}]]}}}
  },
  "Outputs": {"N": {"Value": {"Ref": "Name"}}, "T": {"Value": {"Fn::GetAtt": ["T", "TopicName"]}}}
}`
	tpl, err := Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	p, err := tpl.Plan(Options{Stack: "s", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if p.Outputs[0].Value != "café/x" || p.Outputs[1].Value != "a-s" {
		t.Errorf("outputs = %+v", p.Outputs)
	}
}

func TestParameters(t *testing.T) {
	const params = `
Parameters:
  Name: {Type: String, Default: abc, AllowedPattern: "[a-z]+", MinLength: 2, MaxLength: 5, ConstraintDescription: lower-case letters}
  Size: {Type: Number, Default: 5, MinValue: 1, MaxValue: 10}
  Sizes: {Type: List<Number>, Default: "1,2"}
  Env: {Type: String, AllowedValues: [dev, prod]}
  Secret: {Type: String, NoEcho: true, MinLength: 8}
Resources:
  T: {Type: AWS::SNS::Topic}
`
	p := mustPlan(t, params, withParams("Env", "prod", "Secret", "hunter2!"))
	want := map[string]string{"Name": "abc", "Size": "5", "Sizes": "1,2", "Env": "prod", "Secret": "****"}
	for k, v := range want {
		if p.Parameters[k] != v {
			t.Errorf("Parameters[%s] = %q, want %q", k, p.Parameters[k], v)
		}
	}
	tests := []struct {
		kv   []string
		want string
	}{
		{[]string{"Secret", "hunter2!"}, "line 7: Parameters.Env: needs a value (it has no Default)"},
		{[]string{"Env", "test", "Secret", "hunter2!"}, `Parameters.Env: value "test" is not one of the allowed values dev, prod`},
		{[]string{"Env", "dev", "Secret", "short"}, `Parameters.Secret: value "****" is shorter than MinLength 8`},
		{[]string{"Env", "dev", "Secret", "hunter2!", "Name", "ABC"}, `value "ABC" does not match the pattern [a-z]+ (lower-case letters)`},
		{[]string{"Env", "dev", "Secret", "hunter2!", "Name", "abcdef"}, "is longer than MaxLength 5"},
		{[]string{"Env", "dev", "Secret", "hunter2!", "Size", "11"}, "is greater than MaxValue 10"},
		{[]string{"Env", "dev", "Secret", "hunter2!", "Size", "x"}, `value "x" is not a number`},
		{[]string{"Env", "dev", "Secret", "hunter2!", "Sizes", "1,x"}, "is not a number"},
		{[]string{"Env", "dev", "Secret", "hunter2!", "Nope", "1"}, `the template declares no parameter "Nope"`},
	}
	for _, tt := range tests {
		_, err := planOf(t, params, withParams(tt.kv...))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: error %v, want %q", tt.kv, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "short\"") {
			t.Errorf("a NoEcho value leaked into %q", err)
		}
	}
}

func TestStackName(t *testing.T) {
	tpl, err := Parse([]byte("Resources:\n  T: {Type: AWS::SNS::Topic}\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"", "1abc", "a_b", strings.Repeat("a", 129)} {
		if _, err := tpl.Plan(Options{Stack: s}); err == nil {
			t.Errorf("stack name %q accepted", s)
		}
	}
}

func TestResolve(t *testing.T) {
	tpl, err := Parse([]byte(sam + `
Parameters:
  Env: {Type: String, Default: dev}
Conditions:
  Never: !Equals [a, b]
Globals:
  Function: {Timeout: 7}
Resources:
  Gone: {Type: AWS::SNS::Topic, Condition: Never}
  Fn:
    Type: AWS::Serverless::Function
    DependsOn: T
    Properties:
      CodeUri: node
      Environment: {Variables: {ENV: !Ref Env, T: !Ref T}}
  T: {Type: AWS::SNS::Topic}
Outputs:
  O: {Value: !Sub "${Env}-x", Export: {Name: ex}}
`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := tpl.Resolve(Options{Stack: "app"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"Resources":{"Fn":{"Type":"AWS::Serverless::Function","Properties":{"Timeout":7,"CodeUri":"node","Environment":{"Variables":{"ENV":"dev","T":"arn:aws:sns:us-east-1:000000000000:app-T"}}},"DependsOn":["T"]},"T":{"Type":"AWS::SNS::Topic"}},"Outputs":{"O":{"Value":"dev-x","Export":{"Name":"ex"}}}}`
	if string(got) != want {
		t.Errorf("Resolve =\n%s\nwant\n%s", got, want)
	}
}
