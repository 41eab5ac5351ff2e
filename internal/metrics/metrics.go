// Package metrics keeps the platform's metrics and renders them in the
// Prometheus text format (GET /metrics), named after Lambda's CloudWatch
// vocabulary: Invocations, Errors, Throttles, Duration, ConcurrentExecutions,
// UnreservedConcurrentExecutions, ProvisionedConcurrency*, plus cold starts, init
// duration and environments by state.
//
// Counters and histograms are updated on the invoke path under one short mutex
// per observation (no allocation once a function's series exist). Gauges are
// read at scrape time from the components that own the numbers (Sources).
package metrics

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nimbus-dev/nimbus/internal/concurrency"
)

// Buckets are the duration histogram bounds in seconds.
var Buckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900}

type histogram struct {
	counts []uint64 // one per bucket, cumulative at render time
	sum    float64
	count  uint64
}

func (h *histogram) observe(v float64) {
	if h.counts == nil {
		h.counts = make([]uint64, len(Buckets))
	}
	i := sort.SearchFloat64s(Buckets, v)
	if i < len(h.counts) {
		h.counts[i]++
	}
	h.sum += v
	h.count++
}

type fnMetrics struct {
	invocations, errors, coldStarts, provisionedInvocations, spillover uint64
	asyncReceived, asyncDropped, deadLetterErrors, destinationFailures uint64
	asyncAge                                                           histogram
	throttles                                                          map[string]uint64
	duration, initDuration                                             histogram
}

// EnvCounts is the number of environments per function by state.
type EnvCounts struct{ Idle, Busy, ProvisionedIdle int }

// PrestartCounts is the number of pre-started interpreters of a runtime that
// have finished their pre-init (Ready) and that have not (Starting).
type PrestartCounts struct{ Ready, Starting int }

// Sources supply the gauges read at scrape time.
type Sources struct {
	Concurrency func() concurrency.Stats
	Envs        func() map[string]EnvCounts
	// Prestarted counts the pre-started interpreters by runtime.
	Prestarted func() map[string]PrestartCounts
}

// Registry holds the metrics. It is safe for concurrent use.
type Registry struct {
	src Sources
	mu  sync.Mutex
	fns map[string]*fnMetrics // guarded by mu
}

// New returns an empty registry.
func New(src Sources) *Registry { return &Registry{src: src, fns: map[string]*fnMetrics{}} }

func (r *Registry) fnLocked(name string) *fnMetrics {
	m := r.fns[name]
	if m == nil {
		m = &fnMetrics{throttles: map[string]uint64{}}
		r.fns[name] = m
	}
	return m
}

// Observation describes one finished invocation.
type Observation struct {
	Function               string
	Duration, InitDuration time.Duration
	Failed, Cold           bool
	Provisioned            bool // ran on provisioned concurrency
	Spillover              bool // its version had provisioned concurrency, all in use
}

// Invoked records a finished invocation.
func (r *Registry) Invoked(o Observation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.fnLocked(o.Function)
	m.invocations++
	if o.Failed {
		m.errors++
	}
	if o.Cold {
		m.coldStarts++
		m.initDuration.observe(o.InitDuration.Seconds())
	}
	if o.Provisioned {
		m.provisionedInvocations++
	}
	if o.Spillover {
		m.spillover++
	}
	m.duration.observe(o.Duration.Seconds())
}

// AsyncReceived records an accepted async event and how long it waited for its first run.
func (r *Registry) AsyncReceived(fn string, age time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.fnLocked(fn)
	m.asyncReceived++
	m.asyncAge.observe(age.Seconds())
}

// AsyncDropped records an async event that did not succeed (retries exhausted, too old, or its function gone).
func (r *Registry) AsyncDropped(fn string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fnLocked(fn).asyncDropped++
}

// DeadLetterError records a failed delivery to a dead-letter queue.
func (r *Registry) DeadLetterError(fn string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fnLocked(fn).deadLetterErrors++
}

// DestinationFailure records a failed delivery to a destination.
func (r *Registry) DestinationFailure(fn string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fnLocked(fn).destinationFailures++
}

