package unzip

import "testing"

func BenchmarkSeedCheck(b *testing.B) {
	s := fuzzSeeds(b)[0]
	for b.Loop() {
		Check(s)
	}
}
func BenchmarkSeedExtract(b *testing.B) {
	syncToDisk = false
	defer func() { syncToDisk = true }()
	s := fuzzSeeds(b)[0]
	for b.Loop() {
		w := newWorld(b)
		if err := Extract(s, w.target); err != nil {
			b.Fatal(err)
		}
	}
}
