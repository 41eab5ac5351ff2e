package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
)

var (
	goStreamOnce sync.Once
	goStreamZip  []byte
	goStreamErr  error
)

// goStream builds testdata/gostream (aws-lambda-go, a handler returning an io.Reader).
func goStream(t *testing.T) []byte {
	goStreamOnce.Do(func() {
		dir, err := os.MkdirTemp("", "nimbus-gostream-")
		if err != nil {
			goStreamErr = err
			return
		}
		defer os.RemoveAll(dir)
		cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", filepath.Join(dir, "bootstrap"), "./testdata/gostream")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
		if out, err := cmd.CombinedOutput(); err != nil {
			goStreamErr = errors.New("build gostream: " + err.Error() + "\n" + string(out))
			return
		}
		goStreamZip, goStreamErr = zipDir(dir)
	})
	if goStreamErr != nil {
		t.Fatal(goStreamErr)
	}
	return goStreamZip
}

// streamed is what InvokeWithResponseStream delivered, as the SDK decoded it.
type streamed struct {
	contentType, version string
	chunks               [][]byte
	complete             *types.InvokeWithResponseStreamCompleteEvent
	completes            int
}

func (s *streamed) body() string { return string(bytes.Join(s.chunks, nil)) }

// invokeStream invokes fn with the SDK's InvokeWithResponseStream and reads
// the event stream to its end; onChunk sees the body so far after each chunk.
func invokeStream(t *testing.T, c *awslambda.Client, in *awslambda.InvokeWithResponseStreamInput, onChunk func(body string)) *streamed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := c.InvokeWithResponseStream(ctx, in)
	if err != nil {
		t.Fatalf("InvokeWithResponseStream: %v", err)
	}
	st := out.GetStream()
	defer st.Close()
	res := &streamed{contentType: aws.ToString(out.ResponseStreamContentType), version: aws.ToString(out.ExecutedVersion)}
	for ev := range st.Events() {
		switch v := ev.(type) {
		case *types.InvokeWithResponseStreamResponseEventMemberPayloadChunk:
			if res.completes > 0 {
				t.Fatal("PayloadChunk after InvokeComplete")
			}
			res.chunks = append(res.chunks, v.Value.Payload)
			if onChunk != nil {
				onChunk(res.body())
			}
		case *types.InvokeWithResponseStreamResponseEventMemberInvokeComplete:
			res.completes++
			res.complete = &v.Value
		default:
			t.Fatalf("unexpected event %T", ev)
		}
	}
	if err := st.Err(); err != nil {
		t.Fatalf("event stream: %v", err)
	}
	if res.completes != 1 {
		t.Fatalf("%d InvokeComplete events, want 1", res.completes)
	}
	return res
}

// barrier is an HTTP endpoint the function calls between its first and its
// later chunks; it answers only when the test releases it (or after a long
// deadline, so that a buffering server makes the test fail instead of hang).
type barrier struct {
	srv      *httptest.Server
	release  chan struct{}
	reached  atomic.Bool
	released atomic.Bool
	once     sync.Once
}

func newBarrier(t *testing.T) *barrier {
	b := &barrier{release: make(chan struct{})}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.reached.Store(true)
		select {
		case <-b.release:
		case <-time.After(60 * time.Second):
			b.open()
		}
	}))
	t.Cleanup(func() { b.open(); b.srv.Close() })
	return b
}

func (b *barrier) open() { b.once.Do(func() { b.released.Store(true); close(b.release) }) }

