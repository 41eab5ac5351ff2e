package gateway

import (
	"slices"
	"strconv"
	"unicode/utf8"
)

// appendJSON appends the 2.0 event as encoding/json (with HTML escaping off)
// would encode it, byte for byte — TestEventV2EncoderMatchesJSON and
// FuzzEventV2Encoder hold it to that — without reflection: the event is built
// on every gateway request, and reflection-based encoding was a third of the
// gateway's own CPU time. The authorizer context, rare and free-form, is
// still encoded by encoding/json (marshal).
func (ev *eventV2) appendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"version":`...)
	b = appendString(b, ev.Version)
	b = append(b, `,"routeKey":`...)
	b = appendString(b, ev.RouteKey)
	b = append(b, `,"rawPath":`...)
	b = appendString(b, ev.RawPath)
	b = append(b, `,"rawQueryString":`...)
	b = appendString(b, ev.RawQueryString)
	if len(ev.Cookies) > 0 {
		b = append(b, `,"cookies":[`...)
		for i, c := range ev.Cookies {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, c)
		}
		b = append(b, ']')
	}
	b = append(b, `,"headers":`...)
	b = appendStringMap(b, ev.Headers)
	if len(ev.QueryStringParameters) > 0 {
		b = append(b, `,"queryStringParameters":`...)
		b = appendStringMap(b, ev.QueryStringParameters)
	}
	rc := &ev.RequestContext
	b = append(b, `,"requestContext":{"accountId":`...)
	b = appendString(b, rc.AccountID)
	b = append(b, `,"apiId":`...)
	b = appendString(b, rc.APIID)
	if rc.Authorizer != nil {
		a, err := marshal(rc.Authorizer)
		if err != nil {
			return nil, err
		}
		b = append(b, `,"authorizer":`...)
		b = append(b, a...)
	}
	b = append(b, `,"domainName":`...)
	b = appendString(b, rc.DomainName)
	b = append(b, `,"domainPrefix":`...)
	b = appendString(b, rc.DomainPrefix)
	b = append(b, `,"http":{"method":`...)
	b = appendString(b, rc.HTTP.Method)
	b = append(b, `,"path":`...)
	b = appendString(b, rc.HTTP.Path)
	b = append(b, `,"protocol":`...)
	b = appendString(b, rc.HTTP.Protocol)
	b = append(b, `,"sourceIp":`...)
	b = appendString(b, rc.HTTP.SourceIP)
	b = append(b, `,"userAgent":`...)
	b = appendString(b, rc.HTTP.UserAgent)
	b = append(b, `},"requestId":`...)
	b = appendString(b, rc.RequestID)
	b = append(b, `,"routeKey":`...)
	b = appendString(b, rc.RouteKey)
	b = append(b, `,"stage":`...)
	b = appendString(b, rc.Stage)
	b = append(b, `,"time":`...)
	b = appendString(b, rc.Time)
	b = append(b, `,"timeEpoch":`...)
	b = strconv.AppendInt(b, rc.TimeEpoch, 10)
	b = append(b, '}')
	if ev.Body != "" {
		b = append(b, `,"body":`...)
		b = appendString(b, ev.Body)
	}
	if len(ev.PathParameters) > 0 {
		b = append(b, `,"pathParameters":`...)
		b = appendStringMap(b, ev.PathParameters)
	}
	b = append(b, `,"isBase64Encoded":`...)
	b = strconv.AppendBool(b, ev.IsBase64Encoded)
	if len(ev.StageVariables) > 0 {
		b = append(b, `,"stageVariables":`...)
		b = appendStringMap(b, ev.StageVariables)
	}
	return append(b, '}'), nil
}

// appendStringMap appends m with its keys sorted, as encoding/json does; a
// nil map is null.
func appendStringMap(b []byte, m map[string]string) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	var arr [32]string
	keys := arr[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = appendString(b, m[k])
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string the way encoding/json does without
// HTML escaping: '"', '\\' and control characters escaped (\b \f \n \r \t by
// name), invalid UTF-8 replaced by U+FFFD, U+2028 and U+2029 escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
