package template

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestFunctionDefaults(t *testing.T) {
	p := mustPlan(t, "Resources:\n  Fn:"+nodeFn)
	f := mustResource(t, p, "Fn").Function
	want := &Function{
		Name: "app-Fn", ARN: "arn:aws:lambda:us-east-1:000000000000:function:app-Fn",
		Runtime: "nodejs22.x", Handler: "index.handler",
		Build:      Build{Kind: BuildNode, Dir: f.Build.Dir, Arch: "amd64"},
		MemorySize: 128, Timeout: 3, EphemeralStorage: 512, Architectures: []string{"x86_64"},
	}
	if !reflect.DeepEqual(f, want) {
		t.Errorf("function = %+v\nwant %+v", f, want)
	}
	if filepath.Base(f.Build.Dir) != "node" || !filepath.IsAbs(f.Build.Dir) {
		t.Errorf("Build.Dir = %q, want the absolute node directory", f.Build.Dir)
	}
	if f.Qualified() != "app-Fn" {
		t.Errorf("Qualified() = %q", f.Qualified())
	}
}

func TestGlobals(t *testing.T) {
	p := mustPlan(t, `
Globals:
  Function:
    Runtime: python3.12
    Handler: app.handler
    CodeUri: py
    Timeout: 20
    Environment:
      Variables: {A: global, B: global}
    Layers: [arn:aws:lambda:us-east-1:000000000000:layer:one:1]
    Architectures: [arm64]
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Timeout: 5
      Environment:
        Variables: {B: mine, C: mine}
      Architectures: [x86_64]
  Other:
    Type: AWS::Serverless::Function
`)
	f := mustResource(t, p, "Fn").Function
	if f.Timeout != 5 || f.Runtime != "python3.12" || f.Handler != "app.handler" || f.Build.Kind != BuildPython {
		t.Errorf("Fn = %+v: want Timeout 5 and the global runtime, handler and code", f)
	}
	if want := map[string]string{"A": "global", "B": "mine", "C": "mine"}; !reflect.DeepEqual(f.Environment, want) {
		t.Errorf("Environment = %v, want %v (maps merge, the resource wins)", f.Environment, want)
	}
	if !reflect.DeepEqual(f.Architectures, []string{"x86_64"}) || f.Build.Arch != "amd64" {
		t.Errorf("Architectures = %v (%s), want the resource's x86_64 (not appended)", f.Architectures, f.Build.Arch)
	}
	o := mustResource(t, p, "Other").Function
	if o.Timeout != 20 || o.Build.Arch != "arm64" {
		t.Errorf("Other = %+v: want the global Timeout 20 and arm64", o)
	}
	if !hasWarning(p, "Layers: layers are not supported yet") {
		t.Errorf("warnings %q do not mention Layers", p.Warnings)
	}
}

func TestGlobalsErrors(t *testing.T) {
	for src, want := range map[string]string{
		"Globals:\n  Function:\n    FunctionName: x\n": "line 4: Globals.Function.FunctionName: not a property Globals.Function can set",
		"Globals:\n  Nope: {}\n":                       "Globals.Nope: not a Globals section",
		"Globals:\n  Function: [a]\n":                  "Globals.Function: must be a map",
	} {
		_, err := planOf(t, src+"Resources:\n  Fn:"+nodeFn)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", src, err, want)
		}
	}
}

