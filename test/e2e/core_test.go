package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
)

func decodeJSON(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("payload %q is not a JSON object: %v", b, err)
	}
	return m
}

func apiErrorCode(t testing.TB, err error) (string, int) {
	t.Helper()
	if err == nil {
		t.Fatal("want an error, got none")
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want an API error, got %v", err)
	}
	status := 0
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return ae.ErrorCode(), status
}

func clientContext(custom map[string]string) *string {
	b, _ := json.Marshal(map[string]any{"custom": custom, "client": map[string]string{"app_title": "e2e"}, "env": map[string]string{"locale": "en"}})
	return aws.String(base64.StdEncoding.EncodeToString(b))
}

// TestRuntimes creates one function per runtime and checks what each saw.
func TestRuntimes(t *testing.T) {
	s := startServer(t, t.TempDir())
	c := s.client()
	ctx := context.Background()
	env := func(in *awslambda.CreateFunctionInput) {
		in.Environment = &types.Environment{Variables: map[string]string{"MY_VAR": "my-value"}}
		in.MemorySize = aws.Int32(256)
		in.Timeout = aws.Int32(7)
	}
	cases := []struct {
		name, handler string
		runtime       types.Runtime
		zip           []byte
		wantRuntime   string // "runtime" field of the answer, "" for the Go function
		wantErrType   string
	}{
		{"go-fn", "bootstrap", types.RuntimeProvidedal2023, goZip, "", "errorString"},
		{"go-fn-al2", "bootstrap", types.RuntimeProvidedal2, goZip, "", "errorString"},
		{"node-cjs", "index.handler", types.RuntimeNodejs20x, nodeCJS, "node-cjs", "TypeError"},
		{"node-esm", "app.handler", types.RuntimeNodejs20x, nodeESM, "node-esm", "RangeError"},
		{"python", "app.handler", types.RuntimePython311, pythonZip, "python", "ValueError"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			created := createFunction(t, c, tc.name, tc.runtime, tc.handler, tc.zip, env)
			if got, want := aws.ToString(created.FunctionArn), "arn:aws:lambda:us-east-1:000000000000:function:"+tc.name; got != want {
				t.Errorf("FunctionArn = %s, want %s", got, want)
			}
			out, err := c.Invoke(ctx, &awslambda.InvokeInput{
				FunctionName:  aws.String(tc.name),
				Payload:       []byte(`{"action":"context","text":"hi"}`),
				LogType:       types.LogTypeTail,
				ClientContext: clientContext(map[string]string{"k": "v"}),
			})
			if err != nil {
				t.Fatalf("Invoke: %v", err)
			}
			if out.StatusCode != 200 || out.FunctionError != nil {
				t.Fatalf("Invoke = %d %v: %s", out.StatusCode, aws.ToString(out.FunctionError), out.Payload)
			}
			if got := aws.ToString(out.ExecutedVersion); got != "$LATEST" {
				t.Errorf("ExecutedVersion = %q", got)
			}
			m := decodeJSON(t, out.Payload)
			reqID, _ := awsmiddlewareRequestID(out)
			logs, _ := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
			for _, want := range []string{"START RequestId: ", "END RequestId: ", "REPORT RequestId: ", "Init Duration: ", "Memory Size: 256 MB", "Billed Duration: "} {
				if !bytes.Contains(logs, []byte(want)) {
					t.Errorf("log tail lacks %q:\n%s", want, logs)
				}
			}
			if tc.wantRuntime == "" { // aws-lambda-go
				envs := m["env"].(map[string]any)
				for k, want := range map[string]string{
					"AWS_LAMBDA_FUNCTION_NAME": tc.name, "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
					"AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/" + tc.name, "AWS_REGION": "us-east-1", "MY_VAR": "my-value", "_HANDLER": "bootstrap",
					"AWS_ENDPOINT_URL": s.API,
				} {
					if envs[k] != want {
						t.Errorf("env %s = %v, want %s", k, envs[k], want)
					}
				}
				if _, ok := envs["_LAMBDA_SERVER_PORT"]; ok {
					t.Error("_LAMBDA_SERVER_PORT is set")
				}
				if m["requestId"] != reqID {
					t.Errorf("function saw request id %v, response header says %s", m["requestId"], reqID)
				}
				if m["functionArn"] != "arn:aws:lambda:us-east-1:000000000000:function:"+tc.name {
					t.Errorf("function saw ARN %v", m["functionArn"])
				}
				if r := m["remainingMs"].(float64); r <= 0 || r > 7000 {
					t.Errorf("remaining time %v ms, want within the 7 s timeout", r)
				}
				if cc, _ := m["clientCustom"].(map[string]any); cc["k"] != "v" {
					t.Errorf("client context custom = %v", m["clientCustom"])
				}
			} else {
				if m["runtime"] != tc.wantRuntime || m["requestId"] != reqID || m["functionName"] != tc.name {
					t.Errorf("answer %v (request id %s)", m, reqID)
				}
				if tc.wantRuntime != "node-esm" {
					if m["memoryLimitInMB"] != "256" || m["functionVersion"] != "$LATEST" || m["myVar"] != "my-value" ||
						m["logGroupName"] != "/aws/lambda/"+tc.name || m["invokedFunctionArn"] != "arn:aws:lambda:us-east-1:000000000000:function:"+tc.name {
						t.Errorf("context seen: %v", m)
					}
					if cc, _ := m["clientCustom"].(map[string]any); cc["k"] != "v" {
						t.Errorf("client context custom = %v", m["clientCustom"])
					}
					if r := m["remaining"].(float64); r <= 0 || r > 7000 {
						t.Errorf("remaining time %v ms", r)
					}
					if !strings.HasPrefix(m["execEnv"].(string), "AWS_Lambda_") {
						t.Errorf("AWS_EXECUTION_ENV = %v", m["execEnv"])
					}
				}
				if !bytes.Contains(logs, []byte("got")) {
					t.Errorf("log tail lacks the handler's output:\n%s", logs)
				}
			}

			// A function error is 200 with X-Amz-Function-Error and the runtime's error document.
			out, err = c.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String(tc.name), Payload: []byte(`{"action":"error","text":"x"}`)})
			if err != nil {
				t.Fatalf("Invoke error case: %v", err)
			}
			if out.StatusCode != 200 || aws.ToString(out.FunctionError) != "Unhandled" {
				t.Fatalf("error case: status %d FunctionError %v", out.StatusCode, out.FunctionError)
			}
			em := decodeJSON(t, out.Payload)
			if em["errorType"] != tc.wantErrType || !strings.Contains(em["errorMessage"].(string), "x") {
				t.Errorf("error document %s, want errorType %s", out.Payload, tc.wantErrType)
			}

			// The warm environment is reused: no Init Duration the second time.
			out, err = c.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String(tc.name), LogType: types.LogTypeTail})
			if err != nil || out.FunctionError != nil {
				t.Fatalf("warm invoke: %v %s", err, out.Payload)
			}
			logs, _ = base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
			if bytes.Contains(logs, []byte("Init Duration")) {
				t.Errorf("warm invoke reported a cold start:\n%s", logs)
			}
		})
	}
}

