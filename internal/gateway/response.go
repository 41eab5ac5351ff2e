package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// errKind is an error the gateway answers itself.
type errKind uint8

const (
	errNone         errKind = iota
	errNoRoute              // nothing matched
	errFunction             // the function failed or answered a malformed response
	errIntegration          // the integration cannot be invoked (unknown function, internal failure)
	errThrottled            // invoke answered 429
	errTimeout              // the integration timeout passed
	errTooLarge             // request body (or the event built from it) too large
	errUnauthorized         // authorizer: no or bad credentials
	errForbidden            // authorizer: not allowed
	errClientGone           // the client left; nothing is answered
)

// errorResponse is API Gateway's answer to a gateway-made error; see the
// package comment's table.
func errorResponse(p Protocol, k errKind) (int, []byte) {
	if p == REST {
		switch k {
		case errNoRoute:
			return 403, []byte(`{"message":"Missing Authentication Token"}`)
		case errFunction:
			return 502, []byte(`{"message":"Internal server error"}`)
		case errThrottled:
			return 429, []byte(`{"message":"Too Many Requests"}`)
		case errTimeout:
			return 504, []byte(`{"message":"Endpoint request timed out"}`)
		case errTooLarge:
			return 413, []byte(`{"message":"Request Too Long"}`)
		case errUnauthorized:
			return 401, []byte(`{"message":"Unauthorized"}`)
		case errForbidden:
			return 403, []byte(`{"message":"Forbidden"}`)
		}
		return 500, []byte(`{"message":"Internal server error"}`)
	}
	switch k {
	case errNoRoute:
		return 404, []byte(`{"message":"Not Found"}`)
	case errThrottled:
		return 429, []byte(`{"message":"Too Many Requests"}`)
	case errTimeout:
		return 503, []byte(`{"message":"Service Unavailable"}`)
	case errTooLarge:
		return 413, []byte(`{"message":"Request Entity Too Large"}`)
	case errUnauthorized:
		return 401, []byte(`{"message":"Unauthorized"}`)
	case errForbidden:
		return 403, []byte(`{"message":"Forbidden"}`)
	}
	return 500, []byte(`{"message":"Internal Server Error"}`)
}

// result is a mapped function response.
type result struct {
	status int
	header http.Header
	body   []byte
}

// rawResponse holds a proxy response's fields undecoded, so that a field of
// the wrong type is a clear "malformed" and not a decoding failure of the
// whole object.
type rawResponse struct {
	StatusCode        json.RawMessage `json:"statusCode"`
	Headers           json.RawMessage `json:"headers"`
	MultiValueHeaders json.RawMessage `json:"multiValueHeaders"`
	Cookies           json.RawMessage `json:"cookies"`
	Body              json.RawMessage `json:"body"`
	IsBase64Encoded   json.RawMessage `json:"isBase64Encoded"`
}

var errNotObject = errors.New("not a JSON object")

func decodeRaw(payload []byte) (rawResponse, error) {
	var raw rawResponse
	p := bytes.TrimLeft(payload, " \t\r\n")
	if len(p) == 0 || p[0] != '{' {
		return raw, errNotObject
	}
	if err := json.Unmarshal(p, &raw); err != nil {
		return raw, fmt.Errorf("invalid JSON")
	}
	return raw, nil
}

func present(m json.RawMessage) bool { return len(m) > 0 && string(m) != "null" }

// typedV2 is the common well-formed 2.0 response, decoded in one pass.
type typedV2 struct {
	StatusCode      *int              `json:"statusCode"`
	Headers         map[string]string `json:"headers"`
	Cookies         []string          `json:"cookies"`
	Body            string            `json:"body"`
	IsBase64Encoded bool              `json:"isBase64Encoded"`
}

// mapV2 maps a payload format 2.0 response, inferring a plain JSON value.
func mapV2(payload []byte) (result, error) {
	var t typedV2
	if len(payload) > 0 && payload[0] == '{' && json.Unmarshal(payload, &t) == nil && t.StatusCode != nil &&
		*t.StatusCode >= 100 && *t.StatusCode <= 599 && (!t.IsBase64Encoded) {
		res := result{status: *t.StatusCode, header: make(http.Header, len(t.Headers)+1+min(len(t.Cookies), 1)), body: []byte(t.Body)}
		for k, v := range t.Headers {
			if validHeaderName(k) && validHeaderValue(v) && !dropped(k) {
				res.header.Set(k, v)
			}
		}
		if res.header.Get("Content-Type") == "" {
			res.header.Set("Content-Type", "application/json")
		}
		for _, c := range t.Cookies {
			if validHeaderValue(c) {
				res.header["Set-Cookie"] = append(res.header["Set-Cookie"], c)
			}
		}
		return res, nil
	}
	return mapV2Slow(payload)
}

