package sqsapi

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestAWSCLI drives the API with the AWS CLI (botocore's JSON protocol and its
// error parsing), when one is installed.
func TestAWSCLI(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil || testing.Short() {
		t.Skip("no aws CLI")
	}
	s := startServer(t, t.TempDir())
	home := t.TempDir()
	run := func(args ...string) (map[string]any, string, error) {
		cmd := exec.Command("aws", append([]string{"--endpoint-url", s.http.URL, "--region", "us-east-1", "--output", "json", "sqs"}, args...)...)
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=AKIDCLI", "AWS_SECRET_ACCESS_KEY=x", "HOME="+home,
			"AWS_CONFIG_FILE="+home+"/none", "AWS_SHARED_CREDENTIALS_FILE="+home+"/none", "AWS_MAX_ATTEMPTS=1")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		var m map[string]any
		if len(out) > 0 {
			if jerr := json.Unmarshal(out, &m); jerr != nil {
				t.Fatalf("aws %v: %q: %v", args, out, jerr)
			}
		}
		return m, stderr.String(), err
	}
	out, _, err := run("create-queue", "--queue-name", "cli", "--attributes", "VisibilityTimeout=5")
	if err != nil {
		t.Fatalf("create-queue: %v", err)
	}
	u, _ := out["QueueUrl"].(string)
	out, _, err = run("send-message", "--queue-url", u, "--message-body", "hello from the CLI",
		"--message-attributes", `{"k":{"DataType":"String","StringValue":"v"}}`)
	if err != nil || out["MD5OfMessageAttributes"] == nil {
		t.Fatalf("send-message = %v, %v", out, err)
	}
	out, _, err = run("receive-message", "--queue-url", u, "--attribute-names", "All", "--message-attribute-names", "All", "--wait-time-seconds", "1")
	msgs, _ := out["Messages"].([]any)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("receive-message = %v, %v", out, err)
	}
	m := msgs[0].(map[string]any)
	if m["Body"] != "hello from the CLI" || m["Attributes"].(map[string]any)["SenderId"] != "AKIDCLI" {
		t.Fatalf("message = %v", m)
	}
	if _, _, err := run("delete-message", "--queue-url", u, "--receipt-handle", m["ReceiptHandle"].(string)); err != nil {
		t.Fatalf("delete-message: %v", err)
	}
	_, stderr, err := run("get-queue-url", "--queue-name", "missing")
	if err == nil || !strings.Contains(stderr, "AWS.SimpleQueueService.NonExistentQueue") {
		t.Fatalf("get-queue-url(missing) = %v, %s", err, stderr)
	}
}
