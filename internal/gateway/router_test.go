package gateway

import (
	"maps"
	"strings"
	"testing"
)

func testRouter(t testing.TB, keys ...string) *router {
	t.Helper()
	rt := &router{}
	for _, k := range keys {
		p, err := parseRouteKey(k)
		if err != nil {
			t.Fatalf("parseRouteKey(%q): %v", k, err)
		}
		r := &route{key: k, pattern: p}
		for _, s := range p.segs {
			if s.kind != segLiteral {
				r.nparams++
			}
		}
		if prev := rt.add(r); prev != nil {
			t.Fatalf("add(%q) conflicts with %q", k, prev.key)
		}
	}
	return rt
}

func TestRoutePrecedence(t *testing.T) {
	// The example of the HTTP API developer guide ("Routing API requests"),
	// plus the edges of our rules.
	rt := testRouter(t,
		"GET /pets/dog/1",
		"GET /pets/dog/{id}",
		"GET /pets/{proxy+}",
		"ANY /{proxy+}",
		"GET /",
		"POST /items",
		"ANY /items",
		"GET /items/{id}",
		"GET /items/{id}/tags/{tag}",
		"PUT /a/{x}/c",
		"PUT /{y}/b/c",
		"GET /files/{path+}",
		"GET /files/special",
		"DELETE /x/{id}",
	)
	tests := []struct {
		method, path string
		want         string // route key, "" for no match
		params       map[string]string
	}{
		{"GET", "/pets/dog/1", "GET /pets/dog/1", nil},
		{"GET", "/pets/dog/2", "GET /pets/dog/{id}", map[string]string{"id": "2"}},
		{"GET", "/pets/cat/1", "GET /pets/{proxy+}", map[string]string{"proxy": "cat/1"}},
		{"POST", "/pets/cat/1", "ANY /{proxy+}", map[string]string{"proxy": "pets/cat/1"}},
		{"GET", "/pets", "ANY /{proxy+}", map[string]string{"proxy": "pets"}}, // greedy needs a segment
		{"GET", "/pets/", "ANY /{proxy+}", map[string]string{"proxy": "pets/"}},
		{"GET", "/", "GET /", nil},
		{"POST", "/", "", nil}, // {proxy+} does not match the root
		{"POST", "/items", "POST /items", nil},
		{"GET", "/items", "ANY /items", nil}, // same path: ANY when the method has no route
		{"PATCH", "/items", "ANY /items", nil},
		{"GET", "/items/42", "GET /items/{id}", map[string]string{"id": "42"}},
		{"DELETE", "/items/42", "ANY /{proxy+}", map[string]string{"proxy": "items/42"}},
		{"GET", "/items/42/tags/red", "GET /items/{id}/tags/{tag}", map[string]string{"id": "42", "tag": "red"}},
		{"GET", "/items/a%20b", "GET /items/{id}", map[string]string{"id": "a b"}},
		{"GET", "/items/a%2Fb", "GET /items/{id}", map[string]string{"id": "a/b"}}, // an encoded slash stays in its segment
		{"PUT", "/a/b/c", "PUT /a/{x}/c", map[string]string{"x": "b"}},             // leftmost literal wins
		{"GET", "/files/special", "GET /files/special", nil},
		{"GET", "/files/a/b/c.txt", "GET /files/{path+}", map[string]string{"path": "a/b/c.txt"}},
		{"GET", "/x/1", "ANY /{proxy+}", map[string]string{"proxy": "x/1"}},           // DELETE-only path falls back
		{"GET", "/items//x", "ANY /{proxy+}", map[string]string{"proxy": "items//x"}}, // {id} does not match ""
		{"HEAD", "/items/1", "ANY /{proxy+}", map[string]string{"proxy": "items/1"}},  // HEAD is not GET
		{"get", "/items/1", "ANY /{proxy+}", map[string]string{"proxy": "items/1"}},
	}
	for _, tt := range tests {
		segs := splitPath(tt.path)
		r := rt.match(tt.method, segs)
		got := ""
		if r != nil {
			got = r.key
		}
		if got != tt.want {
			t.Errorf("match(%s %s) = %q, want %q", tt.method, tt.path, got, tt.want)
			continue
		}
		if r != nil {
			if p := r.params(segs); !maps.Equal(p, tt.params) {
				t.Errorf("match(%s %s) params = %v, want %v", tt.method, tt.path, p, tt.params)
			}
		}
	}
}

