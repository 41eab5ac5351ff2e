package sigv4

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	testKey    = "AKIDEXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	// An Invoke path as the Lambda client sends it: the ARN is escaped once
	// in the path and so twice in the canonical request.
	invokePath = "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Amy-fn/invocations"
	mismatch   = "The request signature we calculated does not match"
)

// now is the server's clock in every test.
var now = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func newVerifier() *Verifier {
	v := New(Credentials{testKey: testSecret})
	v.now = func() time.Time { return now }
	return v
}

// newServer answers a verified request with 204 and a rejected one with the
// Error's status and the Error as JSON, as a service front end does.
func newServer(t *testing.T) *httptest.Server {
	v := newVerifier()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		var e *Error
		if err := v.Verify(r, body); errors.As(err, &e) {
			w.WriteHeader(e.HTTPStatusCode())
			json.NewEncoder(w).Encode(e)
			return
		} else if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// send sends req to the server and returns the Error it answered, or nil.
func send(t *testing.T, srv *httptest.Server, req *http.Request) *Error {
	t.Helper()
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNoContent:
		return nil
	case http.StatusForbidden:
		var e Error
		if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
			t.Fatal(err)
		}
		return &e
	default:
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
		return nil
	}
}

// request describes a request to sign with the SDK's signer.
type request struct {
	method, path, query, body string
	header                    http.Header   // set before signing, so signed
	contentSHA                string        // X-Amz-Content-Sha256 to send and sign: "body" for the body's hash
	key, secret               string        // default testKey, testSecret
	at                        time.Duration // signing time relative to now
}

func (rq request) with(f func(*request)) request {
	rq.header = rq.header.Clone()
	f(&rq)
	return rq
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func (rq request) sign(t *testing.T, baseURL string) *http.Request {
	t.Helper()
	u := baseURL + rq.path
	if rq.query != "" {
		u += "?" + rq.query
	}
	var body io.Reader
	if rq.body != "" {
		body = strings.NewReader(rq.body)
	}
	req, err := http.NewRequest(rq.method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for name, values := range rq.header {
		req.Header[name] = values
	}
	payloadHash := sha256Hex(rq.body)
	switch rq.contentSHA {
	case "":
	case "body":
		req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	default:
		payloadHash = rq.contentSHA
		req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	}
	creds := aws.Credentials{AccessKeyID: cmp.Or(rq.key, testKey), SecretAccessKey: cmp.Or(rq.secret, testSecret)}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, payloadHash, "lambda", "us-east-1", now.Add(rq.at)); err != nil {
		t.Fatal(err)
	}
	return req
}

var invoke = request{
	method: http.MethodPost,
	path:   invokePath,
	body:   `{"hello":"world"}`,
	header: http.Header{
		"Content-Type":          {"application/json"},
		"X-Amz-Invocation-Type": {"RequestResponse"},
	},
}

var list = request{
	method: http.MethodGet,
	path:   "/2015-03-31/functions/my-fn/versions",
	query:  "Qualifier=%24LATEST&Marker=a%2Fb&Marker=a-b&Name=x+y%20z&MaxItems=10",
}

func setHeader(name, value string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set(name, value) }
}

func replaceInURL(old, new string) func(*http.Request) {
	return func(r *http.Request) {
		u, err := url.Parse(strings.Replace(r.URL.String(), old, new, 1))
		if err != nil {
			panic(err)
		}
		r.URL = u
	}
}

func replaceBody(body string) func(*http.Request) {
	return func(r *http.Request) {
		if int64(len(body)) != r.ContentLength {
			panic("tampered body must keep the signed Content-Length")
		}
		r.Body = io.NopCloser(strings.NewReader(body))
	}
}

// editAuthorization rewrites the signed Authorization header.
func editAuthorization(f func(string) string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", f(r.Header.Get("Authorization"))) }
}

