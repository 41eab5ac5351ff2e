package invoke

import (
	"math"
	"testing"

	"github.com/nimbus-dev/nimbus/internal/backbone"
	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/registry"
)

// TestAdditionalLowDiscrepancy checks the routing promise: any window of N
// consecutive invocations at weight w sends N·w ± 1 of them to the
// additional version, also across the counter's wrap.
func TestAdditionalLowDiscrepancy(t *testing.T) {
	for _, w := range []float64{0, 0.001, 0.01, 0.05, 0.1, 1.0 / 3, 0.5, 0.9, 0.99999, 1} {
		for _, start := range []uint32{1, math.MaxUint32 - 5000} {
			const total = 20000
			hits := make([]int, total+1) // hits[i]: additional among the first i
			for i := range total {
				hits[i+1] = hits[i]
				if additional(start+uint32(i), w) {
					hits[i+1]++
				}
			}
			for _, n := range []int{10, 100, 1000} {
				want := float64(n) * w
				for i := 0; i+n <= total; i++ {
					if got := hits[i+n] - hits[i]; math.Abs(float64(got)-want) > 1 {
						t.Fatalf("w=%g start=%d: invocations %d..%d sent %d to the additional version, want %g ± 1", w, start, i, i+n, got, want)
					}
				}
			}
		}
	}
}

// TestRoutingAdvancesOncePerInvocation: only an invocation that runs routes.
// An Event invoke is routed by the async worker that runs it (resolve), so
// the front door must not advance the alias's sequence as well: at weight
// 0.5 that made every worker's pick land on the same version. DryRuns and
// refused requests do not advance it either.
func TestRoutingAdvancesOncePerInvocation(t *testing.T) {
	bb, err := backbone.Start(backbone.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer bb.Close()
	kv, err := bb.KeyValue(t.Context(), registry.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.Open(t.Context(), kv)
	if err != nil {
		t.Fatal(err)
	}
	v := func(n string) lambda.Config {
		return lambda.Config{FunctionName: "f", Version: n, RevisionId: "r" + n, Timeout: 3}
	}
	if err := reg.Create(t.Context(), &registry.Function{
		Latest:   v(lambda.Latest),
		Versions: []lambda.Config{v("1"), v("2")},
		Aliases: map[string]lambda.Alias{"live": {Name: "live", FunctionVersion: "1",
			RoutingConfig: &lambda.AliasRouting{AdditionalVersionWeights: map[string]float64{"2": 0.5}}}},
	}); err != nil {
		t.Fatal(err)
	}
	s := &Service{reg: reg}
	const n = 20
	second := 0
	for range n {
		// The front door: an Event invoke, a DryRun and an invalid request…
		for _, req := range []Request{
			{FunctionName: "f", Qualifier: "live", Type: lambda.Event},
			{FunctionName: "f", Qualifier: "live", Type: lambda.DryRun},
			{FunctionName: "f", Qualifier: "live", Payload: []byte("not json")},
		} {
			s.prepare(&req)
		}
		// …then the worker that runs the event.
		tg, err := s.resolve("f", "live")
		if err != nil {
			t.Fatal(err)
		}
		if tg.cfg.Version == "2" {
			second++
		}
	}
	if second < n/2-1 || second > n/2+1 {
		t.Fatalf("%d of %d async invocations ran version 2 at weight 0.5", second, n)
	}
	// A synchronous invocation is routed (once) by prepare.
	sync2 := 0
	for range n {
		req := Request{FunctionName: "f", Qualifier: "live"}
		tg, _, err := s.prepare(&req)
		if err != nil {
			t.Fatal(err)
		}
		if tg.cfg.Version == "2" {
			sync2++
		}
	}
	if sync2 < n/2-1 || sync2 > n/2+1 {
		t.Fatalf("%d of %d sync invocations ran version 2 at weight 0.5", sync2, n)
	}
}
