package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/nimbus-dev/nimbus/internal/invoke"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// awsFixture reads one of aws-lambda-go's recorded events (in the module
// cache, since it is a dependency of the module).
func awsFixture(t *testing.T, name string) []byte {
	t.Helper()
	dir, err := awsTestdata()
	if err != nil {
		t.Skipf("aws-lambda-go testdata not found: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func awsTestdata() (string, error) {
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "github.com", "aws", "aws-lambda-go@"+awsLambdaGoVersion(), "events", "testdata")
	if _, err := os.Stat(dir); err != nil {
		return "", err
	}
	return dir, nil
}

// awsLambdaGoVersion is the version the module requires (from the build info
// of the test binary).
func awsLambdaGoVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/aws/aws-lambda-go" {
				return d.Version
			}
		}
	}
	return "v1.55.1"
}

// recorder is an Invoker that keeps the last event and answers a fixed payload.
type recorder struct {
	event  []byte
	answer []byte
}

func (r *recorder) Invoke(_ context.Context, req invoke.Request) (*invoke.Response, error) {
	r.event = req.Payload
	return &invoke.Response{Status: 200, RequestID: "00000000-0000-4000-8000-000000000000", Payload: r.answer}, nil
}

// capture serves r through a gateway with apis, a fixed clock and fixed ids,
// and returns the event the function got.
func capture(t *testing.T, cfg Config, r *http.Request, now time.Time, apis ...API) []byte {
	t.Helper()
	rec := &recorder{answer: []byte(`{"statusCode":200}`)}
	g := New(cfg, rec, slog.New(slog.DiscardHandler))
	g.now = func() time.Time { return now }
	g.newID = func() string { return "LV7fzho-PHcEJPw=" }
	g.newUUID = func() string { return "deef4878-7910-11e6-8f14-25afc3e9ae33" }
	if err := g.SetAPIs(apis); err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	g.ServeHTTP(w, r)
	if w.Code != 200 || rec.event == nil {
		t.Fatalf("%s %s: %d %s, event %s", r.Method, r.URL, w.Code, w.Body, rec.event)
	}
	return rec.event
}

// request builds a server-side request as net/http would hand it over: from
// remote, to a local port, over TLS when port is 443.
func request(method, target, body, remote string, port int, header [][2]string) *http.Request {
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, target, nil)
	} else {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
	}
	r.RemoteAddr = remote
	r.Header = http.Header{}
	for _, h := range header {
		if http.CanonicalHeaderKey(h[0]) == "Host" {
			r.Host = h[1]
			continue
		}
		r.Header.Add(h[0], h[1])
	}
	if port == 443 {
		r.TLS = &tls.ConnectionState{}
	}
	local := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: port}
	return r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, local))
}

func TestEventV2MatchesAWSNoAuthorizer(t *testing.T) {
	fixture := awsFixture(t, "apigw-v2-request-no-authorizer.json")
	// The request behind the fixture: curl to the $default route of a
	// $default stage, over HTTPS.
	r := request("GET", "https://aaaaaaaaaa.execute-api.us-west-2.amazonaws.com/", "", "1.2.3.4:41234", 443, [][2]string{
		{"Host", "aaaaaaaaaa.execute-api.us-west-2.amazonaws.com"},
		{"Accept", "*/*"},
		{"User-Agent", "curl/7.58.0"},
		{"X-Amzn-Trace-Id", "Root=1-5e9f0c65-1de4d666d4dd26aced652b6c"},
	})
	now := time.UnixMilli(1587481701067)
	got := capture(t, Config{AccountID: "123456789012"}, r, now, API{ID: "aaaaaaaaaa", Routes: []Route{to("$default", "f")}})

	var want, have events.APIGatewayV2HTTPRequest
	mustUnmarshal(t, fixture, &want)
	mustUnmarshal(t, got, &have)
	want.RequestContext.Authentication = events.APIGatewayV2HTTPRequestContextAuthentication{} // no mutual TLS here
	if !reflect.DeepEqual(have, want) {
		t.Errorf("event differs from the AWS fixture:\n got %+v\nwant %+v", have, want)
	}
	compareShape(t, fixture, got, "requestContext.authentication")
}

