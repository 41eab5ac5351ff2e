package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Parameter mapping (HTTP API request parameters of service integrations).
//
// A value is text in which references are replaced by request data:
//
//	$request.body                the whole body, as text
//	$request.body.a.b[0]         a JSONPath into a JSON body (strings as they are, other values as JSON)
//	$request.path.NAME           a path parameter
//	$request.querystring.NAME    a query string parameter (several values joined with ",")
//	$request.header.NAME         a header (several values joined with ",")
//	$context.NAME                requestId, requestTime, requestTimeEpoch, httpMethod, path, protocol,
//	                             stage, apiId, routeKey, domainName, domainPrefix, accountId,
//	                             identity.sourceIp, identity.userAgent, authorizer.KEY,
//	                             authorizer.claims.KEY
//	$stageVariables.NAME         a stage variable
//
// A reference runs to the first character that is not a letter, digit, '_',
// '-', '.', '[' or ']'; ${…} delimits one inside text ("order-${request.path.id}")
// and is needed for quoted keys (${request.body['a key']}).
// Any other text, a lone '$' included, is literal. A reference to something
// absent is empty; a parameter whose value is empty is not passed.

type mapSource uint8

const (
	srcLiteral mapSource = iota
	srcBody
	srcBodyPath
	srcPath
	srcQuery
	srcHeader
	srcContext
	srcStage
)

type mapPart struct {
	src  mapSource
	text string // literal text, or the name of the referenced item
	path []any  // srcBodyPath: string keys and int indexes
}

// mapping is a compiled parameter value.
type mapping []mapPart

var contextVars = map[string]bool{
	"requestId": true, "requestTime": true, "requestTimeEpoch": true, "httpMethod": true, "path": true,
	"protocol": true, "stage": true, "apiId": true, "routeKey": true, "domainName": true,
	"domainPrefix": true, "accountId": true, "identity.sourceIp": true, "identity.userAgent": true,
}

