package deploy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/nimbus-dev/nimbus/internal/gateway"
	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/template"
)

// Stack is a stack's stored record.
type Stack struct {
	Plan       *template.Plan `json:"plan"`
	DeployedAt time.Time      `json:"deployedAt"`
}

// StackSummary is one stack of the list.
type StackSummary struct {
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Resources   int       `json:"resources"`
	DeployedAt  time.Time `json:"deployedAt"`
}

// APIError is an error answer of a nimbus endpoint (/nimbus/v1/…): the
// status, X-Amzn-ErrorType and message.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message)
	}
	return e.Code + ": " + e.Message
}

// Do sends a signed request to a nimbus endpoint; a non-nil body is sent as
// JSON, header may add request headers. A status ≥ 300 is an *APIError (the
// body consumed); otherwise the caller closes the body.
func (d *Deployer) Do(ctx context.Context, method, path string, body []byte, header http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(d.cfg.Endpoint, "/")+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: d.cfg.AccessKeyID, SecretAccessKey: d.cfg.SecretAccessKey},
		req, hex.EncodeToString(sum[:]), "lambda", lambda.Region, time.Now()); err != nil {
		return nil, err
	}
	resp, err := d.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, err
	}
	e := &APIError{Status: resp.StatusCode, Code: resp.Header.Get("X-Amzn-ErrorType")}
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

// maxAnswer bounds how much of an answer call reads.
const maxAnswer = 16 << 20

// call sends a signed request to a nimbus endpoint (Do) and decodes a JSON
// answer into out (if not nil). The answer's headers are returned.
func (d *Deployer) call(ctx context.Context, method, path string, in, out any, header http.Header) (http.Header, error) {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return nil, err
		}
	}
	resp, err := d.Do(ctx, method, path, body, header)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, err
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return nil, fmt.Errorf("%s %s: bad answer: %w", method, path, err)
		}
	}
	return resp.Header, nil
}

// serverInfo is GET /nimbus/v1/info.
type serverInfo struct {
	API     string `json:"api"`
	Gateway string `json:"gateway"`
}

// info asks the server for its addresses. It is also the deploy's first
// request: an unreachable server fails here, before anything is built. A
// server without the endpoint answers with no gateway address.
func (d *Deployer) info(ctx context.Context) (serverInfo, error) {
	var si serverInfo
	_, err := d.call(ctx, http.MethodGet, "/nimbus/v1/info", nil, &si, nil)
	if isNotFound(err) || isUnknownOperation(err) {
		return serverInfo{}, nil
	}
	if err != nil {
		return serverInfo{}, fmt.Errorf("cannot reach the nimbus server at %s: %w", d.cfg.Endpoint, describe(err))
	}
	return si, nil
}

// gatewayURL is the gateway's base URL as a client can use it: an
// unspecified listening host (0.0.0.0, ::) is replaced by the endpoint's host.
func (si serverInfo) gatewayURL(endpoint string) string {
	u, err := url.Parse(si.Gateway)
	if err != nil || u.Host == "" {
		return ""
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return strings.TrimRight(si.Gateway, "/")
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if ep, err := url.Parse(endpoint); err == nil && ep.Hostname() != "" {
			u.Host = net.JoinHostPort(ep.Hostname(), port)
		}
	}
	return strings.TrimRight(u.String(), "/")
}

// stack reads a stack's record and its ETag.
func (d *Deployer) stack(ctx context.Context, name string) (*Stack, string, error) {
	var s Stack
	h, err := d.call(ctx, http.MethodGet, "/nimbus/v1/stacks/"+url.PathEscape(name), nil, &s, nil)
	if err != nil {
		if isNotFound(err) {
			return nil, "", err
		}
		if isUnknownOperation(err) {
			return nil, "", fmt.Errorf("the server at %s has no stack store (/nimbus/v1/stacks): it is older than this client", d.cfg.Endpoint)
		}
		return nil, "", fmt.Errorf("reading stack %s: %w", name, describe(err))
	}
	if s.Plan == nil {
		return nil, "", fmt.Errorf("reading stack %s: the record has no plan", name)
	}
	return &s, h.Get("ETag"), nil
}

// putStack stores a stack's plan: over the record read with etag, or as a
// new record when etag is "". It returns the new ETag.
func (d *Deployer) putStack(ctx context.Context, plan *template.Plan, etag string) (string, error) {
	h := http.Header{}
	if etag != "" {
		h.Set("If-Match", etag)
	} else {
		h.Set("If-None-Match", "*")
	}
	rh, err := d.call(ctx, http.MethodPut, "/nimbus/v1/stacks/"+url.PathEscape(plan.Stack), map[string]any{"plan": plan}, nil, h)
	if err != nil {
		return "", fmt.Errorf("storing stack %s: %w", plan.Stack, describe(err))
	}
	return rh.Get("ETag"), nil
}