// awsmiddlewareRequestID returns the X-Amzn-RequestId of a response.
func awsmiddlewareRequestID(out *awslambda.InvokeOutput) (string, bool) {
	return awsRequestID(out.ResultMetadata)
}

func TestInvokeErrors(t *testing.T) {
	s := startServer(t, t.TempDir())
	c := s.client()
	ctx := context.Background()
	createFunction(t, c, "fn", types.RuntimeProvidedal2023, "bootstrap", goZip, func(in *awslambda.CreateFunctionInput) {
		in.Timeout = aws.Int32(3)
	})
	invoke := func(payload string) *awslambda.InvokeOutput {
		t.Helper()
		out, err := c.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("fn"), Payload: []byte(payload)})
		if err != nil {
			t.Fatalf("Invoke %s: %v", payload, err)
		}
		return out
	}
	t.Run("timeout", func(t *testing.T) {
		out := invoke(`{"action":"sleep","sleepMs":6000}`)
		m := decodeJSON(t, out.Payload)
		if aws.ToString(out.FunctionError) != "Unhandled" || m["errorType"] != "Sandbox.Timedout" ||
			!strings.HasSuffix(m["errorMessage"].(string), "Error: Task timed out after 3.00 seconds") {
			t.Errorf("timeout: %v %s", out.FunctionError, out.Payload)
		}
		if out := invoke(`{}`); out.FunctionError != nil {
			t.Errorf("invoke after timeout: %s", out.Payload)
		}
	})
	t.Run("exit", func(t *testing.T) {
		out := invoke(`{"action":"exit","code":42}`)
		m := decodeJSON(t, out.Payload)
		if aws.ToString(out.FunctionError) != "Unhandled" || m["errorType"] != "Runtime.ExitError" ||
			!strings.Contains(m["errorMessage"].(string), "Runtime exited with error: exit status 42") {
			t.Errorf("exit: %v %s", out.FunctionError, out.Payload)
		}
		if out := invoke(`{}`); out.FunctionError != nil {
			t.Errorf("invoke after exit: %s", out.Payload)
		}
	})
	t.Run("panic", func(t *testing.T) {
		out := invoke(`{"action":"panic","text":"p"}`)
		m := decodeJSON(t, out.Payload)
		if aws.ToString(out.FunctionError) != "Unhandled" || !strings.Contains(m["errorMessage"].(string), "panic: p") {
			t.Errorf("panic: %v %s", out.FunctionError, out.Payload)
		}
		if out := invoke(`{}`); out.FunctionError != nil {
			t.Errorf("invoke after panic: %s", out.Payload)
		}
	})
	t.Run("response too large", func(t *testing.T) {
		out := invoke(`{"action":"big","size":7000000}`)
		m := decodeJSON(t, out.Payload)
		if aws.ToString(out.FunctionError) != "Unhandled" || m["errorType"] != "Function.ResponseSizeTooLarge" {
			t.Errorf("big response: %v %.200s", out.FunctionError, out.Payload)
		}
		if out := invoke(`{"action":"big","size":6000000}`); out.FunctionError != nil || len(out.Payload) != 6000002 {
			t.Errorf("6 MB response: %v, %d bytes: %.300s", aws.ToString(out.FunctionError), len(out.Payload), out.Payload)
		}
	})
	t.Run("request too large", func(t *testing.T) {
		big := `{"text":"` + strings.Repeat("y", 6<<20) + `"}`
		_, err := c.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("fn"), Payload: []byte(big)})
		if code, status := apiErrorCode(t, err); code != "RequestTooLargeException" || status != 413 {
			t.Errorf("got %s %d", code, status)
		}
	})
	t.Run("unknown function", func(t *testing.T) {
		_, err := c.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("nope")})
		if code, status := apiErrorCode(t, err); code != "ResourceNotFoundException" || status != 404 {
			t.Errorf("got %s %d", code, status)
		}
		_, err = c.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("fn"), Qualifier: aws.String("9")})
		if code, status := apiErrorCode(t, err); code != "ResourceNotFoundException" || status != 404 {
			t.Errorf("unknown version: got %s %d", code, status)
		}
	})
	t.Run("invalid payload", func(t *testing.T) {
		_, err := c.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("fn"), Payload: []byte("{not json")})
		if code, status := apiErrorCode(t, err); code != "InvalidRequestContentException" || status != 400 {
			t.Errorf("got %s %d", code, status)
		}
	})
	t.Run("dry run", func(t *testing.T) {
		out, err := c.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("fn"), InvocationType: types.InvocationTypeDryRun})
		if err != nil || out.StatusCode != 204 {
			t.Errorf("DryRun: %v %v", err, out)
		}
	})
	t.Run("event", func(t *testing.T) {
		out, err := c.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("fn"), InvocationType: types.InvocationTypeEvent, Payload: []byte(`{}`)})
		if err != nil || out.StatusCode != 202 {
			t.Errorf("Event: %v %v", err, out)
		}
		big := `{"text":"` + strings.Repeat("y", 1<<20) + `"}`
		_, err = c.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("fn"), InvocationType: types.InvocationTypeEvent, Payload: []byte(big)})
		if code, status := apiErrorCode(t, err); code != "RequestTooLargeException" || status != 413 {
			t.Errorf("big event: got %s %d", code, status)
		}
	})
	t.Run("concurrent invocations get separate environments", func(t *testing.T) {
		const n = 4
		envs := make(chan string, n)
		for range n {
			go func() {
				out, err := c.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("fn"), Payload: []byte(`{"action":"sleep","sleepMs":300}`)})
				if err != nil || out.FunctionError != nil {
					envs <- ""
					return
				}
				envs <- envOf(t, out.Payload)
			}()
		}
		seen := map[string]bool{}
		for range n {
			seen[<-envs] = true
		}
		if len(seen) != n || seen[""] {
			t.Errorf("%d concurrent invocations ran in environments %v", n, seen)
		}
	})
}

