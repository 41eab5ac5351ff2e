package gateway

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// jwk is one verification key of a JSON Web Key Set.
type jwk struct {
	kid string
	alg string // the key's "alg", empty when unrestricted
	pub crypto.PublicKey
}

// parseJWKS parses a JSON Web Key Set ({"keys":[…]}) of RSA and EC (P-256,
// P-384) public keys. Keys for other uses or of other types are skipped.
func parseJWKS(doc string) ([]jwk, error) {
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			Use string `json:"use"`
			Alg string `json:"alg"`
			N   string `json:"n"`
			E   string `json:"e"`
			Crv string `json:"crv"`
			X   string `json:"x"`
			Y   string `json:"y"`
		} `json:"keys"`
	}
	if err := json.Unmarshal([]byte(doc), &set); err != nil {
		return nil, fmt.Errorf("JWKS is not a JSON key set: %v", err)
	}
	var keys []jwk
	for i, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		var pub crypto.PublicKey
		switch k.Kty {
		case "RSA":
			n, err1 := b64url(k.N)
			e, err2 := b64url(k.E)
			if err1 != nil || err2 != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
				return nil, fmt.Errorf("JWKS key %d: bad RSA modulus or exponent", i)
			}
			pk := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
			if pk.N.BitLen() < 2048 || pk.E < 3 || pk.E%2 == 0 {
				return nil, fmt.Errorf("JWKS key %d: RSA keys must have at least 2048 bits and an odd exponent", i)
			}
			pub = pk
		case "EC":
			var curve elliptic.Curve
			switch k.Crv {
			case "P-256":
				curve = elliptic.P256()
			case "P-384":
				curve = elliptic.P384()
			default:
				return nil, fmt.Errorf("JWKS key %d: unsupported curve %q", i, k.Crv)
			}
			x, err1 := b64url(k.X)
			y, err2 := b64url(k.Y)
			size := (curve.Params().BitSize + 7) / 8
			if err1 != nil || err2 != nil || len(x) != size || len(y) != size {
				return nil, fmt.Errorf("JWKS key %d: bad EC coordinates", i)
			}
			pk, err := ecdsa.ParseUncompressedPublicKey(curve, append(append([]byte{4}, x...), y...))
			if err != nil {
				return nil, fmt.Errorf("JWKS key %d: %v", i, err)
			}
			pub = pk
		default:
			continue
		}
		keys = append(keys, jwk{kid: k.Kid, alg: k.Alg, pub: pub})
	}
	if len(keys) == 0 {
		return nil, errors.New("JWKS has no RSA or EC signing key")
	}
	return keys, nil
}

func b64url(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// tokenError is why a token was refused; its text is what the
// WWW-Authenticate header's error_description says.
type tokenError string

func (e tokenError) Error() string { return string(e) }

// verifyJWT checks a compact JWS signed with RS256/384/512 or ES256/384
// against keys and returns its claims. It checks the signature only; the
// caller checks the claims.
func verifyJWT(token string, keys []jwk) (map[string]json.RawMessage, error) {
	h64, rest, ok1 := strings.Cut(token, ".")
	p64, s64, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s64, ".") {
		return nil, tokenError("the token is not a JWT")
	}
	hb, err := b64url(h64)
	if err != nil {
		return nil, tokenError("the token header is not base64url")
	}
	var hdr struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if json.Unmarshal(hb, &hdr) != nil {
		return nil, tokenError("the token header is not JSON")
	}
	var hash crypto.Hash
	switch hdr.Alg {
	case "RS256", "ES256":
		hash = crypto.SHA256
	case "RS384", "ES384":
		hash = crypto.SHA384
	case "RS512":
		hash = crypto.SHA512
	default:
		return nil, tokenError(fmt.Sprintf("signing method %s is invalid", hdr.Alg))
	}
	var key *jwk
	for i := range keys {
		if keys[i].kid == hdr.Kid || hdr.Kid == "" && len(keys) == 1 {
			key = &keys[i]
			break
		}
	}
	if key == nil {
		return nil, errUnknownKid
	}
	if key.alg != "" && key.alg != hdr.Alg {
		return nil, tokenError(fmt.Sprintf("signing method %s is invalid for the key", hdr.Alg))
	}
	sig, err := b64url(s64)
	if err != nil {
		return nil, tokenError("the token signature is not base64url")
	}
	signed := token[:len(h64)+1+len(p64)]
	var digest []byte
	switch hash {
	case crypto.SHA256:
		d := sha256.Sum256([]byte(signed))
		digest = d[:]
	case crypto.SHA384:
		d := sha512.Sum384([]byte(signed))
		digest = d[:]
	default:
		d := sha512.Sum512([]byte(signed))
		digest = d[:]
	}
	valid := false
	switch pub := key.pub.(type) {
	case *rsa.PublicKey:
		valid = hdr.Alg[0] == 'R' && rsa.VerifyPKCS1v15(pub, hash, digest, sig) == nil
	case *ecdsa.PublicKey:
		size := (pub.Curve.Params().BitSize + 7) / 8
		want := map[string]int{"ES256": 32, "ES384": 48}[hdr.Alg]
		if hdr.Alg[0] == 'E' && size == want && len(sig) == 2*size {
			der, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])})
			valid = err == nil && ecdsa.VerifyASN1(pub, digest, der) // twice as fast as Verify

		}
	}
	if !valid {
		return nil, tokenError("the token signature is invalid")
	}
	pb, err := b64url(p64)
	if err != nil {
		return nil, tokenError("the token payload is not base64url")
	}
	var claims map[string]json.RawMessage
	d := json.NewDecoder(bytes.NewReader(pb))
	d.UseNumber()
	if d.Decode(&claims) != nil || claims == nil {
		return nil, tokenError("the token payload is not a JSON object")
	}
	return claims, nil
}