func TestVerify(t *testing.T) {
	srv := newServer(t)
	tests := []struct {
		name     string
		req      request
		tamper   func(*http.Request) // applied after signing
		wantCode string              // "" if the request must be accepted
		wantMsg  string              // a substring of the message
	}{
		{name: "invoke with escaped ARN in path and JSON body", req: invoke},
		{name: "query with several params", req: list},
		{name: "empty body", req: request{method: http.MethodGet, path: "/2015-03-31/functions"}},
		{name: "empty body POST", req: request{method: http.MethodPost, path: "/2015-03-31/functions/my-fn/invocations"}},
		{name: "X-Amz-Content-Sha256", req: invoke.with(func(r *request) { r.contentSHA = "body" })},
		{name: "UNSIGNED-PAYLOAD", req: invoke.with(func(r *request) { r.contentSHA = "UNSIGNED-PAYLOAD" })},
		{name: "UNSIGNED-PAYLOAD with another body", req: invoke.with(func(r *request) { r.contentSHA = "UNSIGNED-PAYLOAD" }),
			tamper: replaceBody(`{"hello":"there"}`)},
		{name: "repeated header and runs of spaces", req: invoke.with(func(r *request) {
			r.header["X-Amz-Meta"] = []string{"a   b  c ", "d"}
		})},
		{name: "unsigned header added", req: invoke, tamper: setHeader("X-Forwarded-For", "10.0.0.1")},
		{name: "signed 15 min ago", req: invoke.with(func(r *request) { r.at = -15 * time.Minute })},
		{name: "signed 15 min ahead", req: invoke.with(func(r *request) { r.at = 15 * time.Minute })},

		{name: "wrong secret", req: invoke.with(func(r *request) { r.secret = "not-the-secret" }),
			wantCode: CodeInvalidSignature, wantMsg: mismatch},
		{name: "unknown key", req: invoke.with(func(r *request) { r.key = "AKIDUNKNOWN" }),
			wantCode: CodeUnrecognizedClient, wantMsg: "The security token included in the request is invalid."},
		{name: "tampered body", req: invoke, tamper: replaceBody(`{"hello":"there"}`),
			wantCode: CodeInvalidSignature, wantMsg: mismatch},
		{name: "tampered body with X-Amz-Content-Sha256", req: invoke.with(func(r *request) { r.contentSHA = "body" }),
			tamper: replaceBody(`{"hello":"there"}`), wantCode: CodeInvalidSignature, wantMsg: "x-amz-content-sha256"},
		{name: "tampered X-Amz-Content-Sha256", req: invoke.with(func(r *request) { r.contentSHA = "body" }),
			tamper: setHeader("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD"), wantCode: CodeInvalidSignature, wantMsg: mismatch},
		{name: "tampered header", req: invoke, tamper: setHeader("X-Amz-Invocation-Type", "Event"),
			wantCode: CodeInvalidSignature, wantMsg: mismatch},
		{name: "signed header missing", req: invoke, tamper: func(r *http.Request) { r.Header.Del("X-Amz-Invocation-Type") },
			wantCode: CodeInvalidSignature, wantMsg: mismatch},
		{name: "tampered path", req: invoke, tamper: replaceInURL("my-fn", "my-fx"),
			wantCode: CodeInvalidSignature, wantMsg: mismatch},
		{name: "path unescaped", req: invoke, tamper: replaceInURL("%3A", ":"),
			wantCode: CodeInvalidSignature, wantMsg: mismatch},
		{name: "tampered query", req: list, tamper: replaceInURL("MaxItems=10", "MaxItems=11"),
			wantCode: CodeInvalidSignature, wantMsg: mismatch},
		{name: "tampered method", req: invoke, tamper: func(r *http.Request) { r.Method = http.MethodPut },
			wantCode: CodeInvalidSignature, wantMsg: mismatch},
		{name: "expired date", req: invoke.with(func(r *request) { r.at = -15*time.Minute - time.Second }),
			wantCode: CodeInvalidSignature,
			wantMsg:  "Signature expired: 20260101T114459Z is now earlier than 20260101T114500Z (20260101T120000Z - 15 min.)"},
		{name: "future date", req: invoke.with(func(r *request) { r.at = 16 * time.Minute }),
			wantCode: CodeInvalidSignature,
			wantMsg:  "Signature not yet current: 20260101T121600Z is still later than 20260101T121500Z (20260101T120000Z + 15 min.)"},
		{name: "X-Amz-Date of another day than the scope", req: invoke, tamper: setHeader("X-Amz-Date", "20260102T120000Z"),
			wantCode: CodeInvalidSignature, wantMsg: "Date in Credential scope does not match"},
		{name: "X-Amz-Date missing", req: invoke, tamper: func(r *http.Request) { r.Header.Del("X-Amz-Date") },
			wantCode: CodeIncompleteSignature, wantMsg: "'X-Amz-Date'"},
		{name: "X-Amz-Date malformed", req: invoke, tamper: setHeader("X-Amz-Date", "2026-01-01T12:00:00Z"),
			wantCode: CodeIncompleteSignature, wantMsg: "X-Amz-Date must be"},
		{name: "no Authorization", req: invoke, tamper: func(r *http.Request) { r.Header.Del("Authorization") },
			wantCode: CodeMissingAuthenticationToken, wantMsg: "Missing Authentication Token"},
		{name: "other scheme", req: invoke, tamper: setHeader("Authorization", "Bearer abc"),
			wantCode: CodeIncompleteSignature, wantMsg: "Unsupported AWS 'algorithm': 'Bearer'"},
		{name: "Signature missing", req: invoke,
			tamper:   editAuthorization(func(a string) string { return a[:strings.Index(a, ", Signature=")] }),
			wantCode: CodeIncompleteSignature, wantMsg: "Authorization header requires 'Signature' parameter."},
		{name: "pair without equal sign", req: invoke,
			tamper:   editAuthorization(func(a string) string { return strings.Replace(a, "SignedHeaders=", "SignedHeaders ", 1) }),
			wantCode: CodeIncompleteSignature, wantMsg: "missing equal-sign"},
		{name: "credential without terminator", req: invoke,
			tamper:   editAuthorization(func(a string) string { return strings.Replace(a, "/aws4_request", "", 1) }),
			wantCode: CodeIncompleteSignature, wantMsg: "Credential must have the form"},
		{name: "SignedHeaders changed", req: invoke,
			tamper:   editAuthorization(func(a string) string { return strings.Replace(a, ";x-amz-invocation-type", "", 1) }),
			wantCode: CodeInvalidSignature, wantMsg: mismatch},
		{name: "host not signed", req: invoke,
			tamper:   editAuthorization(func(a string) string { return strings.Replace(a, ";host;", ";", 1) }),
			wantCode: CodeIncompleteSignature, wantMsg: "'Host' must be a 'SignedHeader'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req.sign(t, srv.URL)
			if tt.tamper != nil {
				tt.tamper(req)
			}
			got := send(t, srv, req)
			switch {
			case tt.wantCode == "" && got != nil:
				t.Fatalf("rejected: %v", got)
			case tt.wantCode == "":
			case got == nil:
				t.Fatalf("accepted, want %s", tt.wantCode)
			case got.Code != tt.wantCode || !strings.Contains(got.Message, tt.wantMsg):
				t.Fatalf("got %v\nwant %s: …%s…", got, tt.wantCode, tt.wantMsg)
			}
		})
	}
}

