package template

import (
	"reflect"
	"strings"
	"testing"
)

func TestQueue(t *testing.T) {
	p := mustPlan(t, `
Resources:
  DLQ: {Type: AWS::SQS::Queue, Properties: {QueueName: dead}}
  Q:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 120
      MessageRetentionPeriod: 60
      DelaySeconds: 5
      ReceiveMessageWaitTimeSeconds: 20
      MaximumMessageSize: 1048576
      RedrivePolicy: !Sub '{"deadLetterTargetArn": "${DLQ.Arn}", "maxReceiveCount": "5"}'
      Tags: [{Key: a, Value: b}]
`, func(o *Options) { o.Endpoint = "http://localhost:9000/" })
	q := mustResource(t, p, "Q")
	want := &Queue{
		Name: "app-Q", ARN: "arn:aws:sqs:us-east-1:000000000000:app-Q", URL: "http://localhost:9000/000000000000/app-Q",
		VisibilityTimeout: 120, MessageRetentionPeriod: 60, DelaySeconds: 5, ReceiveMessageWaitTimeSeconds: 20, MaximumMessageSize: 1 << 20,
		RedrivePolicy: &RedrivePolicy{DeadLetterTargetARN: "arn:aws:sqs:us-east-1:000000000000:dead", MaxReceiveCount: 5},
	}
	if !reflect.DeepEqual(q.Queue, want) || !reflect.DeepEqual(q.DependsOn, []string{"DLQ"}) {
		t.Errorf("queue = %+v %v\nwant %+v", q.Queue, q.DependsOn, want)
	}
	attrs := q.Queue.Attributes()
	if attrs["RedrivePolicy"] != `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dead","maxReceiveCount":5}` || attrs["VisibilityTimeout"] != "120" {
		t.Errorf("Attributes() = %v", attrs)
	}
	if d := mustResource(t, p, "DLQ").Queue.Attributes(); d["RedrivePolicy"] != "" || d["MessageRetentionPeriod"] != "345600" {
		t.Errorf("DLQ Attributes() = %v", d)
	}
}

func TestQueueErrors(t *testing.T) {
	tests := []struct{ props, want string }{
		{"{FifoQueue: true}", "FIFO queues are not supported yet"},
		{"{QueueName: q.fifo}", "FIFO queues are not supported yet"},
		{"{QueueName: 'a b'}", `queue name "a b" must be 1-80`},
		{"{VisibilityTimeout: 50000}", "VisibilityTimeout: must be between 0 and 43200"},
		{"{RedrivePolicy: {maxReceiveCount: 3}}", "RedrivePolicy.deadLetterTargetArn: is required"},
		{"{RedrivePolicy: {deadLetterTargetArn: x, maxReceiveCount: 3}}", "must be an SQS queue ARN"},
		{"{RedrivePolicy: [x]}", "must be {deadLetterTargetArn, maxReceiveCount}"},
		{"{QueueName: !GetAtt Q.QueueName}", "the name of Q depends on itself"},
	}
	for _, tt := range tests {
		_, err := planOf(t, "Resources:\n  Q: {Type: AWS::SQS::Queue, Properties: "+tt.props+"}\n")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.props, err, tt.want)
		}
	}
	_, err := planOf(t, `
Resources:
  A: {Type: AWS::SQS::Queue, Properties: {RedrivePolicy: {deadLetterTargetArn: !GetAtt B.Arn, maxReceiveCount: 1}}}
  B: {Type: AWS::SQS::Queue, Properties: {RedrivePolicy: {deadLetterTargetArn: !GetAtt A.Arn, maxReceiveCount: 1}}}
`)
	if err == nil || !strings.Contains(err.Error(), "circular dependency between A, B") {
		t.Errorf("cycle: %v", err)
	}
}

