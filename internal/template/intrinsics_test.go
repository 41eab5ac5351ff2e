package template

import (
	"strings"
	"testing"
)

// intrinsicsTemplate declares what the expressions below refer to; each
// expression is evaluated as the value of an output.
const intrinsicsTemplate = `
Parameters:
  Env: {Type: String, Default: dev}
  Port: {Type: Number, Default: 8080}
  Nums: {Type: List<Number>, Default: "1,2,3"}
  Names: {Type: CommaDelimitedList, Default: "a, b,c"}
Mappings:
  M:
    dev: {Size: small, Zones: [x, y]}
    prod: {Size: large}
Conditions:
  IsDev: !Equals [!Ref Env, dev]
  IsProd: !Not [!Condition IsDev]
  Both: !And [!Condition IsDev, !Equals [a, a]]
  Neither: !Or [!Condition IsProd, !Equals [a, b]]
  NumEq: !Equals [!Ref Port, 8080]
  Never: !Equals [x, y]
Resources:
  Fn:` + nodeFn + `
  Aliased:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: node, Handler: index.handler, Runtime: nodejs22.x, AutoPublishAlias: live}
  Q: {Type: AWS::SQS::Queue}
  T: {Type: AWS::SNS::Topic, Properties: {TopicName: named}}
  Api: {Type: AWS::Serverless::HttpApi, Properties: {StageName: v1}}
  Bucket: {Type: AWS::S3::Bucket}
  Role: {Type: AWS::IAM::Role, Properties: {RoleName: my-role}}
  Gone: {Type: AWS::SNS::Topic, Condition: Never}
Outputs:
  Out:
    Value: `

func evalExpr(t *testing.T, expr string) (string, error) {
	t.Helper()
	p, err := planOf(t, intrinsicsTemplate+expr+"\n", func(o *Options) {
		o.Imports = map[string]string{"shared-Url": "http://shared"}
	})
	if err != nil {
		return "", err
	}
	for _, o := range p.Outputs {
		if o.Name == "Out" {
			return o.Value, nil
		}
	}
	return "<no output>", nil
}

