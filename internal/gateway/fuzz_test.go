package gateway

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func FuzzRouter(f *testing.F) {
	f.Add("GET /pets/{id}\nANY /{proxy+}\nGET /pets/dog", "GET", "/pets/dog")
	f.Add("POST /a/{b}/c\nPUT /{x+}", "PUT", "/a/b/c/d")
	f.Add("GET /\nGET /a%20b", "GET", "/a%20b")
	f.Add("GET /{a}/{b}", "GET", "//")
	f.Fuzz(func(t *testing.T, keys, method, path string) {
		rt := &router{}
		for _, k := range strings.Split(keys, "\n") {
			p, err := parseRouteKey(k)
			if err != nil {
				continue
			}
			r := &route{key: k, pattern: p}
			for _, s := range p.segs {
				if s.kind != segLiteral {
					r.nparams++
				}
			}
			rt.add(r)
		}
		segs := splitPath(path)
		r := rt.match(method, segs)
		if r == nil {
			return
		}
		if m := r.pattern.method; m != "ANY" && m != method {
			t.Fatalf("%s %s matched %q", method, path, r.key)
		}
		params := r.params(segs)
		for _, s := range r.pattern.segs {
			if s.kind == segLiteral {
				continue
			}
			if v, ok := params[s.text]; !ok || v == "" && s.kind == segParam {
				t.Fatalf("%s %s matched %q without parameter %s: %v", method, path, r.key, s.text, params)
			}
		}
	})
}

func FuzzServePath(f *testing.F) {
	// Arbitrary request targets and hosts through the whole gateway.
	inv := newFakeInvoker()
	inv.add("f", reply(`{"statusCode":200,"body":"ok"}`))
	g, _ := newTestGateway(f, inv,
		API{ID: "a", Routes: []Route{to("GET /x/{id}", "f"), to("ANY /{proxy+}", "f")}},
		API{ID: "b", Stage: "dev", Routes: []Route{to("$default", "f")}},
		API{ID: "r", Protocol: REST, Stage: "Prod", Routes: []Route{toV1("GET /{p+}", "f")}},
	)
	f.Add("a.execute-api.localhost", "/x/1", "q=1")
	f.Add("b.execute-api.localhost:8080", "/dev", "")
	f.Add("r.execute-api.x", "/Prod/%2F%zz", "a=%zz;b")
	f.Add("127.0.0.1", "//..//", "&&=")
	f.Fuzz(func(t *testing.T, host, path, query string) {
		r := httptest.NewRequest("GET", "http://h/", nil)
		r.Host = host
		r.URL = &url.URL{Path: path, RawQuery: query}
		w := httptest.NewRecorder()
		g.ServeHTTP(w, r)
		if w.Code != 200 && w.Code != 404 && w.Code != 403 && w.Code != 502 {
			t.Fatalf("host %q path %q query %q: %d %s", host, path, query, w.Code, w.Body)
		}
	})
}

func FuzzMapResponse(f *testing.F) {
	for _, s := range []string{`{"statusCode":200,"headers":{"a":"b"},"cookies":["c"],"body":"aGk=","isBase64Encoded":true}`,
		`"hi"`, `{"statusCode":"404"}`, `{"statusCode":200,"multiValueHeaders":{"a":["1",2,null]}}`, `[]`, `{`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		for _, m := range []func([]byte) (result, error){mapV2, func(p []byte) (result, error) { return mapV1(p, true) }} {
			res, err := m(payload)
			if err != nil {
				continue
			}
			if res.status < 100 || res.status > 599 {
				t.Fatalf("status %d from %q", res.status, payload)
			}
			for k, vs := range res.header {
				if !validHeaderName(k) {
					t.Fatalf("header name %q from %q", k, payload)
				}
				for _, v := range vs {
					if !validHeaderValue(v) {
						t.Fatalf("header value %q from %q", v, payload)
					}
				}
			}
			// What the gateway sends must be writable by net/http.
			w := httptest.NewRecorder()
			for k, v := range res.header {
				w.Header()[k] = v
			}
			w.WriteHeader(res.status)
			w.Write(res.body)
			if got := w.Result().StatusCode; got != res.status {
				t.Fatalf("status %d written as %d", res.status, got)
			}
		}
	})
}

func FuzzStreamingPrelude(f *testing.F) {
	nul8 := string(make([]byte, 8))
	for _, s := range []string{`{"statusCode":200}` + nul8 + "body", nul8, `{"headers":{"a":"b"}}` + nul8 + nul8, "\x00\x00\x00", `{"cookies":[1]}` + nul8} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		r := &chunkReader{data: in, n: int(chunk%16) + 1}
		p, body, err := ParseStreamingPrelude(r)
		if err != nil {
			return
		}
		if p.StatusCode < 100 || p.StatusCode > 599 {
			t.Fatalf("status %d", p.StatusCode)
		}
		rest, _ := io.ReadAll(body)
		i := bytes.Index(in, make([]byte, 8))
		if i < 0 || !bytes.Equal(rest, in[i+8:]) {
			t.Fatalf("body %q, input %q", rest, in)
		}
	})
}

// chunkReader returns at most n bytes per Read.
type chunkReader struct {
	data []byte
	n    int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	k := min(len(p), c.n, len(c.data))
	copy(p, c.data[:k])
	c.data = c.data[k:]
	return k, nil
}

var _ http.Handler = (*Gateway)(nil)