func TestVerifyPresigned(t *testing.T) {
	srv := newServer(t)
	tests := []struct {
		name     string
		expires  string // X-Amz-Expires, if any
		at       time.Duration
		tamper   func(*http.Request)
		wantCode string
		wantMsg  string
	}{
		{name: "valid", expires: "300"},
		{name: "no X-Amz-Expires", at: -10 * time.Minute},
		{name: "expired", expires: "60", at: -61 * time.Second,
			wantCode: CodeInvalidSignature, wantMsg: "Signature expired: 20260101T115859Z is now earlier than 20260101T115900Z (20260101T120000Z - 60 sec.)"},
		{name: "valid for longer than the skew", expires: "3600", at: -20 * time.Minute},
		{name: "too far ahead", expires: "3600", at: 16 * time.Minute,
			wantCode: CodeInvalidSignature, wantMsg: "Signature not yet current"},
		{name: "no X-Amz-Expires, older than the skew", at: -16 * time.Minute,
			wantCode: CodeInvalidSignature, wantMsg: "(20260101T120000Z - 15 min.)"},
		{name: "X-Amz-Expires malformed", expires: "soon",
			wantCode: CodeIncompleteSignature, wantMsg: "X-Amz-Expires"},
		{name: "tampered signature", expires: "300", tamper: replaceInURL("X-Amz-Signature=", "X-Amz-Signature=0"),
			wantCode: CodeInvalidSignature, wantMsg: mismatch},
		{name: "tampered path", expires: "300", tamper: replaceInURL("my-fn", "my-fx"),
			wantCode: CodeInvalidSignature, wantMsg: mismatch},
		{name: "parameter missing", expires: "300", tamper: replaceInURL("X-Amz-SignedHeaders=", "X-Amz-Signed="),
			wantCode: CodeIncompleteSignature, wantMsg: "Query-string authentication requires"},
		{name: "Authorization header too", expires: "300", tamper: setHeader("Authorization", "AWS4-HMAC-SHA256 Credential=x"),
			wantCode: CodeIncompleteSignature, wantMsg: "Only one auth mechanism allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := srv.URL + invokePath
			if tt.expires != "" {
				u += "?X-Amz-Expires=" + tt.expires
			}
			unsigned, err := http.NewRequest(http.MethodGet, u, nil)
			if err != nil {
				t.Fatal(err)
			}
			creds := aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}
			signedURL, signedHeader, err := v4.NewSigner().PresignHTTP(context.Background(), creds, unsigned,
				sha256Hex(""), "lambda", "us-east-1", now.Add(tt.at))
			if err != nil {
				t.Fatal(err)
			}
			req, err := http.NewRequest(http.MethodGet, signedURL, nil)
			if err != nil {
				t.Fatal(err)
			}
			for name, values := range signedHeader {
				if name != "Host" {
					req.Header[name] = values
				}
			}
			if tt.tamper != nil {
				tt.tamper(req)
			}
			got := send(t, srv, req)
			switch {
			case tt.wantCode == "" && got != nil:
				t.Fatalf("rejected: %v", got)
			case tt.wantCode == "":
			case got == nil:
				t.Fatalf("accepted, want %s", tt.wantCode)
			case got.Code != tt.wantCode || !strings.Contains(got.Message, tt.wantMsg):
				t.Fatalf("got %v\nwant %s: …%s…", got, tt.wantCode, tt.wantMsg)
			}
		})
	}
}

