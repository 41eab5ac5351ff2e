package gateway

import (
	"bytes"
	"testing"
)

func sampleEventV2(s string) *eventV2 {
	return &eventV2{
		Version: "2.0", RouteKey: "GET /a/{b}", RawPath: "/a/" + s, RawQueryString: "q=" + s,
		Cookies:               []string{"c=1", s},
		Headers:               map[string]string{"host": "x", "x-" + s: s, "accept": "*/*", "zz": "", "a": s + s},
		QueryStringParameters: map[string]string{"q": s, s: "v"},
		RequestContext: requestContextV2{
			AccountID: "000000000000", APIID: "abc", DomainName: "abc.execute-api.localhost", DomainPrefix: "abc",
			HTTP:      httpV2{Method: "GET", Path: "/a/" + s, Protocol: "HTTP/1.1", SourceIP: "127.0.0.1", UserAgent: s},
			RequestID: "r", RouteKey: "GET /a/{b}", Stage: "$default", Time: "23/Nov/2026:08:00:00 +0000", TimeEpoch: 1795420800000,
		},
		Body: s, PathParameters: map[string]string{"b": s}, IsBase64Encoded: true,
		StageVariables: map[string]string{"v": s},
	}
}

func checkSame(t *testing.T, ev *eventV2) {
	t.Helper()
	want, err := marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ev.appendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("appendJSON differs from encoding/json:\n got %s\nwant %s", got, want)
	}
}

func TestEventV2EncoderMatchesJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uo\te`, "ctl\x00\x01\x1f\b\f\n\r\t", "<html>&amp;", "é€𝄞", "bad\xff\xfeutf8", "\u2028\u2029", "\x7f"} {
		checkSame(t, sampleEventV2(s))
	}
	// Omitted and null fields, and an authorizer.
	ev := sampleEventV2("x")
	ev.Cookies, ev.QueryStringParameters, ev.Body, ev.PathParameters, ev.StageVariables, ev.Headers = nil, nil, "", nil, nil, nil
	checkSame(t, ev)
	ev.Headers = map[string]string{}
	ev.RequestContext.Authorizer = &authorizerV2{JWT: &jwtContext{Claims: map[string]string{"sub": "<me>"}, Scopes: []string{"read"}}}
	checkSame(t, ev)
	ev.RequestContext.Authorizer = &authorizerV2{Lambda: map[string]any{"n": 1.5, "s": "x", "b": true}}
	checkSame(t, ev)
	big := map[string]string{}
	for i := range 50 { // more keys than the sort's stack array
		big[string(rune('a'+i%26))+string(rune('A'+i/26))] = "v"
	}
	ev.Headers = big
	checkSame(t, ev)
}

func FuzzEventV2Encoder(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\xff", "\u2028", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkSame(t, sampleEventV2(s)) })
}
