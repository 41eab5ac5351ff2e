// Package cli runs testscript scenarios (testdata/*.txtar) against the real
// nimbus binary: TestMain builds it once, and each scenario gets its own
// `nimbus server` (own data dir under $WORK, free ports) started by Setup
// and stopped (SIGTERM, exit 0 checked) by Defer. In a scenario,
// `exec nimbus …` runs a client command with NIMBUS_ENDPOINT pointing at
// that server; $API and $GATEWAY hold its addresses.
package cli

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

var binDir string // holds the built nimbus

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nimbus-cli-")
	if err != nil {
		panic(err)
	}
	code := func() int {
		binDir = dir
		if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "nimbus"), "../../cmd/nimbus").CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build nimbus: %v\n%s", err, out)
			return 1
		}
		return m.Run()
	}()
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestScenarios(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:   "testdata",
		Setup: setup,
	})
}

// setup starts a server for one scenario and arranges its stop.
func setup(env *testscript.Env) error {
	env.Setenv("PATH", binDir+string(os.PathListSeparator)+env.Getenv("PATH"))
	// Client commands find the server here; HOME for the Go build cache of
	// functions built from source.
	for _, k := range []string{"HOME", "GOPATH", "GOCACHE", "GOMODCACHE", "GOFLAGS", "GOPROXY"} {
		if v, ok := os.LookupEnv(k); ok {
			env.Setenv(k, v)
		}
	}
	s, err := startServer(filepath.Join(env.WorkDir, ".nimbus-data"))
	if err != nil {
		return err
	}
	env.Setenv("NIMBUS_ENDPOINT", s.api)
	env.Setenv("API", s.api)
	env.Setenv("GATEWAY", s.gateway)
	env.Defer(func() {
		if err := s.stop(); err != nil {
			env.T().Fatal(err)
		}
	})
	return nil
}

type server struct {
	cmd          *exec.Cmd
	api, gateway string
	exited       chan struct{}
	mu           sync.Mutex
	stderr       bytes.Buffer // guarded by mu
}

func (s *server) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.Write(p)
}

func (s *server) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

// startServer starts nimbus over dataDir on free ports and waits for "ready".
func startServer(dataDir string) (*server, error) {
	s := &server{exited: make(chan struct{})}
	s.cmd = exec.Command(filepath.Join(binDir, "nimbus"), "server", "--data-dir", dataDir, "--api-addr", "127.0.0.1:0", "--gateway-addr", "127.0.0.1:0")
	s.cmd.Stderr = s
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, err
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
				return nil, fmt.Errorf("server exited before ready: %s", s.log())
			}
			switch {
			case strings.HasPrefix(l, "api: "):
				s.api = strings.TrimPrefix(l, "api: ")
			case strings.HasPrefix(l, "gateway: "):
				s.gateway = strings.TrimPrefix(l, "gateway: ")
			case l == "ready":
				go io.Copy(io.Discard, out)
				return s, nil
			}
		case <-timeout:
			s.cmd.Process.Kill()
			return nil, fmt.Errorf("server not ready after 60s: %s", s.log())
		}
	}
}

// stop stops the server with SIGTERM and checks that it exits 0.
func (s *server) stop() error {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		if code := s.cmd.ProcessState.ExitCode(); code != 0 {
			return fmt.Errorf("server exited %d after SIGTERM: %s", code, s.log())
		}
		return nil
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		return fmt.Errorf("server did not stop within 15s of SIGTERM")
	}
}
