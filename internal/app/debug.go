package app

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"

	"github.com/nimbus-dev/nimbus/internal/awsapi"
	"github.com/nimbus-dev/nimbus/internal/debugger"
	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/registry"
	"github.com/nimbus-dev/nimbus/internal/runtimes"
	"github.com/nimbus-dev/nimbus/internal/sandbox"
	"github.com/nimbus-dev/nimbus/internal/sched"
)

// registerDebug serves debug sessions on the API address (what
// `nimbus dev --debug FUNCTION` calls):
//
//	PUT    /nimbus/v1/functions/{name}/debug  {} or {"port": N} → 200 debugger.Session
//	GET    /nimbus/v1/functions/{name}/debug  → 200 debugger.Session, or 404
//	DELETE /nimbus/v1/functions/{name}/debug  → 204
//
// Sessions live in the scheduler's memory and end with the server.
// runtimeDir is the host directory environments see at launcher.RuntimeDir();
// the dlv copy goes in its debug/ subdirectory.
func registerDebug(mux *http.ServeMux, log *slog.Logger, reg *registry.Registry, rt *runtimes.Catalogue, launcher *sandbox.Launcher, sch *sched.Scheduler, runtimeDir string) {
	dbg := debugger.New(debugger.Config{
		HostDir:  filepath.Join(runtimeDir, "debug"),
		EnvDir:   filepath.Join(launcher.RuntimeDir(), "debug"),
		TaskRoot: launcher.TaskRoot(""),
	})
	function := func(w http.ResponseWriter, r *http.Request) (*registry.Function, bool) {
		name, _, err := lambda.ParseFunctionRef(r.PathValue("name"), "")
		if err == nil {
			fn, ok := reg.Get(name)
			if ok {
				return fn, true
			}
			err = lambda.NotFound("Function not found: %s", lambda.FunctionARN(name))
		}
		awsapi.WriteError(w, log, err)
		return nil, false
	}
	const path = "/nimbus/v1/functions/{name}/debug"
	mux.HandleFunc("PUT "+path, func(w http.ResponseWriter, r *http.Request) {
		fn, ok := function(w, r)
		if !ok {
			return
		}
		var in struct {
			Port int `json:"port"`
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil || len(body) > 0 && json.Unmarshal(body, &in) != nil {
			awsapi.WriteError(w, log, lambda.InvalidRequestContent(`The body must be {} or {"port": N}`))
			return
		}
		cfg := &fn.Latest
		interp, _ := rt.Command(cfg.Runtime, "", "")
		sess, err := dbg.Prepare(r.Context(), debugger.Request{Function: cfg.FunctionName, Runtime: cfg.Runtime, Port: in.Port, Interpreter: interp.Path})
		if err == nil {
			err = checkDebugPort(sch, sess)
		}
		if err != nil {
			awsapi.WriteError(w, log, err)
			return
		}
		sch.StartDebug(sess, func() (*lambda.Config, bool) {
			fn, ok := reg.Get(sess.Function)
			if !ok {
				return nil, false
			}
			return &fn.Latest, true
		})
		log.Info("debugging", "function", sess.Function, "debugger", sess.Debugger, "addr", "127.0.0.1:"+strconv.Itoa(sess.Port))
		awsapi.WriteJSON(w, http.StatusOK, sess)
	})
	mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
		fn, ok := function(w, r)
		if !ok {
			return
		}
		sess := sch.Debugging(fn.Latest.FunctionName)
		if sess == nil {
			awsapi.WriteError(w, log, lambda.NotFound("Function %s is not being debugged", fn.Latest.FunctionName))
			return
		}
		awsapi.WriteJSON(w, http.StatusOK, sess)
	})
	mux.HandleFunc("DELETE "+path, func(w http.ResponseWriter, r *http.Request) {
		fn, ok := function(w, r)
		if !ok {
			return
		}
		if sch.Debugging(fn.Latest.FunctionName) != nil {
			sch.StopDebug(fn.Latest.FunctionName)
			log.Info("debugging stopped", "function", fn.Latest.FunctionName)
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// checkDebugPort checks that sess's port is neither another function's
// debug port nor taken by some other process (the function's own current
// session may hold it: it ends before the new one starts).
func checkDebugPort(sch *sched.Scheduler, sess *debugger.Session) error {
	for _, other := range sch.DebugSessions() {
		if other.Port != sess.Port {
			continue
		}
		if other.Function == sess.Function {
			return nil
		}
		return lambda.Conflict("Port %d is already used to debug function %s; choose another with {\"port\": N}", sess.Port, other.Function)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(sess.Port)))
	if err != nil {
		return lambda.Conflict("Port %d on 127.0.0.1 is in use by another process; choose another with {\"port\": N}", sess.Port)
	}
	ln.Close()
	return nil
}
