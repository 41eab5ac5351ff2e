package gateway

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestLambdaAuthorizerSimple(t *testing.T) {
	inv := newFakeInvoker()
	inv.add("authz", func(_ context.Context, ev []byte) ([]byte, string) {
		var e struct {
			Type           string            `json:"type"`
			RouteArn       string            `json:"routeArn"`
			IdentitySource []string          `json:"identitySource"`
			Headers        map[string]string `json:"headers"`
			Body           *string           `json:"body"`
		}
		json.Unmarshal(ev, &e)
		switch e.Headers["authorization"] {
		case "boom":
			return nil, "Error"
		case "garbage":
			return []byte(`{"allowed":true}`), ""
		}
		ok := e.Type == "REQUEST" && e.Body == nil && e.RouteArn == "arn:aws:execute-api:us-east-1:000000000000:a/$default/GET/items/1" &&
			len(e.IdentitySource) == 2 && e.IdentitySource[1] == "x1"
		return []byte(`{"isAuthorized":` + jsonNum(ok && e.IdentitySource[0] == "good") + `,"context":{"user":"ann","n":2}}`), ""
	})
	inv.add("fn", reply(`{"ok":true}`))
	a := httpAPI("a", Route{Key: "GET /items/{id}", Authorizer: "z", Integration: Integration{Function: "fn"}})
	a.Authorizers = map[string]Authorizer{"z": {Type: "REQUEST", Function: "authz", EnableSimpleResponses: true,
		IdentitySource: "$request.header.Authorization,$request.querystring.x", ResultTTLSeconds: 60}}
	g, _ := newTestGateway(t, inv, a)
	now := time.Unix(1_700_000_000, 0)
	g.now = func() time.Time { return now }

	get := func(auth, q string) int {
		return do(g, "GET", "http://h/items/1"+q, strings.NewReader("body"), "Authorization", auth).Code
	}
	if c := get("", "?x=x1"); c != 401 || inv.calls("authz") != 0 {
		t.Errorf("missing header: %d, %d calls", c, inv.calls("authz"))
	}
	if c := get("good", ""); c != 401 || inv.calls("authz") != 0 {
		t.Errorf("missing query: %d, %d calls", c, inv.calls("authz"))
	}
	if c := get("bad", "?x=x1"); c != 403 {
		t.Errorf("denied: %d", c)
	}
	if c := get("boom", "?x=x1"); c != 500 {
		t.Errorf("authorizer error: %d", c)
	}
	if c := get("garbage", "?x=x1"); c != 500 {
		t.Errorf("malformed answer: %d", c)
	}
	if c := get("good", "?x=x1"); c != 200 {
		t.Fatalf("allowed: %d", c)
	}
	ev := inv.lastEvent(t, "fn")
	l := ev["requestContext"].(map[string]any)["authorizer"].(map[string]any)["lambda"].(map[string]any)
	if l["user"] != "ann" || l["n"] != 2.0 {
		t.Errorf("authorizer.lambda = %v", l)
	}
	calls := inv.calls("authz")
	get("good", "?x=x1")
	get("bad", "?x=x1")
	if inv.calls("authz") != calls {
		t.Errorf("cached answers invoked the authorizer again: %d → %d", calls, inv.calls("authz"))
	}
	now = now.Add(61 * time.Second)
	get("good", "?x=x1")
	if inv.calls("authz") != calls+1 {
		t.Errorf("expired answer not refreshed: %d calls", inv.calls("authz"))
	}
}

func TestLambdaAuthorizerPolicy(t *testing.T) {
	inv := newFakeInvoker()
	inv.add("authz", reply(`{"principalId":"u1","policyDocument":{"Version":"2012-10-17","Statement":[
		{"Action":"execute-api:Invoke","Effect":"Allow","Resource":"arn:aws:execute-api:us-east-1:*:a/prod/GET/*"},
		{"Action":["execute-api:Invoke"],"Effect":"Deny","Resource":["arn:aws:execute-api:us-east-1:*:a/prod/GET/admin*"]}]},
		"context":{"tier":"gold"}}`))
	inv.add("fn", reply(`{"statusCode":200,"body":"ok"}`))
	a := API{ID: "a", Stage: "prod", Routes: []Route{
		{Key: "GET /{p+}", Authorizer: "z", Integration: Integration{Function: "fn", PayloadFormat: "1.0"}},
		{Key: "POST /{p+}", Authorizer: "z", Integration: Integration{Function: "fn"}},
	}, Authorizers: map[string]Authorizer{"z": {Type: "REQUEST", Function: "authz", PayloadFormat: "1.0"}}}
	g, _ := newTestGateway(t, inv, a)
	host := "Host"
	if w := do(g, "GET", "http://a.execute-api.localhost/prod/things/1", nil, host, "a.execute-api.localhost"); w.Code != 200 {
		t.Fatalf("allowed GET: %d %s", w.Code, w.Body)
	}
	rc := inv.lastEvent(t, "fn")["requestContext"].(map[string]any)["authorizer"].(map[string]any)
	if rc["principalId"] != "u1" || rc["tier"] != "gold" {
		t.Errorf("1.0 authorizer context = %v", rc)
	}
	var authEv map[string]any
	json.Unmarshal(inv.events["authz"][0], &authEv)
	if authEv["type"] != "REQUEST" || authEv["methodArn"] != "arn:aws:execute-api:us-east-1:000000000000:a/prod/GET/things/1" || authEv["httpMethod"] != "GET" {
		t.Errorf("1.0 authorizer event = %v", authEv)
	}
	if w := do(g, "GET", "http://a.execute-api.localhost/prod/admin/x", nil, host, "a.execute-api.localhost"); w.Code != 403 {
		t.Errorf("denied by a Deny statement: %d", w.Code)
	}
	if w := do(g, "POST", "http://a.execute-api.localhost/prod/things", nil, host, "a.execute-api.localhost"); w.Code != 403 {
		t.Errorf("no Allow for POST: %d", w.Code)
	}
}

func TestWildcardMatch(t *testing.T) {
	for _, tt := range []struct {
		p, s string
		want bool
	}{{"*", "x", true}, {"a*c", "abbbc", true}, {"a*c", "abbb", false}, {"a?c", "abc", true}, {"a/*/GET/*", "a/prod/GET/x/y", true}, {"abc", "abd", false}, {"", "", true}} {
		if got := wildcardMatch(tt.p, tt.s); got != tt.want {
			t.Errorf("wildcardMatch(%q, %q) = %v", tt.p, tt.s, got)
		}
	}
}

func TestAuthorizerIdentitySourceJSON(t *testing.T) {
	var a Authorizer
	if err := json.Unmarshal([]byte(`{"type":"REQUEST","identitySource":["$request.header.A","$request.querystring.b"]}`), &a); err != nil || a.IdentitySource != "$request.header.A,$request.querystring.b" {
		t.Errorf("array: %v %q", err, a.IdentitySource)
	}
	if err := json.Unmarshal([]byte(`{"type":"JWT","identitySource":"$request.header.X"}`), &a); err != nil || a.IdentitySource != "$request.header.X" {
		t.Errorf("string: %v %q", err, a.IdentitySource)
	}
}
