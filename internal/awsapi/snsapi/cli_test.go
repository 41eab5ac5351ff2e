package snsapi

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestAWSCLI drives the API with the AWS CLI (botocore's query protocol and
// its XML error parsing), when one is installed.
func TestAWSCLI(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil || testing.Short() {
		t.Skip("no aws CLI")
	}
	s := startServer(t)
	home := t.TempDir()
	run := func(args ...string) (map[string]any, string, error) {
		cmd := exec.Command("aws", append([]string{"--endpoint-url", s.http.URL, "--region", "us-east-1", "--output", "json", "sns"}, args...)...)
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
	out, stderr, err := run("create-topic", "--name", "cli", "--attributes", "DisplayName=From the CLI", "--tags", "Key=team,Value=core")
	if err != nil {
		t.Fatalf("create-topic: %v %s", err, stderr)
	}
	arn, _ := out["TopicArn"].(string)
	q := s.queue(t, "cli-q")
	out, stderr, err = run("subscribe", "--topic-arn", arn, "--protocol", "sqs", "--notification-endpoint", q,
		"--attributes", `{"RawMessageDelivery":"true","FilterPolicy":"{\"k\":[\"v\"]}"}`)
	if err != nil || !strings.HasPrefix(out["SubscriptionArn"].(string), arn+":") {
		t.Fatalf("subscribe = %v, %v %s", out, err, stderr)
	}
	sub := out["SubscriptionArn"].(string)
	out, stderr, err = run("publish", "--topic-arn", arn, "--message", "hello from the CLI", "--subject", "CLI",
		"--message-attributes", `{"k":{"DataType":"String","StringValue":"v"},"b":{"DataType":"Binary","BinaryValue":"AAEC"}}`)
	if err != nil || out["MessageId"] == nil {
		t.Fatalf("publish = %v, %v %s", out, err, stderr)
	}
	if m := s.receive(t, "cli-q"); m.Body != "hello from the CLI" || len(m.Attributes) != 2 {
		t.Errorf("queue got %+v", m)
	}
	out, _, err = run("list-subscriptions-by-topic", "--topic-arn", arn)
	subs, _ := out["Subscriptions"].([]any)
	if err != nil || len(subs) != 1 || subs[0].(map[string]any)["SubscriptionArn"] != sub {
		t.Errorf("list-subscriptions-by-topic = %v, %v", out, err)
	}
	out, _, err = run("get-subscription-attributes", "--subscription-arn", sub)
	if err != nil || out["Attributes"].(map[string]any)["FilterPolicy"] != `{"k":["v"]}` {
		t.Errorf("get-subscription-attributes = %v, %v", out, err)
	}
	out, _, err = run("list-tags-for-resource", "--resource-arn", arn)
	if tags, _ := out["Tags"].([]any); err != nil || len(tags) != 1 {
		t.Errorf("list-tags-for-resource = %v, %v", out, err)
	}
	out, _, err = run("list-topics")
	if topics, _ := out["Topics"].([]any); err != nil || len(topics) != 1 {
		t.Errorf("list-topics = %v, %v", out, err)
	}
	_, stderr, err = run("get-topic-attributes", "--topic-arn", arn+"-missing")
	if err == nil || !strings.Contains(stderr, "(NotFound)") || !strings.Contains(stderr, "Topic does not exist") {
		t.Errorf("get-topic-attributes(missing) = %v, %s", err, stderr)
	}
	if _, stderr, err := run("delete-topic", "--topic-arn", arn); err != nil {
		t.Errorf("delete-topic: %v %s", err, stderr)
	}
}
