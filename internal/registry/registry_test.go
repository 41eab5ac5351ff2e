package registry

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/nimbus-dev/nimbus/internal/backbone"
	"github.com/nimbus-dev/nimbus/internal/lambda"
)

func open(t *testing.T, dir string) (*Registry, func()) {
	t.Helper()
	bb, err := backbone.Start(backbone.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	kv, err := bb.KeyValue(t.Context(), Bucket)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(t.Context(), kv)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	return r, func() { cancel(); <-done; bb.Close() }
}

func fn(name string) *Function {
	return &Function{Latest: lambda.Config{FunctionName: name, Version: lambda.Latest, RevisionId: "r0"}}
}

// TestConcurrentUpdates: compare-and-set loses no update under contention, and a
// reopened registry rebuilds the same state from JetStream.
func TestConcurrentUpdates(t *testing.T) {
	dir := t.TempDir()
	r, closeFn := open(t, dir)
	ctx := t.Context()
	if err := r.Create(ctx, fn("a")); err != nil {
		t.Fatal(err)
	}
	if err := r.Create(ctx, fn("a")); err == nil {
		t.Fatal("second Create succeeded")
	} else if e, ok := lambda.AsError(err); !ok || e.Code != "ResourceConflictException" {
		t.Fatalf("second Create: %v", err)
	}
	const n = 20
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if _, err := r.Update(ctx, "a", func(f *Function) error { f.LastVersion++; return nil }); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got, ok := r.Get("a")
	if !ok || got.LastVersion != n {
		t.Fatalf("after %d concurrent updates LastVersion = %v", n, got)
	}
	refused := errors.New("refused")
	if _, err := r.Update(ctx, "a", func(*Function) error { return refused }); !errors.Is(err, refused) {
		t.Errorf("a refused update returned %v", err)
	}
	if _, err := r.Update(ctx, "missing", func(*Function) error { return nil }); err == nil {
		t.Error("update of a missing function succeeded")
	}
	if err := r.Create(ctx, fn("b")); err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Get("b"); ok {
		t.Error("deleted function still visible")
	}
	closeFn()

	r2, close2 := open(t, dir)
	defer close2()
	got, ok = r2.Get("a")
	if !ok || got.LastVersion != n {
		t.Errorf("after reopening: %v", got)
	}
	if _, ok := r2.Get("b"); ok {
		t.Error("deleted function back after reopening")
	}
	if l := r2.List(); len(l) != 1 {
		t.Errorf("List = %d functions", len(l))
	}
	// Re-creating a deleted name works.
	if err := r2.Create(ctx, fn("b")); err != nil {
		t.Errorf("re-create after delete: %v", err)
	}
}