func TestFunctionProperties(t *testing.T) {
	p := mustPlan(t, `
Resources:
  Hook:`+nodeFn+`
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: explicit-name
      CodeUri: gomod
      Runtime: provided.al2023
      Architectures: [arm64]
      MemorySize: 1024
      Timeout: 900
      Description: does things
      EphemeralStorage: {Size: 10240}
      ReservedConcurrentExecutions: 0
      AutoPublishAlias: live
      ProvisionedConcurrencyConfig: {ProvisionedConcurrentExecutions: 2}
      DeploymentPreference:
        Type: Linear10PercentEvery2Minutes
        Alarms: [!Ref Alarm]
        Hooks: {PreTraffic: !Ref Hook}
        Role: arn:aws:iam::000000000000:role/x
      EventInvokeConfig:
        MaximumEventAgeInSeconds: 60
        MaximumRetryAttempts: 0
        DestinationConfig:
          OnSuccess: {Type: Lambda, Destination: !GetAtt Hook.Arn}
          OnFailure: {Type: SQS}
      DeadLetterQueue: {Type: SNS, TargetArn: arn:aws:sns:us-east-1:000000000000:dlq}
      Tracing: Active
      Tags: {team: a}
      Policies: [AWSLambdaBasicExecutionRole]
      FunctionUrlConfig: {AuthType: NONE}
  Alarm: {Type: AWS::CloudWatch::Alarm}
`)
	f := mustResource(t, p, "Fn").Function
	zero, two, sixty := 0, 2, 60
	_ = two
	want := &Function{
		Name: "explicit-name", ARN: "arn:aws:lambda:us-east-1:000000000000:function:explicit-name",
		Runtime: "provided.al2023", Build: Build{Kind: BuildGo, Dir: f.Build.Dir, Arch: "arm64"},
		Description: "does things", MemorySize: 1024, Timeout: 900, EphemeralStorage: 10240,
		Architectures: []string{"arm64"}, ReservedConcurrency: &zero,
		Alias: &Alias{Name: "live", ProvisionedConcurrency: 2, DeploymentPreference: &DeploymentPreference{
			Type: "Linear10PercentEvery2Minutes", Kind: ShiftLinear, Percent: 10, IntervalMinutes: 2,
			Alarms: []string{"app-Alarm"}, PreTraffic: "app-Hook",
		}},
		EventInvokeConfig: &EventInvokeConfig{
			MaximumRetryAttempts: &zero, MaximumEventAgeInSeconds: &sixty,
			OnSuccess: "arn:aws:lambda:us-east-1:000000000000:function:app-Hook",
			OnFailure: "arn:aws:sqs:us-east-1:000000000000:app-FnEventInvokeConfigOnFailureQueue",
		},
		DeadLetterTarget: "arn:aws:sns:us-east-1:000000000000:dlq",
		URL:              &FunctionURL{AuthType: "NONE", InvokeMode: "BUFFERED"},
	}
	if !reflect.DeepEqual(f, want) {
		t.Errorf("function =\n%+v\nwant\n%+v", f, want)
	}
	if f.Qualified() != "explicit-name:live" {
		t.Errorf("Qualified() = %q", f.Qualified())
	}
	q := mustResource(t, p, "FnEventInvokeConfigOnFailureQueue")
	if q.Queue == nil || q.Queue.Name != "app-FnEventInvokeConfigOnFailureQueue" {
		t.Errorf("generated destination queue = %+v", q)
	}
	fr := mustResource(t, p, "Fn")
	if !reflect.DeepEqual(fr.DependsOn, []string{"FnEventInvokeConfigOnFailureQueue", "Hook"}) {
		t.Errorf("DependsOn = %v", fr.DependsOn)
	}
	for _, w := range []string{"Tracing: X-Ray tracing is not available; ignored (Fn)", "Tags: tags are not kept; ignored (Fn)",
		"Policies: IAM is not enforced by nimbus; ignored (Fn)",
		"Alarms: alarms are not evaluated", "AWS::CloudWatch::Alarm: alarms are not evaluated; ignored (Alarm)"} {
		if !hasWarning(p, w) {
			t.Errorf("no warning %q in %q", w, p.Warnings)
		}
	}
}