func TestTopic(t *testing.T) {
	p := mustPlan(t, `
Resources:
  Q: {Type: AWS::SQS::Queue}
  T:
    Type: AWS::SNS::Topic
    Properties:
      DisplayName: shown
      Subscription:
        - {Protocol: sqs, Endpoint: !GetAtt Q.Arn}
        - {Protocol: lambda, Endpoint: !GetAtt Fn.Arn}
        - {Protocol: email, Endpoint: a@example.com}
  Fn:`+nodeFn)
	if tp := mustResource(t, p, "T").Topic; *tp != (Topic{Name: "app-T", ARN: "arn:aws:sns:us-east-1:000000000000:app-T"}) {
		t.Errorf("topic = %+v", tp)
	}
	s1, s2 := mustResource(t, p, "TSubscription1"), mustResource(t, p, "TSubscription2")
	if s1.Subscription.Protocol != "sqs" || s1.Subscription.Endpoint != "arn:aws:sqs:us-east-1:000000000000:app-Q" || !reflect.DeepEqual(s1.DependsOn, []string{"Q", "T"}) {
		t.Errorf("TSubscription1 = %+v %v", s1.Subscription, s1.DependsOn)
	}
	if s2.Subscription.Protocol != "lambda" || !reflect.DeepEqual(s2.DependsOn, []string{"Fn", "T"}) {
		t.Errorf("TSubscription2 = %+v %v", s2.Subscription, s2.DependsOn)
	}
	if len(p.Unsupported) != 1 || p.Unsupported[0].LogicalID != "TSubscription3" || !hasWarning(p, "email subscriptions are not supported yet") {
		t.Errorf("unsupported = %+v, warnings %q", p.Unsupported, p.Warnings)
	}
	// The function comes before the subscription that delivers to it.
	if pos(p, "Fn") > pos(p, "TSubscription2") || pos(p, "T") > pos(p, "TSubscription1") {
		t.Errorf("order: %v", ids(p))
	}
}

func TestStateMachine(t *testing.T) {
	p := mustPlan(t, `
Resources:
  Fn:`+nodeFn+`
  Inline:
    Type: AWS::Serverless::StateMachine
    Properties:
      Name: my-machine
      Definition:
        StartAt: Call
        States:
          Call:
            Type: Task
            Resource: !GetAtt Fn.Arn
            Parameters: {Region: "${Region}", Count: 3, Flag: true}
            End: true
      DefinitionSubstitutions:
        Region: !Ref AWS::Region
      Role: arn:aws:iam::000000000000:role/r
      Logging: {Level: ALL}
  FromFile:
    Type: AWS::Serverless::StateMachine
    Properties:
      Type: EXPRESS
      DefinitionUri: sm.json
      DefinitionSubstitutions:
        Fn: !GetAtt Fn.Arn
      Events:
        Tick: {Type: Schedule, Properties: {Schedule: rate(2 hours), Input: "{}"}}
        Web: {Type: Api, Properties: {Path: /, Method: GET}}
`)
	in := mustResource(t, p, "Inline")
	wantDef := `{"StartAt":"Call","States":{"Call":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:000000000000:function:app-Fn","Parameters":{"Region":"us-east-1","Count":3,"Flag":true},"End":true}}}`
	if in.StateMachine.Name != "my-machine" || in.StateMachine.Type != "STANDARD" || string(in.StateMachine.Definition) != wantDef ||
		in.StateMachine.ARN != "arn:aws:states:us-east-1:000000000000:stateMachine:my-machine" || !reflect.DeepEqual(in.DependsOn, []string{"Fn"}) {
		t.Errorf("Inline = %+v %s %v", in.StateMachine, in.StateMachine.Definition, in.DependsOn)
	}
	ff := mustResource(t, p, "FromFile").StateMachine
	if ff.Type != "EXPRESS" || string(ff.Definition) != `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:000000000000:function:app-Fn","End":true}}}` {
		t.Errorf("FromFile = %+v %s", ff, ff.Definition)
	}
	tick := mustResource(t, p, "FromFileTick")
	if tick.Schedule.Target != ff.ARN || tick.Schedule.Expression != "rate(2 hours)" || tick.Schedule.Input != "{}" {
		t.Errorf("FromFileTick = %+v", tick.Schedule)
	}
	if p.Resource("FromFileWeb") != nil || !hasWarning(p, "Api events of state machines are not supported yet") {
		t.Errorf("the Api event of a state machine: warnings %q", p.Warnings)
	}
	for _, w := range []string{"Role: IAM is not enforced by nimbus; ignored (Inline)", "Logging: execution history is nimbus's own; ignored (Inline)"} {
		if !hasWarning(p, w) {
			t.Errorf("no warning %q in %q", w, p.Warnings)
		}
	}
}

