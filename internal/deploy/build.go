package deploy

import (
	"cmp"
	"context"
	"errors"
	"runtime"
	"sync"
	"time"

	"github.com/nimbus-dev/nimbus/internal/template"
	"github.com/nimbus-dev/nimbus/internal/template/build"
)

// buildAll makes every function's deployment package (those in prebuilt are
// taken as they are), sets the functions' CodeSHA256, and returns the
// packages by function name. Functions sharing one code directory are built
// once; builds run in parallel, at most one per CPU. The first failure
// cancels the rest and is returned.
func buildAll(ctx context.Context, plan *template.Plan, prebuilt map[string][]byte, emit func(Event)) (map[string][]byte, error) {
	type job struct {
		b     template.Build
		fns   []*template.Function
		ids   []string
		zip   []byte
		err   error
		took  time.Duration
		given bool
	}
	var jobs []*job
	byBuild := map[template.Build]*job{}
	for i := range plan.Resources {
		r := &plan.Resources[i]
		f := r.Function
		if f == nil {
			continue
		}
		if zip, ok := prebuilt[f.Name]; ok {
			jobs = append(jobs, &job{fns: []*template.Function{f}, ids: []string{r.LogicalID}, zip: zip, given: true})
			continue
		}
		j := byBuild[f.Build]
		if j == nil {
			j = &job{b: f.Build}
			byBuild[f.Build] = j
			jobs = append(jobs, j)
		}
		j.fns = append(j.fns, f)
		j.ids = append(j.ids, r.LogicalID)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, max(1, runtime.NumCPU()))
	var wg sync.WaitGroup
	for _, j := range jobs {
		if j.given {
			continue
		}
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				j.err = ctx.Err()
				return
			}
			defer func() { <-sem }()
			start := time.Now()
			j.zip, j.err = build.Build(ctx, j.b)
			j.took = time.Since(start)
			if j.err != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	var first, canceled error
	out := map[string][]byte{}
	for _, j := range jobs {
		if j.err != nil {
			e := &Error{Action: ActionBuild, Kind: "Function", LogicalID: j.ids[0], Err: j.err}
			switch {
			case !errors.Is(j.err, context.Canceled):
				first = cmp.Or(first, error(e))
			case canceled == nil:
				canceled = e
			}
			continue
		}
		sha := build.CodeSHA256(j.zip)
		for k, f := range j.fns {
			f.CodeSHA256 = sha
			out[f.Name] = j.zip
			detail := string(j.b.Kind)
			if j.given {
				detail = "package given"
			}
			emit(Event{Action: ActionBuild, Kind: "Function", LogicalID: j.ids[k], PhysicalID: f.Name, Detail: detail, Elapsed: j.took})
		}
	}
	if err := cmp.Or(first, canceled); err != nil {
		return nil, err
	}
	return out, nil
}
