package e2e

import (
	"context"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// TestSigV4 runs a server with access keys: signed requests from the SDK pass,
// wrong secrets, unknown keys and unsigned requests get AWS's 403 errors.
func TestSigV4(t *testing.T) {
	s := startServer(t, t.TempDir(), "--access-keys", "AKIDNIMBUSTEST:s3cr3t")
	ctx := context.Background()
	good := clientFor(s.API, "AKIDNIMBUSTEST", "s3cr3t")
	createFunction(t, good, "signed", types.RuntimeProvidedal2023, "bootstrap", goZip)
	out, err := good.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("arn:aws:lambda:us-east-1:000000000000:function:signed"), Qualifier: aws.String("$LATEST"), Payload: []byte(`{"a":1}`)})
	if err != nil || out.FunctionError != nil {
		t.Fatalf("signed invoke: %v", err)
	}
	// The function got the configured credentials and endpoint, so an SDK inside it could call back.
	if env := decodeJSON(t, out.Payload)["env"].(map[string]any); env["AWS_ENDPOINT_URL"] != s.API {
		t.Errorf("AWS_ENDPOINT_URL = %v", env["AWS_ENDPOINT_URL"])
	}

	_, err = clientFor(s.API, "AKIDNIMBUSTEST", "wrong").ListFunctions(ctx, &awslambda.ListFunctionsInput{})
	if code, status := apiErrorCode(t, err); code != "InvalidSignatureException" || status != 403 {
		t.Errorf("wrong secret: got %s %d", code, status)
	}
	_, err = clientFor(s.API, "AKIDUNKNOWN", "s3cr3t").ListFunctions(ctx, &awslambda.ListFunctionsInput{})
	if code, status := apiErrorCode(t, err); code != "UnrecognizedClientException" || status != 403 {
		t.Errorf("unknown key: got %s %d", code, status)
	}
	resp, err := http.Get(s.API + "/2015-03-31/functions/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 || resp.Header.Get("X-Amzn-ErrorType") == "" {
		t.Errorf("unsigned request: %d %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
	}
	resp, err = http.Get(s.API + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("healthz: %v %v", err, resp)
	}
}

// TestRefusesExposedWithoutKeys: bound beyond loopback without access keys, the server does not start.
func TestRefusesExposedWithoutKeys(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, nimbusBin, "server", "--data-dir", t.TempDir(), "--api-addr", "0.0.0.0:0", "--gateway-addr", "127.0.0.1:0").CombinedOutput()
	if err == nil {
		t.Fatalf("server started on 0.0.0.0 without access keys: %s", out)
	}
	if !strings.Contains(string(out), "access keys") || strings.Contains(string(out), "ready") {
		t.Errorf("output: %s", out)
	}
}

// TestCLI drives the client subcommands against a server.
func TestCLI(t *testing.T) {
	s := startServer(t, t.TempDir())
	run := func(args ...string) (string, error) {
		cmd := exec.Command(nimbusBin, args...)
		cmd.Env = append(cmd.Environ(), "NIMBUS_ENDPOINT="+s.API)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	dir := t.TempDir()
	if err := unzipTo(nodeCJS, dir); err != nil {
		t.Fatal(err)
	}
	if out, err := run("functions", "create", "cli-fn", "--runtime", "nodejs20.x", "--handler", "index.handler", "--dir", dir, "--env", "MY_VAR=cli"); err != nil {
		t.Fatalf("create: %v %s", err, out)
	}
	out, err := run("invoke", "cli-fn", "--payload", `{"text":"from-cli"}`, "--log")
	if err != nil || !strings.Contains(out, `"myVar":"cli"`) || !strings.Contains(out, "REPORT RequestId:") {
		t.Fatalf("invoke: %v %s", err, out)
	}
	out, err = run("invoke", "cli-fn", "--payload", `{"action":"error","text":"e"}`)
	if err == nil || !strings.Contains(out, "TypeError") {
		t.Errorf("invoke of a failing function: %v %s", err, out)
	}
	if out, err := run("functions", "list"); err != nil || !strings.Contains(out, "cli-fn") {
		t.Errorf("list: %v %s", err, out)
	}
	if out, err := run("functions", "get", "cli-fn"); err != nil || !strings.Contains(out, "nodejs20.x") {
		t.Errorf("get: %v %s", err, out)
	}
	// The log store publishes records in batches, a moment after the invoke
	// answered: wait for them.
	var logsOut string
	var logsErr error
	waitFor(t, "logs to show the invocation", 20*time.Second, func() bool {
		logsOut, logsErr = run("logs", "cli-fn", "--since", "10m")
		return logsErr != nil || strings.Contains(logsOut, "from-cli") && strings.Contains(logsOut, "END RequestId:")
	})
	if logsErr != nil {
		t.Errorf("logs: %v %s", logsErr, logsOut)
	}
	// --follow streams records as they come.
	follow := exec.Command(nimbusBin, "logs", "cli-fn", "--follow")
	follow.Env = append(follow.Environ(), "NIMBUS_ENDPOINT="+s.API)
	var buf lockedBuffer
	follow.Stdout = &buf
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	defer follow.Process.Kill()
	if _, err := run("invoke", "cli-fn", "--payload", `{"text":"followed"}`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "logs --follow to show the new record", 20*time.Second, func() bool { return strings.Contains(buf.String(), "followed") })
	if out, err := run("functions", "delete", "cli-fn"); err != nil {
		t.Errorf("delete: %v %s", err, out)
	}
	if out, err := run("invoke", "cli-fn"); err == nil || !strings.Contains(out, "ResourceNotFoundException") {
		t.Errorf("invoke after delete: %v %s", err, out)
	}
}
