// Package sigv4 verifies AWS Signature Version 4 signatures on incoming
// requests, server side, the way AWS services do.
//
// Contract:
//
//   - A request carries its signature either in an Authorization header
//     ("AWS4-HMAC-SHA256 Credential=AKID/YYYYMMDD/region/service/aws4_request,
//     SignedHeaders=host;x-amz-date;..., Signature=hex") with the signing time
//     in X-Amz-Date, or presigned in the query (X-Amz-Algorithm,
//     X-Amz-Credential, X-Amz-Date, X-Amz-SignedHeaders, X-Amz-Signature and
//     optionally X-Amz-Expires). Both at once is an error.
//   - The canonical request is rebuilt exactly as aws-sdk-go-v2's signer builds
//     it for non-S3 services. The path is the request target as received
//     (r.RequestURI; r.URL.EscapedPath() for requests built by hand) escaped
//     once more, so "arn%3Aaws" is canonicalized as "arn%253Aaws". Each query
//     name and value is URI-encoded, then the pairs are sorted. The headers are
//     those listed in SignedHeaders, in that order: values trimmed, runs of
//     spaces collapsed, repeated headers joined with ","; host is r.Host. A
//     listed header that is missing makes the signature not match.
//   - The payload hash is X-Amz-Content-Sha256 if sent, otherwise the SHA-256
//     of body. A sent X-Amz-Content-Sha256 other than UNSIGNED-PAYLOAD must
//     equal the body's hash (lowercase hex); streaming payloads are not
//     supported.
//   - The region and service come from the credential scope and are not
//     enforced; the scope's date must be the day of X-Amz-Date. The signing
//     time must be within 15 minutes of the server clock, except that a
//     presigned request with X-Amz-Expires (at most 7 days) may be as old as
//     that many seconds.
//   - X-Amz-Security-Token is not checked: there are no temporary credentials.
//     It is covered by the signature like any header if it is signed.
//   - Signatures are compared in constant time.
//
// Every failure is an *Error whose Code is what AWS Lambda answers, always with
// HTTP 403 (see the Code constants).
package sigv4

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/smithy-go/encoding/httpbinding"
)

// Error codes, as AWS Lambda answers them.
const (
	// CodeMissingAuthenticationToken: neither an Authorization header nor a
	// presigned query.
	CodeMissingAuthenticationToken = "MissingAuthenticationTokenException"
	// CodeIncompleteSignature: the signature parameters are malformed or
	// incomplete, or X-Amz-Date is missing or malformed.
	CodeIncompleteSignature = "IncompleteSignatureException"
	// CodeUnrecognizedClient: the access key id is unknown.
	CodeUnrecognizedClient = "UnrecognizedClientException"
	// CodeInvalidSignature: the signature does not match, the signing time is
	// outside the allowed window, or the body does not match
	// X-Amz-Content-Sha256.
	CodeInvalidSignature = "InvalidSignatureException"
)

// Messages as AWS words them.
const (
	msgMissingToken = "Missing Authentication Token"
	msgUnknownKey   = "The security token included in the request is invalid."
	msgMismatch     = "The request signature we calculated does not match the signature you provided. " +
		"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgContentSHA = "The provided 'x-amz-content-sha256' header does not match what was computed."
)

const (
	algorithm       = "AWS4-HMAC-SHA256"
	scopeTerminator = "aws4_request"
	amzDateFormat   = "20060102T150405Z"
	scopeDateFormat = "20060102"
	unsignedPayload = "UNSIGNED-PAYLOAD"
	maxSkew         = 15 * time.Minute
	maxExpires      = 7 * 24 * 60 * 60 // seconds, the longest X-Amz-Expires AWS accepts
)

// Credentials maps access key ids to secret access keys.
type Credentials map[string]string

// Verifier checks SigV4 signatures against a fixed set of credentials. It is
// safe for concurrent use.
type Verifier struct {
	keys    Credentials
	now     func() time.Time
	maxSkew time.Duration
}

