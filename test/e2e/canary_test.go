package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// deploymentView is the part of GET /nimbus/v1/deployments/{fn}/{alias} the tests read.
type deploymentView struct {
	ID     string  `json:"id"`
	From   string  `json:"from"`
	To     string  `json:"to"`
	Status string  `json:"status"`
	Weight float64 `json:"weight"`
	Reason string  `json:"reason"`
	Events []struct {
		Message string `json:"message"`
	} `json:"events"`
}

// deploymentCall sends a request to the deployments endpoint (the test
// server has no access keys, so no signature is needed).
func deploymentCall(t *testing.T, s *server, method, path, body string) (int, deploymentView) {
	t.Helper()
	req, err := http.NewRequest(method, s.API+"/nimbus/v1/deployments/"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var d deploymentView
	if resp.StatusCode < 300 {
		if err := json.Unmarshal(data, &d); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
	return resp.StatusCode, d
}

// shiftUntil invokes fn:live (so the shifter has traffic to judge) until
// the alias's deployment has finished, and returns it with the executed
// versions seen.
func shiftUntil(t *testing.T, s *server, c *awslambda.Client, fn string) (deploymentView, map[string]int) {
	t.Helper()
	seen := map[string]int{}
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		for range 20 {
			v, _ := invokeVersion(t, c, fn+":live")
			seen[v]++
		}
		if code, d := deploymentCall(t, s, "GET", fn+"/live", ""); code != 200 {
			t.Fatalf("GET deployment: %d", code)
		} else if d.Status == "Succeeded" || d.Status == "RolledBack" || d.Status == "Stopped" {
			return d, seen
		}
	}
	_, d := deploymentCall(t, s, "GET", fn+"/live", "")
	t.Fatalf("deployment still %s after 90s: %+v", d.Status, d)
	return d, seen
}

func wantAlias(t *testing.T, c *awslambda.Client, fn, version string) {
	t.Helper()
	a, err := c.GetAlias(context.Background(), &awslambda.GetAliasInput{FunctionName: aws.String(fn), Name: aws.String("live")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(a.FunctionVersion) != version || a.RoutingConfig != nil && len(a.RoutingConfig.AdditionalVersionWeights) > 0 {
		t.Fatalf("alias live = version %s routing %+v, want version %s without routing", aws.ToString(a.FunctionVersion), a.RoutingConfig, version)
	}
}

// TestCanary: a healthy canary (10 %, then everything) reaches version 2.
func TestCanary(t *testing.T) {
	s := startServer(t, t.TempDir())
	c := s.client()
	twoVersions(t, c, "canary", map[string]string{})
	code, d := deploymentCall(t, s, "PUT", "canary/live", `{"to":"2","type":"Canary10Percent5Minutes","kind":"canary","percent":10,"intervalSeconds":3}`)
	if code != http.StatusCreated || d.Status != "Shifting" || d.From != "1" || d.Weight != 0.1 {
		t.Fatalf("PUT deployment = %d %+v, want 201 Shifting from 1 at 0.1", code, d)
	}
	a, err := c.GetAlias(context.Background(), &awslambda.GetAliasInput{FunctionName: aws.String("canary"), Name: aws.String("live")})
	if err != nil || aws.ToString(a.FunctionVersion) != "1" || a.RoutingConfig.AdditionalVersionWeights["2"] != 0.1 {
		t.Fatalf("alias during the canary: %v %+v", err, a)
	}
	// Starting the same deployment again changes nothing.
	if code, again := deploymentCall(t, s, "PUT", "canary/live", `{"to":"2","kind":"canary","percent":10,"intervalSeconds":3}`); code != http.StatusOK || again.ID != d.ID {
		t.Fatalf("repeated PUT = %d %s, want 200 %s", code, again.ID, d.ID)
	}
	d, seen := shiftUntil(t, s, c, "canary")
	if d.Status != "Succeeded" {
		t.Fatalf("deployment %s (%s), want Succeeded", d.Status, d.Reason)
	}
	if seen["2"] == 0 || seen["1"] == 0 {
		t.Fatalf("executed versions during the shift %v, want both", seen)
	}
	wantAlias(t, c, "canary", "2")
	if v, _ := invokeVersion(t, c, "canary:live"); v != "2" {
		t.Fatalf("after the shift the alias runs version %s", v)
	}
}

// TestCanaryRollback: version 2 fails every invocation; the shifter rolls
// back during the first interval and the alias serves version 1 again.
func TestCanaryRollback(t *testing.T) {
	s := startServer(t, t.TempDir())
	c := s.client()
	twoVersions(t, c, "failing", map[string]string{"FAIL": "1"})
	// A long interval: the rollback must come from the error rate, not time.
	if code, d := deploymentCall(t, s, "PUT", "failing/live", `{"to":"2","kind":"linear","percent":10,"intervalMinutes":10}`); code != http.StatusCreated {
		t.Fatalf("PUT deployment = %d %+v", code, d)
	}
	d, seen := shiftUntil(t, s, c, "failing")
	if d.Status != "RolledBack" || !strings.Contains(d.Reason, "version 2 failed") {
		t.Fatalf("deployment %s (%s), want RolledBack because version 2 failed", d.Status, d.Reason)
	}
	if seen["2"] < 10 {
		t.Fatalf("rolled back after %d invocations of version 2, want at least 10", seen["2"])
	}
	wantAlias(t, c, "failing", "1")
	for range 20 {
		if v, failed := invokeVersion(t, c, "failing:live"); v != "1" || failed {
			t.Fatalf("after the rollback the alias ran version %s (failed %v)", v, failed)
		}
	}
}

// TestPreTrafficHookRollback: a failing PreTraffic hook rolls back before
// any traffic reaches version 2.
func TestPreTrafficHookRollback(t *testing.T) {
	s := startServer(t, t.TempDir())
	c := s.client()
	twoVersions(t, c, "hooked", map[string]string{})
	createFunction(t, c, "hook", types.RuntimeNodejs20x, "index.handler", versionZip(t), func(in *awslambda.CreateFunctionInput) {
		in.Environment = &types.Environment{Variables: map[string]string{"FAIL": "1"}}
	})
	code, d := deploymentCall(t, s, "PUT", "hooked/live", `{"to":"2","kind":"canary","percent":10,"intervalSeconds":1,"preTraffic":"hook"}`)
	if code != http.StatusCreated || d.Status != "PreTraffic" {
		t.Fatalf("PUT deployment = %d %+v, want 201 PreTraffic", code, d)
	}
	d, seen := shiftUntil(t, s, c, "hooked")
	if d.Status != "RolledBack" || !strings.Contains(d.Reason, "PreTraffic hook hook failed") {
		t.Fatalf("deployment %s (%s), want RolledBack by the PreTraffic hook", d.Status, d.Reason)
	}
	if seen["2"] != 0 {
		t.Fatalf("version 2 served %d invocations before the hook passed", seen["2"])
	}
	for _, e := range d.Events {
		if strings.Contains(e.Message, "sends") {
			t.Fatalf("traffic shifted despite the failing hook: %q", e.Message)
		}
	}
	wantAlias(t, c, "hooked", "1")
}

// TestDeploymentsEndpointErrors: bad input gets AWS-shaped 4xx answers.
func TestDeploymentsEndpointErrors(t *testing.T) {
	s := startServer(t, t.TempDir())
	c := s.client()
	twoVersions(t, c, "errs", map[string]string{})
	for _, tt := range []struct {
		path, body string
		want       int
	}{
		{"errs/live", `{"to":"2","kind":"sometimes"}`, http.StatusBadRequest},
		{"errs/live", `{"to":"2","kind":"canary","percent":150,"intervalMinutes":1}`, http.StatusBadRequest},
		{"errs/live", `{"to":"2","kind":"canary","percent":10,"bogus":1}`, http.StatusBadRequest},
		{"errs/live", `not json`, http.StatusBadRequest},
		{"errs/other", `{"to":"2","kind":"allAtOnce"}`, http.StatusNotFound},
		{"nosuch/live", `{"to":"2","kind":"allAtOnce"}`, http.StatusNotFound},
	} {
		if code, _ := deploymentCall(t, s, "PUT", tt.path, tt.body); code != tt.want {
			t.Errorf("PUT %s %s = %d, want %d", tt.path, tt.body, code, tt.want)
		}
	}
	if code, _ := deploymentCall(t, s, "GET", "errs/live", ""); code != http.StatusNotFound {
		t.Errorf("GET a deployment never started = %d, want 404", code)
	}
}