// checkClaims applies the JWT authorizer's claim rules: iss equals the
// issuer, aud (or else client_id) is one of the audiences, exp is in the
// future, nbf and iat (when present) are not.
func checkClaims(claims map[string]json.RawMessage, issuer string, audience []string, now time.Time) error {
	var iss string
	if json.Unmarshal(claims["iss"], &iss) != nil || iss != issuer {
		return tokenError("the token has an invalid issuer")
	}
	auds := stringOrList(claims["aud"])
	if len(auds) == 0 {
		auds = stringOrList(claims["client_id"])
	}
	ok := false
	for _, a := range auds {
		if contains(audience, a) {
			ok = true
		}
	}
	if !ok {
		return tokenError("the token does not have a valid audience")
	}
	exp, has := numericDate(claims["exp"])
	if !has {
		return tokenError("the token has no expiry")
	}
	if !now.Before(exp) {
		return tokenError("the token has expired")
	}
	if nbf, has := numericDate(claims["nbf"]); has && now.Before(nbf) {
		return tokenError("the token is not valid yet")
	}
	if iat, has := numericDate(claims["iat"]); has && now.Before(iat) {
		return tokenError("the token was issued in the future")
	}
	return nil
}

func numericDate(m json.RawMessage) (time.Time, bool) {
	var n json.Number
	if len(m) == 0 || json.Unmarshal(m, &n) != nil {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil {
		return time.Time{}, false
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), true
}

func stringOrList(m json.RawMessage) []string {
	if len(m) == 0 {
		return nil
	}
	var s string
	if json.Unmarshal(m, &s) == nil {
		return []string{s}
	}
	var list []string
	json.Unmarshal(m, &list)
	return list
}

// tokenScopes are the token's scopes: "scope" (space separated) or "scp"
// (a list or a space separated string).
func tokenScopes(claims map[string]json.RawMessage) []string {
	for _, name := range []string{"scope", "scp"} {
		var out []string
		for _, s := range stringOrList(claims[name]) {
			out = append(out, strings.Fields(s)...)
		}
		if len(out) > 0 {
			return out
		}
	}
	return nil
}

// claimStrings flattens claims for requestContext.authorizer.jwt.claims:
// strings as they are, numbers and booleans as their JSON text, arrays as
// "[a b]", objects as JSON.
func claimStrings(claims map[string]json.RawMessage) map[string]string {
	out := make(map[string]string, len(claims))
	for k, v := range claims {
		switch {
		case len(v) == 0 || string(v) == "null":
			continue
		case v[0] == '"':
			var s string
			json.Unmarshal(v, &s)
			out[k] = s
		case v[0] == '[':
			var items []json.RawMessage
			json.Unmarshal(v, &items)
			parts := make([]string, 0, len(items))
			for _, it := range items {
				var s string
				if json.Unmarshal(it, &s) == nil {
					parts = append(parts, s)
				} else {
					parts = append(parts, string(it))
				}
			}
			out[k] = "[" + strings.Join(parts, " ") + "]"
		default:
			var b bytes.Buffer
			if json.Compact(&b, v) == nil {
				out[k] = b.String()
			}
		}
	}
	return out
}
