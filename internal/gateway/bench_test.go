package gateway

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-dev/nimbus/internal/invoke"
)

// noopInvoker answers at once, so benchmarks measure the gateway alone.
type noopInvoker struct{ payload []byte }

func (n noopInvoker) Invoke(context.Context, invoke.Request) (*invoke.Response, error) {
	return &invoke.Response{Status: 200, RequestID: "00000000-0000-4000-8000-000000000000", Payload: n.payload}, nil
}

const benchAnswer = `{"statusCode":200,"headers":{"content-type":"application/json","x-request":"1"},"cookies":["s=1"],"body":"{\"hello\":\"world\"}"}`

func benchGateway(b *testing.B) *Gateway {
	g := New(Config{}, noopInvoker{payload: []byte(benchAnswer)}, slog.New(slog.DiscardHandler))
	routes := []Route{to("GET /", "f"), to("POST /items", "f"), to("ANY /{proxy+}", "f")}
	for i := range 50 { // a realistic table
		routes = append(routes, to("GET /r"+strings.Repeat("x", i%7)+"/"+string(rune('a'+i%26))+"/{id}", "f"))
	}
	routes = append(routes, to("GET /hello/{name}", "f"), toV1("GET /v1/hello/{name}", "f"))
	if err := g.SetAPIs([]API{{ID: "bench", Routes: routes}}); err != nil {
		b.Fatal(err)
	}
	return g
}

func benchRequest(path string) *http.Request {
	r := httptest.NewRequest("GET", "http://127.0.0.1:8080"+path+"?a=1&b=2", nil)
	r.Header.Set("User-Agent", "bench/1.0")
	r.Header.Set("Accept", "application/json")
	r.Header.Set("Accept-Encoding", "gzip")
	r.Header.Set("Cookie", "session=abc; theme=dark")
	return r
}

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

// BenchmarkServe is the gateway's own work per request, in process: routing,
// the event, the (no-op) invocation, response mapping, metrics, access log.
func BenchmarkServe(b *testing.B) {
	for _, c := range []struct{ name, path string }{{"v2", "/hello/world"}, {"v1", "/v1/hello/world"}, {"greedy", "/some/deep/path"}} {
		b.Run(c.name, func(b *testing.B) {
			g := benchGateway(b)
			r := benchRequest(c.path)
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				g.ServeHTTP(w, r)
			}
		})
	}
}

func BenchmarkRoute(b *testing.B) {
	g := benchGateway(b)
	snap := g.snap.Load()
	b.ReportAllocs()
	for b.Loop() {
		if snap.matchPlain("GET", splitPath("/hello/world")) == nil {
			b.Fatal("no match")
		}
	}
}

func BenchmarkBuildEventV2(b *testing.B) {
	g := benchGateway(b)
	r := benchRequest("/hello/world")
	x := &exchange{r: r, start: time.Now(), requestID: "LV7fzho-PHcEJPw="}
	segs := splitPath("/hello/world")
	x.route = g.snap.Load().matchPlain("GET", segs)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := buildV2(g.inbound(x, "/hello/world", segs, false, nil)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMapV2(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := mapV2([]byte(benchAnswer)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoopback measures the gateway over real loopback HTTP against a
// baseline in the same run: the same client and server with a handler that
// answers the same bytes at once (what a direct invoke of a no-op costs
// without the gateway). It reports both medians and the gateway's overhead.
func BenchmarkLoopback(b *testing.B) {
	g := benchGateway(b)
	gw := httptest.NewServer(g)
	defer gw.Close()
	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Set-Cookie", "s=1")
		w.Write([]byte(`{"hello":"world"}`))
	}))
	defer bare.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	get := func(url string) time.Duration {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("User-Agent", "bench/1.0")
		req.Header.Set("Cookie", "session=abc; theme=dark")
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		d := time.Since(start)
		if resp.StatusCode != 200 {
			b.Fatalf("%s: %d", url, resp.StatusCode)
		}
		return d
	}
	for range 200 { // warm both connections
		get(gw.URL + "/hello/world?a=1")
		get(bare.URL + "/hello/world?a=1")
	}
	var base, through []time.Duration
	for b.Loop() { // interleaved, so both see the same machine state
		base = append(base, get(bare.URL+"/hello/world?a=1"))
		through = append(through, get(gw.URL+"/hello/world?a=1"))
	}
	p50 := func(ds []time.Duration) float64 {
		slices.Sort(ds)
		return float64(ds[len(ds)/2].Nanoseconds()) / 1e3
	}
	p99 := func(ds []time.Duration) float64 {
		slices.Sort(ds)
		return float64(ds[len(ds)*99/100].Nanoseconds()) / 1e3
	}
	bp, gp := p50(base), p50(through)
	b.ReportMetric(bp, "baseline-p50-µs")
	b.ReportMetric(gp, "gateway-p50-µs")
	b.ReportMetric(gp-bp, "overhead-p50-µs")
	b.ReportMetric(p99(through)-p99(base), "overhead-p99-µs")
	b.ReportMetric(0, "ns/op") // per-iteration time is two requests; the metrics above are the result
}
