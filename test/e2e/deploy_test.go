package e2e

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// copyDir copies the example app so that the test can change it (and so that
// the stack is named after a directory called like the original).
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// cli runs the nimbus binary in dir against s and returns its combined output.
func cli(t *testing.T, s *server, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(nimbusBin, args...)
	cmd.Dir = dir
	cmd.Env = append(cmd.Environ(), "NIMBUS_ENDPOINT="+s.API)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// changeLines are the progress lines of a deploy or delete that change
// something (+ create, ~ update/replace, - delete).
var changeLine = regexp.MustCompile(`(?m)^[+~-] .*$`)

// TestDeploy drives `nimbus validate`, `deploy`, `stacks list` and `delete`
// on the example app in testdata/app — Node behind GET /hello/{name}, Go
// built from source behind POST /add and its alias "live", a Python worker
// on an SQS queue, Globals and a Parameter: deploy → use it through the
// gateway, the Invoke API and the queue → deploy again (nothing changes) →
// change the Node code → deploy (only that function is updated, and serves
// the new code at once) → delete (everything is gone).
func TestDeploy(t *testing.T) {
	s := startServer(t, t.TempDir())
	app := filepath.Join(t.TempDir(), "app")
	copyDir(t, "testdata/app", app)
	ctx := context.Background()
	c := s.client()

	out, err := cli(t, s, app, "validate")
	if err != nil || !strings.Contains(out, "is valid: stack app, 6 resources") {
		t.Fatalf("validate: %v\n%s", err, out)
	}

	out, err = cli(t, s, app, "deploy", "--parameter-overrides", "Greeting=Hi")
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	for _, want := range []string{
		"+ create    Queue               app-Jobs",
		"+ create    Function            app-Hello",
		"+ create    Function            app-Calc",
		"+ create    Function            app-Worker",
		"+ create    EventSourceMapping",
		"+ create    Api",
		"6 created, 0 updated, 0 deleted, 0 unchanged",
		"GET   " + s.Gateway + "/hello/{name}  -> app-Hello",
		"POST  " + s.Gateway + "/add           -> app-Calc:live",
		"arn:aws:lambda:us-east-1:000000000000:function:app-Calc:live",
		"arn:aws:lambda:us-east-1:000000000000:function:app-Worker",
		"arn:aws:sqs:us-east-1:000000000000:app-Jobs",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("deploy output lacks %q:\n%s", want, out)
		}
	}

	// Through the gateway, with net/http.
	code, _, body := request(t, "GET", s.Gateway+"/hello/world", "")
	if code != 200 || string(body) != `{"message":"Hi, world!","version":"v1"}` {
		t.Errorf("GET /hello/world: %d %s", code, body)
	}
	code, _, body = request(t, "POST", s.Gateway+"/add", `{"a":2,"b":3}`)
	if code != 200 || string(body) != `{"sum":5,"version":"1"}` {
		t.Errorf("POST /add: %d %s", code, body)
	}
	// Through the Invoke API.
	calc := func() map[string]any {
		t.Helper()
		inv, err := c.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("app-Calc"), Qualifier: aws.String("live"), Payload: []byte(`{"a":20,"b":22}`)})
		if err != nil || inv.FunctionError != nil {
			t.Fatalf("invoke app-Calc:live: %v %s", err, inv.Payload)
		}
		return decodeJSON(t, inv.Payload)
	}
	if got := calc(); got["sum"] != 42.0 || got["version"] != "1" {
		t.Errorf("app-Calc:live answered %v", got)
	}
	cfg, err := c.GetFunctionConfiguration(ctx, &awslambda.GetFunctionConfigurationInput{FunctionName: aws.String("app-Hello")})
	if err != nil || cfg.Environment == nil || cfg.Environment.Variables["GREETING"] != "Hi" || aws.ToInt32(cfg.Timeout) != 10 {
		t.Errorf("app-Hello configuration: %v %+v", err, cfg)
	}
	conc, err := c.GetFunctionConcurrency(ctx, &awslambda.GetFunctionConcurrencyInput{FunctionName: aws.String("app-Calc")})
	if err != nil || aws.ToInt32(conc.ReservedConcurrentExecutions) != 5 {
		t.Errorf("app-Calc reserved concurrency: %v %+v", err, conc)
	}
	// Through the queue: the worker's mapping delivers the message.
	q := s.sqsClient()
	qu, err := q.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("app-Jobs")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: qu.QueueUrl, MessageBody: aws.String("job-42")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the worker processes job-42", 30*time.Second, func() bool {
		out, _ := cli(t, s, app, "logs", "app-Worker", "--since", "10m")
		return strings.Contains(out, "processed job-42 from app-Jobs")
	})

	// The same template again changes nothing.
	out, err = cli(t, s, app, "deploy", "--parameter-overrides", "Greeting=Hi")
	if err != nil {
		t.Fatalf("second deploy: %v\n%s", err, out)
	}
	if changes := changeLine.FindAllString(out, -1); len(changes) > 0 || !strings.Contains(out, "0 created, 0 updated, 0 deleted, 6 unchanged") {
		t.Errorf("second deploy changed %q:\n%s", changes, out)
	}

	// Change the Node code: only app-Hello is updated, and serves it at once.
	hello := filepath.Join(app, "hello", "index.js")
	src, err := os.ReadFile(hello)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hello, []byte(strings.Replace(string(src), `version: "v1"`, `version: "v2"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = cli(t, s, app, "deploy", "--parameter-overrides", "Greeting=Hi")
	if err != nil {
		t.Fatalf("deploy after the change: %v\n%s", err, out)
	}
	changes := changeLine.FindAllString(out, -1)
	if len(changes) != 1 || !strings.HasPrefix(changes[0], "~ update    Function            app-Hello") || !strings.Contains(out, "0 created, 1 updated, 0 deleted, 5 unchanged") {
		t.Errorf("deploy after the change: want only app-Hello updated, got %q:\n%s", changes, out)
	}
	code, _, body = request(t, "GET", s.Gateway+"/hello/again", "")
	if code != 200 || string(body) != `{"message":"Hi, again!","version":"v2"}` {
		t.Errorf("GET /hello/again after the change: %d %s", code, body)
	}
	if got := calc(); got["version"] != "1" {
		t.Errorf("app-Calc:live moved to version %v though Calc did not change", got["version"])
	}
	// A parameter change reaches every function (Globals) and nothing else.
	out, err = cli(t, s, app, "deploy", "--parameter-overrides", "Greeting=Hey")
	if err != nil || !strings.Contains(out, "0 created, 3 updated, 0 deleted, 3 unchanged") {
		t.Errorf("deploy with a new parameter value: %v\n%s", err, out)
	}
	if code, _, body = request(t, "GET", s.Gateway+"/hello/you", ""); code != 200 || !strings.Contains(string(body), `"Hey, you!"`) {
		t.Errorf("GET /hello/you after the parameter change: %d %s", code, body)
	}
	if got := calc(); got["version"] != "2" {
		t.Errorf("app-Calc:live should point at a new version 2 after its environment changed, answered %v", got)
	}

	out, err = cli(t, s, app, "stacks", "list")
	if err != nil || !regexp.MustCompile(`(?m)^app\s+6\s`).MatchString(out) {
		t.Errorf("stacks list: %v\n%s", err, out)
	}

	// Delete: everything goes, dependents first.
	out, err = cli(t, s, app, "delete")
	if err != nil {
		t.Fatalf("delete: %v\n%s", err, out)
	}
	deletes := changeLine.FindAllString(out, -1)
	if len(deletes) != 6 || !strings.HasPrefix(deletes[0], "- delete    Api") || !strings.HasPrefix(deletes[5], "- delete    Queue") {
		t.Errorf("delete: %q\n%s", deletes, out)
	}
	fns, err := c.ListFunctions(ctx, &awslambda.ListFunctionsInput{})
	if err != nil || len(fns.Functions) != 0 {
		t.Errorf("functions left after delete: %v %+v", err, fns)
	}
	if _, err := q.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("app-Jobs")}); err == nil {
		t.Error("queue app-Jobs left after delete")
	}
	esms, err := c.ListEventSourceMappings(ctx, &awslambda.ListEventSourceMappingsInput{})
	if err != nil || len(esms.EventSourceMappings) != 0 {
		t.Errorf("mappings left after delete: %v %+v", err, esms)
	}
	if code, _, body := request(t, "GET", s.Gateway+"/hello/world", ""); code != 404 {
		t.Errorf("GET /hello/world after delete: %d %s", code, body)
	}
	if out, err := cli(t, s, app, "stacks", "list"); err != nil || strings.Contains(out, "app ") {
		t.Errorf("stacks list after delete: %v\n%s", err, out)
	}
	if out, err := cli(t, s, app, "delete"); err == nil || !strings.Contains(out, "stack app not found") {
		t.Errorf("delete of a deleted stack: %v\n%s", err, out)
	}
}

// TestDeployFailures: a template that does not validate, a parameter value
// that is not allowed, and a deploy that fails half-way (a function the
// server refuses) exit 1 with a clear message; the half-way deploy is
// recorded, so that delete removes what it created and a fixed template
// completes it.
func TestDeployFailures(t *testing.T) {
	s := startServer(t, t.TempDir())
	dir := filepath.Join(t.TempDir(), "broken")
	copyDir(t, "testdata/app", dir)
	ctx := context.Background()
	exitCode := func(err error) int {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		return 0
	}

	out, err := cli(t, s, dir, "deploy", "--parameter-overrides", "Greeting=H1!")
	if exitCode(err) != 1 || !strings.Contains(out, "Greeting") {
		t.Errorf("deploy with a bad parameter value: %v\n%s", err, out)
	}
	tmpl := filepath.Join(dir, "template.yaml")
	good, err := os.ReadFile(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(good), "!GetAtt Jobs.Arn", "!GetAtt Jobz.Arn", 1)
	if err := os.WriteFile(tmpl, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := cli(t, s, dir, "validate"); exitCode(err) != 1 || !strings.Contains(out, "Jobz") {
		t.Errorf("validate of a broken template: %v\n%s", err, out)
	}

	// The server refuses arm64: the deploy stops at the Worker, after the
	// queue and the other functions were created.
	arm := strings.Replace(string(good), "      Runtime: python3.11\n", "      Runtime: python3.11\n      Architectures: [arm64]\n", 1)
	if err := os.WriteFile(tmpl, []byte(arm), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = cli(t, s, dir, "deploy")
	if exitCode(err) != 1 || !strings.Contains(out, "create Function Worker") || !strings.Contains(out, "arm64") {
		t.Fatalf("deploy of a function the server refuses: %v\n%s", err, out)
	}
	out, err = cli(t, s, dir, "stacks", "get", "broken")
	if err != nil {
		t.Fatalf("stacks get after a failed deploy: %v\n%s", err, out)
	}
	var rec struct {
		Plan struct {
			Resources []struct {
				LogicalID string `json:"logicalId"`
			} `json:"resources"`
		} `json:"plan"`
	}
	if err := json.Unmarshal([]byte(out), &rec); err != nil || len(rec.Plan.Resources) != 4 {
		t.Errorf("the failed deploy's record: %v\n%s", err, out)
	}

	// Fixed, the next deploy completes it.
	if err := os.WriteFile(tmpl, good, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = cli(t, s, dir, "deploy")
	if err != nil || !strings.Contains(out, "2 created, 1 updated, 0 deleted, 3 unchanged") {
		t.Errorf("deploy after the fix: %v\n%s", err, out)
	}
	if out, err := cli(t, s, dir, "delete", "--stack-name", "broken"); err != nil {
		t.Fatalf("delete: %v\n%s", err, out)
	}
	fns, err := s.client().ListFunctions(ctx, &awslambda.ListFunctionsInput{})
	if err != nil || len(fns.Functions) != 0 {
		t.Errorf("functions left after delete: %v %+v", err, fns)
	}
}
