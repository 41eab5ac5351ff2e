package dev

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// client calls nimbus's own endpoints (/nimbus/v1/…) on the API address,
// SigV4-signed like every other request.
type client struct {
	endpoint    string
	key, secret string
	http        *http.Client
}

// apiError is an error answer: the status, X-Amzn-ErrorType and message.
type apiError struct {
	Status        int
	Code, Message string
}

func (e *apiError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message)
	}
	return e.Code + ": " + e.Message
}

// unknownOperation reports whether the server does not provide an endpoint.
func (e *apiError) unknownOperation() bool {
	return e.Status == http.StatusNotFound && strings.HasPrefix(e.Code, "UnknownOperation")
}

// do sends a signed request. A status ≥ 300 is an *apiError (the body
// consumed); otherwise the caller closes the body.
func (c *client) do(ctx context.Context, method, path string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.endpoint, "/")+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: c.key, SecretAccessKey: c.secret},
		req, hex.EncodeToString(sum[:]), "lambda", lambda.Region, time.Now()); err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &apiError{Status: resp.StatusCode, Code: resp.Header.Get("X-Amzn-ErrorType")}
	var msg struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(data, &msg) == nil && msg.Message != "" {
		e.Message = msg.Message
	} else {
		e.Message = strings.TrimSpace(string(data))
	}
	return nil, e
}
