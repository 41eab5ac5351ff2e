package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// StreamingContentType is the content type of a streamed function response
// that starts with an HTTP prelude (aws-lambda-go's
// APIGatewayProxyStreamingResponse, Node's awslambda.HttpResponseStream).
const StreamingContentType = "application/vnd.awslambda.http-integration-response"

// Prelude is the HTTP part of a streamed response: a JSON object, then eight
// NUL bytes, then the body.
type Prelude struct {
	StatusCode        int                 `json:"statusCode"` // 200 when absent
	Headers           map[string]string   `json:"headers,omitempty"`
	MultiValueHeaders map[string][]string `json:"multiValueHeaders,omitempty"`
	Cookies           []string            `json:"cookies,omitempty"`
}

// MaxPrelude bounds the prelude (JSON plus delimiter) ParseStreamingPrelude
// reads before giving up.
const MaxPrelude = 1 << 20

// ErrNoPrelude is returned when the stream ends, or MaxPrelude bytes pass,
// before the eight-NUL delimiter.
var ErrNoPrelude = errors.New("streamed response has no HTTP prelude delimiter")

var delimiter = make([]byte, 8)

// ParseStreamingPrelude reads the prelude of a streamed response and returns
// it with a reader of the body that follows (bytes already read included).
// A JSON string cannot hold a raw NUL, so the first eight NULs end the
// prelude. It reads no more of r than it must: the body reader continues r.
func ParseStreamingPrelude(r io.Reader) (Prelude, io.Reader, error) {
	buf := make([]byte, 0, 512)
	scanned := 0 // delimiter search resumes here
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if i := bytes.Index(buf[scanned:], delimiter); i >= 0 {
			end := scanned + i
			var p Prelude
			if js := bytes.TrimSpace(buf[:end]); len(js) > 0 {
				if err := json.Unmarshal(js, &p); err != nil {
					return Prelude{}, nil, fmt.Errorf("streamed response prelude: %w", err)
				}
			}
			if p.StatusCode == 0 {
				p.StatusCode = 200
			}
			if p.StatusCode < 100 || p.StatusCode > 599 {
				return Prelude{}, nil, fmt.Errorf("streamed response prelude: statusCode %d", p.StatusCode)
			}
			rest := buf[end+len(delimiter):]
			if len(rest) == 0 {
				return p, r, nil
			}
			return p, io.MultiReader(bytes.NewReader(rest), r), nil
		}
		scanned = max(0, len(buf)-len(delimiter)+1)
		if len(buf) >= MaxPrelude {
			return Prelude{}, nil, ErrNoPrelude
		}
		if err == io.EOF {
			return Prelude{}, nil, ErrNoPrelude
		}
		if err != nil {
			return Prelude{}, nil, err
		}
	}
}
