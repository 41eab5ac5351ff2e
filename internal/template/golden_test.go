package template

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"

	"github.com/nimbus-dev/nimbus/internal/gateway"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestGoldenPlan plans a realistic application (testdata/app) with parameter
// overrides and compares the plan with testdata/app/plan.golden.json.
func TestGoldenPlan(t *testing.T) {
	p := goldenPlan(t, "testdata/app", Options{
		Stack:      "orders",
		Parameters: map[string]string{"Stage": "prod", "WorkerMemory": "512", "ApiKey": "s3cr3t"},
	})
	got, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(got, []byte("s3cr3t\"")) && !bytes.Contains(got, []byte(`"API_KEY":"s3cr3t"`)) {
		t.Errorf("the NoEcho parameter leaked outside the environment it was given to")
	}
	g := gateway.New(gateway.Config{}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := g.SetAPIs(p.APIs()); err != nil {
		t.Errorf("the gateway refuses the plan's APIs: %v", err)
	}
}

// A Template is read-only: plans may be made concurrently.
func TestConcurrentPlans(t *testing.T) {
	data, err := os.ReadFile("testdata/app/template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	plans := make([][]byte, 4)
	for i := range plans {
		wg.Go(func() {
			p, err := tpl.Plan(Options{Stack: "orders", Dir: "testdata/app", Parameters: map[string]string{"Stage": []string{"dev", "prod"}[i%2]}})
			if err != nil {
				t.Error(err)
				return
			}
			plans[i], _ = json.Marshal(p)
		})
	}
	wg.Wait()
	if !bytes.Equal(plans[0], plans[2]) || !bytes.Equal(plans[1], plans[3]) || bytes.Equal(plans[0], plans[1]) {
		t.Errorf("concurrent plans differ")
	}
}