func (d *Deployer) deleteStack(ctx context.Context, name, etag string) error {
	h := http.Header{}
	if etag != "" {
		h.Set("If-Match", etag)
	}
	if _, err := d.call(ctx, http.MethodDelete, "/nimbus/v1/stacks/"+url.PathEscape(name), nil, nil, h); err != nil && !isNotFound(err) {
		return fmt.Errorf("deleting stack record %s: %w", name, describe(err))
	}
	return nil
}

func (d *Deployer) listStacks(ctx context.Context) ([]StackSummary, error) {
	var out struct {
		Stacks []StackSummary `json:"stacks"`
	}
	if _, err := d.call(ctx, http.MethodGet, "/nimbus/v1/stacks", nil, &out, nil); err != nil {
		return nil, fmt.Errorf("listing stacks: %w", describe(err))
	}
	return out.Stacks, nil
}

func (d *Deployer) putAPI(ctx context.Context, a *gateway.API) error {
	_, err := d.call(ctx, http.MethodPut, "/nimbus/v1/apis/"+url.PathEscape(a.ID), a, nil, nil)
	return err
}

func (d *Deployer) apiExists(ctx context.Context, id string) (bool, error) {
	_, err := d.call(ctx, http.MethodGet, "/nimbus/v1/apis/"+url.PathEscape(id), nil, nil, nil)
	if isNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

func (d *Deployer) deleteAPI(ctx context.Context, id string) error {
	_, err := d.call(ctx, http.MethodDelete, "/nimbus/v1/apis/"+url.PathEscape(id), nil, nil, nil)
	if isNotFound(err) {
		return nil
	}
	return err
}

// notFoundCodes are the services' "no such resource" error codes.
var notFoundCodes = map[string]bool{
	"ResourceNotFoundException":               true, // Lambda, EventBridge, nimbus
	"QueueDoesNotExist":                       true, // SQS
	"AWS.SimpleQueueService.NonExistentQueue": true,
	"NotFound":                                      true, // SNS
	"NotFoundException":                             true,
	"StateMachineDoesNotExist":                      true, // Step Functions
	"com.amazonaws.sqs#QueueDoesNotExist":           true,
	"AWS.SimpleQueueService.QueueDoesNotExist":      true,
	"ResourceNotFound":                              true,
	"EventSourceMappingNotFound":                    true,
	"ProvisionedConcurrencyConfigNotFoundException": true, // Lambda
}

// isNotFound reports whether err says the resource does not exist.
func isNotFound(err error) bool {
	if err == nil {
		return false
	}
	if e, ok := errors.AsType[*APIError](err); ok {
		return e.Status == http.StatusNotFound && !strings.HasPrefix(e.Code, "UnknownOperation")
	}
	if ae, ok := errors.AsType[smithy.APIError](err); ok && notFoundCodes[ae.ErrorCode()] {
		return true
	}
	return false
}

// isUnknownOperation reports whether err says the server does not know the
// operation (the service is not provided). A query-protocol client (SNS)
// cannot decode a JSON error, so the X-Amzn-ErrorType header is checked too.
func isUnknownOperation(err error) bool {
	if err == nil {
		return false
	}
	unknown := func(code string) bool {
		return strings.HasPrefix(code, "UnknownOperation") || code == "InvalidAction" || code == "UnknownOperationException"
	}
	if e, ok := errors.AsType[*APIError](err); ok {
		return unknown(e.Code)
	}
	if ae, ok := errors.AsType[smithy.APIError](err); ok && unknown(ae.ErrorCode()) {
		return true
	}
	if re, ok := errors.AsType[*awshttp.ResponseError](err); ok && re.Response != nil {
		return unknown(re.Response.Header.Get("X-Amzn-ErrorType"))
	}
	return false
}

// describe shortens SDK errors to what the user needs: the service's error
// code and message, or the transport error.
func describe(err error) error {
	if err == nil {
		return nil
	}
	if ae, ok := errors.AsType[smithy.APIError](err); ok {
		return fmt.Errorf("%s: %s", ae.ErrorCode(), ae.ErrorMessage())
	}
	if strings.Contains(err.Error(), "connection refused") {
		return fmt.Errorf("%w (is `nimbus server` running? set --endpoint-url or NIMBUS_ENDPOINT)", err)
	}
	return err
}