// mapV2Slow handles every other payload: inference, base64 bodies, loosely
// typed fields, and the exact reason a response is malformed.
func mapV2Slow(payload []byte) (result, error) {
	raw, err := decodeRaw(payload)
	if err == errNotObject || err == nil && !present(raw.StatusCode) {
		if !json.Valid(payload) {
			return result{}, errors.New("not valid JSON")
		}
		return result{status: 200, header: http.Header{"Content-Type": {"application/json"}}, body: payload}, nil
	}
	if err != nil {
		return result{}, err
	}
	res, err := mapStructured(raw, true)
	if err != nil {
		return result{}, err
	}
	if present(raw.Cookies) {
		var cookies []string
		if err := json.Unmarshal(raw.Cookies, &cookies); err != nil {
			return result{}, errors.New("cookies must be an array of strings")
		}
		for _, c := range cookies {
			if validHeaderValue(c) {
				res.header["Set-Cookie"] = append(res.header["Set-Cookie"], c)
			}
		}
	}
	return res, nil
}

// mapV1 maps a payload format 1.0 response; decodeBase64 says whether a body
// marked isBase64Encoded is decoded (REST APIs decode only for binary media
// types; otherwise the client gets the base64 text).
func mapV1(payload []byte, decodeBase64 bool) (result, error) {
	raw, err := decodeRaw(payload)
	if err != nil {
		return result{}, err
	}
	if !present(raw.StatusCode) {
		return result{}, errors.New("statusCode missing")
	}
	res, err := mapStructured(raw, decodeBase64)
	if err != nil {
		return result{}, err
	}
	if present(raw.MultiValueHeaders) {
		var mv map[string][]json.RawMessage
		if err := json.Unmarshal(raw.MultiValueHeaders, &mv); err != nil {
			return result{}, errors.New("multiValueHeaders must map names to arrays")
		}
		for k, vs := range mv {
			if !validHeaderName(k) || dropped(k) {
				continue
			}
			var out []string
			for _, v := range vs {
				s, ok, err := headerValue(v)
				if err != nil {
					return result{}, fmt.Errorf("multiValueHeaders[%q]: %w", k, err)
				}
				if ok {
					out = append(out, s)
				}
			}
			res.header[http.CanonicalHeaderKey(k)] = out // replaces a single-value header of the same name
		}
	}
	return res, nil
}

// mapStructured maps the fields both formats share.
func mapStructured(raw rawResponse, decodeBase64 bool) (result, error) {
	status, err := statusCode(raw.StatusCode)
	if err != nil {
		return result{}, err
	}
	res := result{status: status, header: http.Header{}}
	if present(raw.Headers) {
		var hs map[string]json.RawMessage
		if err := json.Unmarshal(raw.Headers, &hs); err != nil {
			return result{}, errors.New("headers must be an object")
		}
		for k, v := range hs {
			s, ok, err := headerValue(v)
			if err != nil {
				return result{}, fmt.Errorf("headers[%q]: %w", k, err)
			}
			if ok && validHeaderName(k) && !dropped(k) {
				res.header.Set(k, s)
			}
		}
	}
	var body string
	if present(raw.Body) {
		if err := json.Unmarshal(raw.Body, &body); err != nil {
			return result{}, errors.New("body must be a string")
		}
	}
	b64 := false
	if present(raw.IsBase64Encoded) {
		if err := json.Unmarshal(raw.IsBase64Encoded, &b64); err != nil {
			return result{}, errors.New("isBase64Encoded must be a boolean")
		}
	}
	if res.header.Get("Content-Type") == "" {
		res.header.Set("Content-Type", "application/json")
	}
	if b64 && decodeBase64 {
		res.body, err = base64.StdEncoding.DecodeString(body)
		if err != nil {
			return result{}, errors.New("body is not valid base64")
		}
	} else {
		res.body = []byte(body)
	}
	return res, nil
}

func statusCode(m json.RawMessage) (int, error) {
	var n json.Number
	if err := json.Unmarshal(m, &n); err != nil {
		var s string
		if json.Unmarshal(m, &s) != nil {
			return 0, errors.New("statusCode must be a number")
		}
		n = json.Number(s)
	}
	v, err := strconv.Atoi(string(n))
	if err != nil || v < 100 || v > 599 {
		return 0, fmt.Errorf("statusCode %s is not an HTTP status", n)
	}
	return v, nil
}

// headerValue decodes one header value: a string, or a number or boolean
// printed as JSON prints it; null is skipped (ok false).
func headerValue(m json.RawMessage) (string, bool, error) {
	switch {
	case len(m) == 0 || string(m) == "null":
		return "", false, nil
	case m[0] == '"':
		var s string
		if err := json.Unmarshal(m, &s); err != nil {
			return "", false, err
		}
		return s, validHeaderValue(s), nil
	case m[0] == '{' || m[0] == '[':
		return "", false, errors.New("must be a string")
	}
	return string(m), true, nil // number or boolean
}

// dropped are headers the gateway owns: framing is recomputed.
func dropped(name string) bool {
	switch strings.ToLower(name) {
	case "content-length", "transfer-encoding", "connection":
		return true
	}
	return false
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