func TestStateMachineErrors(t *testing.T) {
	tests := []struct{ props, want string }{
		{"{}", "Definition or DefinitionUri is required"},
		{"{DefinitionUri: nope.json}", "DefinitionUri: "},
		{"{DefinitionUri: {Bucket: b, Key: k}}", "definitions in S3 are not supported"},
		{"{DefinitionUri: sm-bad.json}", "the definition is not valid JSON or YAML"},
		{"{DefinitionUri: sm.json, Definition: {StartAt: A}}", "only one of Definition and DefinitionUri"},
		{"{Definition: [a]}", "must be a map"},
		{"{Definition: {StartAt: A}, Type: SLOW}", "must be one of STANDARD, EXPRESS"},
		{"{Definition: {StartAt: A}, Name: 'a b'}", `state machine name "a b"`},
	}
	for _, tt := range tests {
		_, err := planOf(t, "Resources:\n  SM: {Type: AWS::Serverless::StateMachine, Properties: "+tt.props+"}\n")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.props, err, tt.want)
		}
	}
}

func TestUnsupportedResources(t *testing.T) {
	p := mustPlan(t, `
Resources:
  Table: {Type: AWS::Serverless::SimpleTable}
  Role: {Type: AWS::IAM::Role, Properties: {AssumeRolePolicyDocument: {}}}
  Perm: {Type: AWS::Lambda::Permission}
  Fn:`+nodeFn+`      Environment:
        Variables: {TABLE: !Ref Table, ROLE: !GetAtt Role.Arn}
`)
	want := []Unsupported{
		{LogicalID: "Table", Type: "AWS::Serverless::SimpleTable", Reason: "not supported yet"},
		{LogicalID: "Role", Type: "AWS::IAM::Role", Reason: "IAM is not enforced by nimbus"},
		{LogicalID: "Perm", Type: "AWS::Lambda::Permission", Reason: "IAM is not enforced by nimbus"},
	}
	if !reflect.DeepEqual(p.Unsupported, want) {
		t.Errorf("Unsupported = %+v", p.Unsupported)
	}
	for _, w := range []string{"Resources.Table: AWS::Serverless::SimpleTable is not supported yet; not deployed", "AWS::IAM::Role: IAM is not enforced by nimbus; ignored (Role)"} {
		if !hasWarning(p, w) {
			t.Errorf("no warning %q in %q", w, p.Warnings)
		}
	}
	f := mustResource(t, p, "Fn").Function
	if f.Environment["TABLE"] != "app-Table" || f.Environment["ROLE"] != "arn:aws:iam::000000000000:role/app-Role" {
		t.Errorf("Environment = %v", f.Environment)
	}
	if len(p.Resources) != 1 {
		t.Errorf("resources %v, want only Fn", ids(p))
	}
}