func TestIntrinsics(t *testing.T) {
	tests := []struct{ expr, want string }{
		// Ref: parameters, pseudo parameters, resources.
		{"!Ref Env", "dev"},
		{"!Ref Port", "8080"},
		{"!Ref Nums", "1,2,3"},
		{"!Ref Names", "a,b,c"},
		{"!Ref AWS::Region", "us-east-1"},
		{"!Ref AWS::AccountId", "000000000000"},
		{"!Ref AWS::StackName", "app"},
		{"!Ref AWS::Partition", "aws"},
		{"!Ref AWS::URLSuffix", "amazonaws.com"},
		{"{Ref: Env}", "dev"},
		{"!Ref Fn", "app-Fn"},
		{"!Ref Q", "http://127.0.0.1:8900/000000000000/app-Q"},
		{"!Ref T", "arn:aws:sns:us-east-1:000000000000:named"},
		{"!Ref Api", APIID("app", "Api")},
		{"!Ref Api.Stage", "v1"},
		{"!Ref Aliased.Alias", "arn:aws:lambda:us-east-1:000000000000:function:app-Aliased:live"},
		{"!Ref AliasedAliaslive", "arn:aws:lambda:us-east-1:000000000000:function:app-Aliased:live"},
		{"!Ref Bucket", "app-Bucket"},
		{"!Ref Role", "my-role"},
		// Fn::GetAtt, both forms.
		{"!GetAtt Fn.Arn", "arn:aws:lambda:us-east-1:000000000000:function:app-Fn"},
		{"!GetAtt [Fn, Arn]", "arn:aws:lambda:us-east-1:000000000000:function:app-Fn"},
		{`{"Fn::GetAtt": [Q, !Join ["", [Queue, Name]]]}`, "app-Q"},
		{"!GetAtt Q.Arn", "arn:aws:sqs:us-east-1:000000000000:app-Q"},
		{"!GetAtt Q.QueueName", "app-Q"},
		{"!GetAtt Q.QueueUrl", "http://127.0.0.1:8900/000000000000/app-Q"},
		{"!GetAtt T.TopicArn", "arn:aws:sns:us-east-1:000000000000:named"},
		{"!GetAtt T.TopicName", "named"},
		{"!GetAtt Api.ApiEndpoint", "https://" + APIID("app", "Api") + ".execute-api.us-east-1.amazonaws.com"},
		{"!GetAtt Role.Arn", "arn:aws:iam::000000000000:role/my-role"},
		{"!GetAtt FnRole.Arn", "arn:aws:iam::000000000000:role/app-FnRole"},
		{"!GetAtt Bucket.Arn", "app-Bucket.Arn"},
		// Fn::Sub, both forms.
		{`!Sub "${AWS::Region}-${Env}"`, "us-east-1-dev"},
		{`!Sub "${Fn.Arn}"`, "arn:aws:lambda:us-east-1:000000000000:function:app-Fn"},
		{`!Sub "${Aliased.Alias}"`, "arn:aws:lambda:us-east-1:000000000000:function:app-Aliased:live"},
		{`!Sub "${!Literal} and ${ Env }"`, "${Literal} and dev"},
		{`!Sub ["${A}-${B}", {A: x, B: !Ref Env}]`, "x-dev"},
		{`!Sub ["${Env}", {Env: overridden}]`, "overridden"},
		{`!Sub "no variables"`, "no variables"},
		// Fn::Join, Fn::Select, Fn::Split.
		{`!Join ["-", [a, !Ref Env, !Ref AWS::NoValue]]`, "a-dev"},
		{`!Join ["", []]`, ""},
		{`!Join [":", !Ref Names]`, "a:b:c"},
		{`{"Fn::Join": ["", ["a", "b"]]}`, "ab"},
		{`!Select [1, [a, b, c]]`, "b"},
		{`!Select ["0", !Split [",", "x,y"]]`, "x"},
		{`!Select [2, !Ref Nums]`, "3"},
		{`!Split ["|", "a|b||c"]`, "a,b,,c"},
		// Fn::If and conditions.
		{`!If [IsDev, yes, no]`, "yes"},
		{`!If [IsProd, yes, no]`, "no"},
		{`!If [Both, yes, no]`, "yes"},
		{`!If [Neither, yes, no]`, "no"},
		{`!If [NumEq, yes, no]`, "yes"},
		{`!Join [",", [a, !If [IsProd, b, !Ref AWS::NoValue]]]`, "a"},
		// Fn::FindInMap, Fn::Base64, Fn::GetAZs, Fn::ImportValue.
		{`!FindInMap [M, !Ref Env, Size]`, "small"},
		{`!Join [",", !FindInMap [M, dev, Zones]]`, "x,y"},
		{`!FindInMap [M, prod, Zones, {DefaultValue: none}]`, "none"},
		{`!Base64 hello`, "aGVsbG8="},
		{`!Base64 {"Fn::Sub": "${Env}"}`, "ZGV2"},
		{`!GetAZs ""`, "us-east-1a"},
		{`!Select [0, !GetAZs {Ref: AWS::Region}]`, "us-east-1a"},
		{`!ImportValue shared-Url`, "http://shared"},
	}
	for _, tt := range tests {
		got, err := evalExpr(t, tt.expr)
		if err != nil {
			t.Errorf("%s: %v", tt.expr, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%s = %q, want %q", tt.expr, got, tt.want)
		}
	}
}

func TestStackID(t *testing.T) {
	got, err := evalExpr(t, "!Ref AWS::StackId")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got, "arn:aws:cloudformation:us-east-1:000000000000:stack/app/") || len(got) != len("arn:aws:cloudformation:us-east-1:000000000000:stack/app/")+36 {
		t.Errorf("AWS::StackId = %q", got)
	}
	again, _ := evalExpr(t, "!Ref AWS::StackId")
	if again != got {
		t.Errorf("AWS::StackId is not stable: %q, then %q", got, again)
	}
}

