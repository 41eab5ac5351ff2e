package keepalive

import (
	"math"
	"math/bits"
	"time"
)

// A function's environments are ranked by concurrency: the k-th environment is
// the one that is busy whenever k or more invocations run. Under the
// scheduler's most-recently-used-first reuse, the environment freed when the
// level falls from k to k-1 is the one taken when it next rises to k, so its
// idle time is the time the level stays below k. Ranks are pooled into
// half-octave classes (1, 2, 3, 4–5, 6–7, 8–11, 12–15, …) that share an
// idle-time histogram.
const rankClasses = 34

func rankClass(k int) int {
	if k <= 1 {
		return 0
	}
	n := bits.Len32(uint32(k)) // k in [2^(n-1), 2^n)
	c := 2*(n-1) - 1 + int(uint32(k)>>(n-2)&1)
	return min(c, rankClasses-1)
}

// Idle-time histogram bins: [0,10s) [10s,30s) [30s,1m), then whole minutes up
// to 2 h, then [2h,3h) [3h,4h) [4h,∞).
const gapBins = 3 + 119 + 3

func gapBin(gap int64) int {
	switch {
	case gap < int64(10*time.Second):
		return 0
	case gap < int64(30*time.Second):
		return 1
	case gap < int64(2*time.Hour):
		return 2 + int(gap/int64(time.Minute))
	case gap < int64(3*time.Hour):
		return gapBins - 3
	case gap < int64(4*time.Hour):
		return gapBins - 2
	}
	return gapBins - 1
}

// binEdges returns bin i's bounds in ns; the last bin's upper bound is MaxInt64.
func binEdges(i int) (lo, hi int64) {
	m := int64(time.Minute)
	switch {
	case i == 0:
		return 0, int64(10 * time.Second)
	case i == 1:
		return int64(10 * time.Second), int64(30 * time.Second)
	case i == 2:
		return int64(30 * time.Second), m
	case i < gapBins-3:
		return int64(i-2) * m, int64(i-1) * m
	case i == gapBins-3:
		return 120 * m, 180 * m
	case i == gapBins-2:
		return 180 * m, 240 * m
	}
	return 240 * m, math.MaxInt64
}

// gapHist is the idle-time histogram of one rank class. Once it holds
// histForget idle times' worth of weight it halves every weight, so a function
// whose pattern changes is followed, slowly, and a rare long idle time keeps a
// shrinking weight rather than rounding to nothing.
type gapHist struct {
	w     [gapBins]float32 // weight of the idle times in the bin
	sum   [gapBins]float64 // weighted sum of the idle times in the bin, s
	cov   [gapBins]float32 // of w, idle times a forecast pre-warm covered
	total float64          // sum of w
	count uint32           // idle times seen

	// The window chosen from the histogram: an environment that becomes
	// idle is warm from `from` until `to` after. It is chosen again once
	// enough has changed (see stale).
	fresh    uint32 // idle times added since the window was chosen
	chosenAt int64  // Unix ns when it was chosen; 0: never
	from, to int64  // ns
}

const histForget = 1 << 12

// add records an idle time; covered says a forecast pre-warm had an
// environment ready at its end anyway, so no keep-alive was needed to avoid a
// cold start.
func (h *gapHist) add(gap int64, covered bool) {
	i := gapBin(gap)
	h.w[i]++
	h.sum[i] += float64(gap) / 1e9
	if covered {
		h.cov[i]++
	}
	h.total++
	h.count++
	h.fresh++
	if h.total >= histForget {
		for j := range h.w {
			h.w[j] /= 2
			h.sum[j] /= 2
			h.cov[j] /= 2
		}
		h.total /= 2
	}
}

// stale reports whether the window should be chosen again at now: after any
// new idle time while there are few, then after every 1/32 more, or a minute
// after it was last chosen. That bounds the (quadratic in occupied bins) work
// of choose to a small fraction of the calls of a busy function.
func (h *gapHist) stale(now int64) bool {
	return h.fresh > 0 && (h.chosenAt == 0 || h.fresh > h.count/32 || now-h.chosenAt >= int64(time.Minute))
}

// choose picks the window [from, to) after an environment becomes idle during
// which it is warm, minimising the expected λ·(cold starts) + (idle time) of
// its next use drawn from the histogram: a use before from or after to is a
// cold start (unless covered), a use inside costs the wait since from, and a
// use after to costs the whole window. from = 0 is a plain keep-alive and
// to = 0 stops the environment at once; from > 0 (only if prewarm) stops it
// and starts one again at from, which is placed lead before the bin it
// expects. Candidate edges are the edges of bins holding idle times, so the
// search is quadratic in those (a handful, usually), not in all bins.
func (h *gapHist) choose(lambda, lead time.Duration, prewarm bool) {
	h.fresh = 0
	lam, ld := lambda.Seconds(), lead.Seconds()
	var total, totalCold float64
	var occ [gapBins]uint8
	m := 0
	for i, c := range h.w {
		if c > 0 {
			occ[m] = uint8(i)
			m++
			total += float64(c)
			totalCold += float64(c - h.cov[i])
		}
	}
	bestCost := lam * totalCold // to = 0: every use is a cold start
	h.from, h.to = 0, 0
	var below float64 // weight in the occupied bins before a
	for a := range m {
		ia := int(occ[a])
		lo, _ := binEdges(ia)
		froms := [2]float64{0, max(0, float64(lo)/1e9-ld)}
		nf := 1
		if prewarm && froms[1] > 0 {
			nf = 2
		}
		for _, from := range froms[:nf] {
			if from == 0 && a > 0 {
				continue // a keep-alive from 0 was tried with a == 0
			}
			var cnt, cntCold, sum float64
			for b := a; b < m; b++ {
				ib := int(occ[b])
				cnt += float64(h.w[ib])
				cntCold += float64(h.w[ib] - h.cov[ib])
				sum += h.sum[ib]
				_, hi := binEdges(ib)
				if hi == math.MaxInt64 {
					break // no window reaches an unbounded idle time
				}
				to := float64(hi) / 1e9
				cold := totalCold - cntCold                          // uses outside [a, b]
				idle := sum - from*cnt + (total-below-cnt)*(to-from) // waits inside, whole window above
				if c := lam*cold + idle; c < bestCost {
					bestCost, h.from, h.to = c, int64(from*1e9), hi
				}
			}
		}
		below += float64(h.w[ia])
	}
}
