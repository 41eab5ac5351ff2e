package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// JWKS from a URL. A JWT authorizer without an inline key set fetches it from
// its JWKSURI or, like API Gateway, from the jwks_uri of the issuer's
// /.well-known/openid-configuration. The set is fetched on first use (each
// fetch at most jwksFetchTimeout), kept, and fetched again when a token names
// a kid the set lacks, at most once per jwksMinRefresh (so unknown kids
// cannot make the gateway hammer the issuer), and when older than jwksMaxAge.
// A failure refuses the request with 401; the reason goes to the log only.
// Sources are shared by configurations (keyed by URI and issuer), so a new
// configuration does not refetch.

const (
	jwksFetchTimeout = 5 * time.Second
	jwksMinRefresh   = 30 * time.Second
	jwksMaxAge       = time.Hour
	jwksMaxBytes     = 1 << 20
)

// errUnknownKid is a token whose kid is not in the key set.
var errUnknownKid error = tokenError("no key matches the token's kid")

// errKeysUnavailable is the refusal when the key set cannot be fetched.
var errKeysUnavailable error = tokenError("the signing keys are not available")

type jwksSource struct {
	uri, issuer string // uri empty: discover it from the issuer
	client      *http.Client
	now         func() time.Time
	log         func(msg string, args ...any)

	mu        sync.Mutex // held while fetching: one fetch at a time
	keys      []jwk
	fetched   time.Time // last successful fetch
	tried     time.Time // last attempt
	refreshed time.Time // last refresh for an unknown kid
}

// jwksSourceFor returns the shared source for an authorizer.
func (g *Gateway) jwksSourceFor(a Authorizer) *jwksSource {
	if a.JWKS != "" {
		return nil
	}
	k := a.JWKSURI + "\x00" + a.Issuer
	g.jwksMu.Lock()
	defer g.jwksMu.Unlock()
	if s := g.jwks[k]; s != nil {
		return s
	}
	s := &jwksSource{uri: a.JWKSURI, issuer: a.Issuer, client: g.httpClient, now: g.now,
		log: func(msg string, args ...any) { g.log.Warn(msg, args...) }}
	g.jwks[k] = s
	return s
}

// verifySignature checks a token against the inline keys or the fetched set.
func (z *jwtAuthorizer) verifySignature(tok string) (map[string]json.RawMessage, error) {
	if z.remote == nil {
		return verifyJWT(tok, z.keys)
	}
	keys, err := z.remote.get(false)
	if err != nil {
		return nil, err
	}
	claims, err := verifyJWT(tok, keys)
	if errors.Is(err, errUnknownKid) {
		if keys, err2 := z.remote.get(true); err2 == nil {
			return verifyJWT(tok, keys)
		}
	}
	return claims, err
}

// get returns the key set, fetching it when there is none or it is old
// (at most once per jwksMinRefresh while that fails), or when refresh is
// asked (a kid was unknown) and no refresh happened in the last
// jwksMinRefresh.
func (s *jwksSource) get(refresh bool) ([]jwk, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	retryDue := s.tried.IsZero() || now.Sub(s.tried) >= jwksMinRefresh
	var due bool
	switch {
	case s.keys == nil || now.Sub(s.fetched) > jwksMaxAge:
		due = retryDue
	case refresh:
		due = s.refreshed.IsZero() || now.Sub(s.refreshed) >= jwksMinRefresh
		if due {
			s.refreshed = now
		}
	}
	if due {
		s.tried = now
		keys, err := s.fetch()
		if err != nil {
			s.log("gateway: fetching the JWKS failed", "issuer", s.issuer, "uri", s.uri, "err", err)
		} else {
			s.keys, s.fetched = keys, now
		}
	}
	if s.keys == nil {
		return nil, errKeysUnavailable
	}
	return s.keys, nil // the last good set when a fetch failed
}

func (s *jwksSource) fetch() ([]jwk, error) {
	ctx, cancel := context.WithTimeout(context.Background(), jwksFetchTimeout)
	defer cancel()
	uri := s.uri
	if uri == "" {
		body, err := s.getURL(ctx, strings.TrimSuffix(s.issuer, "/")+"/.well-known/openid-configuration")
		if err != nil {
			return nil, err
		}
		var doc struct {
			JWKSURI string `json:"jwks_uri"`
		}
		if err := json.Unmarshal(body, &doc); err != nil || doc.JWKSURI == "" {
			return nil, errors.New("the openid-configuration has no jwks_uri")
		}
		uri = doc.JWKSURI
	}
	body, err := s.getURL(ctx, uri)
	if err != nil {
		return nil, err
	}
	return parseJWKS(string(body))
}

func (s *jwksSource) getURL(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d", u, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, jwksMaxBytes+1))
	if err == nil && len(b) > jwksMaxBytes {
		err = fmt.Errorf("GET %s: more than %d bytes", u, jwksMaxBytes)
	}
	return b, err
}

// validHTTPURL reports whether s is an absolute http(s) URL.
func validHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}
