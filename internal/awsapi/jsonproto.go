package awsapi

import (
	"encoding/json"
	"strings"
)

// MarshalJSON encodes v as AWS JSON-protocol services answer: without HTML
// escaping, so bodies, definitions and inputs come back byte for byte.
func MarshalJSON(v any) ([]byte, error) {
	var sb strings.Builder
	enc := json.NewEncoder(&sb)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return []byte(strings.TrimSuffix(sb.String(), "\n")), nil
}
