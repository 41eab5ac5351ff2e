package e2e

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

func metricsText(t *testing.T, s *server) string {
	t.Helper()
	resp, err := http.Get(s.API + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestConcurrentScaling: 16 concurrent 300 ms invocations run side by side:
// every one's sleep overlaps every other's (checked with the functions' own
// clocks, not a wall-time margin), and each ran in its own environment.
func TestConcurrentScaling(t *testing.T) {
	s := startServer(t, t.TempDir())
	c := s.client()
	ctx := context.Background()
	createFunction(t, c, "par", types.RuntimeProvidedal2023, "bootstrap", goZip)
	const n = 16
	var wg sync.WaitGroup
	var mu sync.Mutex
	var from, to []float64
	envs := map[string]bool{}
	// A first round starts the environments; the second runs on them warm, so
	// cold-start jitter on a loaded machine cannot stagger the sleeps.
	for range n {
		wg.Go(func() {
			c.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("par"), Payload: []byte(`{"action":"sleep","sleepMs":300}`)})
		})
	}
	wg.Wait()
	start := time.Now()
	for range n {
		wg.Go(func() {
			out, err := c.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("par"), Payload: []byte(`{"action":"sleep","sleepMs":300}`)})
			if err != nil || out.FunctionError != nil {
				t.Errorf("invoke: %v", err)
				return
			}
			m := decodeJSON(t, out.Payload)
			mu.Lock()
			defer mu.Unlock()
			from = append(from, m["sleptFrom"].(float64))
			to = append(to, m["sleptTo"].(float64))
			envs[m["env"].(map[string]any)["AWS_LAMBDA_LOG_STREAM_NAME"].(string)] = true
		})
	}
	wg.Wait()
	t.Logf("%d concurrent 300 ms invocations took %s (wall)", n, time.Since(start))
	if len(from) != n {
		t.Fatalf("%d of %d invocations answered", len(from), n)
	}
	if latestStart, earliestEnd := slices.Max(from), slices.Min(to); latestStart >= earliestEnd {
		t.Errorf("the sleeps did not all overlap: the last began %.0f µs after the first ended", latestStart-earliestEnd)
	}
	if len(envs) != n {
		t.Errorf("%d invocations ran in %d environments", n, len(envs))
	}
	m := metricsText(t, s)
	for _, want := range []string{`nimbus_invocations_total{function="par"} 32`, `nimbus_duration_seconds_count{function="par"} 32`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestReservedConcurrency: with reserved concurrency 2, of 6 concurrent long
// invocations exactly 2 run and exactly 4 are throttled with the right reason.
func TestReservedConcurrency(t *testing.T) {
	s := startServer(t, t.TempDir())
	c := s.client()
	ctx := context.Background()
	createFunction(t, c, "capped", types.RuntimeProvidedal2023, "bootstrap", goZip)
	if _, err := c.PutFunctionConcurrency(ctx, &awslambda.PutFunctionConcurrencyInput{FunctionName: aws.String("capped"), ReservedConcurrentExecutions: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetFunctionConcurrency(ctx, &awslambda.GetFunctionConcurrencyInput{FunctionName: aws.String("capped")})
	if err != nil || aws.ToInt32(got.ReservedConcurrentExecutions) != 2 {
		t.Fatalf("GetFunctionConcurrency: %v %v", err, got)
	}
	as, err := c.GetAccountSettings(ctx, &awslambda.GetAccountSettingsInput{})
	if err != nil || as.AccountLimit.UnreservedConcurrentExecutions == nil || *as.AccountLimit.UnreservedConcurrentExecutions != 998 {
		t.Fatalf("account settings: %v %+v", err, as.AccountLimit)
	}
	// Warm two environments so the long invocations start at once.
	var ran, throttled int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			out, err := c.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("capped"), Payload: []byte(`{"action":"sleep","sleepMs":1500}`)})
			mu.Lock()
			defer mu.Unlock()
			var tm *types.TooManyRequestsException
			switch {
			case err == nil && out.FunctionError == nil:
				ran++
			case errors.As(err, &tm) && tm.Reason == types.ThrottleReasonReservedFunctionConcurrentInvocationLimitExceeded:
				throttled++
			default:
				t.Errorf("unexpected answer: %v", err)
			}
		})
	}
	wg.Wait()
	if ran != 2 || throttled != 4 {
		t.Errorf("reserved 2, 6 concurrent: %d ran, %d throttled; want 2 and 4", ran, throttled)
	}
	m := metricsText(t, s)
	if !strings.Contains(m, `nimbus_throttles_total{function="capped",reason="ReservedFunctionConcurrentInvocationLimitExceeded"} 4`) {
		t.Errorf("throttles not in metrics:\n%s", m)
	}
	// Reserved 0 throttles everything; deleting the reservation lifts it.
	if _, err := c.PutFunctionConcurrency(ctx, &awslambda.PutFunctionConcurrencyInput{FunctionName: aws.String("capped"), ReservedConcurrentExecutions: aws.Int32(0)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("capped")})
	if code, status := apiErrorCode(t, err); code != "TooManyRequestsException" || status != 429 {
		t.Errorf("reserved 0: %s %d", code, status)
	}
	if _, err := c.DeleteFunctionConcurrency(ctx, &awslambda.DeleteFunctionConcurrencyInput{FunctionName: aws.String("capped")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("capped")}); err != nil {
		t.Errorf("after deleting the reservation: %v", err)
	}
	// A reservation that leaves less than 100 unreserved is refused.
	_, err = c.PutFunctionConcurrency(ctx, &awslambda.PutFunctionConcurrencyInput{FunctionName: aws.String("capped"), ReservedConcurrentExecutions: aws.Int32(950)})
	if code, _ := apiErrorCode(t, err); code != "InvalidParameterValueException" {
		t.Errorf("over-reservation: %s", code)
	}
}

