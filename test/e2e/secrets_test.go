package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// nodeReporter posts the function's SECRET_A and SECRET_B environment variables to the
// event's url (the test's collector) and answers {"ok": true}.
const nodeReporter = `const http = require('http');
exports.handler = async (event) => {
  await new Promise((resolve, reject) => {
    const req = http.request(event.url, { method: 'POST' }, (res) => { res.resume(); res.on('end', resolve); });
    req.on('error', reject);
    req.end(JSON.stringify({ a: process.env.SECRET_A, b: process.env.SECRET_B }));
  });
  return { ok: true };
};
`

func zipFiles(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, content := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(content))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func secretsClient(endpoint string) *sm.Client {
	return sm.New(sm.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(endpoint),
		Credentials:      credentials.NewStaticCredentialsProvider("test", "test", ""),
		RetryMaxAttempts: 1,
	})
}

// cliIn runs the nimbus binary against s with stdin and returns its combined output.
func cliIn(t *testing.T, s *server, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(nimbusBin, args...)
	cmd.Env = append(cmd.Environ(), "NIMBUS_ENDPOINT="+s.API)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("nimbus %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// TestSecrets: secrets set with the CLI reach a function's environment
// through {{resolve:secretsmanager:…}} references, and their values appear
// nowhere else: not in the function's logs, GetFunction/ListFunctions, the
// CLI's list, the server's stderr, or any file under the data dir. They
// survive a restart with the same key; another key is refused at start.
func TestSecrets(t *testing.T) {
	const (
		password = "pw-Zq8v1Lr3Xy7Kd2Mn"
		token    = "tok-4fHs9Pq0Wj6Tc5Re"
		token2   = "tok-rotated-9Uu2Ii7Oo"
	)
	dataDir := t.TempDir()
	s := startServer(t, dataDir, "--log-level", "debug")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", s.stderr)
		}
	})
	ctx := context.Background()

	// The CLI: from stdin (stays out of shell history) and as an argument.
	out := cliIn(t, s, `{"user":"admin","password":"`+password+`"}`+"\n", "secrets", "set", "app/db", "-")
	if !strings.Contains(out, "created arn:aws:secretsmanager:us-east-1:000000000000:secret:app/db-") {
		t.Errorf("secrets set: %s", out)
	}
	cliIn(t, s, "", "secrets", "set", "token", token)

	smc := secretsClient(s.API)
	got, err := smc.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("app/db")})
	if err != nil || aws.ToString(got.SecretString) != `{"user":"admin","password":"`+password+`"}` {
		t.Fatalf("GetSecretValue = %v, %v (stdin's trailing newline must be dropped)", got, err)
	}
	if _, err := smc.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("token"), SecretString: aws.String("x")}); !isErr[*smtypes.ResourceExistsException](err) {
		t.Errorf("CreateSecret of an existing name: %v", err)
	}
	if _, err := smc.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("nope")}); !isErr[*smtypes.ResourceNotFoundException](err) {
		t.Errorf("GetSecretValue of a missing secret: %v", err)
	}
	if _, err := smc.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("bad name!")}); !isErr[*smtypes.InvalidParameterException](err) {
		t.Errorf("CreateSecret with a bad name: %v", err)
	}

	// A function whose environment references both.
	c := s.client()
	refA := "{{resolve:secretsmanager:app/db:SecretString:password}}"
	refB := "t={{resolve:secretsmanager:token}};u={{resolve:secretsmanager:app/db:SecretString:user}}"
	withEnv := func(vars map[string]string) func(*awslambda.CreateFunctionInput) {
		return func(in *awslambda.CreateFunctionInput) { in.Environment = &types.Environment{Variables: vars} }
	}
	reporter := zipFiles(t, map[string]string{"index.js": nodeReporter})
	createFunction(t, c, "uses-secrets", types.RuntimeNodejs20x, "index.handler", reporter, withEnv(map[string]string{"SECRET_A": refA, "SECRET_B": refB}))
	url, posted := collector(t)
	invokeReport := func(want string) {
		t.Helper()
		res, fnErr, _ := invokeJSON(t, c, "uses-secrets", map[string]any{"url": url})
		if fnErr != "" {
			t.Fatalf("invoke: %s %v", fnErr, res)
		}
		if !strings.Contains(posted(), want) {
			t.Fatalf("the function reported %s, want %s", posted(), want)
		}
	}
	invokeReport(`{"a":"` + password + `","b":"t=` + token + `;u=admin"}`)

	// The configuration keeps the references.
	fn, err := c.GetFunction(ctx, &awslambda.GetFunctionInput{FunctionName: aws.String("uses-secrets")})
	if err != nil {
		t.Fatal(err)
	}
	if v := fn.Configuration.Environment.Variables; v["SECRET_A"] != refA || v["SECRET_B"] != refB {
		t.Errorf("GetFunction shows %v, want the references", v)
	}
	list, err := c.ListFunctions(ctx, &awslambda.ListFunctionsInput{})
	if err != nil {
		t.Fatal(err)
	}
	answers, _ := json.Marshal([]any{fn, list})

	// A rotated value is seen by environments started afterwards.
	if _, err := smc.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("token"), SecretString: aws.String(token2)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateFunctionConfiguration(ctx, &awslambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("uses-secrets"), Description: aws.String("new environments")}); err != nil {
		t.Fatal(err)
	}
	awslambda.NewFunctionUpdatedV2Waiter(c).Wait(ctx, &awslambda.GetFunctionInput{FunctionName: aws.String("uses-secrets")}, time.Minute)
	invokeReport(`"b":"t=` + token2 + `;u=admin"`)

	// A missing secret: the invoke answers 200 with a function error naming it.
	createFunction(t, c, "missing-secret", types.RuntimeNodejs20x, "index.handler", reporter,
		withEnv(map[string]string{"SECRET_A": "{{resolve:secretsmanager:not-there}}", "SECRET_B": refB}))
	res, fnErr, tail := invokeJSON(t, c, "missing-secret", map[string]any{"url": url})
	if fnErr != "Unhandled" || res["errorType"] != "Runtime.SecretNotFound" || !strings.Contains(res["errorMessage"].(string), `"not-there"`) {
		t.Errorf("invoke with a missing secret: %s %v", fnErr, res)
	}

	logs := cliIn(t, s, "", "logs", "uses-secrets") + cliIn(t, s, "", "logs", "missing-secret") + tail
	secretsList := cliIn(t, s, "", "secrets", "list")
	if !strings.Contains(secretsList, "app/db") || !strings.Contains(secretsList, "token") {
		t.Errorf("secrets list: %s", secretsList)
	}
	described, err := smc.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String("token")})
	if err != nil {
		t.Fatal(err)
	}
	listed, _ := smc.ListSecrets(ctx, &sm.ListSecretsInput{})
	metadata, _ := json.Marshal([]any{described, listed})
	s.stop()

	values := []string{password, token, token2}
	for what, text := range map[string]string{"function logs": logs, "GetFunction/ListFunctions": string(answers),
		"secrets list": secretsList, "DescribeSecret/ListSecrets": string(metadata), "server stderr": s.stderr.String()} {
		for _, v := range values {
			if strings.Contains(text, v) {
				t.Errorf("%s show the secret value %s:\n%s", what, v, text)
			}
		}
	}
	filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, v := range values {
			if bytes.Contains(b, []byte(v)) {
				t.Errorf("%s holds the secret value %s in clear", path, v)
			}
		}
		return nil
	})
	if st, err := os.Stat(filepath.Join(dataDir, "secrets.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v %v", st, err)
	}

	// Restart with the same key file: still readable, and new environments resolve.
	s = startServer(t, dataDir)
	if got, err := secretsClient(s.API).GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("token")}); err != nil || aws.ToString(got.SecretString) != token2 {
		t.Errorf("after a restart: %v, %v", got, err)
	}
	c = s.client()
	res, fnErr, _ = invokeJSON(t, c, "uses-secrets", map[string]any{"url": url})
	if fnErr != "" || !strings.Contains(posted(), `{"a":"`+password+`","b":"t=`+token2+`;u=admin"}`) {
		t.Errorf("invoke after a restart: %s %v; reported %s", fnErr, res, posted())
	}
	s.stop()

	// Another key is refused at start, with a clear message.
	other := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))
	for name, env := range map[string][]string{
		"NIMBUS_SECRETS_KEY": {"NIMBUS_SECRETS_KEY=" + other},
		"key file":           {"NIMBUS_SECRETS_KEY_FILE=" + writeFile(t, bytes.Repeat([]byte{7}, 32))},
	} {
		cmd := exec.Command(nimbusBin, "server", "--data-dir", dataDir, "--api-addr", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0")
		cmd.Env = append(os.Environ(), env...)
		done := make(chan struct{})
		var out []byte
		var runErr error
		go func() { out, runErr = cmd.CombinedOutput(); close(done) }()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("%s: the server started with the wrong key", name)
		}
		if runErr == nil || !strings.Contains(string(out), "is not the key this data dir's secrets") || strings.Contains(string(out), "ready") {
			t.Errorf("%s: a wrong key: %v\n%s", name, runErr, out)
		}
	}
}

func writeFile(t *testing.T, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func isErr[E error](err error) bool {
	_, ok := errors.AsType[E](err)
	return ok
}
