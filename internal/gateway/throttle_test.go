package gateway

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestTokenBucket(t *testing.T) {
	now := time.Unix(1000, 0)
	b := newBucket(2, 3) // 2/s, burst 3
	for i := range 3 {
		if !b.take(now) {
			t.Fatalf("burst token %d refused", i)
		}
	}
	if b.take(now) {
		t.Fatal("a 4th token within the same instant")
	}
	if !b.take(now.Add(500*time.Millisecond)) || b.take(now.Add(500*time.Millisecond)) {
		t.Fatal("0.5 s at 2/s refills exactly one token")
	}
	if n := countTakes(b, now.Add(time.Hour)); n != 3 {
		t.Fatalf("after an hour: %d tokens, want the burst (3)", n)
	}
	var unlimited *tokenBucket
	if !unlimited.take(now) || newBucket(0, 5) != nil {
		t.Fatal("zero rate is unlimited")
	}
	if d := newBucket(2.5, 0); d.burst != 3 {
		t.Fatalf("default burst = %v, want ceil(rate)", d.burst)
	}
}

func countTakes(b *tokenBucket, at time.Time) int {
	n := 0
	for b.take(at) {
		n++
	}
	return n
}

func TestRouteThrottling(t *testing.T) {
	inv := newFakeInvoker()
	inv.add("f", reply(`{"ok":1}`))
	a := httpAPI("a", to("GET /stage", "f"), Route{Key: "GET /route", Integration: Integration{Function: "f"}, ThrottlingRateLimit: 1, ThrottlingBurstLimit: 1})
	a.ThrottlingRateLimit, a.ThrottlingBurstLimit = 10, 2
	g, _ := newTestGateway(t, inv, a)
	now := time.Unix(1000, 0)
	g.now = func() time.Time { return now }
	codes := func(path string, n int) string {
		var s []string
		for range n {
			w := do(g, "GET", "http://h"+path, nil)
			if w.Code == 429 && w.Body.String() != `{"message":"Too Many Requests"}` {
				t.Errorf("429 body %s", w.Body)
			}
			s = append(s, itoa(w.Code))
		}
		return strings.Join(s, ",")
	}
	if got := codes("/stage", 3); got != "200,200,429" {
		t.Errorf("stage limits (burst 2): %s", got)
	}
	if got := codes("/route", 2); got != "200,429" {
		t.Errorf("route limits (burst 1), own bucket: %s", got)
	}
	now = now.Add(time.Second)
	if got := codes("/route", 2); got != "200,429" {
		t.Errorf("route after 1 s at 1/s: %s", got)
	}
	// A new configuration with the same limits keeps the buckets.
	if err := g.PutAPI(a); err != nil {
		t.Fatal(err)
	}
	if got := codes("/route", 1); got != "429" {
		t.Errorf("bucket reset by reconfiguration: %s", got)
	}
	var m strings.Builder
	g.WriteMetrics(&m)
	if !strings.Contains(m.String(), `nimbus_gateway_throttled_total{api="a",route="GET /route"} 3`) {
		t.Errorf("metrics:\n%s", m.String())
	}
}

func TestAPIKeys(t *testing.T) {
	inv := newFakeInvoker()
	inv.add("f", reply(`{"statusCode":200,"body":"ok"}`))
	a := restAPI("r", Route{Key: "GET /paid", APIKeyRequired: true, Integration: Integration{Function: "f"}}, toV1("GET /free", "f"))
	gold, bronze := strings.Repeat("g", 24), strings.Repeat("b", 24)
	a.APIKeys = []APIKey{{Name: "gold", Value: gold}, {Name: "bronze", Value: bronze, RateLimit: 1, BurstLimit: 1}}
	g, _ := newTestGateway(t, inv, a)
	now := time.Unix(1000, 0)
	g.now = func() time.Time { return now }
	get := func(path, key string) (int, string) {
		w := do(g, "GET", "http://h/Prod"+path, nil, "Host", "r.execute-api.localhost", "X-Api-Key", key)
		return w.Code, w.Body.String()
	}
	if c, b := get("/paid", ""); c != 403 || b != `{"message":"Forbidden"}` {
		t.Errorf("no key: %d %s", c, b)
	}
	if c, _ := get("/paid", "nope-nope-nope-nope-nope"); c != 403 {
		t.Errorf("unknown key: %d", c)
	}
	for range 3 {
		if c, _ := get("/paid", gold); c != 200 {
			t.Errorf("unlimited key: %d", c)
		}
	}
	if c, _ := get("/paid", bronze); c != 200 {
		t.Errorf("bronze first: %d", c)
	}
	if c, b := get("/paid", bronze); c != 429 || b != `{"message":"Too Many Requests"}` {
		t.Errorf("bronze over its plan: %d %s", c, b)
	}
	if c, _ := get("/free", ""); c != 200 {
		t.Errorf("route without apiKeyRequired: %d", c)
	}
	err := validate([]API{{ID: "h", Routes: []Route{{Key: "GET /", APIKeyRequired: true, Integration: Integration{Function: "f"}, ThrottlingRateLimit: -1}},
		APIKeys: []APIKey{{Value: "short"}}}})
	for _, want := range []string{"apiKeyRequired is for REST APIs", "API keys are for REST APIs", "20-128 characters", "throttlingRateLimit must be"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("validation lacks %q: %v", want, err)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
