package gateway

import (
	"net/http"
	"reflect"
	"testing"
)

func TestMapV2(t *testing.T) {
	json := http.Header{"Content-Type": {"application/json"}}
	tests := []struct {
		name    string
		payload string
		status  int
		header  http.Header
		body    string
		wantErr bool
	}{
		// The inference rule: valid JSON without statusCode is the body.
		{"object", `{"message":"hi"}`, 200, json, `{"message":"hi"}`, false},
		{"string", `"Hello from Lambda!"`, 200, json, `"Hello from Lambda!"`, false},
		{"number", `42`, 200, json, `42`, false},
		{"array", `[1,2]`, 200, json, `[1,2]`, false},
		{"null", `null`, 200, json, `null`, false},
		{"object with body, no statusCode", `{"body":"x","headers":{"a":"b"}}`, 200, json, `{"body":"x","headers":{"a":"b"}}`, false},
		{"null statusCode is absent", `{"statusCode":null,"body":"x"}`, 200, json, `{"statusCode":null,"body":"x"}`, false},
		{"not json", `hello`, 0, nil, "", true},
		{"empty", ``, 0, nil, "", true},
		{"truncated", `{"statusCode":200`, 0, nil, "", true},
		// Structured responses.
		{"minimal", `{"statusCode":204}`, 204, json, "", false},
		{"full", `{"statusCode":201,"headers":{"content-type":"text/html","x-n":5,"x-b":true,"x-null":null},"cookies":["a=1","b=2; HttpOnly"],"body":"<p>","isBase64Encoded":false}`,
			201, http.Header{"Content-Type": {"text/html"}, "X-N": {"5"}, "X-B": {"true"}, "Set-Cookie": {"a=1", "b=2; HttpOnly"}}, "<p>", false},
		{"base64", `{"statusCode":200,"body":"aGk=","isBase64Encoded":true}`, 200, json, "hi", false},
		{"string status", `{"statusCode":"302","headers":{"location":"/x"}}`, 302, http.Header{"Location": {"/x"}, "Content-Type": {"application/json"}}, "", false},
		{"multiValueHeaders ignored in 2.0", `{"statusCode":200,"multiValueHeaders":{"x":["1","2"]}}`, 200, json, "", false},
		{"framing headers dropped", `{"statusCode":200,"headers":{"Content-Length":"99","Transfer-Encoding":"chunked"},"body":"x"}`, 200, json, "x", false},
		{"bad header name skipped", `{"statusCode":200,"headers":{"a b":"1","ok":"x\ny"}}`, 200, json, "", false},
		{"status out of range", `{"statusCode":600}`, 0, nil, "", true},
		{"status fraction", `{"statusCode":200.5}`, 0, nil, "", true},
		{"status bool", `{"statusCode":true}`, 0, nil, "", true},
		{"body object", `{"statusCode":200,"body":{"a":1}}`, 0, nil, "", true},
		{"bad base64", `{"statusCode":200,"body":"!!","isBase64Encoded":true}`, 0, nil, "", true},
		{"headers array", `{"statusCode":200,"headers":["a"]}`, 0, nil, "", true},
		{"header object value", `{"statusCode":200,"headers":{"a":{"b":1}}}`, 0, nil, "", true},
		{"cookies not strings", `{"statusCode":200,"cookies":[1]}`, 0, nil, "", true},
		{"isBase64Encoded string", `{"statusCode":200,"isBase64Encoded":"yes"}`, 0, nil, "", true},
	}
	for _, tt := range tests {
		res, err := mapV2([]byte(tt.payload))
		if tt.wantErr {
			if err == nil {
				t.Errorf("%s: mapV2(%s) = %d %v %q, want an error", tt.name, tt.payload, res.status, res.header, res.body)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: mapV2(%s) error %v", tt.name, tt.payload, err)
			continue
		}
		if res.status != tt.status || !reflect.DeepEqual(res.header, tt.header) || string(res.body) != tt.body {
			t.Errorf("%s: mapV2(%s) = %d %v %q, want %d %v %q", tt.name, tt.payload, res.status, res.header, res.body, tt.status, tt.header, tt.body)
		}
	}
}

func TestMapV1(t *testing.T) {
	json := http.Header{"Content-Type": {"application/json"}}
	tests := []struct {
		name    string
		payload string
		decode  bool
		status  int
		header  http.Header
		body    string
		wantErr bool
	}{
		{"minimal", `{"statusCode":200,"body":"ok"}`, true, 200, json, "ok", false},
		{"merge", `{"statusCode":200,"headers":{"X-A":"1","X-B":"single"},"multiValueHeaders":{"X-B":["m1","m2"],"Set-Cookie":["a=1","b=2"]}}`, true,
			200, http.Header{"X-A": {"1"}, "X-B": {"m1", "m2"}, "Set-Cookie": {"a=1", "b=2"}, "Content-Type": {"application/json"}}, "", false},
		{"base64 decoded", `{"statusCode":200,"body":"aGk=","isBase64Encoded":true}`, true, 200, json, "hi", false},
		{"base64 kept (REST, not binary)", `{"statusCode":200,"body":"aGk=","isBase64Encoded":true}`, false, 200, json, "aGk=", false},
		{"cookies ignored in 1.0", `{"statusCode":200,"cookies":["a=1"]}`, true, 200, json, "", false},
		{"no statusCode", `{"body":"ok"}`, true, 0, nil, "", true},
		{"not an object", `"ok"`, true, 0, nil, "", true},
		{"multiValueHeaders not arrays", `{"statusCode":200,"multiValueHeaders":{"a":"b"}}`, true, 0, nil, "", true},
	}
	for _, tt := range tests {
		res, err := mapV1([]byte(tt.payload), tt.decode)
		if tt.wantErr {
			if err == nil {
				t.Errorf("%s: mapV1(%s) = %d, want an error", tt.name, tt.payload, res.status)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: mapV1(%s) error %v", tt.name, tt.payload, err)
			continue
		}
		if res.status != tt.status || !reflect.DeepEqual(res.header, tt.header) || string(res.body) != tt.body {
			t.Errorf("%s: mapV1(%s) = %d %v %q, want %d %v %q", tt.name, tt.payload, res.status, res.header, res.body, tt.status, tt.header, tt.body)
		}
	}
}

func TestErrorResponses(t *testing.T) {
	// The table of the package comment.
	tests := []struct {
		kind     errKind
		httpCode int
		httpBody string
		restCode int
		restBody string
	}{
		{errNoRoute, 404, `{"message":"Not Found"}`, 403, `{"message":"Missing Authentication Token"}`},
		{errFunction, 500, `{"message":"Internal Server Error"}`, 502, `{"message":"Internal server error"}`},
		{errIntegration, 500, `{"message":"Internal Server Error"}`, 500, `{"message":"Internal server error"}`},
		{errThrottled, 429, `{"message":"Too Many Requests"}`, 429, `{"message":"Too Many Requests"}`},
		{errTimeout, 503, `{"message":"Service Unavailable"}`, 504, `{"message":"Endpoint request timed out"}`},
		{errTooLarge, 413, `{"message":"Request Entity Too Large"}`, 413, `{"message":"Request Too Long"}`},
		{errUnauthorized, 401, `{"message":"Unauthorized"}`, 401, `{"message":"Unauthorized"}`},
		{errForbidden, 403, `{"message":"Forbidden"}`, 403, `{"message":"Forbidden"}`},
	}
	for _, tt := range tests {
		if c, b := errorResponse(HTTP, tt.kind); c != tt.httpCode || string(b) != tt.httpBody {
			t.Errorf("errorResponse(HTTP, %d) = %d %s, want %d %s", tt.kind, c, b, tt.httpCode, tt.httpBody)
		}
		if c, b := errorResponse(REST, tt.kind); c != tt.restCode || string(b) != tt.restBody {
			t.Errorf("errorResponse(REST, %d) = %d %s, want %d %s", tt.kind, c, b, tt.restCode, tt.restBody)
		}
	}
}
