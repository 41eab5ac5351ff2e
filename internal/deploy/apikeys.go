package deploy

import (
	"crypto/rand"

	"github.com/nimbus-dev/nimbus/internal/template"
)

// API key values. The keys a template's usage plans make have no values
// (see package template): before diffing, a deploy gives each key the value
// its name had in the stack's stored plan, or else a new random one (40
// letters and digits from crypto/rand; a SHARED plan's key gets one value on
// every API). So a redeploy keeps the keys and reports no change, and a
// deleted stack takes its keys with it. The values are stored with the plan
// (the stack record is sealed under the server's secrets key) and printed
// after the deploy, which is where the user learns them.

// APIKey is a deployed REST API key.
type APIKey struct {
	API   string // the API's name
	APIID string
	Name  string
	Value string
}

// fillAPIKeys gives next's keys their values (see above).
func fillAPIKeys(prev, next *template.Plan) {
	known := map[string]string{}
	if prev != nil {
		for _, a := range prev.APIs() {
			for _, k := range a.APIKeys {
				if k.Value != "" {
					known[k.Name] = k.Value
				}
			}
		}
	}
	for i := range next.Resources {
		a := next.Resources[i].API
		if a == nil {
			continue
		}
		for j := range a.APIKeys {
			k := &a.APIKeys[j]
			if k.Value != "" {
				continue
			}
			if known[k.Name] == "" {
				known[k.Name] = newKeyValue()
			}
			k.Value = known[k.Name]
		}
	}
}

const keyAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newKeyValue returns 40 random letters and digits (about 238 bits).
func newKeyValue() string {
	b := make([]byte, 40)
	for i := range b {
		b[i] = keyAlphabet[randIndex(len(keyAlphabet))]
	}
	return string(b)
}

// randIndex returns a uniform random number in [0, n), n ≤ 256.
func randIndex(n int) int {
	limit := 256 - 256%n
	var c [1]byte
	for {
		if _, err := rand.Read(c[:]); err != nil {
			panic(err) // crypto/rand does not fail on Linux
		}
		if int(c[0]) < limit {
			return int(c[0]) % n
		}
	}
}

// apiKeys lists the plan's keys.
func apiKeys(plan *template.Plan) []APIKey {
	var out []APIKey
	for _, a := range plan.APIs() {
		for _, k := range a.APIKeys {
			out = append(out, APIKey{API: a.Name, APIID: a.ID, Name: k.Name, Value: k.Value})
		}
	}
	return out
}
