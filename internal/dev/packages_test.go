package dev

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/nimbus-dev/nimbus/internal/template"
	"github.com/nimbus-dev/nimbus/internal/template/build"
)

// fakeBuilds builds a package named after the directory and a generation
// counter, records every build, and fails for directories in broken.
type fakeBuilds struct {
	mu     sync.Mutex
	gen    int
	builds []string
	debug  []string
	broken map[string]bool
}

func (f *fakeBuilds) build(_ context.Context, b template.Build, opts build.Options) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.builds = append(f.builds, b.Dir)
	if opts.Debug {
		f.debug = append(f.debug, b.Dir)
	}
	if f.broken[b.Dir] {
		return nil, &build.Error{Dir: b.Dir, Output: "syntax error"}
	}
	f.gen++
	return []byte(b.Dir + string(rune('0'+f.gen))), nil
}

func (f *fakeBuilds) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.builds
	f.builds = nil
	return out
}

func fn(logical, name string, kind template.BuildKind, dir string) template.Resource {
	return template.Resource{LogicalID: logical, Function: &template.Function{Name: name, Build: template.Build{Kind: kind, Dir: dir, Arch: "amd64"}}}
}

func TestPackagesRebuildOnlyWhatChanged(t *testing.T) {
	f := &fakeBuilds{broken: map[string]bool{}}
	p := newPackages("app-Add")
	p.buildFn = f.build
	plan := func() *template.Plan {
		return &template.Plan{Resources: []template.Resource{
			fn("Hello", "app-Hello", template.BuildNode, "/app/hello"),
			fn("Hello2", "app-Hello2", template.BuildNode, "/app/hello"), // shares Hello's code
			fn("Add", "app-Add", template.BuildGo, "/app/add"),
			{LogicalID: "Queue"},
		}}
	}
	pl := plan()
	out, ok, err := p.ensure(t.Context(), pl)
	if err != nil || !ok || len(out) != 3 {
		t.Fatalf("first ensure: %v %v %d packages", err, ok, len(out))
	}
	if got := f.take(); len(got) != 2 {
		t.Errorf("first ensure built %v, want hello and add once each", got)
	}
	if len(f.debug) != 1 || f.debug[0] != "/app/add" {
		t.Errorf("debug builds %v, want only the debugged Go function", f.debug)
	}
	if pl.Resources[0].Function.CodeSHA256 == "" || pl.Resources[0].Function.CodeSHA256 != pl.Resources[1].Function.CodeSHA256 {
		t.Errorf("functions sharing code have CodeSHA256 %q and %q", pl.Resources[0].Function.CodeSHA256, pl.Resources[1].Function.CodeSHA256)
	}
	addSHA := pl.Resources[2].Function.CodeSHA256

	// A change in hello/ rebuilds hello only; add keeps its package.
	p.invalidate(map[string]bool{"/app/hello/index.js": true, "/app/template.yaml": true, "/app/helloworld/x.js": true})
	pl = plan()
	if _, _, err := p.ensure(t.Context(), pl); err != nil {
		t.Fatal(err)
	}
	if got := f.take(); len(got) != 1 || got[0] != "/app/hello" {
		t.Errorf("after a change in hello/, built %v, want [/app/hello]", got)
	}
	if pl.Resources[2].Function.CodeSHA256 != addSHA {
		t.Errorf("add's package changed without a change in add/")
	}

	// add/ no longer builds: its last good package is deployed instead.
	f.broken["/app/add"] = true
	p.invalidate(map[string]bool{"/app/add/main.go": true})
	pl = plan()
	out, ok, err = p.ensure(t.Context(), pl)
	if be, isBuild := errors.AsType[*build.Error](err); !isBuild || be.Dir != "/app/add" || !ok {
		t.Fatalf("broken add: err %v, ok %v; want add's build error and the last good package", err, ok)
	}
	if !out[2].Stale || pl.Resources[2].Function.CodeSHA256 != addSHA || out[0].Stale {
		t.Errorf("broken add: stale %v, CodeSHA256 %q (want the last good %q)", out[2].Stale, pl.Resources[2].Function.CodeSHA256, addSHA)
	}
	// A broken function that never built leaves nothing to deploy.
	p2 := newPackages("")
	p2.buildFn = f.build
	if _, ok, err := p2.ensure(t.Context(), plan()); err == nil || ok {
		t.Errorf("first build broken: err %v, ok %v; want an error and ok false", err, ok)
	}
}

func TestWithin(t *testing.T) {
	for _, tc := range []struct {
		path, dir string
		want      bool
	}{
		{"/app/hello/index.js", "/app/hello", true},
		{"/app/hello", "/app/hello", true},
		{"/app/hello2/index.js", "/app/hello", false},
		{"/app/template.yaml", "/app/hello", false},
		{"/app/x", "", false},
	} {
		if got := within(tc.path, tc.dir); got != tc.want {
			t.Errorf("within(%q, %q) = %v, want %v", tc.path, tc.dir, got, tc.want)
		}
	}
}
