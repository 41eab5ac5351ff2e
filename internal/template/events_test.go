package template

import (
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/nimbus-dev/nimbus/internal/gateway"
)

func TestHttpAPIEvents(t *testing.T) {
	p := mustPlan(t, `
Globals:
  HttpApi:
    CorsConfiguration: true
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      StageName: v1
      StageVariables: {color: blue}
      Auth:
        DefaultAuthorizer: Jwt
        Authorizers:
          Jwt:
            IdentitySource: $request.header.Authorization
            JwtConfiguration:
              issuer: https://issuer.example.com
              audience: [app]
      Tags: {a: b}
  Fn:`+nodeFn+`      AutoPublishAlias: live
      Events:
        Root:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Path: /, Method: GET, Auth: {Authorizer: NONE}}
        Admin:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Path: /admin, Method: post, Auth: {AuthorizationScopes: [admin]}}
        Catch:
          Type: HttpApi
  Other:`+nodeFn+`      Events:
        Proxy:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Path: "/items/{proxy+}", PayloadFormatVersion: "1.0", TimeoutInMillis: 1000}
`)
	api := mustResource(t, p, "Api")
	want := &gateway.API{
		ID: APIID("app", "Api"), Name: "app-Api", Protocol: gateway.HTTP, Stage: "v1",
		StageVariables: map[string]string{"color": "blue"},
		CORS:           &gateway.CORS{AllowOrigins: []string{"*"}, AllowMethods: []string{"*"}, AllowHeaders: []string{"*"}},
		Authorizers: map[string]gateway.Authorizer{"Jwt": {
			Type: "JWT", IdentitySource: "$request.header.Authorization", Issuer: "https://issuer.example.com", Audience: []string{"app"},
		}},
		Routes: []gateway.Route{
			{Key: "ANY /items/{proxy+}", Integration: gateway.Integration{Function: "app-Other", PayloadFormat: "1.0", TimeoutMillis: 1000}, Authorizer: "Jwt"}, // the default
			{Key: "GET /", Integration: gateway.Integration{Function: "app-Fn:live", PayloadFormat: "2.0"}},
			{Key: "POST /admin", Integration: gateway.Integration{Function: "app-Fn:live", PayloadFormat: "2.0"}, Authorizer: "Jwt", Scopes: []string{"admin"}},
		},
	}
	if !reflect.DeepEqual(api.API, want) {
		t.Errorf("api =\n%+v\nwant\n%+v", api.API, want)
	}
	if !reflect.DeepEqual(api.DependsOn, []string{"Fn", "Other"}) {
		t.Errorf("api DependsOn = %v", api.DependsOn)
	}
	implicit := mustResource(t, p, ImplicitHTTPAPI)
	if implicit.Type != TypeHttpAPI || len(implicit.API.Routes) != 1 || implicit.API.Routes[0].Key != "$default" ||
		implicit.API.Routes[0].Integration.Function != "app-Fn:live" || implicit.API.CORS == nil {
		t.Errorf("implicit API = %+v", implicit.API)
	}
	if hasWarning(p, "JWKS") { // the gateway fetches the keys from the issuer
		t.Errorf("a warning about the JWKS in %q", p.Warnings)
	}
}

func TestRestAPIEvents(t *testing.T) {
	p := mustPlan(t, `
Globals:
  Api:
    BinaryMediaTypes: [image~1png]
    Cors: "'https://a.example'"
Resources:
  Rest:
    Type: AWS::Serverless::Api
    Properties:
      StageName: live
      Variables: {v: "1"}
      Cors:
        AllowOrigin: "'*'"
        AllowMethods: "'GET,POST'"
        AllowHeaders: "'Content-Type'"
        MaxAge: "'60'"
  Fn:`+nodeFn+`      Events:
        Hello:
          Type: Api
          Properties: {Path: /hello, Method: get}
        Mine:
          Type: Api
          Properties: {RestApiId: !Ref Rest, Path: "/things/{id}", Method: ANY}
Outputs:
  Stage: {Value: !Ref ServerlessRestApi.Stage}
  Url: {Value: !Sub "https://${ServerlessRestApi}.execute-api.${AWS::Region}.amazonaws.com/Prod/hello/"}
`)
	if p.Outputs[0].Value != "Prod" || p.Outputs[1].Value != "https://"+APIID("app", ImplicitRestAPI)+".execute-api.us-east-1.amazonaws.com/Prod/hello/" {
		t.Errorf("outputs = %+v", p.Outputs)
	}
	implicit := mustResource(t, p, ImplicitRestAPI).API
	if implicit.Protocol != gateway.REST || implicit.Stage != "Prod" || len(implicit.Routes) != 1 ||
		implicit.Routes[0].Key != "GET /hello" || !reflect.DeepEqual(implicit.BinaryMediaTypes, []string{"image/png"}) ||
		!reflect.DeepEqual(implicit.CORS.AllowOrigins, []string{"https://a.example"}) {
		t.Errorf("ServerlessRestApi = %+v", implicit)
	}
	rest := mustResource(t, p, "Rest").API
	wantCORS := &gateway.CORS{AllowOrigins: []string{"*"}, AllowMethods: []string{"GET", "POST"}, AllowHeaders: []string{"Content-Type"}, MaxAge: 60}
	if rest.Stage != "live" || rest.StageVariables["v"] != "1" || !reflect.DeepEqual(rest.CORS, wantCORS) ||
		len(rest.Routes) != 1 || rest.Routes[0].Key != "ANY /things/{id}" {
		t.Errorf("Rest = %+v (cors %+v)", rest, rest.CORS)
	}
}

func TestAPIErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{`
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        Authorizers:
          Lambda: {FunctionArn: arn:aws:lambda:us-east-1:000000000000:function:auth}
  Fn:` + nodeFn + `      Events:
        E: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /, Method: GET, Auth: {Authorizer: Lambda}}}
`, "AuthorizerPayloadFormatVersion: is required for a Lambda authorizer"},
		{`
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth: {EnableIamAuthorizer: true}
  Fn:` + nodeFn + `      Events:
        E: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /, Method: GET, Auth: {Authorizer: AWS_IAM}}}
`, "uses authorizer AWS_IAM: IAM authorization is not supported (refused rather than served unprotected)"},
		{`
  Fn:` + nodeFn + `      Events:
        A: {Type: HttpApi, Properties: {Path: /x, Method: GET}}
        B: {Type: HttpApi, Properties: {Path: /x, Method: GET}}
`, "route GET /x of ServerlessHttpApi is also declared by app-Fn"},
		{`
  Q: {Type: AWS::SQS::Queue}
  Fn:` + nodeFn + `      Events:
        A: {Type: HttpApi, Properties: {ApiId: !Ref Q, Path: /x}}
`, "ApiId: must be a Ref to an AWS::Serverless::HttpApi"},
		{`
  Fn:` + nodeFn + `      Events:
        A: {Type: HttpApi, Properties: {Path: x}}
`, "Path: must start with /"},
		{`
  Fn:` + nodeFn + `      Events:
        A: {Type: HttpApi, Properties: {Path: /x, Auth: {Authorizer: Nope}}}
`, `ServerlessHttpApi has no authorizer "Nope"`},
		{`
  Fn:` + nodeFn + `      Events:
        A: {Type: Api, Properties: {Path: /x}}
`, "Events.A.Properties.Method: is required"},
		{`
  Rest: {Type: AWS::Serverless::Api, Properties: {StageName: s, Auth: {DefaultAuthorizer: Cognito, Authorizers: {Cognito: {UserPoolArn: x}}}}}
  Fn:` + nodeFn + `      Events:
        A: {Type: Api, Properties: {RestApiId: !Ref Rest, Path: /x, Method: GET}}
`, "REST API authorizers are not supported yet"},
		{`
  Rest: {Type: AWS::Serverless::Api}
`, "Resources.Rest.Properties.StageName: is required"},
		{`
  Fn:` + nodeFn + `      Events:
        A: {Type: HttpApi, Properties: {PayloadFormatVersion: "3.0"}}
`, "must be one of 1.0, 2.0"},
	}
	for _, tt := range tests {
		_, err := planOf(t, "Resources:"+tt.src)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("error %v, want %q in\n%s", err, tt.want, tt.src)
		}
	}
}

