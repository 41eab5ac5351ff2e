// Package e2e drives a real `nimbus server` process with the real AWS SDK
// (aws-sdk-go-v2, retries off) and real functions: one built with aws-lambda-go,
// Node (CommonJS and ESM) and Python handlers.
package e2e

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

var (
	nimbusBin string
	goZip     []byte // aws-lambda-go function, provided.al2023
	rawZip    []byte // minimal custom runtime (testdata/rawfn), provided.al2023
	nodeCJS   []byte
	nodeESM   []byte
	nodeSink  []byte
	pythonZip []byte
	pySQS     []byte
)

func TestMain(m *testing.M) {
	if os.Getenv(echoChildEnv) != "" {
		serveEchoChild() // this process is a benchmark's other-process echo server
		return
	}
	dir, err := os.MkdirTemp("", "nimbus-e2e-")
	if err != nil {
		panic(err)
	}
	code := func() int {
		if err := build(dir); err != nil {
			fmt.Fprintln(os.Stderr, "e2e setup:", err)
			return 1
		}
		return m.Run()
	}()
	os.RemoveAll(dir)
	os.Exit(code)
}

func build(dir string) error {
	nimbusBin = filepath.Join(dir, "nimbus")
	args := []string{"build", "-o", nimbusBin}
	if os.Getenv("NIMBUS_E2E_RACE") != "" {
		args = append(args, "-race")
	}
	if out, err := exec.Command("go", append(args, "../../cmd/nimbus")...).CombinedOutput(); err != nil {
		return fmt.Errorf("build nimbus: %v\n%s", err, out)
	}
	boot := filepath.Join(dir, "gofn", "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", boot, "./testdata/gofn")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build gofn: %v\n%s", err, out)
	}
	var err error
	if goZip, err = zipDir(filepath.Dir(boot)); err != nil {
		return err
	}
	rawBoot := filepath.Join(dir, "rawfn", "bootstrap")
	cmd = exec.Command("go", "build", "-o", rawBoot, "./testdata/rawfn")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build rawfn: %v\n%s", err, out)
	}
	if rawZip, err = zipDir(filepath.Dir(rawBoot)); err != nil {
		return err
	}
	if nodeCJS, err = zipDir("testdata/node-cjs"); err != nil {
		return err
	}
	if nodeESM, err = zipDir("testdata/node-esm"); err != nil {
		return err
	}
	if nodeSink, err = zipDir("testdata/node-sink"); err != nil {
		return err
	}
	if pySQS, err = zipDir("testdata/python-sqs"); err != nil {
		return err
	}
	pythonZip, err = zipDir("testdata/python")
	return err
}

// zipDir zips a directory's files, keeping their modes.
func zipDir(dir string) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		info, err := e.Info()
		if err != nil {
			return nil, err
		}
		h, _ := zip.FileInfoHeader(info)
		h.Method = zip.Deflate
		w, err := zw.CreateHeader(h)
		if err != nil {
			return nil, err
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		w.Write(b)
	}
	zw.Close()
	return buf.Bytes(), nil
}

// server is a running `nimbus server` process.
type server struct {
	t       testing.TB
	cmd     *exec.Cmd
	dataDir string
	API     string
	Gateway string
	stderr  *bytes.Buffer
	exited  chan struct{}
}

// startServer starts nimbus on free ports over dataDir and waits for "ready".
func startServer(t testing.TB, dataDir string, args ...string) *server {
	t.Helper()
	s := &server{t: t, dataDir: dataDir, stderr: new(bytes.Buffer), exited: make(chan struct{})}
	s.cmd = exec.Command(nimbusBin, append([]string{"server", "--data-dir", dataDir, "--api-addr", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0"}, args...)...)
	s.cmd.Env = append(os.Environ(), "NIMBUS_ASYNC_RETRY_BASE=200ms")
	s.cmd.Stderr = s.stderr
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.cmd.Wait(); close(s.exited) }()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("server exited before ready: %s", s.stderr)
			}
			switch {
			case strings.HasPrefix(l, "api: "):
				s.API = strings.TrimPrefix(l, "api: ")
			case strings.HasPrefix(l, "gateway: "):
				s.Gateway = strings.TrimPrefix(l, "gateway: ")
			case l == "ready":
				go io.Copy(io.Discard, out)
				t.Cleanup(s.stop)
				return s
			}
		case <-timeout:
			s.cmd.Process.Kill()
			t.Fatalf("server not ready after 60s: %s", s.stderr)
		}
	}
}

// stop stops the server with SIGTERM and checks that it exits 0.
func (s *server) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		if code := s.cmd.ProcessState.ExitCode(); code != 0 {
			s.t.Errorf("server exited %d after SIGTERM: %s", code, s.stderr)
		}
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		s.t.Errorf("server did not stop within 15s of SIGTERM")
	}
}

// kill9 kills the server abruptly.
func (s *server) kill9() {
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

func (s *server) client() *awslambda.Client { return clientFor(s.API, "test", "test") }

func clientFor(endpoint, key, secret string) *awslambda.Client {
	return awslambda.New(awslambda.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(endpoint),
		Credentials:      credentials.NewStaticCredentialsProvider(key, secret, ""),
		RetryMaxAttempts: 1,
	})
}

const role = "arn:aws:iam::000000000000:role/lambda-role"

// createFunction creates a function and waits for it to be active.
func createFunction(t testing.TB, c *awslambda.Client, name string, runtime types.Runtime, handler string, zip []byte, opts ...func(*awslambda.CreateFunctionInput)) *awslambda.CreateFunctionOutput {
	t.Helper()
	in := &awslambda.CreateFunctionInput{
		FunctionName: aws.String(name),
		Runtime:      runtime,
		Handler:      aws.String(handler),
		Role:         aws.String(role),
		Code:         &types.FunctionCode{ZipFile: zip},
	}
	for _, o := range opts {
		o(in)
	}
	ctx := context.Background()
	out, err := c.CreateFunction(ctx, in)
	if err != nil {
		t.Fatalf("CreateFunction %s: %v", name, err)
	}
	w := awslambda.NewFunctionActiveV2Waiter(c)
	if err := w.Wait(ctx, &awslambda.GetFunctionInput{FunctionName: aws.String(name)}, time.Minute); err != nil {
		t.Fatalf("FunctionActiveV2 %s: %v", name, err)
	}
	return out
}
