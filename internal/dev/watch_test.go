package dev

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestIgnoredFile(t *testing.T) {
	for name, want := range map[string]bool{
		"index.js": false, "main.go": false, "template.yaml": false, ".env": false,
		"index.js~": true, ".index.js.swp": true, "4913": true, ".#main.go": true, "#main.go#": true,
		"app.py___jb_tmp___": true, "app.cpython-311.pyc": true,
	} {
		if got := ignoredFile(name); got != want {
			t.Errorf("ignoredFile(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestWatcher uses real inotify on a temporary tree: a save is one batch;
// editor temporaries, ignored directories and files inside dependencies
// are not reported; new directories are watched.
func TestWatcher(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"hello/node_modules/dep", ".git", ".nimbus", "data"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	w, err := newWatcher(func(p string) bool { return within(p, filepath.Join(root, "data")) })
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	if err := w.add(root); err != nil {
		t.Fatal(err)
	}
	next := func() []string {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		b, err := w.next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var paths []string
		for p := range b.paths {
			rel, _ := filepath.Rel(root, p)
			paths = append(paths, rel)
		}
		slices.Sort(paths)
		return paths
	}
	write := func(rel, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(root, rel), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Irrelevant writes first, then a save: the batch holds only the save.
	write(".git/index", "x")
	write(".nimbus/LOCK", "x")
	write("data/server.log", "x")
	write("hello/node_modules/dep/index.js", "x")
	write("hello/.index.js.swp", "x")
	write("hello/index.js~", "x")
	write("hello/index.js", "exports.handler = async () => 1;")
	if got := next(); !slices.Equal(got, []string{"hello/index.js"}) {
		t.Errorf("batch %v, want [hello/index.js]", got)
	}
	// An editor's save by rename: one batch with the file.
	write("hello/index.js.tmp~", "exports.handler = async () => 2;")
	if err := os.Rename(filepath.Join(root, "hello/index.js.tmp~"), filepath.Join(root, "hello/index.js")); err != nil {
		t.Fatal(err)
	}
	if got := next(); !slices.Contains(got, "hello/index.js") {
		t.Errorf("batch %v, want it to hold hello/index.js", got)
	}
	// A package installed (node_modules' first level), and a new directory
	// whose files are then watched.
	if err := os.Mkdir(filepath.Join(root, "hello/node_modules/left-pad"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := next(); !slices.Equal(got, []string{"hello/node_modules/left-pad"}) {
		t.Errorf("batch %v, want [hello/node_modules/left-pad]", got)
	}
	if err := os.Mkdir(filepath.Join(root, "lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := next(); !slices.Equal(got, []string{"lib"}) {
		t.Errorf("batch %v, want [lib]", got)
	}
	write("lib/util.js", "x")
	if got := next(); !slices.Equal(got, []string{"lib/util.js"}) {
		t.Errorf("batch %v, want [lib/util.js]", got)
	}
}