// TestInvokeWithResponseStream: functions in Go (aws-lambda-go) and Node
// (awslambda.streamifyResponse) stream chunks that aws-sdk-go-v2 decodes in
// order; the first chunk arrives while the function is still held at a
// barrier only the arrival of that chunk opens; a mid-stream error ends in
// InvokeComplete with ErrorCode.
func TestInvokeWithResponseStream(t *testing.T) {
	s := startServer(t, t.TempDir())
	c := s.client()
	timeout := func(in *awslambda.CreateFunctionInput) { in.Timeout = aws.Int32(120) }
	createFunction(t, c, "go-stream", types.RuntimeProvidedal2023, "bootstrap", goStream(t), timeout)
	createFunction(t, c, "node-stream", types.RuntimeNodejs20x, "index.handler", nodeStreamZip(t), timeout)

	for _, fn := range []string{"go-stream", "node-stream"} {
		t.Run(fn+"/chunks before the function finished", func(t *testing.T) {
			b := newBarrier(t)
			var firstWhileHeld bool
			res := invokeStream(t, c, &awslambda.InvokeWithResponseStreamInput{
				FunctionName: aws.String(fn),
				Payload:      []byte(`{"mode":"barrier","barrier":"` + b.srv.URL + `"}`),
			}, func(body string) {
				if body == "chunk-1\n" {
					// The function is blocked in its barrier call until we open it.
					firstWhileHeld = !b.released.Load()
					b.open()
				}
			})
			if !firstWhileHeld {
				t.Fatalf("first chunk did not arrive while the function was held at the barrier (reached=%v)", b.reached.Load())
			}
			if got := res.body(); got != "chunk-1\nchunk-2\nchunk-3\n" {
				t.Fatalf("body = %q", got)
			}
			if len(res.chunks) < 2 {
				t.Fatalf("%d PayloadChunk events, want ≥ 2", len(res.chunks))
			}
			if res.complete.ErrorCode != nil {
				t.Fatalf("InvokeComplete ErrorCode = %q", aws.ToString(res.complete.ErrorCode))
			}
			if res.version != "$LATEST" {
				t.Fatalf("ExecutedVersion = %q", res.version)
			}
			if fn == "node-stream" && res.contentType != "text/plain" {
				t.Fatalf("content type %q, want text/plain", res.contentType)
			}
		})
		t.Run(fn+"/mid-stream error", func(t *testing.T) {
			res := invokeStream(t, c, &awslambda.InvokeWithResponseStreamInput{
				FunctionName: aws.String(fn),
				Payload:      []byte(`{"mode":"error"}`),
				LogType:      types.LogTypeTail,
			}, nil)
			if res.body() != "chunk-1\n" {
				t.Fatalf("body = %q", res.body())
			}
			if aws.ToString(res.complete.ErrorCode) == "" || !strings.Contains(aws.ToString(res.complete.ErrorDetails), "mid-stream failure") {
				t.Fatalf("InvokeComplete = code %q details %q", aws.ToString(res.complete.ErrorCode), aws.ToString(res.complete.ErrorDetails))
			}
			log, err := base64.StdEncoding.DecodeString(aws.ToString(res.complete.LogResult))
			if err != nil || !strings.Contains(string(log), "REPORT RequestId:") {
				t.Fatalf("LogResult = %q (%v)", log, err)
			}
		})
	}

	t.Run("buffered answer is one chunk", func(t *testing.T) {
		res := invokeStream(t, c, &awslambda.InvokeWithResponseStreamInput{FunctionName: aws.String("go-stream"), Payload: []byte(`{"mode":"buffered"}`)}, nil)
		if len(res.chunks) != 1 || res.body() != `{"answer":"buffered"}` || res.complete.ErrorCode != nil {
			t.Fatalf("chunks %q, complete %+v", res.chunks, res.complete)
		}
	})
	t.Run("error before any byte", func(t *testing.T) {
		res := invokeStream(t, c, &awslambda.InvokeWithResponseStreamInput{FunctionName: aws.String("go-stream"), Payload: []byte(`{"mode":"fail-early"}`)}, nil)
		if len(res.chunks) != 0 || aws.ToString(res.complete.ErrorCode) != "errorString" || aws.ToString(res.complete.ErrorDetails) != "failed before streaming" {
			t.Fatalf("chunks %q, code %q details %q", res.chunks, aws.ToString(res.complete.ErrorCode), aws.ToString(res.complete.ErrorDetails))
		}
	})
	t.Run("timeout after bytes", func(t *testing.T) {
		createFunction(t, c, "go-stream-short", types.RuntimeProvidedal2023, "bootstrap", goStream(t),
			func(in *awslambda.CreateFunctionInput) { in.Timeout = aws.Int32(1) })
		res := invokeStream(t, c, &awslambda.InvokeWithResponseStreamInput{FunctionName: aws.String("go-stream-short"), Payload: []byte(`{"mode":"hang"}`)}, nil)
		if res.body() != "chunk-1\n" || aws.ToString(res.complete.ErrorCode) != "Sandbox.Timedout" ||
			!strings.Contains(aws.ToString(res.complete.ErrorDetails), "Task timed out after 1.00 seconds") {
			t.Fatalf("body %q, code %q details %q", res.body(), aws.ToString(res.complete.ErrorCode), aws.ToString(res.complete.ErrorDetails))
		}
	})
	t.Run("HTTP prelude passes through", func(t *testing.T) {
		res := invokeStream(t, c, &awslambda.InvokeWithResponseStreamInput{FunctionName: aws.String("node-stream"), Payload: []byte(`{"mode":"http"}`)}, nil)
		prelude, body, ok := strings.Cut(res.body(), "\x00\x00\x00\x00\x00\x00\x00\x00")
		var p struct {
			StatusCode int               `json:"statusCode"`
			Headers    map[string]string `json:"headers"`
		}
		if !ok || json.Unmarshal([]byte(prelude), &p) != nil || p.StatusCode != 201 || body != "hello world" {
			t.Fatalf("body %q", res.body())
		}
		if res.contentType != "application/vnd.awslambda.http-integration-response" {
			t.Fatalf("content type %q", res.contentType)
		}
	})
	t.Run("errors before the stream", func(t *testing.T) {
		ctx := context.Background()
		_, err := c.InvokeWithResponseStream(ctx, &awslambda.InvokeWithResponseStreamInput{FunctionName: aws.String("missing")})
		var nf *types.ResourceNotFoundException
		if !errors.As(err, &nf) {
			t.Fatalf("missing function: %v", err)
		}
		_, err = c.InvokeWithResponseStream(ctx, &awslambda.InvokeWithResponseStreamInput{FunctionName: aws.String("go-stream"), Payload: []byte(`not json`)})
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidRequestContentException" {
			t.Fatalf("bad payload: %v", err)
		}
		dry, err := c.InvokeWithResponseStream(ctx, &awslambda.InvokeWithResponseStreamInput{FunctionName: aws.String("go-stream"), InvocationType: types.ResponseStreamingInvocationTypeDryRun})
		if err != nil || dry.StatusCode != http.StatusNoContent {
			t.Fatalf("DryRun: %v", err)
		}
	})
}

