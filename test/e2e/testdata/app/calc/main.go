// Command calc adds two numbers, invoked directly ({"a":1,"b":2}) or through
// the HTTP API (POST /add with that body).
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

type operands struct {
	A float64 `json:"a"`
	B float64 `json:"b"`
}

type result struct {
	Sum     float64 `json:"sum"`
	Version string  `json:"version"`
}

func handle(ctx context.Context, raw json.RawMessage) (any, error) {
	var req events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(raw, &req); err == nil && req.RouteKey != "" {
		body := []byte(req.Body)
		if req.IsBase64Encoded {
			body, _ = base64.StdEncoding.DecodeString(req.Body)
		}
		var in operands
		if err := json.Unmarshal(body, &in); err != nil {
			return events.APIGatewayV2HTTPResponse{StatusCode: 400, Body: `{"error":"want {\"a\":…,\"b\":…}"}`}, nil
		}
		b, _ := json.Marshal(add(in))
		return events.APIGatewayV2HTTPResponse{StatusCode: 200, Headers: map[string]string{"content-type": "application/json"}, Body: string(b)}, nil
	}
	var in operands
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, err
	}
	return add(in), nil
}

func add(in operands) result {
	return result{Sum: in.A + in.B, Version: os.Getenv("AWS_LAMBDA_FUNCTION_VERSION")}
}

func main() { lambda.Start(handle) }