func TestConditionalResources(t *testing.T) {
	src := `
Parameters:
  Stage: {Type: String, Default: dev, AllowedValues: [dev, prod]}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
Resources:
  Q: {Type: AWS::SQS::Queue, Condition: IsProd}
  Fn:` + nodeFn + `      Environment:
        Variables:
          Q: !If [IsProd, !Ref Q, none]
Outputs:
  Queue: {Condition: IsProd, Value: !GetAtt Q.Arn}
`
	dev := mustPlan(t, src)
	if dev.Resource("Q") != nil || len(dev.Outputs) != 0 || mustResource(t, dev, "Fn").Function.Environment["Q"] != "none" {
		t.Errorf("dev: resources %v, outputs %v", ids(dev), dev.Outputs)
	}
	prod := mustPlan(t, src, withParams("Stage", "prod"))
	if prod.Resource("Q") == nil || len(prod.Outputs) != 1 || prod.Parameters["Stage"] != "prod" {
		t.Errorf("prod: resources %v, outputs %v", ids(prod), prod.Outputs)
	}
	if !reflect.DeepEqual(mustResource(t, prod, "Fn").DependsOn, []string{"Q"}) {
		t.Errorf("prod Fn DependsOn = %v", mustResource(t, prod, "Fn").DependsOn)
	}
	_, err := planOf(t, `
Conditions:
  Never: !Equals [a, b]
Resources:
  Q: {Type: AWS::SQS::Queue, Condition: Never}
  Fn:`+nodeFn+`    DependsOn: Q
`)
	if err == nil || !strings.Contains(err.Error(), "Resources.Fn.DependsOn: Q is not created (its condition Never is false)") {
		t.Errorf("DependsOn on a disabled resource: %v", err)
	}
}

func TestOrder(t *testing.T) {
	p := mustPlan(t, `
Resources:
  Api: {Type: AWS::Serverless::HttpApi}
  Machine:
    Type: AWS::Serverless::StateMachine
    Properties:
      Definition: {StartAt: A, States: {A: {Type: Task, Resource: !GetAtt Worker.Arn, End: true}}}
  Web:`+nodeFn+`      Environment:
        Variables: {API: !Ref Api, MACHINE: !Ref Machine, WORKER: !Ref Worker}
      Events:
        Get: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /, Method: GET}}
  Worker:`+nodeFn+`      Environment:
        Variables: {QUEUE: !Ref Jobs}
      Events:
        Jobs: {Type: SQS, Properties: {Queue: !GetAtt Jobs.Arn}}
  Jobs: {Type: AWS::SQS::Queue}
  Explicit:`+nodeFn+`    DependsOn: [Web]
`)
	want := []string{"Jobs", "Worker", "Web", "Explicit", "Machine", "Api", "WorkerJobs"}
	if got := ids(p); !reflect.DeepEqual(got, want) {
		t.Errorf("order = %v, want %v", got, want)
	}
	// Web names the API and the state machine, which come later: the
	// names are known, so those references do not order.
	if d := mustResource(t, p, "Web").DependsOn; !reflect.DeepEqual(d, []string{"Worker"}) {
		t.Errorf("Web DependsOn = %v", d)
	}
	if d := mustResource(t, p, "Explicit").DependsOn; !reflect.DeepEqual(d, []string{"Web"}) {
		t.Errorf("Explicit DependsOn = %v", d)
	}
}

func TestGeneratedIDCollision(t *testing.T) {
	_, err := planOf(t, "Resources:\n  Fn:"+nodeFn+"      Events:\n        Jobs: {Type: SQS, Properties: {Queue: !GetAtt Q.Arn}}\n  Q: {Type: AWS::SQS::Queue}\n  FnJobs: {Type: AWS::SNS::Topic}\n")
	if err == nil || !strings.Contains(err.Error(), "Resources.FnJobs: this logical id names both a AWS::Lambda::EventSourceMapping and a AWS::SNS::Topic") {
		t.Errorf("collision: %v", err)
	}
}

func ids(p *Plan) []string {
	var out []string
	for _, r := range p.Resources {
		out = append(out, r.LogicalID)
	}
	return out
}

func pos(p *Plan, id string) int {
	for i, r := range p.Resources {
		if r.LogicalID == id {
			return i
		}
	}
	return -1
}
