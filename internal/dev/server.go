package dev

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Server is where the loop deploys: a server that was already running, or
// one it started (Embedded).
type Server struct {
	// API and Gateway are the server's URLs (Gateway "" if unknown).
	API, Gateway string
	// Embedded is set when dev started the server; Pid is its process.
	Embedded bool
	Pid      int
	// Log is the embedded server's log file.
	Log string

	cmd    *exec.Cmd
	exited chan struct{}
}

// EmbeddedConfig says how to start an embedded server.
type EmbeddedConfig struct {
	// Command is the nimbus binary and the subcommand, e.g.
	// [/usr/bin/nimbus server]; empty means this executable's "server".
	Command []string
	// DataDir, APIAddr and GatewayAddr are the server's flags.
	DataDir, APIAddr, GatewayAddr string
	// ReadyTimeout bounds the wait for "ready"; zero means one minute.
	ReadyTimeout time.Duration
}

// Probe reports whether a nimbus server answers GET /healthz at endpoint.
func Probe(ctx context.Context, endpoint string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(endpoint, "/")+"/healthz", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// StartEmbedded starts `nimbus server` as a child process and waits until it
// says "ready". The child runs in its own process group, so that a Ctrl-C
// in the terminal reaches only dev, which stops it in order (Stop); it is
// also sent SIGTERM if dev dies. Its output goes to DataDir/server.log.
func StartEmbedded(ctx context.Context, cfg EmbeddedConfig) (*Server, error) {
	command := cfg.Command
	if len(command) == 0 {
		self, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("cannot find the nimbus executable to start a server: %w", err)
		}
		command = []string{self, "server"}
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = time.Minute
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(cfg.DataDir, "server.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own descriptor
	args := append(command[1:len(command):len(command)], "--data-dir", cfg.DataDir, "--api-addr", cfg.APIAddr, "--gateway-addr", cfg.GatewayAddr)
	cmd := exec.Command(command[0], args...)
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the embedded server: %w", err)
	}
	s := &Server{Embedded: true, Pid: cmd.Process.Pid, Log: logPath, cmd: cmd, exited: make(chan struct{})}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-s.exited:
			}
		}
		close(lines)
		io.Copy(io.Discard, out)
	}()
	go func() {
		cmd.Wait()
		close(s.exited)
	}()
	timeout := time.NewTimer(cfg.ReadyTimeout)
	defer timeout.Stop()
	for {
		select {
		case l, ok := <-lines:
			switch {
			case !ok:
				<-s.exited
				return nil, fmt.Errorf("the embedded server exited (%v) before it was ready:\n%s", cmd.ProcessState, tail(logPath, 20))
			case strings.HasPrefix(l, "api: "):
				s.API = strings.TrimPrefix(l, "api: ")
			case strings.HasPrefix(l, "gateway: "):
				s.Gateway = strings.TrimPrefix(l, "gateway: ")
			case l == "ready":
				go func() {
					for range lines {
					}
				}()
				return s, nil
			}
		case <-ctx.Done():
			s.Stop()
			return nil, ctx.Err()
		case <-timeout.C:
			s.Stop()
			return nil, fmt.Errorf("the embedded server was not ready within %s:\n%s", cfg.ReadyTimeout, tail(logPath, 20))
		}
	}
}

// Stop stops an embedded server (SIGTERM; SIGKILL after 20 s) and waits for
// it to exit. It does nothing for a server dev did not start.
func (s *Server) Stop() error {
	if !s.Embedded {
		return nil
	}
	select {
	case <-s.exited:
		return nil
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
		return errors.New("the embedded server did not stop within 20 s of SIGTERM; killed it")
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		return fmt.Errorf("the embedded server exited with status %d (see %s)", code, s.Log)
	}
	return nil
}

// Exited is closed when an embedded server's process has exited (never for
// a server dev did not start).
func (s *Server) Exited() <-chan struct{} { return s.exited }

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
