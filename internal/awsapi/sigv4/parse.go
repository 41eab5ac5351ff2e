package sigv4

import (
	"net/url"
	"strconv"
	"strings"
	"time"
)

// authParams are a request's signature parameters, from its Authorization
// header or its presigned query.
type authParams struct {
	scope         credentialScope
	signedHeaders []string // as listed, in order; never empty, no empty names
	signature     string   // as sent; not necessarily hex
}

// credentialScope is AKID/YYYYMMDD/region/service/aws4_request.
type credentialScope struct {
	accessKey, date, region, service string
}

// String is the scope without the access key, as it appears in the string to sign.
func (s credentialScope) String() string {
	return s.date + "/" + s.region + "/" + s.service + "/" + scopeTerminator
}

// parseAuthorization parses
//
//	AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=hex
//
// Parameters are separated by commas with optional spaces, may come in any
// order, and must each appear once; unknown parameters are ignored.
func parseAuthorization(header string) (authParams, *Error) {
	alg, rest, _ := strings.Cut(strings.TrimSpace(header), " ")
	if alg != algorithm {
		return authParams{}, incomplete("Unsupported AWS 'algorithm': '%s'.", alg)
	}
	params := map[string]string{}
	if rest = strings.TrimSpace(rest); rest != "" {
		for kv := range strings.SplitSeq(rest, ",") {
			key, value, ok := strings.Cut(strings.TrimSpace(kv), "=")
			if !ok {
				return authParams{}, incomplete("Invalid key=value pair (missing equal-sign) in Authorization header.")
			}
			if _, dup := params[key]; dup {
				return authParams{}, incomplete("Duplicate '%s' parameter in Authorization header.", key)
			}
			params[key] = value
		}
	}
	var missing []string
	for _, key := range []string{"Credential", "SignedHeaders", "Signature"} {
		if params[key] == "" {
			missing = append(missing, "Authorization header requires '"+key+"' parameter.")
		}
	}
	if missing != nil {
		return authParams{}, incomplete("%s", strings.Join(missing, " "))
	}
	return newAuthParams(params["Credential"], params["SignedHeaders"], params["Signature"])
}

// presignedParams are the query parameters a presigned request must carry.
var presignedParams = []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Signature"}

// parsePresigned parses the signature parameters of a presigned query.
func parsePresigned(query url.Values) (authParams, *Error) {
	for _, key := range presignedParams {
		if query.Get(key) == "" {
			return authParams{}, incomplete("Query-string authentication requires the %s parameters.", strings.Join(presignedParams, ", "))
		}
	}
	if alg := query.Get("X-Amz-Algorithm"); alg != algorithm {
		return authParams{}, incomplete("Unsupported AWS 'algorithm': '%s'.", alg)
	}
	return newAuthParams(query.Get("X-Amz-Credential"), query.Get("X-Amz-SignedHeaders"), query.Get("X-Amz-Signature"))
}

// parseExpires returns the X-Amz-Expires of a presigned query in seconds, or
// 0 if it is absent.
func parseExpires(query url.Values) (int, *Error) {
	if !query.Has("X-Amz-Expires") {
		return 0, nil
	}
	n, err := strconv.Atoi(query.Get("X-Amz-Expires"))
	if err != nil || n < 1 || n > maxExpires {
		return 0, incomplete("X-Amz-Expires must be a number of seconds from 1 to %d.", maxExpires)
	}
	return n, nil
}

func newAuthParams(credential, signedHeaders, signature string) (authParams, *Error) {
	scope, err := parseCredential(credential)
	if err != nil {
		return authParams{}, err
	}
	names := strings.Split(signedHeaders, ";")
	host := false
	for _, name := range names {
		if name == "" {
			return authParams{}, incomplete("SignedHeaders must be a ';'-separated list of header names, got '%s'.", signedHeaders)
		}
		host = host || strings.EqualFold(name, "host")
	}
	if !host {
		return authParams{}, incomplete("'Host' must be a 'SignedHeader' in the AWS Authorization.")
	}
	return authParams{scope: scope, signedHeaders: names, signature: signature}, nil
}

// parseCredential parses AKID/YYYYMMDD/region/service/aws4_request.
func parseCredential(credential string) (credentialScope, *Error) {
	parts := strings.Split(credential, "/")
	if len(parts) != 5 || parts[0] == "" || parts[2] == "" || parts[3] == "" {
		return credentialScope{}, incomplete("Credential must have the form <access key id>/<YYYYMMDD>/<region>/<service>/aws4_request, got '%s'.", credential)
	}
	if parts[4] != scopeTerminator {
		return credentialScope{}, incomplete("Credential should be scoped with a valid terminator: 'aws4_request', not '%s'.", parts[4])
	}
	if _, err := time.Parse(scopeDateFormat, parts[1]); err != nil || len(parts[1]) != len(scopeDateFormat) {
		return credentialScope{}, incomplete("Invalid credential date '%s'. Date is not the required format: yyyyMMdd.", parts[1])
	}
	return credentialScope{accessKey: parts[0], date: parts[1], region: parts[2], service: parts[3]}, nil
}