func TestDeploymentPreferenceTypes(t *testing.T) {
	tests := []struct {
		typ  string
		want DeploymentPreference
	}{
		{"Canary10Percent5Minutes", DeploymentPreference{Kind: ShiftCanary, Percent: 10, IntervalMinutes: 5}},
		{"Canary10Percent30Minutes", DeploymentPreference{Kind: ShiftCanary, Percent: 10, IntervalMinutes: 30}},
		{"Linear10PercentEvery1Minute", DeploymentPreference{Kind: ShiftLinear, Percent: 10, IntervalMinutes: 1}},
		{"Linear10PercentEvery10Minutes", DeploymentPreference{Kind: ShiftLinear, Percent: 10, IntervalMinutes: 10}},
		{"CodeDeployDefault.LambdaCanary10Percent15Minutes", DeploymentPreference{Kind: ShiftCanary, Percent: 10, IntervalMinutes: 15}},
		{"AllAtOnce", DeploymentPreference{Kind: ShiftAllAtOnce}},
	}
	for _, tt := range tests {
		p := mustPlan(t, "Resources:\n  Fn:"+nodeFn+"      AutoPublishAlias: live\n      DeploymentPreference: {Type: "+tt.typ+"}\n")
		got := mustResource(t, p, "Fn").Function.Alias.DeploymentPreference
		tt.want.Type = tt.typ
		if !reflect.DeepEqual(*got, tt.want) {
			t.Errorf("%s = %+v, want %+v", tt.typ, *got, tt.want)
		}
	}
	p := mustPlan(t, "Resources:\n  Fn:"+nodeFn+"      AutoPublishAlias: live\n      DeploymentPreference: {Type: Bogus, Enabled: false}\n")
	if dp := mustResource(t, p, "Fn").Function.Alias.DeploymentPreference; dp != nil {
		t.Errorf("a disabled preference = %+v, want none", dp)
	}
}

func TestBuildDetection(t *testing.T) {
	tests := []struct {
		props string
		kind  BuildKind
		err   string
	}{
		{"CodeUri: node\n      Handler: index.handler\n      Runtime: nodejs20.x", BuildNode, ""},
		{"CodeUri: py\n      Handler: app.handler\n      Runtime: python3.11", BuildPython, ""},
		{"CodeUri: gomod\n      Runtime: provided.al2023", BuildGo, ""},
		{"CodeUri: bin\n      Runtime: provided.al2", BuildPrebuilt, ""},
		{"CodeUri: code.zip\n      Runtime: provided.al2", BuildZip, ""},
		{"CodeUri: ./node/\n      Handler: index.handler\n      Runtime: nodejs22.x", BuildNode, ""},
		{"InlineCode: \"exports.handler = 1\"\n      Handler: index.handler\n      Runtime: nodejs22.x", BuildInline, ""},
		{"CodeUri: nonexec\n      Runtime: provided.al2023", "", "nonexec/bootstrap is not executable"},
		{"CodeUri: empty\n      Runtime: provided.al2023", "", "holds neither an executable bootstrap nor a Go module"},
		{"CodeUri: missing\n      Handler: index.handler\n      Runtime: nodejs22.x", "", "line 6: Resources.Fn.Properties.CodeUri: "},
		{"CodeUri: sm.json\n      Runtime: provided.al2023", "", "must be a directory or a .zip file"},
		{"CodeUri: s3://bucket/key.zip\n      Runtime: provided.al2023", "", "code in S3 is not supported"},
		{"CodeUri: {Bucket: b, Key: k}\n      Runtime: provided.al2023", "", "code in S3 is not supported"},
		{"Runtime: provided.al2023", "", "CodeUri (a directory) or InlineCode is required"},
		{"CodeUri: node\n      InlineCode: x\n      Handler: index.handler\n      Runtime: nodejs22.x", "", "only one of CodeUri and InlineCode"},
		{"InlineCode: x\n      Runtime: provided.al2023", "", "InlineCode needs a Node.js or Python runtime"},
		{"CodeUri: node\n      Runtime: nodejs22.x", "", "Handler: is required"},
		{"CodeUri: node\n      Handler: a.b\n      Runtime: java21", "", "runtime java21 is not supported"},
		{"CodeUri: gomod\n      Handler: main\n      Runtime: go1.x", "", "go1.x is retired: use provided.al2023"},
		{"PackageType: Image\n      ImageUri: repo/img:1", "", "container image functions are not supported"},
	}
	for _, tt := range tests {
		src := "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      " + tt.props + "\n"
		p, err := planOf(t, src)
		switch {
		case tt.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: error %v, want %q", tt.props, err, tt.err)
			}
		case err != nil:
			t.Errorf("%q: %v", tt.props, err)
		case mustResource(t, p, "Fn").Function.Build.Kind != tt.kind:
			t.Errorf("%q: kind %q, want %q", tt.props, mustResource(t, p, "Fn").Function.Build.Kind, tt.kind)
		}
	}
	p := mustPlan(t, "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      InlineCode: \"def h(e, c): pass\"\n      Handler: lib/app.h\n      Runtime: python3.12\n")
	if b := mustResource(t, p, "Fn").Function.Build; b.InlineFile != "lib/app.py" || b.InlineCode != "def h(e, c): pass" {
		t.Errorf("inline build = %+v", b)
	}
	p = mustPlan(t, "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Metadata: {BuildMethod: go1.x}\n    Properties:\n      CodeUri: gomod\n      Runtime: provided.al2023\n")
	if k := mustResource(t, p, "Fn").Function.Build.Kind; k != BuildGo {
		t.Errorf("BuildMethod go1.x: kind %q", k)
	}
}

