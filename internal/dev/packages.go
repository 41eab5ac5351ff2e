package dev

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/nimbus-dev/nimbus/internal/template"
	"github.com/nimbus-dev/nimbus/internal/template/build"
)

// packages keeps every function's last built deployment package, so that a
// change rebuilds only the functions whose sources it touched. It is used
// by the loop's goroutine only.
type packages struct {
	// debug names the function (physical name) built for a debugger.
	debug string
	built map[pkgKey][]byte
	// good is each function's last package that built (by name), deployed
	// instead while its sources do not build.
	good map[string][]byte
	// buildFn builds one package; build.BuildWith unless a test says.
	buildFn func(context.Context, template.Build, build.Options) ([]byte, error)
}

// pkgKey is what a package depends on besides its files: the Build (kind,
// directory, architecture, inline code) and the debug option.
type pkgKey struct {
	b     template.Build
	debug bool
}

// built is one function's package for a deploy.
type built struct {
	LogicalID, Name string
	Kind            template.BuildKind
	Zip             []byte
	Took            time.Duration // zero when it came from the cache
	// Stale is set when the sources did not build and Zip is the last
	// package that did.
	Stale bool
}

func newPackages(debug string) *packages {
	return &packages{debug: debug, built: map[pkgKey][]byte{}, good: map[string][]byte{}, buildFn: build.BuildWith}
}

// invalidate forgets the packages whose sources include one of paths.
func (p *packages) invalidate(paths map[string]bool) {
	for k := range p.built {
		for path := range paths {
			if within(path, k.b.Dir) {
				delete(p.built, k)
				break
			}
		}
	}
}

// within reports whether path is dir or inside it.
func within(path, dir string) bool {
	if dir == "" {
		return false
	}
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// ensure returns a package for every function of plan, building (in
// parallel, one per CPU) those not in the cache, and sets each function's
// CodeSHA256. Functions that share a Build are built once. A function whose
// sources do not build gets its last good package (Stale); the build errors
// are returned (errors.Join of *build.Error) with ok false if some function
// has no package at all.
func (p *packages) ensure(ctx context.Context, plan *template.Plan) (out []built, ok bool, err error) {
	type job struct {
		key  pkgKey
		zip  []byte
		err  error
		took time.Duration
	}
	jobs := map[pkgKey]*job{}
	var order []*job
	for i := range plan.Resources {
		f := plan.Resources[i].Function
		if f == nil {
			continue
		}
		k := p.key(f)
		if _, ok := p.built[k]; ok || jobs[k] != nil {
			continue
		}
		j := &job{key: k}
		jobs[k] = j
		order = append(order, j)
	}
	sem := make(chan struct{}, max(1, runtime.NumCPU()))
	var wg sync.WaitGroup
	for _, j := range order {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			start := time.Now()
			j.zip, j.err = p.buildFn(ctx, j.key.b, build.Options{Debug: j.key.debug})
			j.took = time.Since(start)
		})
	}
	wg.Wait()
	var errs []error
	for _, j := range order {
		if j.err != nil {
			errs = append(errs, j.err)
			continue
		}
		p.built[j.key] = j.zip
	}
	ok = true
	for i := range plan.Resources {
		r := &plan.Resources[i]
		f := r.Function
		if f == nil {
			continue
		}
		b := built{LogicalID: r.LogicalID, Name: f.Name, Kind: f.Build.Kind}
		k := p.key(f)
		if zip, built := p.built[k]; built {
			b.Zip = zip
			p.good[f.Name] = zip
		} else if b.Zip, b.Stale = p.good[f.Name]; !b.Stale {
			ok = false
		}
		if j := jobs[k]; j != nil {
			b.Took = j.took
		}
		if b.Zip != nil {
			f.CodeSHA256 = build.CodeSHA256(b.Zip)
		}
		out = append(out, b)
	}
	return out, ok, errors.Join(errs...)
}

// key is the cache key of f's package.
func (p *packages) key(f *template.Function) pkgKey {
	return pkgKey{b: f.Build, debug: f.Name == p.debug && f.Build.Kind == template.BuildGo}
}
