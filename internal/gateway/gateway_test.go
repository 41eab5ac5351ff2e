package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func httpAPI(id string, routes ...Route) API { return API{ID: id, Name: id, Routes: routes} }

func restAPI(id string, routes ...Route) API {
	return API{ID: id, Protocol: REST, Stage: "Prod", Routes: routes}
}

func to(key, fn string) Route { return Route{Key: key, Integration: Integration{Function: fn}} }

func toV1(key, fn string) Route {
	return Route{Key: key, Integration: Integration{Function: fn, PayloadFormat: PayloadV1}}
}

func TestServeHello(t *testing.T) {
	inv := newFakeInvoker()
	inv.add("hello", func(_ context.Context, ev []byte) ([]byte, string) {
		return []byte(`{"statusCode":201,"headers":{"x-a":"1","content-type":"text/plain"},"cookies":["a=1; Path=/","b=2"],"body":"hi"}`), ""
	})
	g, logs := newTestGateway(t, inv, httpAPI("app", to("GET /hello/{name}", "hello")))
	w := do(g, "GET", "http://127.0.0.1:8080/hello/world?x=1&x=2", nil)
	if w.Code != 201 || w.Body.String() != "hi" {
		t.Fatalf("GET /hello/world = %d %q, want 201 \"hi\"", w.Code, w.Body)
	}
	h := w.Header()
	if h.Get("X-A") != "1" || h.Get("Content-Type") != "text/plain" || len(h.Values("Set-Cookie")) != 2 || h.Get("Apigw-Requestid") == "" {
		t.Errorf("headers = %v", h)
	}
	ev := inv.lastEvent(t, "hello")
	if ev["routeKey"] != "GET /hello/{name}" || ev["rawPath"] != "/hello/world" || ev["rawQueryString"] != "x=1&x=2" {
		t.Errorf("event = %v", ev)
	}
	if pp := ev["pathParameters"].(map[string]any); pp["name"] != "world" {
		t.Errorf("pathParameters = %v", pp)
	}
	if q := ev["queryStringParameters"].(map[string]any); q["x"] != "1,2" {
		t.Errorf("queryStringParameters = %v", q)
	}
	rc := ev["requestContext"].(map[string]any)
	if rc["requestId"] != h.Get("Apigw-Requestid") || rc["apiId"] != "app" || rc["stage"] != "$default" {
		t.Errorf("requestContext = %v", rc)
	}
	log := logs.String()
	for _, want := range []string{`"msg":"gateway"`, `"api":"app"`, `"route":"GET /hello/{name}"`, `"status":201`, `"request_id":"` + h.Get("Apigw-Requestid") + `"`, `"latency":`, `"lambda_request_id":`} {
		if !strings.Contains(log, want) {
			t.Errorf("access log %s lacks %s", log, want)
		}
	}
}

