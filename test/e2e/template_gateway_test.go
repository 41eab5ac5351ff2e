package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

const gatewayTemplate = `Transform: AWS::Serverless-2016-10-31
Globals:
  Function: {Runtime: nodejs20.x, Handler: index.handler}
Resources:
  Jobs:
    Type: AWS::SQS::Queue
  AuthFn:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: auth}
  AppFn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: app
      AutoPublishAlias: live
      FunctionUrlConfig: {AuthType: NONE}
      Events:
        Me: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /me, Method: GET}}
        Health: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /health, Method: GET, Auth: {Authorizer: NONE}}}
        Items: {Type: Api, Properties: {RestApiId: !Ref Rest, Path: /items, Method: GET}}
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Gate
        Authorizers:
          Gate:
            FunctionArn: !GetAtt AuthFn.Arn
            AuthorizerPayloadFormatVersion: "2.0"
            EnableSimpleResponses: true
            Identity: {Headers: [Authorization]}
      RouteSettings:
        "GET /health": {ThrottlingRateLimit: 0.001, ThrottlingBurstLimit: 1}
      DefinitionBody:
        openapi: "3.0.1"
        paths:
          /jobs:
            post:
              x-amazon-apigateway-integration:
                type: aws_proxy
                integrationSubtype: SQS-SendMessage
                payloadFormatVersion: "1.0"
                requestParameters: {QueueUrl: !Ref Jobs, MessageBody: $request.body}
  Rest:
    Type: AWS::Serverless::Api
    Properties:
      StageName: Prod
      Auth:
        ApiKeyRequired: true
        UsagePlan: {CreateUsagePlan: PER_API, Throttle: {RateLimit: 100, BurstLimit: 100}}
`

const gatewayAuthJS = `exports.handler = async (event) => ({
  isAuthorized: event.headers.authorization === "Bearer let-me-in",
  context: { user: "alice" },
});
`

const gatewayAppJS = `exports.handler = async (event) => {
  const a = event.requestContext && event.requestContext.authorizer;
  return { statusCode: 200, headers: { "content-type": "application/json" },
    body: JSON.stringify({ path: event.rawPath || event.path, user: (a && a.lambda && a.lambda.user) || null }) };
};
`

