package gateway

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// keyServer serves an OpenID configuration and a key set it can change.
type keyServer struct {
	srv     *httptest.Server
	mu      sync.Mutex
	jwks    string
	fetches atomic.Int32
	down    atomic.Bool
}

func newKeyServer(t *testing.T, jwks string) *keyServer {
	ks := &keyServer{jwks: jwks}
	ks.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ks.down.Load() {
			http.Error(w, "down", 503)
			return
		}
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			w.Write([]byte(`{"issuer":"` + ks.srv.URL + `","jwks_uri":"` + ks.srv.URL + `/keys"}`))
		case "/keys":
			ks.fetches.Add(1)
			ks.mu.Lock()
			w.Write([]byte(ks.jwks))
			ks.mu.Unlock()
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(ks.srv.Close)
	return ks
}

// onlyKey returns the test key set reduced to the key with kid.
func onlyKey(t *testing.T, kid string) string {
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	json.Unmarshal([]byte(signingKeys(t).jwks), &set)
	var keep []map[string]any
	for _, k := range set.Keys {
		if k["kid"] == kid {
			keep = append(keep, k)
		}
	}
	b, _ := json.Marshal(map[string]any{"keys": keep})
	return string(b)
}

func TestJWKSFromIssuer(t *testing.T) {
	ks := newKeyServer(t, onlyKey(t, "ec1"))
	inv := newFakeInvoker()
	inv.add("f", reply(`{"statusCode":200,"body":"ok"}`))
	a := httpAPI("a", Route{Key: "GET /p", Authorizer: "z", Integration: Integration{Function: "f"}})
	a.Authorizers = map[string]Authorizer{"z": {Type: "JWT", Issuer: ks.srv.URL, Audience: []string{"app"}}}
	g, _ := newTestGateway(t, inv, a)
	now := time.Now()
	g.now = func() time.Time { return now }
	for _, s := range g.jwks {
		s.now = g.now
	}
	claims := map[string]any{"iss": ks.srv.URL, "aud": "app", "exp": now.Add(time.Hour).Unix()}
	get := func(tok string) (int, string) {
		w := do(g, "GET", "http://h/p", nil, "Authorization", "Bearer "+tok)
		return w.Code, w.Body.String()
	}
	if c, _ := get(signJWT(t, "ES256", "ec1", claims)); c != 200 || ks.fetches.Load() != 1 {
		t.Fatalf("discovered keys: %d, %d fetches", c, ks.fetches.Load())
	}
	// The issuer rotates in an RSA key. A token with its kid makes one
	// refetch, not one per request.
	ks.mu.Lock()
	ks.jwks = signingKeys(t).jwks
	ks.mu.Unlock()
	rsaTok := signJWT(t, "RS256", "rsa1", claims)
	if c, _ := get(rsaTok); c != 200 || ks.fetches.Load() != 2 {
		t.Fatalf("unknown kid after rotation: %d, %d fetches", c, ks.fetches.Load())
	}
	unknown := signJWT(t, "RS256", "other", claims)
	for range 5 {
		if c, _ := get(unknown); c != 401 {
			t.Fatalf("unknown kid: %d", c)
		}
	}
	if n := ks.fetches.Load(); n != 2 {
		t.Errorf("%d fetches after 5 unknown-kid requests within the refresh interval, want 2", n)
	}
	now = now.Add(jwksMinRefresh + time.Second)
	get(unknown)
	if n := ks.fetches.Load(); n != 3 {
		t.Errorf("%d fetches after the refresh interval, want 3", n)
	}
}

func TestJWKSURIUnavailable(t *testing.T) {
	ks := newKeyServer(t, onlyKey(t, "rsa1"))
	ks.down.Store(true)
	inv := newFakeInvoker()
	inv.add("f", reply(`{"statusCode":200,"body":"ok"}`))
	a := httpAPI("a", Route{Key: "GET /p", Authorizer: "z", Integration: Integration{Function: "f"}})
	a.Authorizers = map[string]Authorizer{"z": {Type: "JWT", Issuer: "https://issuer.example", Audience: []string{"app"}, JWKSURI: ks.srv.URL + "/keys"}}
	g, logs := newTestGateway(t, inv, a)
	tok := signJWT(t, "RS256", "rsa1", map[string]any{"iss": "https://issuer.example", "aud": "app", "exp": time.Now().Add(time.Hour).Unix()})
	w := do(g, "GET", "http://h/p", nil, "Authorization", tok)
	if w.Code != 401 || w.Body.String() != `{"message":"Unauthorized"}` {
		t.Errorf("keys unavailable: %d %s", w.Code, w.Body)
	}
	if !containsAll(logs.String(), "fetching the JWKS failed", "status 503") {
		t.Errorf("log lacks the reason: %s", logs)
	}
	// Recovers once the keys are served (after the refresh interval).
	ks.down.Store(false)
	later := time.Now().Add(jwksMinRefresh + time.Second)
	g.now = func() time.Time { return later }
	for _, s := range g.jwks {
		s.now = g.now
	}
	if w := do(g, "GET", "http://h/p", nil, "Authorization", tok); w.Code != 200 {
		t.Errorf("after recovery: %d %s", w.Code, w.Body)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