func TestServeErrors(t *testing.T) {
	inv := newFakeInvoker()
	inv.add("ok", reply(`{"ok":true}`))
	inv.add("fails", func(context.Context, []byte) ([]byte, string) { return nil, "Error" })
	inv.add("malformed", reply(`{"statusCode":"abc","body":"x"}`))
	inv.add("notjson", reply(`not json`))
	inv.add("v1nostatus", reply(`{"body":"x"}`))
	inv.add("throttled", reply(`{}`))
	inv.limit["throttled"] = 0
	routes := []Route{
		to("GET /ok", "ok"), to("GET /fails", "fails"), to("GET /malformed", "malformed"), to("GET /notjson", "notjson"),
		toV1("GET /v1nostatus", "v1nostatus"), to("GET /throttled", "throttled"), to("GET /missing", "missing"),
		to("POST /ok", "ok"),
	}
	g, logs := newTestGateway(t, inv, httpAPI("h", routes...), restAPI("r", routes...))
	big := strings.Repeat("x", 10<<20+1)
	sixPlus := strings.Repeat("x", 7<<20) // passes the gateway, too large for Invoke
	tests := []struct {
		name, method, path, body string
		httpStatus               int
		httpBody                 string
		restStatus               int
		restBody                 string
	}{
		{"ok", "GET", "/ok", "", 200, `{"ok":true}`, 502, `{"message":"Internal server error"}`}, // 1.0 needs statusCode
		{"function error", "GET", "/fails", "", 500, `{"message":"Internal Server Error"}`, 502, `{"message":"Internal server error"}`},
		{"malformed", "GET", "/malformed", "", 500, `{"message":"Internal Server Error"}`, 502, `{"message":"Internal server error"}`},
		{"not json", "GET", "/notjson", "", 500, `{"message":"Internal Server Error"}`, 502, `{"message":"Internal server error"}`},
		{"v1 without statusCode", "GET", "/v1nostatus", "", 500, `{"message":"Internal Server Error"}`, 502, `{"message":"Internal server error"}`},
		{"throttled", "GET", "/throttled", "", 429, `{"message":"Too Many Requests"}`, 429, `{"message":"Too Many Requests"}`},
		{"unknown function", "GET", "/missing", "", 500, `{"message":"Internal Server Error"}`, 500, `{"message":"Internal server error"}`},
		{"unknown route", "GET", "/nope", "", 404, `{"message":"Not Found"}`, 403, `{"message":"Missing Authentication Token"}`},
		{"wrong method", "DELETE", "/ok", "", 404, `{"message":"Not Found"}`, 403, `{"message":"Missing Authentication Token"}`},
		{"body over 10 MB", "POST", "/ok", big, 413, `{"message":"Request Entity Too Large"}`, 413, `{"message":"Request Too Long"}`},
		{"event over 6 MB", "POST", "/ok", sixPlus, 413, `{"message":"Request Entity Too Large"}`, 413, `{"message":"Request Too Long"}`},
	}
	for _, tt := range tests {
		for _, api := range []struct {
			host, prefix string
			status       int
			body         string
		}{
			{"h.execute-api.localhost:8080", "", tt.httpStatus, tt.httpBody},
			{"r.execute-api.localhost:8080", "/Prod", tt.restStatus, tt.restBody},
		} {
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			w := do(g, tt.method, "http://x"+api.prefix+tt.path, body, "Host", api.host, "Content-Type", "text/plain")
			if w.Code != api.status || w.Body.String() != api.body {
				t.Errorf("%s via %s: got %d %s, want %d %s", tt.name, api.host, w.Code, w.Body, api.status, api.body)
			}
			if w.Code >= 400 && w.Header().Get("Content-Type") != "application/json" {
				t.Errorf("%s via %s: content-type %q", tt.name, api.host, w.Header().Get("Content-Type"))
			}
			if strings.Contains(w.Body.String(), "secret") {
				t.Errorf("%s: internal detail leaked: %s", tt.name, w.Body)
			}
		}
	}
	// The reason is in the access log.
	for _, want := range []string{`"error":"function error (Unhandled)"`, `"error":"malformed Lambda proxy response: statusCode abc is not an HTTP status"`,
		`ReservedFunctionConcurrentInvocationLimitExceeded`, `"error":"ResourceNotFoundException: Function not found`, `"error":"no route"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("access log lacks %s", want)
		}
	}
}

func TestServeBodyTooLargeChunked(t *testing.T) {
	inv := newFakeInvoker()
	inv.add("ok", reply(`{}`))
	g, _ := newTestGateway(t, inv, httpAPI("h", to("POST /", "ok")))
	r, _ := http.NewRequest("POST", "http://127.0.0.1/", io.MultiReader(strings.NewReader(strings.Repeat("y", 10<<20)), strings.NewReader("z")))
	r.ContentLength = -1 // unknown length: read until the limit
	w := httptest.NewRecorder()
	g.ServeHTTP(w, r)
	if w.Code != 413 || inv.calls("ok") != 0 {
		t.Errorf("chunked 10 MB + 1: %d, calls %d; want 413 without an invocation", w.Code, inv.calls("ok"))
	}
	r, _ = http.NewRequest("POST", "http://127.0.0.1/", strings.NewReader(strings.Repeat("y", 1<<20)))
	r.ContentLength = -1
	w = httptest.NewRecorder()
	g.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Errorf("chunked 1 MB: %d, want 200", w.Code)
	}
}

func TestServeTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		inv := newFakeInvoker()
		inv.add("slow", stopAfter(45*time.Second, `{"late":true}`))
		inv.add("quick", stopAfter(29*time.Second, `{"statusCode":200,"body":"in time"}`))
		short := Route{Key: "GET /short", Integration: Integration{Function: "quick", TimeoutMillis: 1000}}
		g, logs := newTestGateway(t, inv,
			httpAPI("h", to("GET /slow", "slow"), to("GET /quick", "quick"), short),
			restAPI("r", to("GET /slow", "slow"), to("GET /quick", "quick")))

		start := time.Now()
		w := do(g, "GET", "http://x/slow", nil, "Host", "h.execute-api.localhost")
		if w.Code != 503 || w.Body.String() != `{"message":"Service Unavailable"}` || time.Since(start) != 30*time.Second {
			t.Errorf("HTTP API slow: %d %s after %v, want 503 after 30s", w.Code, w.Body, time.Since(start))
		}
		start = time.Now()
		w = do(g, "GET", "http://x/Prod/slow", nil, "Host", "r.execute-api.localhost")
		if w.Code != 504 || w.Body.String() != `{"message":"Endpoint request timed out"}` || time.Since(start) != 29*time.Second {
			t.Errorf("REST slow: %d %s after %v, want 504 after 29s", w.Code, w.Body, time.Since(start))
		}
		w = do(g, "GET", "http://x/quick", nil, "Host", "h.execute-api.localhost")
		if w.Code != 200 || w.Body.String() != "in time" {
			t.Errorf("HTTP API 29 s: %d %s, want 200", w.Code, w.Body)
		}
		start = time.Now()
		w = do(g, "GET", "http://x/short", nil, "Host", "h.execute-api.localhost")
		if w.Code != 503 || time.Since(start) != time.Second {
			t.Errorf("1 s timeout: %d after %v", w.Code, time.Since(start))
		}
		g.Wait() // the timed-out functions ran to their end
		if !strings.Contains(logs.String(), "integration timed out after 30s") {
			t.Errorf("log lacks the timeout reason:\n%s", logs)
		}
	})
}

func TestServeClientGone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		inv := newFakeInvoker()
		inv.add("slow", stopAfter(10*time.Second, `{}`))
		g, logs := newTestGateway(t, inv, httpAPI("h", to("GET /", "slow")))
		ctx, cancel := context.WithCancel(t.Context())
		r, _ := http.NewRequestWithContext(ctx, "GET", "http://127.0.0.1/", nil)
		w := httptest.NewRecorder()
		go func() { time.Sleep(time.Second); cancel() }()
		g.ServeHTTP(w, r)
		if !strings.Contains(logs.String(), `"status":499`) {
			t.Errorf("log: %s", logs)
		}
		g.Wait()
		if inv.calls("slow") != 1 {
			t.Errorf("calls = %d", inv.calls("slow"))
		}
	})
}

func TestMultipleAPIs(t *testing.T) {
	inv := newFakeInvoker()
	for _, fn := range []string{"a", "b", "adefault", "r"} {
		inv.add(fn, reply(`{"statusCode":200,"body":"`+fn+`"}`))
	}
	g, _ := newTestGateway(t, inv,
		API{ID: "first", Routes: []Route{to("GET /same", "a"), to("GET /only-a", "a"), to("$default", "adefault")}},
		API{ID: "second", Stage: "dev", Routes: []Route{to("GET /same", "b"), to("GET /only-b", "b")}},
		restAPI("rest", toV1("GET /r/{id}", "r")),
	)
	tests := []struct {
		host, path string
		status     int
		body       string
	}{
		// Plain address: all routes at the root, first API wins a conflict.
		{"127.0.0.1:8080", "/same", 200, "a"},
		{"127.0.0.1:8080", "/only-b", 200, "b"},
		{"localhost:8080", "/r/1", 200, "r"},
		{"127.0.0.1:8080", "/elsewhere", 200, "adefault"},
		// By host: exactly one API, with its stage segment.
		{"first.execute-api.localhost:8080", "/same", 200, "a"},
		{"first.execute-api.localhost:8080", "/only-b", 200, "adefault"},
		{"second.execute-api.localhost:8080", "/dev/same", 200, "b"},
		{"SECOND.execute-api.localhost", "/dev/only-b", 200, "b"},
		{"second.execute-api.localhost:8080", "/same", 404, `{"message":"Not Found"}`},
		{"second.execute-api.localhost:8080", "/prod/same", 404, `{"message":"Not Found"}`},
		{"rest.execute-api.localhost:8080", "/Prod/r/1", 200, "r"},
		{"rest.execute-api.localhost:8080", "/r/1", 403, `{"message":"Missing Authentication Token"}`},
		{"nope.execute-api.localhost:8080", "/same", 404, `{"message":"Not Found"}`},
	}
	for _, tt := range tests {
		w := do(g, "GET", "http://x"+tt.path, nil, "Host", tt.host)
		if w.Code != tt.status || w.Body.String() != tt.body {
			t.Errorf("GET %s%s = %d %s, want %d %s", tt.host, tt.path, w.Code, w.Body, tt.status, tt.body)
		}
	}
	// Stage in the event: rawPath keeps it, the 1.0 path does not.
	do(g, "GET", "http://x/dev/same", nil, "Host", "second.execute-api.localhost")
	if ev := inv.lastEvent(t, "b"); ev["rawPath"] != "/dev/same" || ev["requestContext"].(map[string]any)["stage"] != "dev" {
		t.Errorf("event: rawPath %v stage %v", ev["rawPath"], ev["requestContext"].(map[string]any)["stage"])
	}
	do(g, "GET", "http://x/Prod/r/7", nil, "Host", "rest.execute-api.localhost")
	ev := inv.lastEvent(t, "r")
	if ev["path"] != "/r/7" || ev["requestContext"].(map[string]any)["path"] != "/Prod/r/7" || ev["resource"] != "/r/{id}" {
		t.Errorf("1.0 event: path %v, requestContext.path %v, resource %v", ev["path"], ev["requestContext"].(map[string]any)["path"], ev["resource"])
	}
}

func TestSetAPIsAtomic(t *testing.T) {
	inv := newFakeInvoker()
	inv.add("f", reply(`{"statusCode":200,"body":"f"}`))
	g, _ := newTestGateway(t, inv, httpAPI("a", to("GET /x", "f")))
	if err := g.SetAPIs([]API{httpAPI("a", to("GET /y", "f")), {ID: "BAD"}}); err == nil {
		t.Fatal("SetAPIs with an invalid API succeeded")
	}
	if w := do(g, "GET", "http://h/x", nil); w.Code != 200 {
		t.Errorf("after a refused SetAPIs the old routes are gone: %d", w.Code)
	}
	if err := g.PutAPI(httpAPI("b", to("GET /y", "f"))); err != nil {
		t.Fatal(err)
	}
	if w := do(g, "GET", "http://h/y", nil); w.Code != 200 {
		t.Errorf("PutAPI route: %d", w.Code)
	}
	if err := g.PutAPI(httpAPI("a", to("GET /z", "f"))); err != nil {
		t.Fatal(err)
	}
	if w := do(g, "GET", "http://h/x", nil); w.Code != 404 {
		t.Errorf("replaced route still served: %d", w.Code)
	}
	if got := g.APIs(); len(got) != 2 || got[0].ID != "a" || got[1].ID != "b" {
		t.Errorf("APIs() = %+v", got)
	}
	if !g.DeleteAPI("b") || g.DeleteAPI("b") {
		t.Error("DeleteAPI")
	}
	if w := do(g, "GET", "http://h/y", nil); w.Code != 404 {
		t.Errorf("deleted API still served: %d", w.Code)
	}
	// The configuration is copied in and out.
	apis := g.APIs()
	apis[0].Routes[0].Key = "GET /mutated"
	if g.APIs()[0].Routes[0].Key != "GET /z" {
		t.Error("APIs() shares memory with the gateway")
	}
}

func TestConcurrentSetAndServe(t *testing.T) {
	inv := newFakeInvoker()
	inv.add("f", reply(`{"statusCode":200,"body":"f"}`))
	g, _ := newTestGateway(t, inv, httpAPI("a", to("GET /x", "f")))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			key := "GET /x"
			if i%2 == 1 {
				key = "ANY /{proxy+}"
			}
			if err := g.SetAPIs([]API{httpAPI("a", to(key, "f"))}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for range 200 {
		if w := do(g, "GET", "http://h/x", nil); w.Code != 200 {
			t.Fatalf("GET /x during updates = %d", w.Code)
		}
	}
	<-done
}

func TestBinaryBodies(t *testing.T) {
	inv := newFakeInvoker()
	png := []byte{0x89, 'P', 'N', 'G', 0, 1, 2, 0xff}
	b64 := base64.StdEncoding.EncodeToString(png)
	inv.add("img", reply(`{"statusCode":200,"headers":{"content-type":"image/png"},"body":"`+b64+`","isBase64Encoded":true}`))
	rest := restAPI("r", toV1("POST /img", "img"))
	rest.BinaryMediaTypes = []string{"image/*"}
	g, _ := newTestGateway(t, inv, httpAPI("h", to("POST /img", "img")), rest)

	w := do(g, "POST", "http://x/img", bytes.NewReader(png), "Host", "h.execute-api.localhost", "Content-Type", "image/png")
	if !bytes.Equal(w.Body.Bytes(), png) || w.Header().Get("Content-Type") != "image/png" {
		t.Errorf("HTTP API binary response: %q %v", w.Body.Bytes(), w.Header())
	}
	ev := inv.lastEvent(t, "img")
	if ev["isBase64Encoded"] != true || ev["body"] != b64 {
		t.Errorf("HTTP API binary request: %v %v", ev["isBase64Encoded"], ev["body"])
	}
	do(g, "POST", "http://x/img", strings.NewReader(`{"a":1}`), "Host", "h.execute-api.localhost", "Content-Type", "application/json; charset=utf-8")
	if ev := inv.lastEvent(t, "img"); ev["isBase64Encoded"] != false || ev["body"] != `{"a":1}` {
		t.Errorf("HTTP API JSON request: %v %v", ev["isBase64Encoded"], ev["body"])
	}
	// REST: binary media types decide, for requests (Content-Type) and responses (Accept).
	w = do(g, "POST", "http://x/Prod/img", bytes.NewReader(png), "Host", "r.execute-api.localhost", "Content-Type", "image/png", "Accept", "image/png")
	if !bytes.Equal(w.Body.Bytes(), png) {
		t.Errorf("REST binary response with Accept image/png: %q", w.Body.Bytes())
	}
	if ev := inv.lastEvent(t, "img"); ev["isBase64Encoded"] != true {
		t.Errorf("REST binary request not base64: %v", ev["isBase64Encoded"])
	}
	w = do(g, "POST", "http://x/Prod/img", strings.NewReader("plain"), "Host", "r.execute-api.localhost", "Content-Type", "application/octet-stream", "Accept", "text/html")
	if w.Body.String() != b64 {
		t.Errorf("REST response not accepted as binary should stay base64 text: %q", w.Body)
	}
	if ev := inv.lastEvent(t, "img"); ev["isBase64Encoded"] != false || ev["body"] != "plain" {
		t.Errorf("REST non-binary request: %v %v", ev["isBase64Encoded"], ev["body"])
	}
}

func TestMetrics(t *testing.T) {
	inv := newFakeInvoker()
	inv.add("ok", reply(`{"statusCode":200,"body":"ok"}`))
	inv.add("bad", func(context.Context, []byte) ([]byte, string) { return nil, "Error" })
	g, _ := newTestGateway(t, inv, httpAPI("app", to("GET /ok", "ok"), to("GET /bad", "bad"), to(`GET /q"uote`, "ok")))
	do(g, "GET", "http://h/ok", nil)
	do(g, "GET", "http://h/ok", nil)
	do(g, "GET", "http://h/bad", nil)
	do(g, "GET", "http://h/none", nil)
	do(g, "GET", "http://app.execute-api.localhost/none", nil, "Host", "app.execute-api.localhost")
	var b strings.Builder
	if err := g.WriteMetrics(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		`nimbus_gateway_requests_total{api="app",route="GET /ok",code="2xx"} 2`,
		`nimbus_gateway_requests_total{api="app",route="GET /bad",code="5xx"} 1`,
		`nimbus_gateway_requests_total{api="-",route="-",code="4xx"} 1`,
		`nimbus_gateway_requests_total{api="app",route="-",code="4xx"} 1`,
		`nimbus_gateway_request_duration_seconds_bucket{api="app",route="GET /ok",le="+Inf"} 2`,
		`nimbus_gateway_request_duration_seconds_count{api="app",route="GET /ok"} 2`,
		"# TYPE nimbus_gateway_request_duration_seconds histogram",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, `q"uote`) {
		t.Errorf("label not escaped:\n%s", out)
	}
}
