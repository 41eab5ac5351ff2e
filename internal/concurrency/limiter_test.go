package concurrency

import (
	"sync"
	"testing"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

func reason(err error) string {
	if e, ok := lambda.AsError(err); ok {
		return e.Reason
	}
	return ""
}

func TestReserved(t *testing.T) {
	l := New(10)
	l.SetReserved("a", 2)
	g1, err1 := l.Acquire("a", "$LATEST")
	g2, err2 := l.Acquire("a", "$LATEST")
	_, err3 := l.Acquire("a", "$LATEST")
	if err1 != nil || err2 != nil || reason(err3) != "ReservedFunctionConcurrentInvocationLimitExceeded" {
		t.Fatalf("reserved 2: %v %v %v", err1, err2, err3)
	}
	// The account's unreserved pool is limit − reserved = 8.
	var gs []Grant
	for i := range 8 {
		g, err := l.Acquire("b", "$LATEST")
		if err != nil {
			t.Fatalf("unreserved acquire %d: %v", i, err)
		}
		gs = append(gs, g)
	}
	if _, err := l.Acquire("c", "$LATEST"); reason(err) != "ConcurrentInvocationLimitExceeded" {
		t.Fatalf("account limit: %v", err)
	}
	l.Release(g1)
	if _, err := l.Acquire("a", "$LATEST"); err != nil {
		t.Fatalf("after release: %v", err)
	}
	l.Release(g2)
	for _, g := range gs {
		l.Release(g)
	}
	if s := l.Snapshot(); s.UnreservedInUse != 0 {
		t.Errorf("unreserved in use after releases: %d", s.UnreservedInUse)
	}
}

func TestZeroReservedThrottlesAll(t *testing.T) {
	l := New(10)
	l.SetReserved("a", 0)
	if _, err := l.Acquire("a", "1"); reason(err) != "ReservedFunctionConcurrentInvocationLimitExceeded" {
		t.Fatalf("got %v", err)
	}
}

func TestProvisionedFirstThenSpillover(t *testing.T) {
	l := New(3)
	l.SetProvisioned("a", "1", 2)
	g1, _ := l.Acquire("a", "1")
	g2, _ := l.Acquire("a", "1")
	if !g1.Provisioned || !g2.Provisioned {
		t.Fatal("provisioned slots not used first")
	}
	// Provisioned capacity counts against the account: 3 − 2 = 1 left for on-demand.
	g3, err := l.Acquire("a", "1")
	if err != nil || g3.Provisioned {
		t.Fatalf("spill-over: %v %v", g3, err)
	}
	if _, err := l.Acquire("b", "$LATEST"); reason(err) != "ConcurrentInvocationLimitExceeded" {
		t.Fatalf("account full: %v", err)
	}
	// Other versions do not use version 1's provisioned slots.
	l.Release(g1)
	if g, err := l.Acquire("a", "$LATEST"); err == nil && g.Provisioned {
		t.Fatal("$LATEST took a provisioned slot of version 1")
	}
}

func TestReservedChangesWhileRunning(t *testing.T) {
	l := New(5)
	g, _ := l.Acquire("a", "$LATEST")
	l.SetReserved("a", 1) // now reserved: moves out of the unreserved pool
	if s := l.Snapshot(); s.UnreservedInUse != 0 || s.Unreserved != 4 {
		t.Fatalf("after reserving: %+v", s)
	}
	l.Release(g)
	l.SetReserved("a", NoReservation)
	if s := l.Snapshot(); s.UnreservedInUse != 0 || s.Unreserved != 5 {
		t.Fatalf("after clearing: %+v", s)
	}
}

// TestExactUnderContention: with reserved 7, however many goroutines race, at most 7 hold grants.
func TestExactUnderContention(t *testing.T) {
	l := New(1000)
	l.SetReserved("a", 7)
	var mu sync.Mutex
	held, maxHeld := 0, 0
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for range 200 {
				g, err := l.Acquire("a", "$LATEST")
				if err != nil {
					continue
				}
				mu.Lock()
				held++
				maxHeld = max(maxHeld, held)
				mu.Unlock()
				mu.Lock()
				held--
				mu.Unlock()
				l.Release(g)
			}
		})
	}
	wg.Wait()
	if maxHeld > 7 {
		t.Fatalf("%d concurrent grants with reserved 7", maxHeld)
	}
	if s := l.Snapshot().Functions["a"]; s.OnDemand != 0 {
		t.Fatalf("on-demand count %d after all releases", s.OnDemand)
	}
}

func BenchmarkAcquireRelease(b *testing.B) {
	l := New(1000)
	for b.Loop() {
		g, _ := l.Acquire("a", "$LATEST")
		l.Release(g)
	}
}
