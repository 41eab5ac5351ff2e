package registry

import "testing"

// TestRecreateAfterDelete: a function created right after it was deleted is
// visible at once, however the watch's delivery of the delete interleaves.
func TestRecreateAfterDelete(t *testing.T) {
	r, closeFn := open(t, t.TempDir())
	defer closeFn()
	ctx := t.Context()
	for i := range 300 {
		if err := r.Create(ctx, fn("again")); err != nil {
			t.Fatal(err)
		}
		if err := r.Delete(ctx, "again"); err != nil {
			t.Fatal(err)
		}
		if err := r.Create(ctx, fn("again")); err != nil {
			t.Fatal(err)
		}
		if _, ok := r.Get("again"); !ok {
			t.Fatalf("round %d: the re-created function is not visible", i)
		}
		if err := r.Delete(ctx, "again"); err != nil {
			t.Fatal(err)
		}
	}
}
