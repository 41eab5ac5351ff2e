// Package app is the composition root: it builds every component from the
// server configuration, runs them, and stops them in reverse order. No other
// package wires components together.
//
// Start order: data-dir lock → backbone (JetStream) → registry, code store, log
// store → runtimes catalogue → sandbox launcher (reaping leftovers of a previous
// run) → listeners → scheduler → invoke service → HTTP servers → "ready".
// Stop order (SIGINT/SIGTERM): HTTP servers stop accepting and finish in-flight
// requests → async workers → scheduler stops environments → registry watch →
// backbone flushes and closes.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/nimbus-dev/nimbus/internal/artifact"
	"github.com/nimbus-dev/nimbus/internal/awsapi"
	"github.com/nimbus-dev/nimbus/internal/awsapi/eventsapi"
	"github.com/nimbus-dev/nimbus/internal/awsapi/lambdaapi"
	"github.com/nimbus-dev/nimbus/internal/awsapi/secretsapi"
	"github.com/nimbus-dev/nimbus/internal/awsapi/sfnapi"
	"github.com/nimbus-dev/nimbus/internal/awsapi/sigv4"
	"github.com/nimbus-dev/nimbus/internal/awsapi/snsapi"
	"github.com/nimbus-dev/nimbus/internal/awsapi/sqsapi"
	"github.com/nimbus-dev/nimbus/internal/backbone"
	"github.com/nimbus-dev/nimbus/internal/concurrency"
	"github.com/nimbus-dev/nimbus/internal/config"
	"github.com/nimbus-dev/nimbus/internal/events/esm"
	"github.com/nimbus-dev/nimbus/internal/events/queue"
	"github.com/nimbus-dev/nimbus/internal/events/schedule"
	"github.com/nimbus-dev/nimbus/internal/events/topic"
	"github.com/nimbus-dev/nimbus/internal/gateway"
	"github.com/nimbus-dev/nimbus/internal/invoke"
	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/logs"
	"github.com/nimbus-dev/nimbus/internal/metrics"
	"github.com/nimbus-dev/nimbus/internal/registry"
	"github.com/nimbus-dev/nimbus/internal/runtimes"
	"github.com/nimbus-dev/nimbus/internal/sandbox"
	"github.com/nimbus-dev/nimbus/internal/sched"
	"github.com/nimbus-dev/nimbus/internal/sched/keepalive"
	"github.com/nimbus-dev/nimbus/internal/workflow/executions"
)

