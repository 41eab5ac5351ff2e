// Command add adds two numbers: POST /add with {"a":1,"b":2}, or invoked
// directly with that event. It is an ordinary aws-lambda-go function, built
// into bootstrap by `nimbus deploy` and `nimbus dev`.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"log"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

type operands struct {
	A float64 `json:"a"`
	B float64 `json:"b"`
}

type result struct {
	Sum     float64 `json:"sum"`
	Message string  `json:"message"`
	Runtime string  `json:"runtime"`
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
	log.Printf("adding %g and %g", in.A, in.B)
	return result{Sum: in.A + in.B, Message: "Added.", Runtime: "go"}
}

func main() { lambda.Start(handle) }
