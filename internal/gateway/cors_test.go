package gateway

import (
	"net/http"
	"testing"
)

func TestCORS(t *testing.T) {
	inv := newFakeInvoker()
	inv.add("f", reply(`{"statusCode":200,"headers":{"Access-Control-Allow-Origin":"https://evil.example"},"body":"ok"}`))
	inv.add("opt", reply(`{"statusCode":200,"body":"options route"}`))
	cors := &CORS{
		AllowOrigins:     []string{"https://app.example.com", "https://*.example.org"},
		AllowMethods:     []string{"GET", "POST"},
		AllowHeaders:     []string{"content-type", "authorization"},
		ExposeHeaders:    []string{"x-total"},
		MaxAge:           600,
		AllowCredentials: true,
	}
	withCORS := API{ID: "c", CORS: cors, Routes: []Route{to("GET /items", "f"), to("OPTIONS /items", "opt")}}
	star := API{ID: "s", CORS: &CORS{AllowOrigins: []string{"*"}, AllowMethods: []string{"*"}}, Routes: []Route{to("ANY /{proxy+}", "f")}}
	none := API{ID: "n", Routes: []Route{to("GET /items", "f"), to("OPTIONS /items", "opt")}}
	g, _ := newTestGateway(t, inv, withCORS, star, none)

	type hdr = map[string]string
	tests := []struct {
		name   string
		host   string
		method string
		header []string
		status int
		want   hdr // "" means absent
		body   string
	}{
		{"preflight allowed", "c", "OPTIONS", []string{"Origin", "https://app.example.com", "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type"}, 204,
			hdr{"Access-Control-Allow-Origin": "https://app.example.com", "Access-Control-Allow-Methods": "GET,POST", "Access-Control-Allow-Headers": "content-type,authorization",
				"Access-Control-Max-Age": "600", "Access-Control-Allow-Credentials": "true", "Vary": "Origin"}, ""},
		{"preflight wildcard subdomain", "c", "OPTIONS", []string{"Origin", "https://a.b.example.org", "Access-Control-Request-Method", "GET"}, 204,
			hdr{"Access-Control-Allow-Origin": "https://a.b.example.org"}, ""},
		{"preflight bare wildcard domain refused", "c", "OPTIONS", []string{"Origin", "https://example.org", "Access-Control-Request-Method", "GET"}, 204,
			hdr{"Access-Control-Allow-Origin": ""}, ""},
		{"preflight bad origin", "c", "OPTIONS", []string{"Origin", "https://evil.example", "Access-Control-Request-Method", "GET"}, 204,
			hdr{"Access-Control-Allow-Origin": "", "Access-Control-Allow-Methods": ""}, ""},
		{"preflight bad method", "c", "OPTIONS", []string{"Origin", "https://app.example.com", "Access-Control-Request-Method", "DELETE"}, 204,
			hdr{"Access-Control-Allow-Origin": ""}, ""},
		{"preflight on unrouted path", "c", "OPTIONS", []string{"Origin", "https://app.example.com", "Access-Control-Request-Method", "GET"}, 204,
			hdr{"Access-Control-Allow-Origin": "https://app.example.com"}, ""},
		{"plain OPTIONS goes to the route", "c", "OPTIONS", []string{"Origin", "https://app.example.com"}, 200,
			hdr{"Access-Control-Allow-Origin": "https://app.example.com"}, "options route"},
		{"simple request decorated, function's CORS replaced", "c", "GET", []string{"Origin", "https://app.example.com"}, 200,
			hdr{"Access-Control-Allow-Origin": "https://app.example.com", "Access-Control-Expose-Headers": "x-total", "Access-Control-Allow-Credentials": "true"}, "ok"},
		{"simple request from a bad origin", "c", "GET", []string{"Origin", "https://evil.example"}, 200,
			hdr{"Access-Control-Allow-Origin": ""}, "ok"},
		{"errors are decorated too", "c", "DELETE", []string{"Origin", "https://app.example.com"}, 404,
			hdr{"Access-Control-Allow-Origin": "https://app.example.com"}, `{"message":"Not Found"}`},
		{"star origin", "s", "OPTIONS", []string{"Origin", "http://localhost:3000", "Access-Control-Request-Method", "PATCH"}, 204,
			hdr{"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "*", "Vary": ""}, ""},
		{"no CORS: preflight is a request", "n", "OPTIONS", []string{"Origin", "https://app.example.com", "Access-Control-Request-Method", "GET"}, 200,
			hdr{"Access-Control-Allow-Origin": ""}, "options route"},
		{"no CORS: function's headers kept", "n", "GET", []string{"Origin", "https://app.example.com"}, 200,
			hdr{"Access-Control-Allow-Origin": "https://evil.example"}, "ok"},
	}
	for _, tt := range tests {
		calls := inv.calls("f") + inv.calls("opt")
		w := do(g, tt.method, "http://x/items", nil, append([]string{"Host", tt.host + ".execute-api.localhost"}, tt.header...)...)
		if w.Code != tt.status || w.Body.String() != tt.body {
			t.Errorf("%s: %d %q, want %d %q", tt.name, w.Code, w.Body, tt.status, tt.body)
		}
		for k, v := range tt.want {
			if got := w.Header().Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", tt.name, k, got, v)
			}
		}
		if tt.status == 204 && inv.calls("f")+inv.calls("opt") != calls {
			t.Errorf("%s: the preflight invoked a function", tt.name)
		}
	}
}

func TestCORSPlainAddress(t *testing.T) {
	inv := newFakeInvoker()
	inv.add("f", reply(`{"statusCode":200,"body":"ok"}`))
	g, _ := newTestGateway(t, inv, API{ID: "c", CORS: &CORS{AllowOrigins: []string{"*"}, AllowMethods: []string{"POST"}}, Routes: []Route{to("POST /items", "f")}})
	w := do(g, "OPTIONS", "http://127.0.0.1:8080/items", nil, "Origin", "http://localhost:5173", "Access-Control-Request-Method", "POST")
	if w.Code != http.StatusNoContent || w.Header().Get("Access-Control-Allow-Origin") != "*" || inv.calls("f") != 0 {
		t.Errorf("preflight on the plain address: %d %v, calls %d", w.Code, w.Header(), inv.calls("f"))
	}
}

func TestPreflightWithoutCORSIsARequest(t *testing.T) {
	// On the plain address, a preflight for GET to an API without CORS is an
	// ordinary OPTIONS request: it must not reach the GET route.
	inv := newFakeInvoker()
	inv.add("get", reply(`{"statusCode":200,"body":"get"}`))
	g, _ := newTestGateway(t, inv, API{ID: "n", Routes: []Route{to("GET /items", "get")}})
	w := do(g, "OPTIONS", "http://127.0.0.1:8080/items", nil, "Origin", "http://localhost:5173", "Access-Control-Request-Method", "GET")
	if w.Code != http.StatusNotFound || inv.calls("get") != 0 {
		t.Errorf("OPTIONS without CORS: %d, GET route called %d times", w.Code, inv.calls("get"))
	}
}
