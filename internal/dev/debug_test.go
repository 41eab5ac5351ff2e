package dev

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nimbus-dev/nimbus/internal/deploy"
)

// TestDebugClient: PUT with the port asked, DELETE, and a server without
// the endpoint (404 UnknownOperationException) is told apart from other errors.
func TestDebugClient(t *testing.T) {
	var calls []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		calls = append(calls, r.Method+" "+r.URL.Path+" "+string(body))
		if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
			t.Errorf("%s %s is not signed", r.Method, r.URL.Path)
		}
		switch {
		case strings.Contains(r.URL.Path, "/old-server/"):
			w.Header().Set("X-Amzn-ErrorType", "UnknownOperationException")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"Type":"User","message":"Unknown operation"}`))
		case strings.Contains(r.URL.Path, "/missing/"):
			w.Header().Set("X-Amzn-ErrorType", "ResourceNotFoundException")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"Type":"User","message":"Function not found: missing"}`))
		case r.Method == http.MethodPut:
			json.NewEncoder(w).Encode(debugSession{Function: "app-Add", Runtime: "provided.al2023", Debugger: "delve", Port: 2345, Instructions: "attach to 127.0.0.1:2345"})
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer srv.Close()
	c := &client{deploy.New(deploy.Config{Endpoint: srv.URL, AccessKeyID: "k", SecretAccessKey: "s", HTTPClient: srv.Client()})}

	s, err := c.debugOn(t.Context(), "app-Add", 0)
	if err != nil || s.Debugger != "delve" || s.Port != 2345 || s.Instructions == "" {
		t.Fatalf("debugOn: %+v, %v", s, err)
	}
	if _, err := c.debugOn(t.Context(), "app-Add", 4000); err != nil {
		t.Fatal(err)
	}
	if err := c.debugOff(t.Context(), "app-Add"); err != nil {
		t.Fatal(err)
	}
	want := []string{"PUT /nimbus/v1/functions/app-Add/debug {}", `PUT /nimbus/v1/functions/app-Add/debug {"port":4000}`, "DELETE /nimbus/v1/functions/app-Add/debug "}
	if strings.Join(calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
	if _, err := c.debugOn(t.Context(), "old-server", 0); !errors.Is(err, errNoDebugger) {
		t.Errorf("server without debugging: %v, want errNoDebugger", err)
	}
	_, err = c.debugOn(t.Context(), "missing", 0)
	if e, ok := errors.AsType[*deploy.APIError](err); !ok || errors.Is(err, errNoDebugger) || e.Code != "ResourceNotFoundException" {
		t.Errorf("missing function: %v, want its ResourceNotFoundException", err)
	}
}