func nodeStreamZip(t *testing.T) []byte {
	t.Helper()
	b, err := zipDir("testdata/node-stream")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFunctionURLConfigs: the function URL API through aws-sdk-go-v2: create,
// get, update, list, delete on $LATEST and an alias; conflicts, missing URLs,
// version qualifiers and bad input; URLs survive a restart and go away with
// their alias or function.
func TestFunctionURLConfigs(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	c := s.client()
	ctx := context.Background()
	createFunction(t, c, "urlfn", types.RuntimeProvidedal2023, "bootstrap", goZip)
	if _, err := c.PublishVersion(ctx, &awslambda.PublishVersionInput{FunctionName: aws.String("urlfn")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateAlias(ctx, &awslambda.CreateAliasInput{FunctionName: aws.String("urlfn"), Name: aws.String("live"), FunctionVersion: aws.String("1")}); err != nil {
		t.Fatal(err)
	}
	wantCode := func(err error, code string) {
		t.Helper()
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != code {
			t.Fatalf("error %v, want %s", err, code)
		}
	}

	created, err := c.CreateFunctionUrlConfig(ctx, &awslambda.CreateFunctionUrlConfigInput{
		FunctionName: aws.String("urlfn"),
		AuthType:     types.FunctionUrlAuthTypeNone,
		Cors:         &types.Cors{AllowOrigins: []string{"https://example.com"}, AllowMethods: []string{"GET", "POST"}, MaxAge: aws.Int32(300)},
	})
	if err != nil {
		t.Fatal(err)
	}
	port := s.Gateway[strings.LastIndexByte(s.Gateway, ':')+1:]
	url := aws.ToString(created.FunctionUrl)
	host := strings.TrimSuffix(strings.TrimPrefix(url, "http://"), ".lambda-url.localhost:"+port+"/")
	if len(host) != 32 || strings.Trim(host, "abcdefghijklmnopqrstuvwxyz0123456789") != "" {
		t.Fatalf("FunctionUrl %q (gateway port %s)", url, port)
	}
	if created.InvokeMode != types.InvokeModeBuffered || aws.ToString(created.FunctionArn) != "arn:aws:lambda:us-east-1:000000000000:function:urlfn" ||
		aws.ToString(created.CreationTime) == "" || created.Cors == nil || aws.ToInt32(created.Cors.MaxAge) != 300 {
		t.Fatalf("created %+v", created)
	}
	_, err = c.CreateFunctionUrlConfig(ctx, &awslambda.CreateFunctionUrlConfigInput{FunctionName: aws.String("urlfn"), AuthType: types.FunctionUrlAuthTypeNone})
	wantCode(err, "ResourceConflictException")

	alias, err := c.CreateFunctionUrlConfig(ctx, &awslambda.CreateFunctionUrlConfigInput{
		FunctionName: aws.String("urlfn"), Qualifier: aws.String("live"),
		AuthType: types.FunctionUrlAuthTypeAwsIam, InvokeMode: types.InvokeModeResponseStream,
	})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(alias.FunctionUrl) == url || !strings.HasSuffix(aws.ToString(alias.FunctionArn), ":urlfn:live") || alias.InvokeMode != types.InvokeModeResponseStream {
		t.Fatalf("alias URL %+v", alias)
	}
	_, err = c.CreateFunctionUrlConfig(ctx, &awslambda.CreateFunctionUrlConfigInput{FunctionName: aws.String("urlfn"), Qualifier: aws.String("1"), AuthType: types.FunctionUrlAuthTypeNone})
	wantCode(err, "InvalidParameterValueException")
	_, err = c.CreateFunctionUrlConfig(ctx, &awslambda.CreateFunctionUrlConfigInput{FunctionName: aws.String("urlfn"), Qualifier: aws.String("nope"), AuthType: types.FunctionUrlAuthTypeNone})
	wantCode(err, "ResourceNotFoundException")
	_, err = c.CreateFunctionUrlConfig(ctx, &awslambda.CreateFunctionUrlConfigInput{FunctionName: aws.String("urlfn:other"), AuthType: "SOMETIMES"})
	wantCode(err, "ResourceNotFoundException")
	_, err = c.UpdateFunctionUrlConfig(ctx, &awslambda.UpdateFunctionUrlConfigInput{FunctionName: aws.String("urlfn"), AuthType: "SOMETIMES", InvokeMode: "LATER"})
	wantCode(err, "InvalidParameterValueException")
	_, err = c.GetFunctionUrlConfig(ctx, &awslambda.GetFunctionUrlConfigInput{FunctionName: aws.String("missing")})
	wantCode(err, "ResourceNotFoundException")

	updated, err := c.UpdateFunctionUrlConfig(ctx, &awslambda.UpdateFunctionUrlConfigInput{FunctionName: aws.String("urlfn"), InvokeMode: types.InvokeModeResponseStream})
	if err != nil {
		t.Fatal(err)
	}
	if updated.InvokeMode != types.InvokeModeResponseStream || updated.AuthType != types.FunctionUrlAuthTypeNone || updated.Cors == nil ||
		aws.ToString(updated.CreationTime) != aws.ToString(created.CreationTime) || aws.ToString(updated.LastModifiedTime) == "" {
		t.Fatalf("updated %+v", updated)
	}

	// Durable: the same after a restart.
	s.stop()
	s = startServer(t, dir)
	c = s.client()
	got, err := c.GetFunctionUrlConfig(ctx, &awslambda.GetFunctionUrlConfigInput{FunctionName: aws.String("urlfn")})
	if err != nil {
		t.Fatal(err)
	}
	if got.InvokeMode != types.InvokeModeResponseStream || !strings.HasPrefix(aws.ToString(got.FunctionUrl), "http://"+host+".lambda-url.localhost:") {
		t.Fatalf("after restart %+v", got)
	}
	list, err := c.ListFunctionUrlConfigs(ctx, &awslambda.ListFunctionUrlConfigsInput{FunctionName: aws.String("urlfn"), MaxItems: aws.Int32(1)})
	if err != nil || len(list.FunctionUrlConfigs) != 1 || list.NextMarker == nil {
		t.Fatalf("list page 1: %+v %v", list, err)
	}
	rest, err := c.ListFunctionUrlConfigs(ctx, &awslambda.ListFunctionUrlConfigsInput{FunctionName: aws.String("urlfn"), Marker: list.NextMarker})
	if err != nil || len(rest.FunctionUrlConfigs) != 1 || rest.NextMarker != nil ||
		aws.ToString(rest.FunctionUrlConfigs[0].FunctionArn) == aws.ToString(list.FunctionUrlConfigs[0].FunctionArn) {
		t.Fatalf("list page 2: %+v %v", rest, err)
	}

	// Deleting the alias deletes its URL; deleting the function, all of them.
	if _, err := c.DeleteAlias(ctx, &awslambda.DeleteAliasInput{FunctionName: aws.String("urlfn"), Name: aws.String("live")}); err != nil {
		t.Fatal(err)
	}
	all, err := c.ListFunctionUrlConfigs(ctx, &awslambda.ListFunctionUrlConfigsInput{FunctionName: aws.String("urlfn")})
	if err != nil || len(all.FunctionUrlConfigs) != 1 {
		t.Fatalf("after alias delete: %+v %v", all, err)
	}
	if _, err := c.DeleteFunctionUrlConfig(ctx, &awslambda.DeleteFunctionUrlConfigInput{FunctionName: aws.String("urlfn")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteFunctionUrlConfig(ctx, &awslambda.DeleteFunctionUrlConfigInput{FunctionName: aws.String("urlfn")})
	wantCode(err, "ResourceNotFoundException")
	if _, err := c.CreateFunctionUrlConfig(ctx, &awslambda.CreateFunctionUrlConfigInput{FunctionName: aws.String("urlfn"), AuthType: types.FunctionUrlAuthTypeNone}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteFunction(ctx, &awslambda.DeleteFunctionInput{FunctionName: aws.String("urlfn")}); err != nil {
		t.Fatal(err)
	}
	createFunction(t, c, "urlfn", types.RuntimeProvidedal2023, "bootstrap", goZip)
	_, err = c.GetFunctionUrlConfig(ctx, &awslambda.GetFunctionUrlConfigInput{FunctionName: aws.String("urlfn")})
	wantCode(err, "ResourceNotFoundException")
}
