package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// versionFn is a Node function that answers {"version": its version} and
// throws when its environment says FAIL=1, so versions published with
// different environments behave differently.
const versionFn = `exports.handler = async (event) => {
  const version = process.env.AWS_LAMBDA_FUNCTION_VERSION;
  if (process.env.FAIL === "1") throw new Error("version " + version + " fails");
  return { version };
};
`

func versionZip(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.js"), []byte(versionFn), 0o644); err != nil {
		t.Fatal(err)
	}
	zip, err := zipDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return zip
}

// twoVersions creates a versionFn function, publishes version 1 (healthy)
// and version 2 (with env2), and points alias "live" at version 1.
func twoVersions(t *testing.T, c *awslambda.Client, name string, env2 map[string]string) {
	t.Helper()
	ctx := context.Background()
	createFunction(t, c, name, types.RuntimeNodejs20x, "index.handler", versionZip(t))
	if v, err := c.PublishVersion(ctx, &awslambda.PublishVersionInput{FunctionName: aws.String(name)}); err != nil || aws.ToString(v.Version) != "1" {
		t.Fatalf("publish 1: %v %v", err, v)
	}
	env2["STAMP"] = "2" // a change, so that version 2 differs even without env2
	if _, err := c.UpdateFunctionConfiguration(ctx, &awslambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(name),
		Environment: &types.Environment{Variables: env2}}); err != nil {
		t.Fatal(err)
	}
	if err := awslambda.NewFunctionUpdatedV2Waiter(c).Wait(ctx, &awslambda.GetFunctionInput{FunctionName: aws.String(name)}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, err := c.PublishVersion(ctx, &awslambda.PublishVersionInput{FunctionName: aws.String(name)}); err != nil || aws.ToString(v.Version) != "2" {
		t.Fatalf("publish 2: %v %v", err, v)
	}
	if _, err := c.CreateAlias(ctx, &awslambda.CreateAliasInput{FunctionName: aws.String(name), Name: aws.String("live"), FunctionVersion: aws.String("1")}); err != nil {
		t.Fatal(err)
	}
}

// invokeVersion invokes fn:qualifier and returns the executed version and
// whether the function failed.
func invokeVersion(t *testing.T, c *awslambda.Client, ref string) (string, bool) {
	t.Helper()
	out, err := c.Invoke(context.Background(), &awslambda.InvokeInput{FunctionName: aws.String(ref)})
	if err != nil {
		t.Fatalf("invoke %s: %v", ref, err)
	}
	v := aws.ToString(out.ExecutedVersion)
	if out.FunctionError == nil && !strings.Contains(string(out.Payload), `"version":"`+v+`"`) {
		t.Fatalf("invoke %s: executed version %s but the function answered %s", ref, v, out.Payload)
	}
	return v, out.FunctionError != nil
}

// TestAliasWeights: an alias with 10 % on version 2 serves exactly 10 % ± 1
// of 1,000 invocations from version 2, evenly spread (the routing is a
// low-discrepancy sequence, not a random draw, so this cannot flake).
func TestAliasWeights(t *testing.T) {
	s := startServer(t, t.TempDir())
	c := s.client()
	twoVersions(t, c, "weighted", map[string]string{})
	_, err := c.UpdateAlias(context.Background(), &awslambda.UpdateAliasInput{FunctionName: aws.String("weighted"), Name: aws.String("live"),
		RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": 0.1}}})
	if err != nil {
		t.Fatal(err)
	}
	var onV2 []int // indexes of the invocations version 2 served
	for i := range 1000 {
		v, failed := invokeVersion(t, c, "weighted:live")
		if failed || (v != "1" && v != "2") {
			t.Fatalf("invocation %d: version %q failed=%v", i, v, failed)
		}
		if v == "2" {
			onV2 = append(onV2, i)
		}
	}
	if n := len(onV2); n < 99 || n > 101 {
		t.Fatalf("version 2 served %d of 1000 invocations, want 100 ± 1", n)
	}
	for i := 1; i < len(onV2); i++ {
		if gap := onV2[i] - onV2[i-1]; gap < 9 || gap > 11 {
			t.Fatalf("version 2 served invocations %d and %d: not evenly spread (want one in ten)", onV2[i-1], onV2[i])
		}
	}
}