func TestRouteBacktracking(t *testing.T) {
	// A literal branch that dead-ends gives way to a parameter branch.
	rt := testRouter(t, "GET /a/b/c", "GET /a/{x}/d", "GET /{y}/b/d")
	for path, want := range map[string]string{
		"/a/b/c": "GET /a/b/c",
		"/a/b/d": "GET /a/{x}/d",
		"/z/b/d": "GET /{y}/b/d",
	} {
		if r := rt.match("GET", splitPath(path)); r == nil || r.key != want {
			t.Errorf("match(GET %s) = %v, want %s", path, r, want)
		}
	}
}

func TestParseRouteKey(t *testing.T) {
	good := []string{"GET /", "ANY /{proxy+}", "POST /a/{b}/c", "DELETE /a/{b_c.d-e}", "OPTIONS /x/{y+}"}
	for _, k := range good {
		if _, err := parseRouteKey(k); err != nil {
			t.Errorf("parseRouteKey(%q) = %v, want ok", k, err)
		}
	}
	bad := []string{"", "GET", "get /", "FETCH /", "GET a", "GET //a", "GET /a/", "GET /{a+}/b",
		"GET /{}", "GET /{a", "GET /a}", "GET /x{a}", "GET /{a}/{a}", "GET /{a b}", "GET /%zz"}
	for _, k := range bad {
		if _, err := parseRouteKey(k); err == nil {
			t.Errorf("parseRouteKey(%q) = ok, want an error", k)
		}
	}
}

func TestValidate(t *testing.T) {
	fn := Integration{Function: "f"}
	tests := []struct {
		name string
		apis []API
		want string // substring of the error; "" for valid
	}{
		{"ok", []API{{ID: "a1", Routes: []Route{{Key: "GET /", Integration: fn}, {Key: "$default", Integration: fn}}}}, ""},
		{"rest ok", []API{{ID: "r", Protocol: REST, Stage: "Prod", Routes: []Route{{Key: "ANY /{proxy+}", Integration: fn}}}}, ""},
		{"bad id", []API{{ID: "A_1"}}, "id must be"},
		{"dup id", []API{{ID: "a"}, {ID: "a"}}, "duplicate id"},
		{"rest stage", []API{{ID: "r", Protocol: REST}}, "named stage"},
		{"rest default", []API{{ID: "r", Protocol: REST, Stage: "p", Routes: []Route{{Key: "$default", Integration: fn}}}}, "no $default"},
		{"protocol", []API{{ID: "a", Protocol: "WS"}}, "protocol"},
		{"stage chars", []API{{ID: "a", Stage: "a/b"}}, "stage"},
		{"dup route", []API{{ID: "a", Routes: []Route{{Key: "GET /x/{a}", Integration: fn}, {Key: "GET /x/{b}", Integration: fn}}}}, "conflicts"},
		{"no function", []API{{ID: "a", Routes: []Route{{Key: "GET /"}}}}, "needs a function"},
		{"format", []API{{ID: "a", Routes: []Route{{Key: "GET /", Integration: Integration{Function: "f", PayloadFormat: "3.0"}}}}}, "payload format"},
		{"timeout", []API{{ID: "a", Routes: []Route{{Key: "GET /", Integration: Integration{Function: "f", TimeoutMillis: 40000}}}}}, "timeout"},
		{"cors", []API{{ID: "a", CORS: &CORS{AllowOrigins: []string{"*"}, AllowCredentials: true}}}, "allowCredentials"},
		{"bad key", []API{{ID: "a", Routes: []Route{{Key: "GET /{a+}/b", Integration: fn}}}}, "greedy"},
	}
	for _, tt := range tests {
		err := validate(tt.apis)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: validate = %v, want ok", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: validate = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}