// TestTemplateGateway deploys, with nimbus deploy, a SAM template using the
// gateway's features: a Lambda authorizer (DefaultAuthorizer, Authorizer
// NONE), route throttling (RouteSettings), an SQS service integration from
// an OpenAPI DefinitionBody, a REST API whose routes need the usage plan's
// generated API key, and a function URL on an alias. It uses each through
// the gateway, redeploys (nothing changes, the key stays), removes the
// function URL from the template (it is deleted) and deletes the stack.
func TestTemplateGateway(t *testing.T) {
	s := startServer(t, t.TempDir())
	dir := filepath.Join(t.TempDir(), "gw")
	for name, content := range map[string]string{"template.yaml": gatewayTemplate, "auth/index.js": gatewayAuthJS, "app/index.js": gatewayAppJS} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	c := s.client()

	out, err := cli(t, s, dir, "deploy")
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	for _, want := range []string{"5 created, 0 updated, 0 deleted, 0 unchanged", "POST  " + s.Gateway + "/jobs", "-> SQS-SendMessage",
		"Function URLs:", "API keys (send one as the x-api-key header):"} {
		if !strings.Contains(out, want) {
			t.Errorf("deploy output lacks %q:\n%s", want, out)
		}
	}
	m := regexp.MustCompile(`gw-Rest\s+RestApiKey\s+([A-Za-z0-9]{40})`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no API key in the deploy output:\n%s", out)
	}
	key := m[1]
	u := regexp.MustCompile(`gw-AppFn\s+live\s+NONE\s+http://[a-z0-9]{32}\.lambda-url\.localhost:\d+/\s+\(or (http://\S+/lambda-url/[a-z0-9]{32}/)\)`).FindStringSubmatch(out)
	if u == nil {
		t.Fatalf("no function URL in the deploy output:\n%s", out)
	}
	fnURL := u[1]

	get := func(method, url, body string, header ...string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	expect := func(what string, code int, body string, wantCode int, wantBody string) {
		t.Helper()
		if code != wantCode || !strings.Contains(body, wantBody) {
			t.Errorf("%s: %d %s, want %d with %q", what, code, body, wantCode, wantBody)
		}
	}

	// The Lambda authorizer (the API's DefaultAuthorizer).
	code, body := get("GET", s.Gateway+"/me", "")
	expect("GET /me without a token", code, body, 401, "Unauthorized")
	code, body = get("GET", s.Gateway+"/me", "", "Authorization", "Bearer wrong")
	expect("GET /me with a wrong token", code, body, 403, "Forbidden")
	code, body = get("GET", s.Gateway+"/me", "", "Authorization", "Bearer let-me-in")
	expect("GET /me with the token", code, body, 200, `{"path":"/me","user":"alice"}`)
	// Authorizer NONE and the route's throttle: a burst of one, refilled in 1000 s.
	code, body = get("GET", s.Gateway+"/health", "")
	expect("GET /health", code, body, 200, `"user":null`)
	code, body = get("GET", s.Gateway+"/health", "")
	expect("GET /health again", code, body, 429, "Too Many Requests")
	// The SQS integration from the DefinitionBody, behind the authorizer.
	code, body = get("POST", s.Gateway+"/jobs", "job-7")
	expect("POST /jobs without a token", code, body, 401, "Unauthorized")
	code, body = get("POST", s.Gateway+"/jobs", "job-7", "Authorization", "Bearer let-me-in")
	expect("POST /jobs", code, body, 200, "MessageId")
	q := s.sqsClient()
	qu, err := q.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("gw-Jobs")})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	waitFor(t, "job-7 in gw-Jobs", 30*time.Second, func() bool {
		r, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: qu.QueueUrl, WaitTimeSeconds: 1})
		if err == nil {
			for _, msg := range r.Messages {
				got = append(got, aws.ToString(msg.Body))
			}
		}
		return len(got) > 0
	})
	if len(got) != 1 || got[0] != "job-7" {
		t.Errorf("messages in gw-Jobs: %q", got)
	}
	// The REST API's key.
	code, body = get("GET", s.Gateway+"/items", "")
	expect("GET /items without a key", code, body, 403, "Forbidden")
	code, body = get("GET", s.Gateway+"/items", "", "x-api-key", strings.ToLower(key))
	expect("GET /items with a wrong key", code, body, 403, "Forbidden")
	code, body = get("GET", s.Gateway+"/items", "", "x-api-key", key)
	expect("GET /items with the key", code, body, 200, `"path":"/items"`)
	// The function URL (of the alias live).
	code, body = get("GET", fnURL+"hi", "")
	expect("GET on the function URL", code, body, 200, `{"path":"/hi","user":null}`)
	cfg, err := c.GetFunctionUrlConfig(ctx, &awslambda.GetFunctionUrlConfigInput{FunctionName: aws.String("gw-AppFn"), Qualifier: aws.String("live")})
	if err != nil || cfg.AuthType != "NONE" {
		t.Errorf("GetFunctionUrlConfig gw-AppFn:live: %v %+v", err, cfg)
	}

	// The same template again changes nothing and keeps the key.
	out, err = cli(t, s, dir, "deploy")
	if err != nil {
		t.Fatalf("second deploy: %v\n%s", err, out)
	}
	if changes := changeLine.FindAllString(out, -1); len(changes) > 0 || !strings.Contains(out, "0 created, 0 updated, 0 deleted, 5 unchanged") || !strings.Contains(out, key) {
		t.Errorf("second deploy changed %q (or the key %s):\n%s", changes, key, out)
	}

	// Without FunctionUrlConfig the URL is deleted.
	tmpl := filepath.Join(dir, "template.yaml")
	if err := os.WriteFile(tmpl, []byte(strings.Replace(gatewayTemplate, "      FunctionUrlConfig: {AuthType: NONE}\n", "", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = cli(t, s, dir, "deploy")
	if err != nil {
		t.Fatalf("deploy without the URL: %v\n%s", err, out)
	}
	if changes := changeLine.FindAllString(out, -1); len(changes) != 1 || !strings.HasPrefix(changes[0], "~ update    Function            gw-AppFn") || strings.Contains(out, "Function URLs:") {
		t.Errorf("deploy without the URL: %q\n%s", changes, out)
	}
	if _, err := c.GetFunctionUrlConfig(ctx, &awslambda.GetFunctionUrlConfigInput{FunctionName: aws.String("gw-AppFn"), Qualifier: aws.String("live")}); err == nil || !strings.Contains(err.Error(), "ResourceNotFound") {
		t.Errorf("the URL is still configured: %v", err)
	}
	code, body = get("GET", fnURL+"hi", "")
	expect("GET on the removed function URL", code, body, 404, "")

	out, err = cli(t, s, dir, "delete")
	if err != nil {
		t.Fatalf("delete: %v\n%s", err, out)
	}
	if code, body = get("GET", s.Gateway+"/items", "", "x-api-key", key); code != 404 {
		t.Errorf("GET /items after delete: %d %s", code, body)
	}
}
