package keepalive

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

func benchPolicies() []struct {
	name string
	p    Policy
} {
	return []struct {
		name string
		p    Policy
	}{{"fixed", Fixed{}}, {"hybrid", new(Hybrid)}, {"adaptive", NewAdaptive(AdaptiveConfig{})}}
}

// BenchmarkInvocation is the per-invocation cost: Arrived and Ended for a
// function the policy knows, with idle times of a few seconds to minutes and
// up to 4 concurrent.
func BenchmarkInvocation(b *testing.B) {
	for _, p := range benchPolicies() {
		b.Run(p.name, func(b *testing.B) {
			now := Epoch
			for i := range 1000 { // warm up: learn the function
				now = now.Add(time.Duration(i%97) * time.Second)
				p.p.Arrived("fn", now)
				p.p.Ended("fn", now.Add(time.Second))
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				now = now.Add(time.Duration(i%97) * time.Second)
				p.p.Arrived("fn", now)
				if i%4 == 0 {
					for range 4 {
						p.p.Ended("fn", now.Add(time.Second))
					}
				}
			}
		})
	}
}

// BenchmarkInvocationParallel is the same from every CPU, each on its own
// function: the policies share no lock between functions.
func BenchmarkInvocationParallel(b *testing.B) {
	for _, p := range benchPolicies() {
		b.Run(p.name, func(b *testing.B) {
			for i := range 64 {
				p.p.Arrived(fmt.Sprint("fn", i), Epoch)
			}
			var next atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				fn := fmt.Sprint("fn", next.Add(1)%64)
				now := Epoch
				i := 0
				for pb.Next() {
					i++
					now = now.Add(time.Duration(i%97) * time.Second)
					p.p.Arrived(fn, now)
					p.p.Ended(fn, now.Add(time.Second))
				}
			})
		})
	}
}

// BenchmarkPrewarm is the reaper's per-pool cost on each tick.
func BenchmarkPrewarm(b *testing.B) {
	for _, p := range benchPolicies() {
		b.Run(p.name, func(b *testing.B) {
			end, _ := feed(p.p, "fn", time.Second, 0, 15*time.Minute, 30*time.Minute, 45*time.Minute, time.Hour, 75*time.Minute, 90*time.Minute)
			b.ReportAllocs()
			now := end
			for b.Loop() {
				now = now.Add(10 * time.Second)
				p.p.Prewarm("fn", now)
			}
		})
	}
}

// BenchmarkReplay replays the 1000-function Azure sample day (11.6 M
// invocations) under the concurrent model with the trace's durations.
func BenchmarkReplay(b *testing.B) {
	tr := sample(b, "1000_inv.csv", true)
	for _, p := range []struct {
		name string
		new  func() Policy
	}{{"fixed", func() Policy { return Fixed{} }}, {"hybrid", func() Policy { return new(Hybrid) }}, {"adaptive", func() Policy { return NewAdaptive(AdaptiveConfig{}) }}} {
		b.Run(p.name, func(b *testing.B) {
			for b.Loop() {
				Replay(tr, p.new(), Model{}, 0)
			}
		})
	}
}