// New returns a Verifier for keys, which it copies.
func New(keys Credentials) *Verifier {
	return &Verifier{keys: maps.Clone(keys), now: time.Now, maxSkew: maxSkew}
}

// Error is a signature verification failure.
type Error struct {
	Code    string // one of the Code constants
	Message string // as AWS words it
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// HTTPStatusCode is the status AWS answers an Error with: always 403.
func (e *Error) HTTPStatusCode() int { return http.StatusForbidden }

func incomplete(format string, args ...any) *Error {
	return &Error{Code: CodeIncompleteSignature, Message: fmt.Sprintf(format, args...)}
}

func invalid(format string, args ...any) *Error {
	return &Error{Code: CodeInvalidSignature, Message: fmt.Sprintf(format, args...)}
}

// Verify checks r's signature. body is the full request body, already read by
// the caller; Verify does not touch r.Body. It returns nil or an *Error.
func (v *Verifier) Verify(r *http.Request, body []byte) error {
	if err := v.verify(r, body); err != nil {
		return err
	}
	return nil
}

func (v *Verifier) verify(r *http.Request, body []byte) *Error {
	path, rawQuery := target(r)
	query, _ := url.ParseQuery(rawQuery) // as the signer does: malformed pairs are dropped

	header := r.Header.Get("Authorization")
	presigned := query.Has("X-Amz-Algorithm") || query.Has("X-Amz-Credential") || query.Has("X-Amz-Signature")
	var (
		p       authParams
		amzDate string
		expires int // seconds; 0 when not presigned or not limited
		err     *Error
	)
	switch {
	case header != "" && presigned:
		return incomplete("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified.")
	case header != "":
		if p, err = parseAuthorization(header); err != nil {
			return err
		}
		if amzDate = r.Header.Get("X-Amz-Date"); amzDate == "" {
			return incomplete("Authorization header requires existence of a 'X-Amz-Date' header.")
		}
	case presigned:
		if p, err = parsePresigned(query); err != nil {
			return err
		}
		amzDate = query.Get("X-Amz-Date")
		if expires, err = parseExpires(query); err != nil {
			return err
		}
		query.Del("X-Amz-Signature")
	default:
		return &Error{Code: CodeMissingAuthenticationToken, Message: msgMissingToken}
	}

	secret, ok := v.keys[p.scope.accessKey]
	if !ok {
		return &Error{Code: CodeUnrecognizedClient, Message: msgUnknownKey}
	}

	signedAt, perr := time.Parse(amzDateFormat, amzDate)
	if perr != nil {
		return incomplete("X-Amz-Date must be in the ISO8601 basic format \"yyyyMMdd'T'HHmmss'Z'\", got '%s'.", amzDate)
	}
	if day := signedAt.Format(scopeDateFormat); p.scope.date != day {
		return invalid("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
			p.scope.date, day, amzDate)
	}
	if err := v.checkTime(signedAt, expires); err != nil {
		return err
	}

	bodyHash := hexSHA256(body)
	payloadHash := r.Header.Get("X-Amz-Content-Sha256")
	if payloadHash == "" {
		payloadHash = bodyHash
	}
	headers, ok := canonicalHeaders(r, p.signedHeaders)
	if !ok {
		return invalid(msgMismatch)
	}
	canonicalRequest := strings.Join([]string{
		r.Method,
		httpbinding.EscapePath(path, false),
		canonicalQuery(query),
		headers,
		strings.Join(p.signedHeaders, ";"),
		payloadHash,
	}, "\n")
	stringToSign := strings.Join([]string{algorithm, amzDate, p.scope.String(), hexSHA256([]byte(canonicalRequest))}, "\n")
	want := hex.EncodeToString(hmacSHA256(signingKey(secret, p.scope), stringToSign))
	if !hmac.Equal([]byte(want), []byte(p.signature)) {
		return invalid(msgMismatch)
	}

	if payloadHash != unsignedPayload && payloadHash != bodyHash {
		return invalid(msgContentSHA)
	}
	return nil
}

// checkTime reports whether a request signed at signedAt may be accepted now.
// expires is the lifetime in seconds of a presigned request, or 0: the
// request may then be at most maxSkew old.
func (v *Verifier) checkTime(signedAt time.Time, expires int) *Error {
	now := v.now().UTC()
	minutes := int(v.maxSkew / time.Minute)
	if expires > 0 {
		if earliest := now.Add(-time.Duration(expires) * time.Second); signedAt.Before(earliest) {
			return invalid("Signature expired: %s is now earlier than %s (%s - %d sec.)",
				signedAt.Format(amzDateFormat), earliest.Format(amzDateFormat), now.Format(amzDateFormat), expires)
		}
	} else if earliest := now.Add(-v.maxSkew); signedAt.Before(earliest) {
		return invalid("Signature expired: %s is now earlier than %s (%s - %d min.)",
			signedAt.Format(amzDateFormat), earliest.Format(amzDateFormat), now.Format(amzDateFormat), minutes)
	}
	if latest := now.Add(v.maxSkew); signedAt.After(latest) {
		return invalid("Signature not yet current: %s is still later than %s (%s + %d min.)",
			signedAt.Format(amzDateFormat), latest.Format(amzDateFormat), now.Format(amzDateFormat), minutes)
	}
	return nil
}

// target returns the escaped path and raw query of the request target as
// received: from r.RequestURI when it is in origin form, which later rewrites
// of r.URL do not change, otherwise from r.URL.
func target(r *http.Request) (path, rawQuery string) {
	if strings.HasPrefix(r.RequestURI, "/") {
		path, rawQuery, _ = strings.Cut(r.RequestURI, "?")
	} else {
		path, rawQuery = r.URL.EscapedPath(), r.URL.RawQuery
	}
	if path == "" {
		path = "/"
	}
	return path, rawQuery
}

// canonicalQuery encodes each name and value as SigV4 requires (RFC 3986
// unreserved characters kept, space as %20) and sorts the encoded pairs.
func canonicalQuery(query url.Values) string {
	type pair struct{ name, value string }
	pairs := make([]pair, 0, len(query))
	for name, values := range query {
		name = uriEncode(name)
		for _, value := range values {
			pairs = append(pairs, pair{name, uriEncode(value)})
		}
	}
	// By name, then value. Not as "name=value" strings: '=' sorts after
	// '%', '-', '.' and digits, so "a-b=1" would precede "a=1".
	slices.SortFunc(pairs, func(a, b pair) int {
		return cmp.Or(strings.Compare(a.name, b.name), strings.Compare(a.value, b.value))
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.name)
		b.WriteByte('=')
		b.WriteString(p.value)
	}
	return b.String()
}

func uriEncode(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// canonicalHeaders returns the canonical header block for names, each line
// ending in "\n", or false if one of them is not in the request.
func canonicalHeaders(r *http.Request, names []string) (string, bool) {
	var b strings.Builder
	for _, name := range names {
		var values []string
		switch strings.ToLower(name) {
		case "host":
			host := r.Host
			if host == "" {
				host = r.URL.Host
			}
			values = []string{host}
		case "content-length":
			values = r.Header.Values("Content-Length")
			if len(values) == 0 && r.ContentLength > 0 {
				values = []string{strconv.FormatInt(r.ContentLength, 10)}
			}
		default:
			values = r.Header.Values(name)
		}
		if len(values) == 0 {
			return "", false
		}
		b.WriteString(name)
		b.WriteByte(':')
		for i, value := range values {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strings.TrimSpace(collapseSpaces(value)))
		}
		b.WriteByte('\n')
	}
	return b.String(), true
}

// collapseSpaces replaces each run of spaces with one space.
func collapseSpaces(s string) string {
	if !strings.Contains(s, "  ") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' && i > 0 && s[i-1] == ' ' {
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func signingKey(secret string, s credentialScope) []byte {
	key := hmacSHA256([]byte("AWS4"+secret), s.date)
	key = hmacSHA256(key, s.region)
	key = hmacSHA256(key, s.service)
	return hmacSHA256(key, scopeTerminator)
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