// The gateway accepts the APIs a plan produces.
func TestAPIsAcceptedByGateway(t *testing.T) {
	p := mustPlan(t, `
Resources:
  Api: {Type: AWS::Serverless::HttpApi, Properties: {CorsConfiguration: {AllowOrigins: ["*"], AllowMethods: ["*"]}}}
  Rest: {Type: AWS::Serverless::Api, Properties: {StageName: Prod}}
  Fn:`+nodeFn+`      AutoPublishAlias: live
      Events:
        A: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: "/a/{id}", Method: GET}}
        B: {Type: HttpApi, Properties: {ApiId: !Ref Api}}
        C: {Type: HttpApi, Properties: {Path: "/{proxy+}", Method: ANY}}
        D: {Type: Api, Properties: {Path: /d, Method: POST}}
        E: {Type: Api, Properties: {RestApiId: !Ref Rest, Path: /e, Method: GET}}
`)
	g := gateway.New(gateway.Config{}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := g.SetAPIs(p.APIs()); err != nil {
		t.Fatalf("the gateway refuses the plan's APIs: %v", err)
	}
	if n := len(p.APIs()); n != 4 {
		t.Errorf("%d APIs, want 4", n)
	}
	for _, a := range p.APIs() {
		if len(a.ID) > 63 || strings.ToLower(a.ID) != a.ID {
			t.Errorf("API id %q", a.ID)
		}
	}
}

func TestAPIID(t *testing.T) {
	long := strings.Repeat("Stack", 30)
	for _, tt := range []struct{ stack, id string }{{"app", "Api"}, {"my-app", "ServerlessHttpApi"}, {long, long}} {
		got := APIID(tt.stack, tt.id)
		if len(got) == 0 || len(got) > 63 || strings.Trim(got, "abcdefghijklmnopqrstuvwxyz0123456789") != "" {
			t.Errorf("APIID(%q, %q) = %q", tt.stack, tt.id, got)
		}
		if APIID(tt.stack, tt.id) != got {
			t.Errorf("APIID is not stable")
		}
	}
	if APIID("a-b", "C") == APIID("ab", "C") {
		t.Errorf("APIID(a-b, C) == APIID(ab, C)")
	}
}

func TestScheduleEvents(t *testing.T) {
	p := mustPlan(t, `
Resources:
  Fn:`+nodeFn+`      AutoPublishAlias: live
      Events:
        Tick:
          Type: Schedule
          Properties: {Schedule: rate(1 minute), Name: my-rule, Input: '{"a": 1}'}
        Off:
          Type: Schedule
          Properties: {Schedule: "cron(0 12 ? * MON-FRI *)", State: DISABLED}
        V2:
          Type: ScheduleV2
          Properties: {ScheduleExpression: "at(2030-01-01T00:00:00)", FlexibleTimeWindow: {Mode: "OFF"}}
`)
	target := "arn:aws:lambda:us-east-1:000000000000:function:app-Fn:live"
	tests := map[string]struct {
		typ  string
		want Schedule
	}{
		"FnTick": {TypeRule, Schedule{Name: "my-rule", Expression: "rate(1 minute)", Target: target, Input: `{"a": 1}`, Enabled: true}},
		"FnOff":  {TypeRule, Schedule{Name: "app-FnOff", Expression: "cron(0 12 ? * MON-FRI *)", Target: target}},
		"FnV2":   {TypeSchedule, Schedule{Name: "app-FnV2", Expression: "at(2030-01-01T00:00:00)", Target: target, Enabled: true}},
	}
	for id, tt := range tests {
		r := mustResource(t, p, id)
		if r.Type != tt.typ || !reflect.DeepEqual(*r.Schedule, tt.want) || !reflect.DeepEqual(r.DependsOn, []string{"Fn"}) {
			t.Errorf("%s = %s %+v %v, want %s %+v", id, r.Type, *r.Schedule, r.DependsOn, tt.typ, tt.want)
		}
	}
}

func TestScheduleExpressions(t *testing.T) {
	for expr, want := range map[string]string{
		"rate(5 minutes)":         "",
		"rate(1 day)":             "",
		"rate(1 minutes)":         "singular unit",
		"rate(2 hour)":            "plural unit",
		"rate(0 minutes)":         "positive",
		"rate(5 weeks)":           "must be rate(…) or cron(…)",
		"cron(0 3 * * ? *)":       "",
		"cron(0 3 * * *)":         "6 fields",
		"cron(0 3 * * MON *)":     "exactly one of day-of-month and day-of-week must be ?",
		"at(2030-01-01T00:00:00)": "must be rate(…) or cron(…)",
		"every day":               "must be rate(…) or cron(…)",
	} {
		if got := checkSchedule(expr, false); !strings.Contains(got, want) || (want == "") != (got == "") {
			t.Errorf("checkSchedule(%q) = %q, want %q", expr, got, want)
		}
	}
	if got := checkSchedule("at(2030-01-01T00:00:00)", true); got != "" {
		t.Errorf("ScheduleV2 at(): %q", got)
	}
}

func TestSQSAndSNSEvents(t *testing.T) {
	p := mustPlan(t, `
Resources:
  Q: {Type: AWS::SQS::Queue}
  T: {Type: AWS::SNS::Topic}
  Fn:`+nodeFn+`      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Q.Arn
            BatchSize: 100
            MaximumBatchingWindowInSeconds: 5
            Enabled: false
            FilterCriteria:
              Filters:
                - Pattern: '{"body": {"kind": ["a"]}}'
                - Pattern: {body: {kind: [b]}}
        Direct:
          Type: SNS
          Properties: {Topic: !Ref T, FilterPolicyScope: MessageBody, FilterPolicy: {kind: [a]}}
        Buffered:
          Type: SNS
          Properties: {Topic: !Ref T, SqsSubscription: true}
        Existing:
          Type: SNS
          Properties: {Topic: !Ref T, SqsSubscription: {QueueArn: !GetAtt Q.Arn, BatchSize: 5}}
`)
	m := mustResource(t, p, "FnJobs")
	want := EventSourceMapping{FunctionName: "app-Fn", EventSourceARN: "arn:aws:sqs:us-east-1:000000000000:app-Q", BatchSize: 100,
		MaximumBatchingWindowInSeconds: 5, FilterPatterns: []string{`{"body": {"kind": ["a"]}}`, `{"body":{"kind":["b"]}}`}}
	if !reflect.DeepEqual(*m.EventSourceMapping, want) || !reflect.DeepEqual(m.DependsOn, []string{"Fn", "Q"}) {
		t.Errorf("FnJobs = %+v %v", *m.EventSourceMapping, m.DependsOn)
	}
	topic := "arn:aws:sns:us-east-1:000000000000:app-T"
	d := mustResource(t, p, "FnDirect").Subscription
	if d.TopicARN != topic || d.Protocol != "lambda" || d.Endpoint != "arn:aws:lambda:us-east-1:000000000000:function:app-Fn" ||
		string(d.FilterPolicy) != `{"kind":["a"]}` || d.FilterPolicyScope != "MessageBody" {
		t.Errorf("FnDirect = %+v", d)
	}
	bq := mustResource(t, p, "FnBufferedQueue").Queue
	bs := mustResource(t, p, "FnBuffered").Subscription
	be := mustResource(t, p, "FnBufferedEventSourceMapping").EventSourceMapping
	if bq.Name != "app-FnBufferedQueue" || bs.Protocol != "sqs" || bs.Endpoint != bq.ARN || be.EventSourceARN != bq.ARN || be.BatchSize != 10 || !be.Enabled {
		t.Errorf("buffered SNS: queue %+v, subscription %+v, mapping %+v", bq, bs, be)
	}
	ee := mustResource(t, p, "FnExistingEventSourceMapping").EventSourceMapping
	if ee.EventSourceARN != "arn:aws:sqs:us-east-1:000000000000:app-Q" || ee.BatchSize != 5 {
		t.Errorf("existing-queue SNS mapping = %+v", ee)
	}
}

func TestEventErrors(t *testing.T) {
	tests := []struct{ event, want string }{
		{"{Type: SQS, Properties: {Queue: not-an-arn}}", `Queue: must be an SQS queue ARN (!GetAtt Queue.Arn), not "not-an-arn"`},
		{"{Type: SQS, Properties: {Queue: arn:aws:sqs:us-east-1:000000000000:q, BatchSize: 11}}", "needs MaximumBatchingWindowInSeconds"},
		{"{Type: SQS, Properties: {Queue: arn:aws:sqs:us-east-1:000000000000:q, FunctionResponseTypes: [Other]}}", "only ReportBatchItemFailures"},
		{"{Type: SQS, Properties: {Queue: arn:aws:sqs:us-east-1:000000000000:q, ScalingConfig: {MaximumConcurrency: 1}}}", "MaximumConcurrency: must be between 2 and 1000"},
		{"{Type: SNS, Properties: {Topic: x}}", "must be an SNS topic ARN"},
		{"{Type: Schedule, Properties: {Schedule: rate(1 minutes)}}", "Events.E.Properties.Schedule: a rate of 1 takes a singular unit"},
		{"{Type: Schedule, Properties: {Schedule: rate(1 minute), Input: '{x'}}", "Input: must be JSON"},
		{"{Type: Schedule}", "Schedule: is required"},
		{"{Properties: {}}", "an event needs a Type"},
		{"{Type: SQS, Properties: {Queue: arn:aws:sqs:us-east-1:000000000000:q}, Extra: 1}", "Events.E.Extra: not an event attribute"},
	}
	for _, tt := range tests {
		_, err := planOf(t, "Resources:\n  Fn:"+nodeFn+"      Events:\n        E: "+tt.event+"\n")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.event, err, tt.want)
		}
	}
}

func TestUnsupportedEvent(t *testing.T) {
	p := mustPlan(t, "Resources:\n  Fn:"+nodeFn+"      Events:\n        Up: {Type: S3, Properties: {Bucket: b}}\n        Stream: {Type: DynamoDB}\n")
	if !reflect.DeepEqual(p.Unsupported, []Unsupported{
		{LogicalID: "FnUp", Type: "event:S3", Reason: "event type not supported yet"},
		{LogicalID: "FnStream", Type: "event:DynamoDB", Reason: "event type not supported yet"},
	}) {
		t.Errorf("Unsupported = %+v", p.Unsupported)
	}
	if !hasWarning(p, "Resources.Fn.Properties.Events.Up: S3 events are not supported yet") {
		t.Errorf("warnings = %q", p.Warnings)
	}
}
