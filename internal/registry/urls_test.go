package registry

import (
	"testing"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// TestURLIndex: function URLs are found by id after a write, after a restart
// (rebuilt from JetStream), and are gone when removed or when the function is deleted.
func TestURLIndex(t *testing.T) {
	dir := t.TempDir()
	r, closeFn := open(t, dir)
	ctx := t.Context()
	if err := r.Create(ctx, fn("f")); err != nil {
		t.Fatal(err)
	}
	latest, live := lambda.FunctionURLID("f", ""), lambda.FunctionURLID("f", "live")
	if _, _, _, ok := r.LookupURL(latest); ok {
		t.Fatal("URL found before it was created")
	}
	if _, err := r.Update(ctx, "f", func(f *Function) error {
		f.URLs = map[string]lambda.FunctionURLConfig{
			lambda.Latest: {AuthType: lambda.AuthTypeNone, InvokeMode: lambda.InvokeModeBuffer},
			"live":        {AuthType: lambda.AuthTypeIAM, InvokeMode: lambda.InvokeModeStream},
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	check := func(r *Registry, id, q, mode string) {
		t.Helper()
		f, gotQ, cfg, ok := r.LookupURL(id)
		if !ok || f.Latest.FunctionName != "f" || gotQ != q || cfg.InvokeMode != mode {
			t.Fatalf("LookupURL(%s) = %v %q %+v %v", id, f != nil, gotQ, cfg, ok)
		}
	}
	check(r, latest, lambda.Latest, lambda.InvokeModeBuffer)
	check(r, live, "live", lambda.InvokeModeStream)
	closeFn()

	r, closeFn = open(t, dir)
	defer func() { closeFn() }()
	check(r, latest, lambda.Latest, lambda.InvokeModeBuffer)
	check(r, live, "live", lambda.InvokeModeStream)
	if _, err := r.Update(ctx, "f", func(f *Function) error { delete(f.URLs, "live"); return nil }); err != nil {
		t.Fatal(err)
	}
	if _, _, _, ok := r.LookupURL(live); ok {
		t.Fatal("removed URL still found")
	}
	if err := r.Delete(ctx, "f"); err != nil {
		t.Fatal(err)
	}
	if _, _, _, ok := r.LookupURL(latest); ok {
		t.Fatal("URL of a deleted function still found")
	}
}

func TestFunctionURLID(t *testing.T) {
	id := lambda.FunctionURLID("my-function", "")
	if len(id) != 32 || id != lambda.FunctionURLID("my-function", lambda.Latest) {
		t.Fatalf("id %q", id)
	}
	for _, c := range id {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			t.Fatalf("id %q has %q", id, c)
		}
	}
	if id == lambda.FunctionURLID("my-function", "live") || id == lambda.FunctionURLID("my-functio", "n") {
		t.Fatal("ids collide")
	}
}
