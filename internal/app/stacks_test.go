package app

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nimbus-dev/nimbus/internal/backbone"
	"github.com/nimbus-dev/nimbus/internal/secrets"
)

// TestStacks drives the stack store's handlers over a real JetStream bucket.
func TestStacks(t *testing.T) {
	bb, err := backbone.Start(backbone.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bb.Close)
	kv, err := bb.KeyValue(t.Context(), stacksBucket)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	key, err := secrets.LoadKey(secrets.KeySource{File: filepath.Join(t.TempDir(), "k")}, true)
	if err != nil {
		t.Fatal(err)
	}
	registerStacks(mux, log, kv, key)
	registerInfo(mux, "http://127.0.0.1:1", "http://127.0.0.1:2")
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	do := func(method, path, body string, hdr ...string) (int, http.Header, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	plan := func(stack string) string {
		return `{"plan":{"stack":"` + stack + `","description":"d","resources":[{"logicalId":"A","type":"AWS::SQS::Queue"}]}}`
	}

	if code, h, _ := do("GET", "/nimbus/v1/stacks/app", ""); code != 404 || h.Get("X-Amzn-ErrorType") != "ResourceNotFoundException" {
		t.Errorf("GET of a missing stack: %d %v", code, h)
	}
	code, h, body := do("PUT", "/nimbus/v1/stacks/app", plan("app"), "If-None-Match", "*")
	if code != 200 || h.Get("ETag") == "" {
		t.Fatalf("create: %d %s", code, body)
	}
	first := h.Get("ETag")
	var rec stackRecord
	if err := json.Unmarshal([]byte(body), &rec); err != nil || rec.DeployedAt.IsZero() || !strings.Contains(string(rec.Plan), `"stack":"app"`) {
		t.Errorf("create answered %s (%v)", body, err)
	}
	if code, _, _ := do("PUT", "/nimbus/v1/stacks/app", plan("app"), "If-None-Match", "*"); code != 412 {
		t.Errorf("second create: %d, want 412", code)
	}
	code, h, _ = do("PUT", "/nimbus/v1/stacks/app", plan("app"), "If-Match", first)
	if code != 200 || h.Get("ETag") == first {
		t.Fatalf("update: %d %v", code, h)
	}
	second := h.Get("ETag")
	if code, _, _ := do("PUT", "/nimbus/v1/stacks/app", plan("app"), "If-Match", first); code != 412 {
		t.Errorf("update with a stale ETag: %d, want 412", code)
	}
	if code, h, _ := do("GET", "/nimbus/v1/stacks/app", ""); code != 200 || h.Get("ETag") != second {
		t.Errorf("GET: %d ETag %s, want %s", code, h.Get("ETag"), second)
	}
	for _, bad := range []struct{ path, body string }{
		{"/nimbus/v1/stacks/app", plan("other")},
		{"/nimbus/v1/stacks/app", `{"plan":{"stack":"app"}}`},
		{"/nimbus/v1/stacks/app", `not json`},
		{"/nimbus/v1/stacks/1app", plan("1app")},
	} {
		if code, _, body := do("PUT", bad.path, bad.body); code != 400 {
			t.Errorf("PUT %s %s: %d %s, want 400", bad.path, bad.body, code, body)
		}
	}
	do("PUT", "/nimbus/v1/stacks/another", plan("another"))
	code, _, body = do("GET", "/nimbus/v1/stacks", "")
	var list struct{ Stacks []stackSummary }
	if err := json.Unmarshal([]byte(body), &list); code != 200 || err != nil || len(list.Stacks) != 2 ||
		list.Stacks[0].Name != "another" || list.Stacks[1].Name != "app" || list.Stacks[1].Resources != 1 || list.Stacks[1].Description != "d" {
		t.Errorf("list: %d %s", code, body)
	}
	if code, _, _ := do("DELETE", "/nimbus/v1/stacks/app", "", "If-Match", first); code != 412 {
		t.Errorf("delete with a stale ETag: %d, want 412", code)
	}
	if code, _, _ := do("DELETE", "/nimbus/v1/stacks/app", "", "If-Match", second); code != 204 {
		t.Errorf("delete: %d", code)
	}
	if code, _, _ := do("DELETE", "/nimbus/v1/stacks/app", ""); code != 404 {
		t.Errorf("second delete: %d, want 404", code)
	}
	if code, _, _ := do("PUT", "/nimbus/v1/stacks/app", plan("app"), "If-None-Match", "*"); code != 200 {
		t.Errorf("create after delete: %d", code)
	}
	if code, _, body := do("GET", "/nimbus/v1/info", ""); code != 200 || body != `{"api":"http://127.0.0.1:1","gateway":"http://127.0.0.1:2"}` {
		t.Errorf("info: %d %s", code, body)
	}
}