// Throttled records a throttled request (it counts neither as an invocation nor an error).
func (r *Registry) Throttled(fn, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fnLocked(fn).throttles[reason]++
}

// WriteTo renders the Prometheus text format.
func (r *Registry) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	r.mu.Lock()
	names := make([]string, 0, len(r.fns))
	for n := range r.fns {
		names = append(names, n)
	}
	slices.Sort(names)
	counter := func(metric, help string, get func(*fnMetrics) uint64) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s counter\n", metric, help, metric)
		for _, n := range names {
			fmt.Fprintf(&b, "%s{function=%q} %d\n", metric, n, get(r.fns[n]))
		}
	}
	counter("nimbus_invocations_total", "Invocations that ran (Lambda Invocations).", func(m *fnMetrics) uint64 { return m.invocations })
	counter("nimbus_errors_total", "Invocations that ended in a function error (Lambda Errors).", func(m *fnMetrics) uint64 { return m.errors })
	counter("nimbus_cold_starts_total", "Invocations that started a new environment.", func(m *fnMetrics) uint64 { return m.coldStarts })
	counter("nimbus_provisioned_concurrency_invocations_total", "Invocations that ran on provisioned concurrency.", func(m *fnMetrics) uint64 { return m.provisionedInvocations })
	counter("nimbus_provisioned_concurrency_spillover_invocations_total", "Invocations of versions with provisioned concurrency that ran on demand because it was all in use.", func(m *fnMetrics) uint64 { return m.spillover })
	counter("nimbus_async_events_received_total", "Async events accepted (Lambda AsyncEventsReceived).", func(m *fnMetrics) uint64 { return m.asyncReceived })
	counter("nimbus_async_events_dropped_total", "Async events that did not succeed (Lambda AsyncEventsDropped).", func(m *fnMetrics) uint64 { return m.asyncDropped })
	counter("nimbus_dead_letter_errors_total", "Failed deliveries to a dead-letter queue (Lambda DeadLetterErrors).", func(m *fnMetrics) uint64 { return m.deadLetterErrors })
	counter("nimbus_destination_delivery_failures_total", "Failed deliveries to a destination (Lambda DestinationDeliveryFailures).", func(m *fnMetrics) uint64 { return m.destinationFailures })
	fmt.Fprintf(&b, "# HELP nimbus_throttles_total Requests throttled (Lambda Throttles), by reason.\n# TYPE nimbus_throttles_total counter\n")
	for _, n := range names {
		reasons := make([]string, 0, len(r.fns[n].throttles))
		for reason := range r.fns[n].throttles {
			reasons = append(reasons, reason)
		}
		slices.Sort(reasons)
		for _, reason := range reasons {
			fmt.Fprintf(&b, "nimbus_throttles_total{function=%q,reason=%q} %d\n", n, reason, r.fns[n].throttles[reason])
		}
	}
	hist := func(metric, help string, get func(*fnMetrics) *histogram) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s histogram\n", metric, help, metric)
		for _, n := range names {
			h := get(r.fns[n])
			var cum uint64
			for i, le := range Buckets {
				if h.counts != nil {
					cum += h.counts[i]
				}
				fmt.Fprintf(&b, "%s_bucket{function=%q,le=\"%g\"} %d\n", metric, n, le, cum)
			}
			fmt.Fprintf(&b, "%s_bucket{function=%q,le=\"+Inf\"} %d\n%s_sum{function=%q} %g\n%s_count{function=%q} %d\n",
				metric, n, h.count, metric, n, h.sum, metric, n, h.count)
		}
	}
	hist("nimbus_duration_seconds", "Invocation duration (Lambda Duration).", func(m *fnMetrics) *histogram { return &m.duration })
	hist("nimbus_init_duration_seconds", "Init duration of cold starts.", func(m *fnMetrics) *histogram { return &m.initDuration })
	hist("nimbus_async_event_age_seconds", "Time from accepting an async event to its first run (Lambda AsyncEventAge).", func(m *fnMetrics) *histogram { return &m.asyncAge })
	r.mu.Unlock()

	if r.src.Concurrency != nil {
		st := r.src.Concurrency()
		fnames := make([]string, 0, len(st.Functions))
		for n := range st.Functions {
			fnames = append(fnames, n)
		}
		slices.Sort(fnames)
		total := 0
		fmt.Fprintf(&b, "# HELP nimbus_concurrent_executions Invocations running now (Lambda ConcurrentExecutions).\n# TYPE nimbus_concurrent_executions gauge\n")
		for _, n := range fnames {
			f := st.Functions[n]
			fmt.Fprintf(&b, "nimbus_concurrent_executions{function=%q} %d\n", n, f.OnDemand+f.ProvisionedInUse)
			total += f.OnDemand + f.ProvisionedInUse
		}
		fmt.Fprintf(&b, "# HELP nimbus_concurrent_executions_total Invocations running now, all functions (Lambda ConcurrentExecutions without a dimension).\n# TYPE nimbus_concurrent_executions_total gauge\nnimbus_concurrent_executions_total %d\n", total)
		fmt.Fprintf(&b, "# HELP nimbus_unreserved_concurrent_executions Unreserved pool in use (Lambda UnreservedConcurrentExecutions).\n# TYPE nimbus_unreserved_concurrent_executions gauge\nnimbus_unreserved_concurrent_executions %d\n", st.UnreservedInUse)
		fmt.Fprintf(&b, "# TYPE nimbus_account_concurrency_limit gauge\nnimbus_account_concurrency_limit %d\n", st.Limit)
		fmt.Fprintf(&b, "# HELP nimbus_provisioned_concurrent_executions Invocations running on provisioned concurrency.\n# TYPE nimbus_provisioned_concurrent_executions gauge\n")
		for _, n := range fnames {
			fmt.Fprintf(&b, "nimbus_provisioned_concurrent_executions{function=%q} %d\n", n, st.Functions[n].ProvisionedInUse)
		}
		fmt.Fprintf(&b, "# HELP nimbus_provisioned_concurrency_utilization Provisioned in use / provisioned capacity.\n# TYPE nimbus_provisioned_concurrency_utilization gauge\n")
		for _, n := range fnames {
			if f := st.Functions[n]; f.ProvisionedCapacity > 0 {
				fmt.Fprintf(&b, "nimbus_provisioned_concurrency_utilization{function=%q} %g\n", n, float64(f.ProvisionedInUse)/float64(f.ProvisionedCapacity))
			}
		}
	}
	if r.src.Envs != nil {
		envs := r.src.Envs()
		enames := make([]string, 0, len(envs))
		for n := range envs {
			enames = append(enames, n)
		}
		slices.Sort(enames)
		fmt.Fprintf(&b, "# HELP nimbus_environments Execution environments by state.\n# TYPE nimbus_environments gauge\n")
		for _, n := range enames {
			e := envs[n]
			fmt.Fprintf(&b, "nimbus_environments{function=%q,state=\"idle\"} %d\n", n, e.Idle)
			fmt.Fprintf(&b, "nimbus_environments{function=%q,state=\"busy\"} %d\n", n, e.Busy)
			fmt.Fprintf(&b, "nimbus_environments{function=%q,state=\"provisioned_idle\"} %d\n", n, e.ProvisionedIdle)
		}
	}
	if r.src.Prestarted != nil {
		pre := r.src.Prestarted()
		fmt.Fprintf(&b, "# HELP nimbus_prestarted_environments Pre-started interpreters not yet given to a function, by runtime and state (ready: pre-init done).\n# TYPE nimbus_prestarted_environments gauge\n")
		for _, rt := range slices.Sorted(maps.Keys(pre)) {
			fmt.Fprintf(&b, "nimbus_prestarted_environments{runtime=%q,state=\"ready\"} %d\n", rt, pre[rt].Ready)
			fmt.Fprintf(&b, "nimbus_prestarted_environments{runtime=%q,state=\"starting\"} %d\n", rt, pre[rt].Starting)
		}
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}