func TestFunctionErrors(t *testing.T) {
	tests := []struct{ props, want string }{
		{"Timeout: 9000", "line 9: Resources.Fn.Properties.Timeout: must be between 1 and 900, not 9000"},
		{"MemorySize: big", `Resources.Fn.Properties.MemorySize: must be an integer, not "big"`},
		{"MemorySize: 64", "must be between 128 and 10240"},
		{"Architectures: [arm64, x86_64]", "must name one architecture"},
		{"Architectures: [mips]", `must be x86_64 or arm64, not "mips"`},
		{"Environment: {Variables: {A: [x]}}", "Resources.Fn.Properties.Environment.Variables.A: must be a string, not a list"},
		{"Environment: {Variables: {1A: x}}", "environment variable names must be"},
		{"DeploymentPreference: {Type: Canary10Percent5Minutes}", "needs AutoPublishAlias"},
		{"AutoPublishAlias: live\n      DeploymentPreference: {Type: Sometimes}", `unknown deployment type "Sometimes"`},
		{"ProvisionedConcurrencyConfig: {ProvisionedConcurrentExecutions: 1}", "needs AutoPublishAlias"},
		{"AutoPublishAlias: '123'", "not only digits"},
		{"EventInvokeConfig: {MaximumRetryAttempts: 3}", "MaximumRetryAttempts: must be between 0 and 2"},
		{"EventInvokeConfig: {DestinationConfig: {OnFailure: {Type: Lambda}}}", "Destination: is required for a Lambda destination"},
		{"DeadLetterQueue: {Type: Kinesis, TargetArn: x}", "must be one of SQS, SNS"},
		{"FunctionName: has spaces", `function name "has spaces" must be 1-64 letters`},
		{"ReservedConcurrentExecutions: -1", "must be between 0 and"},
	}
	for _, tt := range tests {
		_, err := planOf(t, "Resources:\n  Fn:"+nodeFn+"      "+tt.props+"\n")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want %q", tt.props, err, tt.want)
		}
	}
	_, err := planOf(t, "Resources:\n  AFunctionWithAVeryLongLogicalIdThatDoesNotFitIntoSixtyFour:"+nodeFn, func(o *Options) { o.Stack = "a-long-stack-name" })
	if err == nil || !strings.Contains(err.Error(), "set FunctionName or use a shorter stack name") {
		t.Errorf("long default name: %v", err)
	}
}