// TestAccountLimit: the account limit holds across functions.
func TestAccountLimit(t *testing.T) {
	s := startServer(t, t.TempDir(), "--account-concurrency", "3", "--unreserved-min", "1")
	c := s.client()
	ctx := context.Background()
	createFunction(t, c, "f1", types.RuntimeProvidedal2023, "bootstrap", goZip)
	createFunction(t, c, "f2", types.RuntimeProvidedal2023, "bootstrap", goZip)
	var ran, throttled int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() {
			out, err := c.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String([]string{"f1", "f2"}[i%2]), Payload: []byte(`{"action":"sleep","sleepMs":1500}`)})
			mu.Lock()
			defer mu.Unlock()
			var tm *types.TooManyRequestsException
			switch {
			case err == nil && out.FunctionError == nil:
				ran++
			case errors.As(err, &tm) && tm.Reason == types.ThrottleReasonConcurrentInvocationLimitExceeded:
				throttled++
			default:
				t.Errorf("unexpected answer: %v", err)
			}
		})
	}
	wg.Wait()
	if ran != 3 || throttled != 2 {
		t.Errorf("account limit 3, 5 concurrent: %d ran, %d throttled", ran, throttled)
	}
}

// TestProvisionedConcurrency: invocations of a version with provisioned
// concurrency run in environments initialised ahead, with no cold start.
func TestProvisionedConcurrency(t *testing.T) {
	s := startServer(t, t.TempDir())
	c := s.client()
	ctx := context.Background()
	createFunction(t, c, "prov", types.RuntimeProvidedal2023, "bootstrap", goZip)
	v, err := c.PublishVersion(ctx, &awslambda.PublishVersionInput{FunctionName: aws.String("prov")})
	if err != nil || aws.ToString(v.Version) != "1" {
		t.Fatalf("PublishVersion: %v %v", err, v)
	}
	if _, err := c.CreateAlias(ctx, &awslambda.CreateAliasInput{FunctionName: aws.String("prov"), Name: aws.String("live"), FunctionVersion: aws.String("1")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.PutProvisionedConcurrencyConfig(ctx, &awslambda.PutProvisionedConcurrencyConfigInput{FunctionName: aws.String("prov"), Qualifier: aws.String("$LATEST"), ProvisionedConcurrentExecutions: aws.Int32(2)})
	if code, _ := apiErrorCode(t, err); code != "InvalidParameterValueException" {
		t.Errorf("provisioned on $LATEST: %s", code)
	}
	put, err := c.PutProvisionedConcurrencyConfig(ctx, &awslambda.PutProvisionedConcurrencyConfigInput{FunctionName: aws.String("prov"), Qualifier: aws.String("live"), ProvisionedConcurrentExecutions: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	if put.Status != types.ProvisionedConcurrencyStatusEnumInProgress && put.Status != types.ProvisionedConcurrencyStatusEnumReady {
		t.Errorf("status after put: %s", put.Status)
	}
	waitFor(t, "provisioned concurrency READY", 30*time.Second, func() bool {
		g, err := c.GetProvisionedConcurrencyConfig(ctx, &awslambda.GetProvisionedConcurrencyConfigInput{FunctionName: aws.String("prov"), Qualifier: aws.String("live")})
		return err == nil && g.Status == types.ProvisionedConcurrencyStatusEnumReady && aws.ToInt32(g.AvailableProvisionedConcurrentExecutions) == 2
	})
	for range 3 {
		out, err := c.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("prov"), Qualifier: aws.String("live"), LogType: types.LogTypeTail})
		if err != nil || out.FunctionError != nil {
			t.Fatalf("invoke alias: %v", err)
		}
		if aws.ToString(out.ExecutedVersion) != "1" {
			t.Errorf("ExecutedVersion %s", aws.ToString(out.ExecutedVersion))
		}
		if env := decodeJSON(t, out.Payload)["env"].(map[string]any); env["AWS_LAMBDA_INITIALIZATION_TYPE"] != "provisioned-concurrency" {
			t.Errorf("initialisation type %v", env["AWS_LAMBDA_INITIALIZATION_TYPE"])
		}
	}
	m := metricsText(t, s)
	if !strings.Contains(m, `nimbus_provisioned_concurrency_invocations_total{function="prov"} 3`) || !strings.Contains(m, `nimbus_cold_starts_total{function="prov"} 0`) {
		t.Errorf("metrics:\n%s", m)
	}
	list, err := c.ListProvisionedConcurrencyConfigs(ctx, &awslambda.ListProvisionedConcurrencyConfigsInput{FunctionName: aws.String("prov")})
	if err != nil || len(list.ProvisionedConcurrencyConfigs) != 1 {
		t.Fatalf("list: %v %v", err, list)
	}
	if _, err := c.DeleteProvisionedConcurrencyConfig(ctx, &awslambda.DeleteProvisionedConcurrencyConfigInput{FunctionName: aws.String("prov"), Qualifier: aws.String("live")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetProvisionedConcurrencyConfig(ctx, &awslambda.GetProvisionedConcurrencyConfigInput{FunctionName: aws.String("prov"), Qualifier: aws.String("live")})
	if code, status := apiErrorCode(t, err); code != "ProvisionedConcurrencyConfigNotFoundException" || status != 404 {
		t.Errorf("after delete: %s %d", code, status)
	}
}

// TestAliasRouting: an alias with an additional weighted version splits invocations.
func TestAliasRouting(t *testing.T) {
	s := startServer(t, t.TempDir())
	c := s.client()
	ctx := context.Background()
	createFunction(t, c, "routed", types.RuntimeProvidedal2023, "bootstrap", goZip)
	c.PublishVersion(ctx, &awslambda.PublishVersionInput{FunctionName: aws.String("routed")})
	c.UpdateFunctionConfiguration(ctx, &awslambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("routed"), Environment: &types.Environment{Variables: map[string]string{"MY_VAR": "v2"}}})
	if v, err := c.PublishVersion(ctx, &awslambda.PublishVersionInput{FunctionName: aws.String("routed")}); err != nil || aws.ToString(v.Version) != "2" {
		t.Fatalf("publish 2: %v %v", err, v)
	}
	_, err := c.CreateAlias(ctx, &awslambda.CreateAliasInput{FunctionName: aws.String("routed"), Name: aws.String("canary"), FunctionVersion: aws.String("1"),
		RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": 0.5}}})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for range 40 {
		out, err := c.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("routed:canary")})
		if err != nil {
			t.Fatal(err)
		}
		seen[aws.ToString(out.ExecutedVersion)]++
	}
	if seen["1"] == 0 || seen["2"] == 0 || seen["1"]+seen["2"] != 40 {
		t.Errorf("executed versions %v", seen)
	}
	_, err = c.CreateAlias(ctx, &awslambda.CreateAliasInput{FunctionName: aws.String("routed"), Name: aws.String("bad"), FunctionVersion: aws.String("1"),
		RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": 0.5, "$LATEST": 0.1}}})
	if code, _ := apiErrorCode(t, err); code != "InvalidParameterValueException" {
		t.Errorf("two additional versions: %s", code)
	}
	al, err := c.ListAliases(ctx, &awslambda.ListAliasesInput{FunctionName: aws.String("routed")})
	if err != nil || len(al.Aliases) != 1 || aws.ToString(al.Aliases[0].AliasArn) != "arn:aws:lambda:us-east-1:000000000000:function:routed:canary" {
		t.Errorf("ListAliases: %v %+v", err, al)
	}
}
