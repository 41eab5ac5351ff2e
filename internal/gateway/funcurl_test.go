package gateway

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/nimbus-dev/nimbus/internal/invoke"
)

type fakeURLs map[string]FunctionURL

func (f fakeURLs) LookupURL(id string) (FunctionURL, bool) { u, ok := f[id]; return u, ok }

type fakeVerifier struct{}

func (fakeVerifier) Verify(r *http.Request, body []byte) error {
	if r.Header.Get("Authorization") != "AWS4-HMAC-SHA256 good" {
		return errors.New("bad signature")
	}
	return nil
}

// streamer is a fake StreamInvoker: its chunks go to the sink one by one.
type streamer struct {
	*fakeInvoker
	contentType string
	chunks      []string
	fail        string // FunctionError after the chunks
}

func (s *streamer) InvokeStream(ctx context.Context, req invoke.Request, sink invoke.StreamSink) (*invoke.Response, error) {
	if strings.HasPrefix(req.FunctionName, "missing") {
		return nil, errors.New("not reached")
	}
	sink.Begin(s.contentType)
	for _, c := range s.chunks {
		sink.Write([]byte(c))
	}
	return &invoke.Response{Status: 200, RequestID: "r-1", FunctionError: s.fail, Streamed: true}, nil
}

const urlID = "abcdefghijklmnopqrstuvwxyz012345"

func TestFunctionURLServing(t *testing.T) {
	inv := newFakeInvoker()
	inv.add("fn", func(_ context.Context, ev []byte) ([]byte, string) {
		return []byte(`{"statusCode":200,"headers":{"x-a":"1"},"body":"hi"}`), ""
	})
	inv.add("bad", func(context.Context, []byte) ([]byte, string) { return nil, "Error" })
	g, _ := newTestGateway(t, inv)
	g.SetFunctionURLs(fakeURLs{
		urlID:                   {URLID: urlID, Function: "fn", Qualifier: "live", AuthType: "NONE", CORS: &CORS{AllowOrigins: []string{"*"}}},
		strings.Repeat("i", 32): {Function: "fn", AuthType: "AWS_IAM"},
		strings.Repeat("e", 32): {Function: "bad", AuthType: "NONE"},
	}, fakeVerifier{})

	w := do(g, "POST", "http://x/p/q?a=b", strings.NewReader(`{"k":1}`), "Host", urlID+".lambda-url.localhost:9000", "Content-Type", "application/json", "Origin", "https://o")
	if w.Code != 200 || w.Body.String() != "hi" || w.Header().Get("X-A") != "1" || w.Header().Get("Access-Control-Allow-Origin") != "*" || w.Header().Get("X-Amzn-Requestid") == "" {
		t.Fatalf("by host: %d %s %v", w.Code, w.Body, w.Header())
	}
	ev := inv.lastEvent(t, "fn")
	rc := ev["requestContext"].(map[string]any)
	if ev["routeKey"] != "$default" || ev["rawPath"] != "/p/q" || ev["body"] != `{"k":1}` || rc["apiId"] != urlID || rc["domainPrefix"] != urlID ||
		rc["accountId"] != "anonymous" || rc["domainName"] != urlID+".lambda-url.localhost:9000" || ev["pathParameters"] != nil {
		t.Errorf("event = %v", ev)
	}
	if w := do(g, "GET", "http://127.0.0.1/lambda-url/"+urlID+"/x/y", nil); w.Code != 200 || inv.lastEvent(t, "fn")["rawPath"] != "/x/y" {
		t.Errorf("by path: %d %v", w.Code, inv.lastEvent(t, "fn")["rawPath"])
	}
	if w := do(g, "GET", "http://x/", nil, "Host", strings.Repeat("z", 32)+".lambda-url.localhost"); w.Code != 404 || w.Body.String() != `{"Message":null}` {
		t.Errorf("unknown: %d %s", w.Code, w.Body)
	}
	iam := strings.Repeat("i", 32) + ".lambda-url.localhost"
	if w := do(g, "GET", "http://x/", nil, "Host", iam); w.Code != 403 || w.Body.String() != `{"Message":"Forbidden"}` {
		t.Errorf("IAM unsigned: %d %s", w.Code, w.Body)
	}
	if w := do(g, "GET", "http://x/", nil, "Host", iam, "Authorization", "AWS4-HMAC-SHA256 good"); w.Code != 200 {
		t.Errorf("IAM signed: %d %s", w.Code, w.Body)
	}
	if w := do(g, "GET", "http://x/", nil, "Host", strings.Repeat("e", 32)+".lambda-url.localhost"); w.Code != 502 {
		t.Errorf("function error: %d %s", w.Code, w.Body)
	}
	// Ordinary routing is untouched.
	if w := do(g, "GET", "http://127.0.0.1/lambda-urlx", nil); w.Code != 404 || w.Body.String() != `{"message":"Not Found"}` {
		t.Errorf("plain: %d %s", w.Code, w.Body)
	}
}

func TestFunctionURLStreaming(t *testing.T) {
	s := &streamer{fakeInvoker: newFakeInvoker()}
	g, _ := newTestGateway(t, s)
	g.SetFunctionURLs(fakeURLs{urlID: {Function: "fn", AuthType: "NONE", InvokeMode: "RESPONSE_STREAM"}}, nil)
	host := urlID + ".lambda-url.localhost"

	s.contentType, s.chunks = StreamingContentType, []string{`{"statusCode":201,"headers":{"x-s":"1"},"cookies":["c=1"]}`, "\x00\x00\x00\x00", "\x00\x00\x00\x00body-1,", "body-2"}
	w := do(g, "GET", "http://x/", nil, "Host", host)
	if w.Code != 201 || w.Body.String() != "body-1,body-2" || w.Header().Get("X-S") != "1" || w.Header().Get("Set-Cookie") != "c=1" || !w.Flushed {
		t.Errorf("prelude stream: %d %q %v flushed=%v", w.Code, w.Body, w.Header(), w.Flushed)
	}
	s.contentType, s.chunks = "text/plain", []string{"a", "b"}
	if w := do(g, "GET", "http://x/", nil, "Host", host); w.Code != 200 || w.Body.String() != "ab" || w.Header().Get("Content-Type") != "text/plain" {
		t.Errorf("plain stream: %d %q %v", w.Code, w.Body, w.Header())
	}
	s.contentType, s.chunks = StreamingContentType, []string{`{"statusCode":201}`}
	if w := do(g, "GET", "http://x/", nil, "Host", host); w.Code != 502 {
		t.Errorf("no prelude delimiter: %d %q", w.Code, w.Body)
	}
	s.contentType, s.chunks = StreamingContentType, []string{"{bad json\x00\x00\x00\x00\x00\x00\x00\x00x"}
	if w := do(g, "GET", "http://x/", nil, "Host", host); w.Code != 502 {
		t.Errorf("bad prelude: %d %q", w.Code, w.Body)
	}
	s.contentType, s.chunks, s.fail = "text/plain", []string{"part"}, "Unhandled"
	if w := do(g, "GET", "http://x/", nil, "Host", host); w.Code != 200 || w.Body.String() != "part" {
		t.Errorf("failure mid-stream keeps what was sent: %d %q", w.Code, w.Body)
	}
}