func TestIntrinsicErrors(t *testing.T) {
	tests := []struct{ expr, want string }{
		{"!Ref Nope", `Outputs.Out.Value.Ref: no parameter or resource named "Nope"`},
		{"!Ref AWS::Nope", "unknown pseudo parameter AWS::Nope"},
		{"!Ref Gone", "Gone is not created (its condition Never is false)"},
		{"!Ref Fn.Version", "known only when it is deployed"},
		{"!Ref Fn.Alias", "Fn has no AutoPublishAlias"},
		{"!GetAtt Fn.Nope", "Fn has no attribute Nope (nimbus knows Arn)"},
		{"!GetAtt Fn", "takes LogicalId.Attribute"},
		{`!Sub "${Nope}"`, `no parameter or resource named "Nope"`},
		{`!Sub "${Env"`, "unterminated ${"},
		{`!Sub "${Names}"`, "${Names} is a list; Fn::Sub needs a string"},
		{`!Sub [a, b, c]`, "takes a string or [string, {Name: value}]"},
		{`!Select [5, [a]]`, "index 5 is out of range (the list has 1 elements)"},
		{`!Select [x, [a]]`, "the index must be a non-negative integer"},
		{`!Join [",", notalist]`, "must be a list, not a string"},
		{`!Join [",", [[a]]]`, "Fn::Join joins strings, not a list"},
		{`!Split ["", "a"]`, "the delimiter must not be empty"},
		{`!FindInMap [M, nope, Size]`, "mapping M has no key \"nope\""},
		{`!FindInMap [M, dev, Nope]`, "mapping M.dev has no key \"Nope\""},
		{`!FindInMap [Nope, dev, Size]`, "no mapping named \"Nope\""},
		{`!ImportValue missing`, `no deployed stack exports "missing"`},
		{`!If [Nope, a, b]`, `no condition named "Nope"`},
		{`!If [IsDev, a]`, "takes [condition name, value if true, value if false]"},
		{`!Equals [a, b]`, "Fn::Equals can only be used in Conditions"},
		{`!Cidr [10.0.0.0/16, 2, 8]`, "Fn::Cidr is not supported"},
		{`{"Fn::ForEach::X": [a]}`, "Fn::ForEach::X is not supported"},
		{`!Ref [a]`, "!Ref takes a name"},
		{`[a, [b]]`, "must be a string or a list of strings, not a list"},
	}
	for _, tt := range tests {
		got, err := evalExpr(t, tt.expr)
		if err == nil {
			t.Errorf("%s = %q, want an error containing %q", tt.expr, got, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %q does not contain %q", tt.expr, err, tt.want)
		}
	}
}

func TestConditionErrors(t *testing.T) {
	tests := []struct{ conds, want string }{
		{"A: !Condition A", "condition A depends on itself"},
		{"A: !Condition B\n  B: !Not [!Condition A]", "depends on itself"},
		{"A: !Equals [!Ref Fn, x]", "conditions can refer only to parameters, not Fn"},
		{"A: !Equals [x]", "takes [value, value]"},
		{"A: !And [!Equals [a, a]]", "takes 2 to 10 conditions"},
		{"A: !Sub x", "a condition must be Fn::Equals, Fn::Not, Fn::And, Fn::Or or a Condition"},
		{"A: !Condition Nope", `no condition named "Nope"`},
	}
	for _, tt := range tests {
		_, err := planOf(t, "Conditions:\n  "+tt.conds+"\nResources:\n  Fn:"+nodeFn)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Conditions %q: error %v, want one containing %q", tt.conds, err, tt.want)
		}
	}
}

func TestNoValueRemovesProperty(t *testing.T) {
	p := mustPlan(t, `
Conditions:
  Never: !Equals [a, b]
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: node
      Handler: index.handler
      Runtime: nodejs22.x
      Timeout: !If [Never, 30, !Ref AWS::NoValue]
      Environment:
        Variables:
          KEPT: x
          GONE: !Ref AWS::NoValue
`)
	f := mustResource(t, p, "Fn").Function
	if f.Timeout != 3 {
		t.Errorf("Timeout = %d, want the default 3", f.Timeout)
	}
	if _, ok := f.Environment["GONE"]; ok || f.Environment["KEPT"] != "x" {
		t.Errorf("Environment = %v, want only KEPT", f.Environment)
	}
}
