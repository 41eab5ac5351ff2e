package gateway

import (
	"net/http"
	"testing"
	"time"
)

func TestMapping(t *testing.T) {
	a := &api{id: "app", stage: "prod", stageVars: map[string]string{"env": "test"}}
	in := &inbound{
		accountID: "000000000000", api: a, route: &route{api: a, key: "POST /u/{id}"}, method: "POST",
		path: "/prod/u/7", rawQuery: "q=1&q=2&t=x", header: http.Header{"X-Id": {"h1"}, "User-Agent": {"ua"}},
		host: "app.execute-api.localhost", sourceIP: "10.0.0.1", proto: "HTTP/1.1",
		body: []byte(`{"name":"ann","tags":["a","b"],"n":{"k":1},"odd key":true}`), now: time.UnixMilli(1700000000123),
		requestID: "rid", params: map[string]string{"id": "7"},
		lambdaAuth: &lambdaAuthContext{Context: map[string]any{"user": "bob", "level": 3.0}},
	}
	tests := map[string]string{
		"$request.body.name":                  "ann",
		"$request.body.tags[1]":               "b",
		"$request.body.n":                     `{"k":1}`,
		"${request.body['odd key']}":          "true",
		"$request.body.none.deeper":           "",
		"$request.path.id":                    "7",
		"$request.querystring.q":              "1,2",
		"$request.header.x-id":                "h1",
		"$context.requestId":                  "rid",
		"$context.requestTimeEpoch":           "1700000000123",
		"$context.stage/$context.apiId":       "prod/app",
		"$context.identity.sourceIp":          "10.0.0.1",
		"$context.authorizer.user":            "bob",
		"$context.authorizer.level":           "3",
		"$stageVariables.env":                 "test",
		"user-${request.path.id}.json":        "user-7.json",
		"$request.path.id.":                   "7.",
		"costs $5 (${request.querystring.t})": "costs $5 (x)",
		"plain":                               "plain",
		"$request.body":                       string(in.body),
	}
	env := &mapEnv{in: in}
	for expr, want := range tests {
		m, err := parseMapping(expr)
		if err != nil {
			t.Errorf("%s: %v", expr, err)
			continue
		}
		if got := m.eval(env); got != want {
			t.Errorf("%s = %q, want %q", expr, got, want)
		}
	}
	for _, bad := range []string{"$request.cookie.x", "$context.bogus", "${request.path.id", "$request.body.a[x]", "$request.header."} {
		if _, err := parseMapping(bad); err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
}
