package template

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/nimbus-dev/nimbus/internal/gateway"
)

// goldenPlan plans dir/template.yaml and compares the plan (the directory
// written $DIR) with dir/plan.golden.json (go test -update rewrites it).
func goldenPlan(t *testing.T, dir string, opts Options) *Plan {
	t.Helper()
	dir, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	opts.Dir = dir
	p, err := tpl.Plan(opts)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(bytes.ReplaceAll(got, []byte(dir), []byte("$DIR")), '\n')
	golden := filepath.Join(dir, "plan.golden.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the plan differs from %s (go test -update rewrites it):\n%s", golden, got)
	}
	return p
}

// withKeyValues returns the plan's APIs with every API key given a value,
// as the deployer gives them.
func withKeyValues(p *Plan) []gateway.API {
	apis := p.APIs()
	for i := range apis {
		apis[i].APIKeys = append([]gateway.APIKey(nil), apis[i].APIKeys...)
		for j := range apis[i].APIKeys {
			apis[i].APIKeys[j].Value = fmt.Sprintf("key-of-%s-%d-0123456789", apis[i].ID, j)
		}
	}
	return apis
}

// TestGoldenGatewayPlan plans testdata/gateway: Lambda (REQUEST) and JWT
// authorizers, stage and route throttling, service integrations and a
// Lambda integration from an OpenAPI DefinitionBody, REST API keys with a
// usage plan, and function URLs.
func TestGoldenGatewayPlan(t *testing.T) {
	p := goldenPlan(t, "testdata/gateway", Options{Stack: "shop"})
	g := gateway.New(gateway.Config{}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := g.SetAPIs(withKeyValues(p)); err != nil {
		t.Errorf("the gateway refuses the plan's APIs: %v", err)
	}

	api := mustResource(t, p, "Api")
	auth := api.API.Authorizers["LambdaAuth"]
	want := gateway.Authorizer{Type: "REQUEST", Function: "arn:aws:lambda:us-east-1:000000000000:function:shop-AuthFunction",
		PayloadFormat: "2.0", EnableSimpleResponses: true, ResultTTLSeconds: 300,
		IdentitySource: "$request.header.Authorization,$request.querystring.tenant"}
	if !reflect.DeepEqual(auth, want) {
		t.Errorf("LambdaAuth = %+v, want %+v", auth, want)
	}
	if got := api.API.Authorizers["Legacy"]; got.Function != "shop-AuthFunction" || got.PayloadFormat != "1.0" {
		t.Errorf("Legacy = %+v", got)
	}
	if got := api.API.Authorizers["Jwt"]; got.Type != "JWT" || got.Issuer != "https://issuer.example.com" || got.JWKS != "" {
		t.Errorf("Jwt = %+v", got)
	}
	if api.API.ThrottlingRateLimit != 100 || api.API.ThrottlingBurstLimit != 50 {
		t.Errorf("stage throttling = %v/%v", api.API.ThrottlingRateLimit, api.API.ThrottlingBurstLimit)
	}
	routes := map[string]gateway.Route{}
	for _, r := range api.API.Routes {
		routes[r.Key] = r
	}
	for key, check := range map[string]func(r gateway.Route) bool{
		"POST /orders": func(r gateway.Route) bool {
			return r.Integration.Type == gateway.TypeSQSSendMessage && r.Integration.Parameters["QueueUrl"] == "http://127.0.0.1:8900/000000000000/shop-Orders" &&
				r.ThrottlingRateLimit == 2.5 && r.ThrottlingBurstLimit == 5 && r.Authorizer == "LambdaAuth"
		},
		"POST /checkout": func(r gateway.Route) bool {
			return r.Integration.Type == gateway.TypeStartSyncExecution && r.Authorizer == "" &&
				r.Integration.Parameters["StateMachineArn"] == "arn:aws:states:us-east-1:000000000000:stateMachine:shop-Checkout"
		},
		"POST /async-checkout": func(r gateway.Route) bool { return r.Integration.Type == gateway.TypeStartExecution },
		"GET /status": func(r gateway.Route) bool {
			return r.Integration.Function == "arn:aws:lambda:us-east-1:000000000000:function:shop-Status" && r.Integration.TimeoutMillis == 5000
		},
		"GET /me": func(r gateway.Route) bool {
			return r.Authorizer == "LambdaAuth" && r.Integration.Function == "shop-Me:live"
		},
		"GET /admin": func(r gateway.Route) bool {
			return r.Authorizer == "Jwt" && reflect.DeepEqual(r.Scopes, []string{"admin"})
		},
		"GET /old": func(r gateway.Route) bool { return r.Authorizer == "Legacy" },
		"GET /health": func(r gateway.Route) bool {
			return r.Authorizer == "" && r.ThrottlingRateLimit == 1 && r.ThrottlingBurstLimit == 1
		},
	} {
		if r, ok := routes[key]; !ok || !check(r) {
			t.Errorf("route %s = %+v (present %v)", key, r, ok)
		}
	}
	if _, ok := routes["GET /legacy"]; ok {
		t.Errorf("the http_proxy route was deployed")
	}
	if !reflect.DeepEqual(api.DependsOn, []string{"AuthFunction", "Checkout", "Me", "Orders", "Status"}) {
		t.Errorf("Api DependsOn = %v", api.DependsOn)
	}

	rest := mustResource(t, p, "Rest").API
	wantKeys := []gateway.APIKey{{Name: "RestApiKey", RateLimit: 5, BurstLimit: 10}}
	if !reflect.DeepEqual(rest.APIKeys, wantKeys) {
		t.Errorf("Rest keys = %+v, want %+v", rest.APIKeys, wantKeys)
	}
	if len(rest.Routes) != 2 || rest.Routes[0].Key != "GET /items" || !rest.Routes[0].APIKeyRequired || rest.Routes[1].APIKeyRequired {
		t.Errorf("Rest routes = %+v", rest.Routes)
	}
	implicit := mustResource(t, p, ImplicitRestAPI).API
	if len(implicit.APIKeys) != 1 || implicit.APIKeys[0].Name != "ServerlessRestApiApiKey" || !implicit.Routes[0].APIKeyRequired {
		t.Errorf("ServerlessRestApi = %+v", implicit)
	}

	me := mustResource(t, p, "Me").Function
	if me.URL == nil || me.URL.InvokeMode != "RESPONSE_STREAM" || me.URLQualifier() != "live" || *me.URL.Cors.MaxAge != 300 || !*me.URL.Cors.AllowCredentials {
		t.Errorf("Me's URL = %+v (qualifier %s)", me.URL, me.URLQualifier())
	}
	items := mustResource(t, p, "Items").Function
	if items.URL == nil || items.URL.AuthType != "AWS_IAM" || items.URL.InvokeMode != "BUFFERED" || items.URLQualifier() != "$LATEST" {
		t.Errorf("Items's URL = %+v", items.URL)
	}

	for _, w := range []string{
		"FunctionInvokeRole: IAM is not enforced by nimbus; ignored (Api)",
		"credentials: IAM is not enforced by nimbus; ignored (Api)",
		"DetailedMetricsEnabled: metrics are nimbus's own; ignored (Api)",
		`paths./legacy.get.x-amazon-apigateway-integration.type: "http_proxy" integrations are not supported`,
		"DefinitionBody.x-amazon-apigateway-cors: not supported; ignored",
		"UsagePlan.Quota: usage plan quotas are not enforced",
		"routes require an API key but no usage plan creates one",
	} {
		if !hasWarning(p, w) {
			t.Errorf("no warning %q in\n%s", w, strings.Join(p.Warnings, "\n"))
		}
	}
}

// A SHARED usage plan is one key on every API that shares it.
func TestSharedUsagePlan(t *testing.T) {
	p := mustPlan(t, `
Globals:
  Api:
    Auth:
      ApiKeyRequired: true
      UsagePlan: {CreateUsagePlan: SHARED, Throttle: {RateLimit: 10}}
Resources:
  A: {Type: AWS::Serverless::Api, Properties: {StageName: a}}
  B: {Type: AWS::Serverless::Api, Properties: {StageName: b}}
  Fn:`+nodeFn+`      Events:
        A: {Type: Api, Properties: {RestApiId: !Ref A, Path: /a, Method: GET}}
        B: {Type: Api, Properties: {RestApiId: !Ref B, Path: /b, Method: GET}}
`)
	for _, id := range []string{"A", "B"} {
		a := mustResource(t, p, id).API
		if len(a.APIKeys) != 1 || a.APIKeys[0].Name != SharedAPIKey || a.APIKeys[0].RateLimit != 10 || !a.Routes[0].APIKeyRequired {
			t.Errorf("%s = %+v", id, a)
		}
	}
}

func TestGatewayTemplateErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{`
  Api: {Type: AWS::Serverless::HttpApi, Properties: {RouteSettings: {"GET /nope": {ThrottlingRateLimit: 1}}}}
  Fn:` + nodeFn + `      Events:
        A: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /x, Method: GET}}
`, "no route GET /nope in Api"},
		{`
  Api: {Type: AWS::Serverless::HttpApi, Properties: {DefaultRouteSettings: {ThrottlingRateLimit: -1}}}
`, "ThrottlingRateLimit: must be a non-negative number"},
		{`
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        Authorizers:
          L: {FunctionArn: fn, AuthorizerPayloadFormatVersion: "2.0", Identity: {ReauthorizeEvery: 60}}
`, "ReauthorizeEvery: caching needs an identity source"},
		{`
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        Authorizers:
          L: {FunctionArn: fn, AuthorizerPayloadFormatVersion: "1.0", EnableSimpleResponses: true}
`, "simple responses need AuthorizerPayloadFormatVersion 2.0"},
		{`
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        Authorizers:
          L: {FunctionArn: "arn:aws:s3:::bucket", AuthorizerPayloadFormatVersion: "2.0"}
`, "FunctionArn: must be a function ARN"},
		{`
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        Authorizers:
          J: {JwtConfiguration: {issuer: my-issuer, audience: [a]}}
`, "issuer: must be an http(s) URL"},
		{`
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        Authorizers:
          X: {IdentitySource: $request.header.Authorization}
`, "needs JwtConfiguration (JWT) or FunctionArn (Lambda)"},
		{`
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      DefinitionBody:
        paths:
          /x:
            get:
              security: [{oauth: []}]
              x-amazon-apigateway-integration: {type: aws_proxy, uri: "arn:aws:lambda:us-east-1:000000000000:function:f"}
`, "security requirements in the definition are not supported"},
		{`
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      DefinitionBody:
        paths:
          /x:
            post:
              x-amazon-apigateway-integration: {type: aws_proxy, integrationSubtype: SQS-SendMessage, requestParameters: {MessageBody: $request.body}}
`, "the gateway refuses this API: api \"appapi"},
		{`
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      DefinitionBody:
        paths:
          /x:
            get:
              x-amazon-apigateway-integration: {type: aws_proxy, uri: "https://example.com"}
`, "uri: must name a Lambda function"},
		{`
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      DefinitionBody:
        paths:
          /x:
            get:
              x-amazon-apigateway-integration: {type: aws_proxy, uri: "arn:aws:lambda:us-east-1:000000000000:function:f"}
  Fn:` + nodeFn + `      Events:
        A: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /x, Method: GET}}
`, "route GET /x of Api is also declared by"},
		{`
  Rest: {Type: AWS::Serverless::Api, Properties: {StageName: s, Auth: {UsagePlan: {Throttle: {RateLimit: 1}}}}}
`, "CreateUsagePlan: is required"},
		{`
  Fn:` + nodeFn + `      FunctionUrlConfig: {InvokeMode: BUFFERED}
`, "FunctionUrlConfig.AuthType: is required"},
		{`
  Fn:` + nodeFn + `      FunctionUrlConfig: {AuthType: NONE, InvokeMode: STREAM}
`, "InvokeMode: must be one of BUFFERED, RESPONSE_STREAM"},
	}
	for _, tt := range tests {
		_, err := planOf(t, "Resources:"+tt.src)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("error %v, want %q in\n%s", err, tt.want, tt.src)
		}
	}
}
