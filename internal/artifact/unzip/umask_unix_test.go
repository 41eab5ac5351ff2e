//go:build unix

package unzip

import (
	"io/fs"
	"syscall"
	"testing"
)

// TestExtractIgnoresUmask checks that the final modes do not depend on the
// process umask. It changes process-wide state, so it must not run in
// parallel with other tests.
func TestExtractIgnoresUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	w := newWorld(t)
	data := buildZip(t, exe("bootstrap", "x"), file("lib/a.txt", "a"))
	if err := Extract(data, w.target); err != nil {
		t.Fatal(err)
	}
	assertTree(t, w.target, map[string]wantEntry{
		"bootstrap": {0o555, "x"},
		"lib":       {fs.ModeDir | 0o555, ""},
		"lib/a.txt": {0o444, "a"},
	})
}
