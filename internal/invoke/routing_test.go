package invoke

import (
	"math"
	"testing"
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