// TestVerifyBehindStripPrefix: the path verified is the one the client sent,
// not r.URL as a router in front of Verify rewrote it.
func TestVerifyBehindStripPrefix(t *testing.T) {
	v := newVerifier()
	verdict := make(chan error, 1)
	srv := httptest.NewServer(http.StripPrefix("/lambda", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		verdict <- v.Verify(r, body)
	})))
	t.Cleanup(srv.Close)
	req := invoke.with(func(r *request) { r.path = "/lambda" + r.path }).sign(t, srv.URL)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := <-verdict; err != nil {
		t.Fatal(err)
	}
}

// TestVerifyTestSuite checks vectors of AWS's SigV4 test suite, which do not
// come from the SDK, on requests built by hand rather than received.
func TestVerifyTestSuite(t *testing.T) {
	const auth = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature="
	tests := []struct {
		name, target, signature string
	}{
		{"get-vanilla", "/", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
		{"get-vanilla-query-order-key-case", "/?Param2=value2&Param1=value1", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
	}
	v := New(Credentials{testKey: testSecret})
	v.now = func() time.Time { return time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC) }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "http://example.amazonaws.com"+tt.target, nil)
			req.Header.Set("X-Amz-Date", "20150830T123600Z")
			req.Header.Set("Authorization", auth+tt.signature)
			if err := v.Verify(req, nil); err != nil {
				t.Fatalf("with RequestURI: %v", err)
			}
			req.RequestURI = ""
			if err := v.Verify(req, nil); err != nil {
				t.Fatalf("without RequestURI: %v", err)
			}
		})
	}
}

// TestNewCopiesCredentials: changing the map given to New does not change
// what the Verifier accepts.
func TestNewCopiesCredentials(t *testing.T) {
	keys := Credentials{testKey: testSecret}
	v := New(keys)
	v.now = func() time.Time { return now }
	delete(keys, testKey)
	req := invoke.sign(t, "http://nimbus.local")
	if err := v.Verify(req, []byte(invoke.body)); err != nil {
		t.Fatal(err)
	}
}

func FuzzParseAuthorization(f *testing.F) {
	for _, seed := range []string{
		"AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc",
		"AWS4-HMAC-SHA256 Signature=abc,Credential=AKID/20260101/us-east-1/lambda/aws4_request,SignedHeaders=host",
		"AWS4-HMAC-SHA256 Credential=AKID/2026/us-east-1/lambda/aws4_request, SignedHeaders=;;, Signature=",
		"AWS4-HMAC-SHA256 Credential=, Credential=",
		"AWS4-HMAC-SHA256 ,,,=",
		"AWS4-HMAC-SHA256",
		"Bearer x",
		"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		p, err := parseAuthorization(header)
		if err != nil {
			if err.Code != CodeIncompleteSignature {
				t.Fatalf("code %s", err.Code)
			}
			return
		}
		s := p.scope
		if s.accessKey == "" || len(s.date) != 8 || s.region == "" || s.service == "" || p.signature == "" || len(p.signedHeaders) == 0 {
			t.Fatalf("accepted incomplete %+v", p)
		}
		if !strings.Contains(header, s.accessKey+"/"+s.String()) {
			t.Fatalf("scope %+v is not in %q", s, header)
		}
	})
}