func TestEventV2MatchesAWSShapes(t *testing.T) {
	// A request with everything: query (repeated key), cookies, repeated
	// header, path parameters, stage variables, a body. The JWT fixture is
	// the one with every optional field.
	fixture := awsFixture(t, "apigw-v2-request-jwt-authorizer.json")
	r := request("POST", "http://127.0.0.1:8080/my/path/hello/world?parameter1=value1&parameter1=value2&parameter2=value",
		"{\r\n\t\"a\": 1\r\n}", "127.0.0.1:50000", 8080, [][2]string{
			{"Host", "127.0.0.1:8080"},
			{"Cookie", "cookie1"},
			{"Cookie", "cookie2"},
			{"Header1", "value1"},
			{"Header2", "value1"},
			{"Header2", "value2"},
			{"Content-Type", "application/json"},
			{"User-Agent", "agent"},
			{"X-Amzn-Trace-Id", "Root=1-5e9f0c65-1de4d666d4dd26aced652b6c"},
		})
	api := API{ID: "apiid", StageVariables: map[string]string{"stageVariable1": "value1", "stageVariable2": "value2"},
		Routes: []Route{to("POST /my/path/{proxy+}", "f")}}
	got := capture(t, Config{}, r, time.UnixMilli(1583348638390), api)
	compareShape(t, fixture, got, "requestContext.authentication", "requestContext.authorizer")
	checkFormats(t, got)

	var ev events.APIGatewayV2HTTPRequest
	mustUnmarshal(t, got, &ev)
	checks := []struct {
		what      string
		got, want any
	}{
		{"version", ev.Version, "2.0"},
		{"routeKey", ev.RouteKey, "POST /my/path/{proxy+}"},
		{"rawPath", ev.RawPath, "/my/path/hello/world"},
		{"rawQueryString", ev.RawQueryString, "parameter1=value1&parameter1=value2&parameter2=value"},
		{"cookies", ev.Cookies, []string{"cookie1", "cookie2"}},
		{"queryStringParameters", ev.QueryStringParameters, map[string]string{"parameter1": "value1,value2", "parameter2": "value"}},
		{"pathParameters", ev.PathParameters, map[string]string{"proxy": "hello/world"}},
		{"stageVariables", ev.StageVariables, api.StageVariables},
		{"body", ev.Body, "{\r\n\t\"a\": 1\r\n}"},
		{"isBase64Encoded", ev.IsBase64Encoded, false},
		{"headers.header2 (duplicates comma-joined)", ev.Headers["header2"], "value1,value2"},
		{"headers.content-type (lower-cased)", ev.Headers["content-type"], "application/json"},
		{"headers.content-length", ev.Headers["content-length"], "13"},
		{"headers.host", ev.Headers["host"], "127.0.0.1:8080"},
		{"headers.x-forwarded-for", ev.Headers["x-forwarded-for"], "127.0.0.1"},
		{"headers.x-forwarded-port", ev.Headers["x-forwarded-port"], "8080"},
		{"headers.x-forwarded-proto", ev.Headers["x-forwarded-proto"], "http"},
		{"headers has no cookie", ev.Headers["cookie"], ""},
		{"requestContext.accountId", ev.RequestContext.AccountID, "000000000000"},
		{"requestContext.apiId", ev.RequestContext.APIID, "apiid"},
		{"requestContext.domainName", ev.RequestContext.DomainName, "127.0.0.1:8080"},
		{"requestContext.domainPrefix", ev.RequestContext.DomainPrefix, "127.0.0.1"},
		{"requestContext.http", ev.RequestContext.HTTP, events.APIGatewayV2HTTPRequestContextHTTPDescription{
			Method: "POST", Path: "/my/path/hello/world", Protocol: "HTTP/1.1", SourceIP: "127.0.0.1", UserAgent: "agent"}},
		{"requestContext.requestId", ev.RequestContext.RequestID, "LV7fzho-PHcEJPw="},
		{"requestContext.routeKey", ev.RequestContext.RouteKey, "POST /my/path/{proxy+}"},
		{"requestContext.stage", ev.RequestContext.Stage, "$default"},
		{"requestContext.time", ev.RequestContext.Time, "04/Mar/2020:19:03:58 +0000"},
		{"requestContext.timeEpoch", ev.RequestContext.TimeEpoch, int64(1583348638390)},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.what, c.got, c.want)
		}
	}
}

