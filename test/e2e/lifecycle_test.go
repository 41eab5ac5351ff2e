package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

func zipOf(files map[string]string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		w, _ := zw.Create(name)
		w.Write([]byte(body))
	}
	zw.Close()
	return buf.Bytes()
}

// TestKeepAlive: an idle environment stops after the keep-alive, and the next
// invoke is a cold start in a new process.
func TestKeepAlive(t *testing.T) {
	s := startServer(t, t.TempDir(), "--keep-alive", "500ms")
	c := s.client()
	ctx := context.Background()
	createFunction(t, c, "idle", types.RuntimeProvidedal2023, "bootstrap", goZip)
	out, err := c.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("idle")})
	if err != nil {
		t.Fatal(err)
	}
	env := envOf(t, out.Payload)
	pid := s.envPid(env)
	if pid == 0 {
		t.Fatalf("environment %s is not live", env)
	}
	waitFor(t, "the idle environment to stop", 30*time.Second, func() bool { return processGone(pid) })
	out, err = c.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("idle"), LogType: types.LogTypeTail})
	if err != nil || out.FunctionError != nil {
		t.Fatalf("invoke after scale to zero: %v", err)
	}
	if envOf(t, out.Payload) == env {
		t.Error("invoked the stopped environment")
	}
}

// TestInitErrors: handlers that cannot load are reported through /init/error
// as the invocation's function error; fixing the code fixes the function.
func TestInitErrors(t *testing.T) {
	s := startServer(t, t.TempDir(), "--runtime-map", "python3.12=python3.11")
	c := s.client()
	ctx := context.Background()
	cases := []struct {
		name, handler string
		runtime       types.Runtime
		zip           []byte
		errType       string
	}{
		{"node-missing-module", "nothere.handler", types.RuntimeNodejs20x, nodeCJS, "Runtime.ImportModuleError"},
		{"node-missing-export", "index.nothere", types.RuntimeNodejs20x, nodeCJS, "Runtime.HandlerNotFound"},
		{"node-syntax", "index.handler", types.RuntimeNodejs20x, zipOf(map[string]string{"index.js": "exports.handler = ("}), "Runtime.UserCodeSyntaxError"},
		{"py-missing-module", "nothere.handler", types.RuntimePython312, pythonZip, "Runtime.ImportModuleError"},
		{"py-missing-function", "app.nothere", types.RuntimePython311, pythonZip, "Runtime.HandlerNotFound"},
		{"no-bootstrap", "bootstrap", types.RuntimeProvidedal2023, zipOf(map[string]string{"README": "no bootstrap here"}), "Runtime.InvalidEntrypoint"},
		{"bootstrap-exits", "bootstrap", types.RuntimeProvidedal2023, zipOfMode("bootstrap", "#!/bin/sh\necho dying\nexit 7\n", 0o755), "Runtime.ExitError"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			createFunction(t, c, tc.name, tc.runtime, tc.handler, tc.zip)
			out, err := c.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String(tc.name), LogType: types.LogTypeTail})
			if err != nil {
				t.Fatal(err)
			}
			m := decodeJSON(t, out.Payload)
			if aws.ToString(out.FunctionError) != "Unhandled" || m["errorType"] != tc.errType {
				t.Errorf("got %v %s, want errorType %s", out.FunctionError, out.Payload, tc.errType)
			}
		})
	}
	// Fixing the code fixes the function.
	if _, err := c.UpdateFunctionConfiguration(ctx, &awslambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("node-missing-module"), Handler: aws.String("index.handler")}); err != nil {
		t.Fatal(err)
	}
	out, err := c.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String("node-missing-module")})
	if err != nil || out.FunctionError != nil || !strings.Contains(string(out.Payload), "node-cjs") {
		t.Errorf("after fixing the handler: %v %s", err, out.Payload)
	}
}

func zipOfMode(name, body string, mode uint32) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: name, Method: zip.Deflate}
	h.SetMode(0o755)
	w, _ := zw.CreateHeader(h)
	w.Write([]byte(body))
	zw.Close()
	return buf.Bytes()
}
