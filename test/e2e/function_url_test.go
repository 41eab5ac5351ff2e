package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// urlGet requests a function URL on the gateway with the given Host.
func urlGet(t *testing.T, s *server, host, path string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.Gateway+path, nil)
	req.Host = host
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// TestFunctionURL: a function URL created through the Lambda API is served on
// the gateway by host (<id>.lambda-url.localhost) and by path
// (/lambda-url/<id>/…) with a function URL event; CORS from its config;
// unknown ids and AWS_IAM without access keys are refused as AWS does.
func TestFunctionURL(t *testing.T) {
	s := startServer(t, t.TempDir())
	c := s.client()
	ctx := context.Background()
	createFunction(t, c, "url-echo", types.RuntimeNodejs20x, "index.handler", echoNode)
	out, err := c.CreateFunctionUrlConfig(ctx, &awslambda.CreateFunctionUrlConfigInput{FunctionName: aws.String("url-echo"),
		AuthType: types.FunctionUrlAuthTypeNone, Cors: &types.Cors{AllowOrigins: []string{"https://app.example.com"}, AllowMethods: []string{"GET"}}})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(aws.ToString(out.FunctionUrl))
	if err != nil {
		t.Fatal(err)
	}
	id := strings.Split(u.Hostname(), ".")[0]

	check := func(how string, resp *http.Response, body []byte, rawPath string) {
		t.Helper()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", how, resp.StatusCode, body)
		}
		var ev struct {
			Version, RouteKey, RawPath, RawQueryString string
			RequestContext                             struct {
				APIID        string `json:"apiId"`
				DomainPrefix string `json:"domainPrefix"`
				AccountID    string `json:"accountId"`
				Stage        string `json:"stage"`
				HTTP         struct{ Method, Path string }
			} `json:"requestContext"`
		}
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Fatalf("%s: %v %s", how, err, body)
		}
		rc := ev.RequestContext
		if ev.Version != "2.0" || ev.RouteKey != "$default" || ev.RawPath != rawPath || ev.RawQueryString != "x=1" ||
			rc.APIID != id || rc.DomainPrefix != id || rc.AccountID != "anonymous" || rc.Stage != "$default" || rc.HTTP.Path != rawPath {
			t.Errorf("%s: event %s", how, body)
		}
		if resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || resp.Header.Get("X-Amzn-Requestid") == "" {
			t.Errorf("%s: headers %v", how, resp.Header)
		}
	}
	resp, body := urlGet(t, s, u.Host, "/hello/there?x=1", "Origin", "https://app.example.com")
	check("by host", resp, body, "/hello/there")
	resp, body = urlGet(t, s, "127.0.0.1", "/lambda-url/"+id+"/hi?x=1", "Origin", "https://app.example.com")
	check("by path", resp, body, "/hi")

	// A preflight is answered from the URL's CORS config without invoking.
	req, _ := http.NewRequest("OPTIONS", s.Gateway+"/", nil)
	req.Host = u.Host
	req.Header.Set("Origin", "https://app.example.com")
	req.Header.Set("Access-Control-Request-Method", "GET")
	pre, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	pre.Body.Close()
	if pre.StatusCode != 204 || pre.Header.Get("Access-Control-Allow-Methods") == "" {
		t.Errorf("preflight: %d %v", pre.StatusCode, pre.Header)
	}

	resp, body = urlGet(t, s, strings.Repeat("a", 32)+".lambda-url.localhost", "/")
	if resp.StatusCode != 404 || string(body) != `{"Message":null}` {
		t.Errorf("unknown url id: %d %s", resp.StatusCode, body)
	}
	// AWS_IAM: the server has no access keys to check a signature with.
	if _, err := c.UpdateFunctionUrlConfig(ctx, &awslambda.UpdateFunctionUrlConfigInput{FunctionName: aws.String("url-echo"), AuthType: types.FunctionUrlAuthTypeAwsIam}); err != nil {
		t.Fatal(err)
	}
	resp, body = urlGet(t, s, u.Host, "/")
	if resp.StatusCode != 403 || string(body) != `{"Message":"Forbidden"}` {
		t.Errorf("AWS_IAM unsigned: %d %s", resp.StatusCode, body)
	}
}

// TestFunctionURLStreaming: a RESPONSE_STREAM function URL whose Node
// function writes an HTTP prelude (status, headers, cookies) and then its
// body in two parts; the first part reaches the client while the function is
// held at a barrier that only the test opens.
func TestFunctionURLStreaming(t *testing.T) {
	s := startServer(t, t.TempDir())
	c := s.client()
	ctx := context.Background()
	fn := zipOf(map[string]string{"index.js": `
const http = require('http');
const get = (url) => new Promise((resolve, reject) => http.get(url, (r) => { r.resume(); r.on('end', resolve); }).on('error', reject));
exports.handler = awslambda.streamifyResponse(async (event, responseStream) => {
  const s = awslambda.HttpResponseStream.from(responseStream, {statusCode: 201, headers: {'x-path': event.rawPath, 'content-type': 'text/plain'}, cookies: ['a=1; Path=/']});
  s.write('first\n');
  await get(event.queryStringParameters.barrier);
  s.end('second\n');
});`})
	createFunction(t, c, "url-stream", types.RuntimeNodejs20x, "index.handler", fn, func(in *awslambda.CreateFunctionInput) { in.Timeout = aws.Int32(120) })
	out, err := c.CreateFunctionUrlConfig(ctx, &awslambda.CreateFunctionUrlConfigInput{FunctionName: aws.String("url-stream"),
		AuthType: types.FunctionUrlAuthTypeNone, InvokeMode: types.InvokeModeResponseStream})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(aws.ToString(out.FunctionUrl))
	b := newBarrier(t)
	req, _ := http.NewRequest("GET", s.Gateway+"/stream?barrier="+url.QueryEscape(b.srv.URL), nil)
	req.Host = u.Host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 201 || resp.Header.Get("X-Path") != "/stream" || resp.Header.Get("Content-Type") != "text/plain" || resp.Header.Get("Set-Cookie") != "a=1; Path=/" {
		t.Fatalf("streamed answer: %d %v", resp.StatusCode, resp.Header)
	}
	r := bufio.NewReader(resp.Body)
	first, err := r.ReadString('\n')
	if err != nil || first != "first\n" {
		t.Fatalf("first part %q %v", first, err)
	}
	if b.released.Load() {
		t.Fatal("the first part arrived only after the barrier opened")
	}
	b.open()
	rest, _ := io.ReadAll(r)
	if string(rest) != "second\n" {
		t.Fatalf("rest %q", rest)
	}
}