func TestEventV1MatchesAWSRest(t *testing.T) {
	fixture := awsFixture(t, "apigw-request.json")
	var want events.APIGatewayProxyRequest
	mustUnmarshal(t, fixture, &want)
	// Replay the fixture's request: its headers, query and body, to a REST
	// API with a {proxy+} resource on stage testStage.
	var hdr [][2]string
	for k, vs := range want.MultiValueHeaders {
		if k == "X-Forwarded-For" { // the gateway adds the caller's address itself
			hdr = append(hdr, [2]string{k, "54.240.196.186"})
			continue
		}
		for _, v := range vs {
			hdr = append(hdr, [2]string{k, v})
		}
	}
	r := request("POST", "https://gy415nuibc.execute-api.us-east-1.amazonaws.com/testStage/hello/world?name=me", want.Body,
		"54.182.214.83:443", 443, hdr)
	api := API{ID: "gy415nuibc", Protocol: REST, Stage: "testStage", StageVariables: want.StageVariables,
		Routes: []Route{toV1("POST /{proxy+}", "f")}}
	got := capture(t, Config{AccountID: want.RequestContext.AccountID}, r, time.UnixMilli(want.RequestContext.RequestTimeEpoch), api)
	compareShape(t, fixture, got,
		"requestContext.authorizer",          // no authorizer
		"requestContext.identity.apiKey",     // no API keys
		"requestContext.identity.apiKeyId",   //
		"requestContext.identity.clientCert", // no mutual TLS
		"requestContext.identity.principalOrgId",
	)
	checkFormats(t, got)

	var have events.APIGatewayProxyRequest
	mustUnmarshal(t, got, &have)
	// What a replay cannot reproduce (the fixture was recorded elsewhere):
	// ids, the custom-domain path, the identity of an IAM caller. The rest
	// must be equal.
	rc := &want.RequestContext
	rc.ResourceID, rc.ExtendedRequestID = have.RequestContext.ResourceID, have.RequestContext.ExtendedRequestID
	rc.DomainName, rc.DomainPrefix = "gy415nuibc.execute-api.us-east-1.amazonaws.com", "gy415nuibc"
	rc.Path = "/testStage/hello/world" // on the execute-api domain the stage is part of requestContext.path
	rc.Identity = events.APIGatewayRequestIdentity{SourceIP: "54.182.214.83", UserAgent: rc.Identity.UserAgent}
	rc.Authorizer = nil
	// net/http canonicalises header names ("headerName" arrives as
	// "Headername"); compare them case-insensitively.
	want.Headers, want.MultiValueHeaders = canonical(want.Headers), canonicalMulti(want.MultiValueHeaders)
	delete(have.Headers, "X-Amzn-Trace-Id") // added by the gateway, absent from this old recording
	delete(have.MultiValueHeaders, "X-Amzn-Trace-Id")
	if !reflect.DeepEqual(have, want) {
		t.Errorf("event differs from the AWS fixture:\n got %+v\nwant %+v", have, want)
	}
}

func canonical(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[http.CanonicalHeaderKey(k)] = v
	}
	return out
}

func canonicalMulti(m map[string][]string) map[string][]string {
	out := map[string][]string{}
	for k, v := range m {
		out[http.CanonicalHeaderKey(k)] = v
	}
	return out
}

