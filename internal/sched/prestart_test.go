package sched

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// prestartFns are a Python and a Node handler that answer their environment
// variables, working directory and the files there.
var prestartFns = []struct{ runtime, handler, file, source string }{
	{"python3.11", "app.handler", "app.py", `import os
def handler(event, context):
    return {"env": dict(os.environ), "cwd": os.getcwd(), "files": sorted(os.listdir("."))}
`},
	{"nodejs20.x", "index.handler", "index.js", `const fs = require("fs");
exports.handler = async () => ({ env: process.env, cwd: process.cwd(), files: fs.readdirSync(".").sort() });
`},
}

// interpFn stores a one-file function and returns its configuration.
func interpFn(t *testing.T, name, runtime, handler, file, source string, vars map[string]string) *lambda.Config {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create(file)
	w.Write([]byte(source))
	zw.Close()
	c, err := parts.code.Put(t.Context(), buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return &lambda.Config{
		FunctionName: name, FunctionArn: lambda.FunctionARN(name), Runtime: runtime, Handler: handler,
		Timeout: 30, MemorySize: 256, CodeSha256: c.Sha256, Version: lambda.Latest, RevisionId: "r1",
		EphemeralStorage: lambda.EphemeralStorage{Size: 512}, Environment: &lambda.Environment{Variables: vars},
	}
}

// pooled returns the ids of runtime's pre-started environments once there
// are n of them, each done with its pre-init.
func pooled(t *testing.T, s *Scheduler, runtime string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s.mu.Lock()
		var ids []string
		if rp := s.prestarted[runtime]; rp != nil && rp.starting == 0 {
			for _, e := range rp.idle {
				if preinitialised(e) {
					ids = append(ids, e.id)
				}
			}
		}
		s.mu.Unlock()
		if len(ids) == n {
			return ids
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: pre-started %v, want %d", runtime, ids, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A cold start of a Node or Python function runs in a pre-started
// interpreter once its runtime has been used: the function sees its own code
// at /var/task as its working directory and its own variables, and the pool
// is refilled. Functions with start-up variables start their own process.
// An unused runtime pool is stopped after the keep-alive period.
func TestPrestarted(t *testing.T) {
	if !parts.launcher.CanDefer() {
		t.Skip("pre-started environments need the private root")
	}
	for _, fn := range prestartFns {
		t.Run(fn.runtime, func(t *testing.T) {
			if parts.runtimes.Validate(fn.runtime) != nil {
				t.Skipf("%s is not installed", fn.runtime)
			}
			s, clk := newScheduler(t, Config{Prestart: 1})
			first := interpFn(t, "first", fn.runtime, fn.handler, fn.file, fn.source, nil)
			if r := invoke(t, s, first, `{}`); r.Error != "" || !r.Cold {
				t.Fatalf("first cold start: error %q, cold %v", r.Error, r.Cold)
			}
			ids := pooled(t, s, fn.runtime, 1)
			if st := s.Prestarted()[fn.runtime]; st != (PrestartStats{Ready: 1}) {
				t.Errorf("Prestarted = %+v, want 1 ready", st)
			}

			cfg := interpFn(t, "second", fn.runtime, fn.handler, fn.file, fn.source, map[string]string{"MY_VAR": "mine"})
			r := invoke(t, s, cfg, `{}`)
			if r.Error != "" || !r.Cold || !r.initReported() {
				t.Fatalf("cold start: error %q (%s), cold %v, Init Duration logged %v", r.Error, r.Result.Payload, r.Cold, r.initReported())
			}
			if r.Env != ids[0] {
				t.Errorf("cold start ran in %s, want the pre-started %s", r.Env, ids[0])
			}
			var seen struct {
				Env   map[string]string `json:"env"`
				Cwd   string            `json:"cwd"`
				Files []string          `json:"files"`
			}
			json.Unmarshal(r.Result.Payload, &seen)
			if seen.Cwd != "/var/task" || len(seen.Files) != 1 || seen.Files[0] != fn.file {
				t.Errorf("working directory %q holding %v, want /var/task holding %s", seen.Cwd, seen.Files, fn.file)
			}
			for k, want := range map[string]string{"MY_VAR": "mine", "AWS_LAMBDA_FUNCTION_NAME": "second",
				"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "AWS_EXECUTION_ENV": "AWS_Lambda_" + fn.runtime, preinitVar: ""} {
				if got := seen.Env[k]; got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if warm := invoke(t, s, cfg, `{}`); warm.Cold || warm.Env != r.Env {
				t.Errorf("second invocation: cold %v in %s, want warm in %s", warm.Cold, warm.Env, r.Env)
			}
			refill := pooled(t, s, fn.runtime, 1)
			if refill[0] == ids[0] {
				t.Fatalf("pool still holds the assigned environment %s", ids[0])
			}

			// NODE_OPTIONS or PYTHONPATH must be seen by the interpreter at start.
			own := interpFn(t, "own", fn.runtime, fn.handler, fn.file, fn.source, map[string]string{"NODE_OPTIONS": "", "PYTHONPATH": "/var/task"})
			if r := invoke(t, s, own, `{}`); r.Error != "" || r.Env == refill[0] {
				t.Errorf("function with start-up variables: error %q, ran in %s (the pre-started %s)", r.Error, r.Env, refill[0])
			}
			if got := pooled(t, s, fn.runtime, 1); got[0] != refill[0] {
				t.Errorf("pool %v after a start of its own, want %v", got, refill)
			}

			// A pre-started process that dies is replaced at the next tick.
			s.mu.Lock()
			victim := s.prestarted[fn.runtime].idle[0]
			s.mu.Unlock()
			victim.proc.Kill()
			<-victim.proc.Done()
			tick(s, clk)
			if got := pooled(t, s, fn.runtime, 1); got[0] == victim.id {
				t.Errorf("pool %v still holds the dead %s", got, victim.id)
			}
			refill = pooled(t, s, fn.runtime, 1)

			clk.advance(s.cfg.KeepAlive)
			tick(s, clk)
			waitStopped(t, refill[0], "an unused runtime pool after the keep-alive period")
			if st := s.Prestarted()[fn.runtime]; st != (PrestartStats{}) {
				t.Errorf("pre-started after the keep-alive period: %+v", st)
			}
		})
	}
}

// Variables read only when an interpreter or its libraries start keep a
// function off pre-started interpreters; others do not.
func TestStartupVar(t *testing.T) {
	for k, want := range map[string]bool{
		"NODE_OPTIONS": true, "PYTHONPATH": true, "LD_PRELOAD": true, "LC_ALL": true, "LANG": true, "TZ": true,
		"PATH": true, "AWS_LAMBDA_EXEC_WRAPPER": true, "UV_THREADPOOL_SIZE": true, "OPENSSL_CONF": true,
		"MALLOC_ARENA_MAX": true, "GLIBC_TUNABLES": true,
		"MY_VAR": false, "TABLE_NAME": false, "AWS_LAMBDA_LOG_FORMAT": false, "NODEJS_THING": false,
	} {
		if got := startupVar(k); got != want {
			t.Errorf("startupVar(%s) = %v, want %v", k, got, want)
		}
	}
}
