package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// putAPI deploys a gateway API definition through the API address.
func putAPI(t *testing.T, s *server, id string, api map[string]any) {
	t.Helper()
	b, _ := json.Marshal(api)
	req, _ := http.NewRequest(http.MethodPut, s.API+"/nimbus/v1/apis/"+id, bytes.NewReader(b))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("PUT api %s: %d %s", id, resp.StatusCode, body)
	}
}

func request(t *testing.T, method, url, body string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// TestGateway: a Go function behind GET /hello/{name} and POST /items, requested
// with net/http, with the error, throttle, unknown-route and oversize cases.
func TestGateway(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	c := s.client()
	ctx := context.Background()
	createFunction(t, c, "gw-fn", types.RuntimeProvidedal2023, "bootstrap", goZip)
	createFunction(t, c, "gw-capped", types.RuntimeProvidedal2023, "bootstrap", goZip)
	if _, err := c.PutFunctionConcurrency(ctx, &awslambda.PutFunctionConcurrencyInput{FunctionName: aws.String("gw-capped"), ReservedConcurrentExecutions: aws.Int32(0)}); err != nil {
		t.Fatal(err)
	}
	api := map[string]any{"name": "shop", "routes": []map[string]any{
		{"key": "GET /hello/{name}", "integration": map[string]any{"function": "gw-fn"}},
		{"key": "POST /items", "integration": map[string]any{"function": "gw-fn"}},
		{"key": "GET /capped", "integration": map[string]any{"function": "gw-capped"}},
	}}
	putAPI(t, s, "shop", api)

	status, h, body := request(t, "GET", s.Gateway+"/hello/world?x=1&x=2", "")
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /hello/world: %d %s %s", status, h.Get("Content-Type"), body)
	}
	m := decodeJSON(t, body)
	ev := m["event"].(map[string]any)
	if ev["rawPath"] != "/hello/world" || ev["routeKey"] != "GET /hello/{name}" || ev["pathParameters"].(map[string]any)["name"] != "world" {
		t.Errorf("the function saw %v", ev)
	}

	status, _, body = request(t, "POST", s.Gateway+"/items", `{"text":"an item"}`)
	if status != 200 || decodeJSON(t, body)["event"].(map[string]any)["body"] != `{"text":"an item"}` {
		t.Errorf("POST /items: %d %s", status, body)
	}
	status, _, body = request(t, "POST", s.Gateway+"/items", `{"action":"error","text":"bad item"}`)
	if status != 500 || string(body) != `{"message":"Internal Server Error"}` {
		t.Errorf("function error: %d %s", status, body)
	}
	status, _, body = request(t, "GET", s.Gateway+"/capped", "")
	if status != 429 || !strings.Contains(string(body), "Too Many Requests") {
		t.Errorf("throttle: %d %s", status, body)
	}
	status, _, body = request(t, "GET", s.Gateway+"/nowhere", "")
	if status != 404 || string(body) != `{"message":"Not Found"}` {
		t.Errorf("unknown route: %d %s", status, body)
	}
	status, _, _ = request(t, "POST", s.Gateway+"/items", strings.Repeat("x", 10<<20+1))
	if status != 413 {
		t.Errorf("oversize body: %d", status)
	}
	// Routes survive a restart.
	s.stop()
	s2 := startServer(t, dir)
	if status, _, body := request(t, "GET", s2.Gateway+"/hello/again", ""); status != 200 {
		t.Errorf("after restart: %d %s", status, body)
	}
}
