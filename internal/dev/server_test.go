package dev

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
		}
	}))
	if !Probe(t.Context(), srv.URL) {
		t.Errorf("Probe of a healthy server = false")
	}
	srv.Close()
	if Probe(t.Context(), srv.URL) {
		t.Errorf("Probe of a closed server = true")
	}
}

// TestStartEmbedded starts a stand-in server (a shell script that speaks
// nimbus server's start-up protocol) and stops it.
func TestStartEmbedded(t *testing.T) {
	dir := t.TempDir()
	script := `trap 'echo stopping >&2; exit 0' TERM
echo "starting with $*" >&2; echo api: http://127.0.0.1:1234; echo gateway: http://127.0.0.1:5678; echo ready
while :; do sleep 0.05; done`
	s, err := StartEmbedded(t.Context(), EmbeddedConfig{Command: []string{"/bin/sh", "-c", script, "nimbus"}, DataDir: filepath.Join(dir, ".nimbus"), APIAddr: "127.0.0.1:0", GatewayAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if s.API != "http://127.0.0.1:1234" || s.Gateway != "http://127.0.0.1:5678" || !s.Embedded || s.Pid == 0 {
		t.Errorf("server %+v", s)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if err := syscall.Kill(s.Pid, 0); err == nil {
		t.Errorf("the server process %d is still there", s.Pid)
	}
	if log := tail(s.Log, 5); !strings.Contains(log, "--data-dir "+filepath.Join(dir, ".nimbus")+" --api-addr 127.0.0.1:0") || !strings.Contains(log, "stopping") {
		t.Errorf("server log:\n%s", log)
	}

	// A server that fails to start: its log is in the error.
	_, err = StartEmbedded(t.Context(), EmbeddedConfig{Command: []string{"/bin/sh", "-c", "echo cannot listen on 127.0.0.1:8900 >&2; exit 1", "nimbus"}, DataDir: filepath.Join(dir, "other")})
	if err == nil || !strings.Contains(err.Error(), "cannot listen on 127.0.0.1:8900") {
		t.Errorf("failed start: %v", err)
	}
}