// Run runs the server until ctx ends. It prints the contract's `api:`,
// `gateway:` and `ready` lines on stdout and logs on stderr.
func Run(ctx context.Context, cfg *config.Server, stdout, stderr io.Writer) error {
	// Everything the server writes to stderr goes through one batched
	// writer, so lines keep their order; it is flushed before "ready".
	logOut := newLogWriter(stderr)
	defer logOut.Close()
	stderr = logOut
	log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: level(cfg.LogLevel)}))
	if err := checkExposure(cfg); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	unlock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer unlock()

	bb, err := backbone.Start(backbone.Config{DataDir: cfg.DataDir})
	if err != nil {
		return err
	}
	defer bb.Close()
	secretStore, err := openSecrets(ctx, cfg, bb, log, stderr)
	if err != nil {
		return err
	}

	kv, err := bb.KeyValue(ctx, registry.Bucket)
	if err != nil {
		return err
	}
	reg, err := registry.Open(ctx, kv)
	if err != nil {
		return err
	}
	obj, err := bb.ObjectStore(ctx, artifact.Bucket)
	if err != nil {
		return err
	}
	code, err := artifact.New(obj, filepath.Join(cfg.DataDir, "code"))
	if err != nil {
		return err
	}
	logStore, err := logs.Open(ctx, bb.JetStream(), logs.Config{})
	if err != nil {
		return err
	}
	runtimeDir := filepath.Join(cfg.DataDir, "runtimes")
	rt, err := runtimes.New(ctx, runtimes.Config{Dir: runtimeDir, Map: cfg.RuntimeMap})
	if err != nil {
		return err
	}
	launcher, err := sandbox.New(sandbox.Config{StateDir: filepath.Join(cfg.DataDir, "sandboxes"), RuntimeDir: runtimeDir, ReadOnly: rt.Prefixes(), NoCPUPlacement: cfg.CPUPlacement == "off"})
	if err != nil {
		return err
	}
	defer launcher.Close() // after the scheduler has stopped every environment
	if n := launcher.Reap(); n > 0 {
		log.Info("killed environments left by a previous run", "count", n)
	}
	for _, l := range launcher.Layers() {
		fmt.Fprintln(stderr, "sandbox:", l)
	}
	for _, l := range rt.Describe() {
		fmt.Fprintln(stderr, "runtime:", l)
	}
	switch {
	case cfg.Prestart == 0:
		fmt.Fprintln(stderr, "runtime: pre-started interpreters: off (--prestart 0)")
	case !launcher.CanDefer():
		fmt.Fprintln(stderr, "runtime: pre-started interpreters: off (they need the private root, which is off)")
	default:
		fmt.Fprintf(stderr, "runtime: pre-started interpreters: on (%d per Node/Python runtime in use, each in its own sandbox)\n", cfg.Prestart)
	}

	apiLn, err := net.Listen("tcp", cfg.APIAddr)
	if err != nil {
		return fmt.Errorf("api listener: %w", err)
	}
	defer apiLn.Close()
	gwLn, err := net.Listen("tcp", cfg.GatewayAddr)
	if err != nil {
		return fmt.Errorf("gateway listener: %w", err)
	}
	defer gwLn.Close()
	apiURL := "http://" + apiLn.Addr().String()

	keyID, secret := "nimbus", "nimbus"
	for k, v := range cfg.AccessKeys {
		keyID, secret = k, v
		break
	}
	var policy keepalive.Policy = keepalive.Fixed{KeepAlive: cfg.KeepAlive}
	if cfg.KeepAlivePolicy == "adaptive" {
		policy = keepalive.NewAdaptive(keepalive.AdaptiveConfig{KeepAlive: cfg.KeepAlive})
	}
	sch := sched.New(sched.Config{KeepAlive: cfg.KeepAlive, Policy: policy, APIURL: apiURL, AccessKeyID: keyID, SecretAccessKey: secret,
		ScaleUpRate: cfg.ScaleUpRate, Prestart: cfg.Prestart, Secrets: secretStore.Resolve}, log, launcher, rt, code, logStore)
	lim := concurrency.New(cfg.AccountConcurrency)
	met := metrics.New(metrics.Sources{
		Concurrency: lim.Snapshot,
		Envs: func() map[string]metrics.EnvCounts {
			out := map[string]metrics.EnvCounts{}
			for fn, st := range sch.Stats() {
				out[fn] = metrics.EnvCounts{Idle: st.Idle, Busy: st.Busy, ProvisionedIdle: st.ProvisionedIdle}
			}
			return out
		},
		Prestarted: func() map[string]metrics.PrestartCounts {
			out := map[string]metrics.PrestartCounts{}
			for rt, st := range sch.Prestarted() {
				out[rt] = metrics.PrestartCounts{Ready: st.Ready, Starting: st.Starting}
			}
			return out
		},
	})
	inv := invoke.New(invoke.Config{AsyncRetryBase: cfg.AsyncRetryBase}, log, reg, sch, lim, met, bb.JetStream())
	if err := inv.Open(ctx); err != nil {
		return err
	}
	inv.LoadReservations()
	// Workflows: state machines and executions on JetStream; Open prepares
	// every execution that was running to resume (Run starts them).
	wf := executions.New(executions.Config{}, log.With("component", "workflow"), bb.JetStream(), executions.InvokeAdapter{Service: inv})
	if err := wf.Open(ctx); err != nil {
		return err
	}

	var verifier *sigv4.Verifier
	if len(cfg.AccessKeys) > 0 {
		verifier = sigv4.New(sigv4.Credentials(cfg.AccessKeys))
	}
	mux := http.NewServeMux()
	lapi := lambdaapi.New(log, reg, code, rt, inv, sch, lim, lambdaapi.Limits{UnreservedMin: cfg.UnreservedMin})
	lapi.Register(mux)
	mux.Handle("GET /nimbus/v1/functions/{name}/logs", logsHandler(log, reg, logStore))
	registerDebug(mux, log, reg, rt, launcher, sch, runtimeDir) // PUT/GET/DELETE /nimbus/v1/functions/{name}/debug
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		awsapi.WriteError(w, log, unknownOperation(r))
	})
	apiSrv := &http.Server{Handler: awsapi.Auth(verifier, lambdaapi.MaxCreateBody, log, mux), ReadHeaderTimeout: 30 * time.Second}
	qkv, err := bb.KeyValue(ctx, queue.Bucket)
	if err != nil {
		return err
	}
	queues, err := queue.Open(ctx, queue.Config{}, log.With("component", "queues"), bb.JetStream(), qkv)
	if err != nil {
		return err
	}
	inv.SetSender("sqs", queueSender{queues})
	esmKV, err := bb.KeyValue(ctx, esm.Bucket)
	if err != nil {
		return err
	}
	mappings := esm.New(esmKV, queues, inv, log.With("component", "esm"))
	lapi.SetEventSources(mappings)
	tkv, err := bb.KeyValue(ctx, topic.Bucket)
	if err != nil {
		return err
	}
	topics, err := topic.Open(ctx, topic.Config{APIURL: apiURL}, log.With("component", "topics"), bb.JetStream(), tkv, inv, queues)
	if err != nil {
		return err
	}
	inv.SetSender("sns", topics) // destinations and dead-letter targets that are topics
	wf.SetMessenger(messenger{queues, topics})
	snsAPI := snsapi.New(log.With("component", "snsapi"), topics).Handler()
	// Schedules: EventBridge rules with schedule expressions, fired through
	// the async front door (and the workflow service for state machines).
	schedKV, err := bb.KeyValue(ctx, schedule.Bucket)
	if err != nil {
		return err
	}
	schedules := schedule.New(schedule.Config{}, log.With("component", "schedules"), schedKV, inv)
	schedules.SetStarter(workflowStarter{wf})
	if err := schedules.Open(ctx); err != nil {
		return err
	}
	events := eventsapi.New(log.With("component", "eventsapi"), schedules)
	mux.Handle("GET /nimbus/v1/schedules", events.SchedulesHandler())
	awsJSON := map[string]http.Handler{
		sqsapi.TargetPrefix:    sqsapi.New(log, queues).Handler(),
		sfnapi.TargetPrefix:    sfnapi.New(log.With("component", "sfnapi"), wf).Handler(),
		eventsapi.TargetPrefix: events.Handler(),
	}
	awsJSON[secretsapi.TargetPrefix] = secretsapi.New(log.With("component", "secretsapi"), secretStore)
	mux.Handle("POST /{$}", awsRouter(log, awsJSON, snsAPI))
	mux.Handle("GET /{$}", awsRouter(log, awsJSON, snsAPI)) // SNS SubscribeURL / UnsubscribeURL links
	mux.Handle("POST /{account}/{queue}", awsJSONRouter(log, awsJSON))

	gw := gateway.New(gateway.Config{}, inv, log.With("component", "gateway"))
	wireGateway(gw, reg, verifier, queues, topics, wf) // service integrations, function URLs
	gwKV, err := bb.KeyValue(ctx, gateway.StoreBucket)
	if err != nil {
		return err
	}
	apis := gateway.NewStore(gwKV, gw)
	if err := apis.Load(ctx); err != nil {
		return err
	}
	registerAPIAdmin(mux, log, apis, gw)
	stacksKV, err := bb.KeyValue(ctx, stacksBucket)
	if err != nil {
		return err
	}
	registerStacks(mux, log, stacksKV, secretStore.Key())
	shifter, err := startDeployments(ctx, mux, log, bb, reg, inv)
	if err != nil {
		return err
	}
	registerInfo(mux, apiURL, "http://"+gwLn.Addr().String())
	lapi.SetGatewayAddr(gwLn.Addr().String()) // function URLs name the gateway's port
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		met.WriteTo(w)
		gw.WriteMetrics(w)
	})
	gwSrv := &http.Server{Handler: gw, ReadHeaderTimeout: 30 * time.Second}

	// Components run until compCtx ends; HTTP servers are shut down first.
	compCtx, stopComponents := context.WithCancel(context.WithoutCancel(ctx))
	defer stopComponents()
	var wg sync.WaitGroup
	errc := make(chan error, 32)
	run := func(name string, f func(context.Context) error) {
		wg.Go(func() {
			if err := f(compCtx); err != nil {
				errc <- fmt.Errorf("%s: %w", name, err)
			}
		})
	}
	run("registry", reg.Run)
	run("logs", logStore.Run)
	run("scheduler", sch.Run)
	run("async", inv.Run)
	run("provisioner", inv.RunProvisioner)
	run("workflow", wf.Run)
	run("queues", queues.Run)
	run("topics", topics.Run)
	run("schedules", schedules.Run)
	run("event sources", mappings.Run)
	run("deployments", shifter.Run)
	apiSrv.RegisterOnShutdown(queues.StopPolling)
	serve := func(srv *http.Server, ln net.Listener) {
		wg.Go(func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		})
	}
	serve(apiSrv, apiLn)
	serve(gwSrv, gwLn)

	fmt.Fprintf(stdout, "api: %s\n", apiURL)
	fmt.Fprintf(stdout, "gateway: http://%s\n", gwLn.Addr())
	logOut.flush() // the start-up report is out before "ready"
	fmt.Fprintln(stdout, "ready")

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		log.Error("component failed; stopping", "err", runErr)
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 7*time.Second)
	defer cancel()
	apiSrv.Shutdown(shutCtx)
	gwSrv.Shutdown(shutCtx)
	stopComponents()
	wg.Wait()
	gw.Wait()
	return runErr
}

func unknownOperation(r *http.Request) error {
	return &lambda.Error{Code: "UnknownOperationException", Status: http.StatusNotFound, Message: "Unknown operation " + r.Method + " " + r.URL.Path}
}

// checkExposure refuses to serve an unauthenticated API beyond loopback.
func checkExposure(cfg *config.Server) error {
	host, _, err := net.SplitHostPort(cfg.APIAddr)
	if err != nil {
		return fmt.Errorf("--api-addr %q: %w", cfg.APIAddr, err)
	}
	if isLoopback(host) || len(cfg.AccessKeys) > 0 {
		return nil
	}
	return fmt.Errorf("refusing to serve the API on non-loopback address %s without access keys: set --access-keys (NIMBUS_ACCESS_KEYS) to ACCESS_KEY_ID:SECRET", cfg.APIAddr)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// lockDataDir makes sure two servers never share one data dir.
func lockDataDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data dir %s is in use by another nimbus server", dir)
	}
	return func() { f.Close() }, nil
}

func level(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return l
}