// TestEventGolden keeps our own events for sample requests under testdata;
// run with -update to rewrite them after an intended change.
func TestEventGolden(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)
	trace := [2]string{"X-Amzn-Trace-Id", "Root=1-6956f5d5-000000000000000000000000"}
	stageVars := map[string]string{"env": "dev"}
	cors := &CORS{AllowOrigins: []string{"*"}}
	samples := []struct {
		name string
		api  API
		r    *http.Request
	}{
		{"v2-get-params", API{ID: "app", Routes: []Route{to("GET /hello/{name}", "f")}},
			request("GET", "http://127.0.0.1:8080/hello/w%C3%B6rld?a=1&b=x+y&a=2&empty", "", "127.0.0.1:5555", 8080,
				[][2]string{{"Host", "127.0.0.1:8080"}, {"User-Agent", "Go-http-client/1.1"}, {"Cookie", "s=1; t=2"}, {"Accept", "text/html"}, {"Accept", "application/json"}, trace})},
		{"v2-post-binary-stage", API{ID: "app", Stage: "dev", StageVariables: stageVars, CORS: cors, Routes: []Route{to("POST /upload", "f")}},
			request("POST", "http://app.execute-api.localhost:8080/dev/upload", "\x89PNG\x00\x01", "10.1.2.3:5555", 8080,
				[][2]string{{"Host", "app.execute-api.localhost:8080"}, {"Content-Type", "image/png"}, {"X-Forwarded-For", "203.0.113.9"}, trace})},
		{"v2-default-route", API{ID: "app", Routes: []Route{to("$default", "f")}},
			request("DELETE", "http://localhost:8080/anything/at/all", "", "[::1]:5555", 8080, [][2]string{{"Host", "localhost:8080"}, trace})},
		{"v1-http-api", API{ID: "app", Routes: []Route{toV1("PUT /items/{id}", "f")}},
			request("PUT", "http://127.0.0.1:8080/items/42?tag=a&tag=b", `{"name":"x"}`, "127.0.0.1:5555", 8080,
				[][2]string{{"Host", "127.0.0.1:8080"}, {"Content-Type", "application/json"}, {"X-Multi", "1"}, {"X-Multi", "2"}, trace})},
		{"v1-rest", API{ID: "restapi", Protocol: REST, Stage: "Prod", StageVariables: stageVars, Routes: []Route{toV1("ANY /{proxy+}", "f")}},
			request("GET", "http://restapi.execute-api.localhost:8080/Prod/a/b", "", "127.0.0.1:5555", 8080,
				[][2]string{{"Host", "restapi.execute-api.localhost:8080"}, {"User-Agent", "curl/8.5.0"}, trace})},
	}
	for _, s := range samples {
		t.Run(s.name, func(t *testing.T) {
			got := capture(t, Config{}, s.r, now, s.api)
			var buf bytes.Buffer
			if err := json.Indent(&buf, got, "", "  "); err != nil {
				t.Fatal(err)
			}
			buf.WriteByte('\n')
			path := filepath.Join("testdata", "event-"+s.name+".json")
			if *update {
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("%s differs from the golden file (run with -update if intended):\n%s", path, buf.Bytes())
			}
			// Every golden event decodes into aws-lambda-go's types. (Not
			// strictly: AWS sends fields they lack, such as the 1.0 "version"
			// of HTTP APIs and identity.principalOrgId.)
			if strings.HasPrefix(s.name, "v2") {
				var ev events.APIGatewayV2HTTPRequest
				mustUnmarshal(t, got, &ev)
			} else {
				var ev events.APIGatewayProxyRequest
				mustUnmarshal(t, got, &ev)
			}
			checkFormats(t, got)
		})
	}
}

func mustUnmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
}

// compareShape compares the field paths and JSON kinds of two events,
// without descending into maps keyed by data (headers, parameters).
// Paths in except may be missing from got.
func compareShape(t *testing.T, fixture, got []byte, except ...string) {
	t.Helper()
	var f, g any
	mustUnmarshal(t, fixture, &f)
	mustUnmarshal(t, got, &g)
	fs, gs := map[string]string{}, map[string]string{}
	shape("", f, fs)
	shape("", g, gs)
	for p, kind := range fs {
		if slices.Contains(except, p) || hasPrefixIn(p, except) {
			continue
		}
		if gk, ok := gs[p]; !ok {
			t.Errorf("field %s (%s) of the AWS event is missing", p, kind)
		} else if gk != kind && kind != "null" && gk != "null" {
			t.Errorf("field %s is a %s, AWS sends a %s", p, gk, kind)
		}
	}
	var extra []string
	for p := range gs {
		if _, ok := fs[p]; !ok {
			extra = append(extra, p)
		}
	}
	sort.Strings(extra)
	for _, p := range extra {
		if !knownExtra[p] {
			t.Errorf("field %s is not in the AWS event", p)
		}
	}
}