func TestControlPlane(t *testing.T) {
	s := startServer(t, t.TempDir())
	c := s.client()
	ctx := context.Background()
	created := createFunction(t, c, "cp", types.RuntimeProvidedal2023, "bootstrap", goZip)
	sum := sha256b64(goZip)
	if aws.ToString(created.CodeSha256) != sum || created.CodeSize != int64(len(goZip)) {
		t.Errorf("CodeSha256 %s size %d, want %s %d", aws.ToString(created.CodeSha256), created.CodeSize, sum, len(goZip))
	}
	if created.State != types.StateActive || created.LastUpdateStatus != types.LastUpdateStatusSuccessful || aws.ToString(created.RevisionId) == "" {
		t.Errorf("state %s/%s revision %q", created.State, created.LastUpdateStatus, aws.ToString(created.RevisionId))
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000-0700", aws.ToString(created.LastModified)); err != nil {
		t.Errorf("LastModified %q: %v", aws.ToString(created.LastModified), err)
	}

	t.Run("conflict", func(t *testing.T) {
		_, err := c.CreateFunction(ctx, &awslambda.CreateFunctionInput{FunctionName: aws.String("cp"), Runtime: types.RuntimeProvidedal2023,
			Handler: aws.String("bootstrap"), Role: aws.String(role), Code: &types.FunctionCode{ZipFile: goZip}})
		if code, status := apiErrorCode(t, err); code != "ResourceConflictException" || status != 409 {
			t.Errorf("got %s %d", code, status)
		}
	})
	t.Run("validation", func(t *testing.T) {
		for name, in := range map[string]*awslambda.CreateFunctionInput{
			"bad runtime":         {FunctionName: aws.String("v1"), Runtime: "cobol9", Handler: aws.String("h"), Role: aws.String(role), Code: &types.FunctionCode{ZipFile: goZip}},
			"bad timeout":         {FunctionName: aws.String("v2"), Runtime: types.RuntimeProvidedal2023, Handler: aws.String("h"), Role: aws.String(role), Code: &types.FunctionCode{ZipFile: goZip}, Timeout: aws.Int32(901)},
			"bad memory":          {FunctionName: aws.String("v3"), Runtime: types.RuntimeProvidedal2023, Handler: aws.String("h"), Role: aws.String(role), Code: &types.FunctionCode{ZipFile: goZip}, MemorySize: aws.Int32(64)},
			"reserved env":        {FunctionName: aws.String("v4"), Runtime: types.RuntimeProvidedal2023, Handler: aws.String("h"), Role: aws.String(role), Code: &types.FunctionCode{ZipFile: goZip}, Environment: &types.Environment{Variables: map[string]string{"AWS_REGION": "x"}}},
			"not a zip":           {FunctionName: aws.String("v5"), Runtime: types.RuntimeProvidedal2023, Handler: aws.String("h"), Role: aws.String(role), Code: &types.FunctionCode{ZipFile: []byte("hello")}},
			"missing interpreter": {FunctionName: aws.String("v6"), Runtime: types.RuntimeNodejs22x, Handler: aws.String("h"), Role: aws.String(role), Code: &types.FunctionCode{ZipFile: nodeCJS}},
		} {
			_, err := c.CreateFunction(ctx, in)
			if name == "missing interpreter" && err == nil {
				continue // this host happens to have node 22
			}
			if code, status := apiErrorCode(t, err); status != 400 || (code != "InvalidParameterValueException" && code != "ValidationException") {
				t.Errorf("%s: got %s %d", name, code, status)
			}
		}
	})
	t.Run("get and list", func(t *testing.T) {
		got, err := c.GetFunction(ctx, &awslambda.GetFunctionInput{FunctionName: aws.String("arn:aws:lambda:us-east-1:000000000000:function:cp")})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(got.Configuration.CodeSha256) != sum || got.Code == nil || aws.ToString(got.Code.Location) == "" {
			t.Errorf("GetFunction: %+v", got)
		}
		resp, err := http.Get(aws.ToString(got.Code.Location))
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("code location: %v %v", err, resp)
		} else {
			resp.Body.Close()
		}
		for i := range 4 {
			createFunction(t, c, "list-"+string(rune('a'+i)), types.RuntimeProvidedal2023, "bootstrap", goZip)
		}
		var names []string
		p := awslambda.NewListFunctionsPaginator(c, &awslambda.ListFunctionsInput{MaxItems: aws.Int32(2)})
		pages := 0
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, f := range page.Functions {
				names = append(names, aws.ToString(f.FunctionName))
			}
		}
		if got := strings.Join(names, ","); got != "cp,list-a,list-b,list-c,list-d" || pages != 3 {
			t.Errorf("listed %s in %d pages", got, pages)
		}
	})
	t.Run("update code and configuration", func(t *testing.T) {
		cfg, err := c.GetFunctionConfiguration(ctx, &awslambda.GetFunctionConfigurationInput{FunctionName: aws.String("cp")})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.UpdateFunctionConfiguration(ctx, &awslambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("cp"), RevisionId: aws.String("wrong")})
		if code, status := apiErrorCode(t, err); code != "PreconditionFailedException" || status != 412 {
			t.Errorf("stale revision: got %s %d", code, status)
		}
		upd, err := c.UpdateFunctionConfiguration(ctx, &awslambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("cp"),
			RevisionId: cfg.RevisionId, Environment: &types.Environment{Variables: map[string]string{"MY_VAR": "two"}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := awslambda.NewFunctionUpdatedV2Waiter(c).Wait(ctx, &awslambda.GetFunctionInput{FunctionName: aws.String("cp")}, time.Minute); err != nil {
			t.Fatal(err)
		}
		if aws.ToString(upd.RevisionId) == aws.ToString(cfg.RevisionId) {
			t.Error("RevisionId did not change")
		}
		out, err := c.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("cp")})
		if err != nil {
			t.Fatal(err)
		}
		if env := decodeJSON(t, out.Payload)["env"].(map[string]any); env["MY_VAR"] != "two" {
			t.Errorf("after configuration update the function saw MY_VAR=%v", env["MY_VAR"])
		}
		// New code: the Node function in place of the Go one.
		_, err = c.UpdateFunctionConfiguration(ctx, &awslambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("cp"),
			Runtime: types.RuntimeNodejs20x, Handler: aws.String("index.handler")})
		if err != nil {
			t.Fatal(err)
		}
		cu, err := c.UpdateFunctionCode(ctx, &awslambda.UpdateFunctionCodeInput{FunctionName: aws.String("cp"), ZipFile: nodeCJS, Publish: true})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(cu.Version) != "1" || aws.ToString(cu.CodeSha256) != sha256b64(nodeCJS) {
			t.Errorf("UpdateFunctionCode with Publish: version %s sha %s", aws.ToString(cu.Version), aws.ToString(cu.CodeSha256))
		}
		if err := awslambda.NewFunctionUpdatedV2Waiter(c).Wait(ctx, &awslambda.GetFunctionInput{FunctionName: aws.String("cp")}, time.Minute); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{"", "1"} {
			in := &awslambda.InvokeInput{FunctionName: aws.String("cp")}
			if q != "" {
				in.Qualifier = aws.String(q)
			}
			out, err = c.Invoke(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if m := decodeJSON(t, out.Payload); m["runtime"] != "node-cjs" {
				t.Errorf("qualifier %q: after code update the answer is %s", q, out.Payload)
			}
		}
		if v := aws.ToString(out.ExecutedVersion); v != "1" {
			t.Errorf("ExecutedVersion = %s, want 1", v)
		}
	})
	t.Run("account settings", func(t *testing.T) {
		as, err := c.GetAccountSettings(ctx, &awslambda.GetAccountSettingsInput{})
		if err != nil {
			t.Fatal(err)
		}
		if as.AccountLimit.ConcurrentExecutions != 1000 || as.AccountUsage.FunctionCount != 5 {
			t.Errorf("account settings: %+v %+v", as.AccountLimit, as.AccountUsage)
		}
	})
	t.Run("delete", func(t *testing.T) {
		if _, err := c.DeleteFunction(ctx, &awslambda.DeleteFunctionInput{FunctionName: aws.String("cp")}); err != nil {
			t.Fatal(err)
		}
		_, err := c.GetFunction(ctx, &awslambda.GetFunctionInput{FunctionName: aws.String("cp")})
		if code, status := apiErrorCode(t, err); code != "ResourceNotFoundException" || status != 404 {
			t.Errorf("after delete: got %s %d", code, status)
		}
		_, err = c.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("cp")})
		if code, _ := apiErrorCode(t, err); code != "ResourceNotFoundException" {
			t.Errorf("invoke after delete: got %s", code)
		}
		_, err = c.DeleteFunction(ctx, &awslambda.DeleteFunctionInput{FunctionName: aws.String("cp")})
		if code, status := apiErrorCode(t, err); code != "ResourceNotFoundException" || status != 404 {
			t.Errorf("second delete: got %s %d", code, status)
		}
	})
}
