package awsapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/nimbus-dev/nimbus/internal/lambda"
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

// WriteJSONProtocol writes a successful AWS JSON-protocol answer (200) with its
// content type (application/x-amz-json-1.0 or -1.1) and a request id.
func WriteJSONProtocol(w http.ResponseWriter, contentType string, body []byte) {
	h := w.Header()
	h["Content-Type"] = []string{contentType}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	h["X-Amzn-Requestid"] = []string{lambda.NewRequestID()}
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}