// knownExtra are fields we send that an older fixture lacks but AWS sends.
var knownExtra = map[string]bool{
	"isBase64Encoded":                   true, // REST sends it (false); the old fixture predates it
	"requestContext.identity.accessKey": true, "requestContext.identity.accountId": true, "requestContext.identity.caller": true,
	"requestContext.identity.cognitoAuthenticationProvider": true, "requestContext.identity.cognitoAuthenticationType": true,
	"requestContext.identity.cognitoIdentityId": true, "requestContext.identity.cognitoIdentityPoolId": true,
	"requestContext.identity.principalOrgId": true, "requestContext.identity.user": true, "requestContext.identity.userArn": true,
}

func hasPrefixIn(p string, prefixes []string) bool {
	for _, x := range prefixes {
		if strings.HasPrefix(p, x+".") {
			return true
		}
	}
	return false
}

var dataMaps = map[string]bool{"headers": true, "multiValueHeaders": true, "queryStringParameters": true,
	"multiValueQueryStringParameters": true, "pathParameters": true, "stageVariables": true,
	"requestContext.authorizer.jwt.claims": true}

func shape(prefix string, v any, out map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		if dataMaps[prefix] {
			out[prefix] = "object"
			return
		}
		if prefix != "" {
			out[prefix] = "object"
		}
		for k, e := range x {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			shape(p, e, out)
		}
	case []any:
		out[prefix] = "array"
	case string:
		out[prefix] = "string"
	case float64:
		out[prefix] = "number"
	case bool:
		out[prefix] = "bool"
	case nil:
		out[prefix] = "null"
	}
}

// checkFormats checks the value formats AWS uses for times and ids.
func checkFormats(t *testing.T, ev []byte) {
	t.Helper()
	var m map[string]any
	mustUnmarshal(t, ev, &m)
	rc := m["requestContext"].(map[string]any)
	timeRE := regexp.MustCompile(`^\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}$`)
	for _, k := range []string{"time", "requestTime"} {
		if v, ok := rc[k]; ok && !timeRE.MatchString(v.(string)) {
			t.Errorf("requestContext.%s = %q, want like 21/Apr/2020:15:08:21 +0000", k, v)
		}
	}
	for _, k := range []string{"timeEpoch", "requestTimeEpoch"} {
		if v, ok := rc[k]; ok && (v.(float64) < 1e12 || v.(float64) > 1e13) {
			t.Errorf("requestContext.%s = %v, want epoch milliseconds", k, v)
		}
	}
	if m["version"] == "2.0" && !regexp.MustCompile(`^[A-Za-z0-9_-]{15}=$`).MatchString(rc["requestId"].(string)) {
		t.Errorf("requestId %q, want like LV7fzho-PHcEJPw=", rc["requestId"])
	}
	if m["version"] != "2.0" && m["version"] != "1.0" &&
		!regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`).MatchString(rc["requestId"].(string)) {
		t.Errorf("REST requestId %q, want a UUID", rc["requestId"])
	}
	if rid, ok := rc["resourceId"].(string); ok && !regexp.MustCompile(`^[a-z0-9]{6}$`).MatchString(rid) {
		t.Errorf("resourceId %q", rid)
	}
}

func TestNewIDs(t *testing.T) {
	id := newRequestID()
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{15}=$`).MatchString(id) {
		t.Errorf("newRequestID() = %q", id)
	}
	tr := newTraceRoot(time.Unix(0x5e9f0c65, 0))
	if !regexp.MustCompile(`^Root=1-5e9f0c65-[0-9a-f]{24}$`).MatchString(tr) {
		t.Errorf("newTraceRoot() = %q", tr)
	}
}