// parseMapping compiles a parameter value.
func parseMapping(s string) (mapping, error) {
	var m mapping
	lit := strings.Builder{}
	flush := func() {
		if lit.Len() > 0 {
			m = append(m, mapPart{src: srcLiteral, text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		if s[i] != '$' {
			lit.WriteByte(s[i])
			i++
			continue
		}
		var expr string
		if strings.HasPrefix(s[i:], "${") {
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("unclosed ${ in %q", s)
			}
			expr, i = s[i+2:i+end], i+end+1
		} else {
			j := i + 1
			for j < len(s) && isRefChar(s[j]) {
				j++
			}
			expr = strings.TrimRight(s[i+1:j], ".")
			if !strings.HasPrefix(expr, "request.") && !strings.HasPrefix(expr, "context.") && !strings.HasPrefix(expr, "stageVariables.") && expr != "request.body" {
				lit.WriteByte('$')
				i++
				continue
			}
			i += 1 + len(expr)
		}
		p, err := parseRef(expr)
		if err != nil {
			return nil, err
		}
		flush()
		m = append(m, p)
	}
	flush()
	return m, nil
}

func isRefChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.' || c == '[' || c == ']'
}

func parseRef(expr string) (mapPart, error) {
	name := func(prefix string) (string, bool) {
		n, ok := strings.CutPrefix(expr, prefix)
		return n, ok && n != ""
	}
	switch {
	case expr == "request.body":
		return mapPart{src: srcBody}, nil
	case strings.HasPrefix(expr, "request.body.") || strings.HasPrefix(expr, "request.body["):
		path, err := parseBodyPath(strings.TrimPrefix(expr, "request.body"))
		if err != nil {
			return mapPart{}, fmt.Errorf("$%s: %v", expr, err)
		}
		return mapPart{src: srcBodyPath, text: expr, path: path}, nil
	}
	if n, ok := name("request.path."); ok {
		return mapPart{src: srcPath, text: n}, nil
	}
	if n, ok := name("request.querystring."); ok {
		return mapPart{src: srcQuery, text: n}, nil
	}
	if n, ok := name("request.header."); ok {
		return mapPart{src: srcHeader, text: http.CanonicalHeaderKey(n)}, nil
	}
	if n, ok := name("stageVariables."); ok {
		return mapPart{src: srcStage, text: n}, nil
	}
	if n, ok := name("context."); ok {
		if !contextVars[n] && !strings.HasPrefix(n, "authorizer.") {
			return mapPart{}, fmt.Errorf("$context.%s is not a supported context variable", n)
		}
		return mapPart{src: srcContext, text: n}, nil
	}
	return mapPart{}, fmt.Errorf("$%s is not a mapping expression ($request.body[.path], $request.path|querystring|header.NAME, $context.NAME, $stageVariables.NAME)", expr)
}

// parseBodyPath parses a.b[0]['c d'] into keys and indexes.
func parseBodyPath(p string) ([]any, error) {
	var out []any
	for p != "" {
		switch {
		case p[0] == '.':
			p = p[1:]
		case strings.HasPrefix(p, "['"):
			end := strings.Index(p, "']")
			if end < 0 {
				return nil, fmt.Errorf("unclosed ['")
			}
			out, p = append(out, p[2:end]), p[end+2:]
		case p[0] == '[':
			end := strings.IndexByte(p, ']')
			if end < 0 {
				return nil, fmt.Errorf("unclosed [")
			}
			n, err := strconv.Atoi(p[1:end])
			if err != nil || n < 0 {
				return nil, fmt.Errorf("index %q is not a number", p[1:end])
			}
			out, p = append(out, n), p[end+1:]
		default:
			end := strings.IndexAny(p, ".[")
			if end < 0 {
				end = len(p)
			}
			out, p = append(out, p[:end]), p[end:]
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty JSONPath")
	}
	return out, nil
}

// mapEnv is what mappings read: the request as events see it, and its body
// decoded once.
type mapEnv struct {
	in      *inbound
	query   url.Values
	decoded bool
	body    any
}

func (m mapping) eval(env *mapEnv) string {
	if len(m) == 1 {
		return env.value(&m[0])
	}
	var b strings.Builder
	for i := range m {
		b.WriteString(env.value(&m[i]))
	}
	return b.String()
}

func (e *mapEnv) value(p *mapPart) string {
	in := e.in
	switch p.src {
	case srcLiteral:
		return p.text
	case srcBody:
		return string(in.body)
	case srcBodyPath:
		if !e.decoded {
			e.decoded = true
			json.Unmarshal(in.body, &e.body) // not JSON: every path is absent
		}
		return jsonText(walk(e.body, p.path))
	case srcPath:
		return in.params[p.text]
	case srcQuery:
		if e.query == nil {
			e.query, _ = url.ParseQuery(in.rawQuery)
		}
		return strings.Join(e.query[p.text], ",")
	case srcHeader:
		return strings.Join(in.header.Values(p.text), ",")
	case srcStage:
		return in.api.stageVars[p.text]
	case srcContext:
		return e.context(p.text)
	}
	return ""
}

func (e *mapEnv) context(name string) string {
	in := e.in
	switch name {
	case "requestId":
		return in.requestID
	case "requestTime":
		return in.now.UTC().Format(timeFormat)
	case "requestTimeEpoch":
		return strconv.FormatInt(in.now.UnixMilli(), 10)
	case "httpMethod":
		return in.method
	case "path":
		return in.path
	case "protocol":
		return in.proto
	case "stage":
		return in.api.stage
	case "apiId":
		return in.api.id
	case "routeKey":
		return in.route.key
	case "domainName":
		return in.host
	case "domainPrefix":
		return domainPrefix(in.host)
	case "accountId":
		return in.accountID
	case "identity.sourceIp":
		return in.sourceIP
	case "identity.userAgent":
		return in.header.Get("User-Agent")
	}
	key := strings.TrimPrefix(name, "authorizer.")
	if in.lambdaAuth != nil {
		return jsonText(in.lambdaAuth.Context[key])
	}
	if in.jwt != nil {
		return in.jwt.Claims[strings.TrimPrefix(key, "claims.")]
	}
	return ""
}

func walk(v any, path []any) any {
	for _, step := range path {
		switch k := step.(type) {
		case string:
			obj, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = obj[k]
		case int:
			arr, ok := v.([]any)
			if !ok || k >= len(arr) {
				return nil
			}
			v = arr[k]
		}
	}
	return v
}

// jsonText is a value as a parameter: strings as they are, absent as empty,
// anything else as JSON.
func jsonText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	}
	b, err := marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}
