// Command nimbus-replay replays an Azure Functions invocation trace through
// nimbus's keep-alive policies on a virtual clock and prints, per policy, the
// invocations, cold starts and idle environment time, and both relative to a
// fixed 10-minute keep-alive (the scheduler's behaviour before policies).
//
//	nimbus-replay -trace /work/shared/traces/azure2019-sample/1000_inv.csv
//
// The default model simulates every environment: a minute's invocations
// arrive evenly spread over it and each runs its function's average duration
// from the _run.csv beside the trace (or -duration), so a function needs as
// many environments as it has invocations in flight. -model paper replays the
// minute model of "Serverless in the Wild" instead (one environment per
// function, one invocation per active minute), which reproduces the reference
// figures published with the Azure sample. It prints what the model assumes
// above the table. Nothing it does depends on the wall clock; the same inputs
// give the same table.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nimbus-dev/nimbus/internal/sched/keepalive"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "nimbus-replay:", err)
		os.Exit(2)
	}
}

type policy struct {
	name string
	new  func() keepalive.Policy
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("nimbus-replay", flag.ContinueOnError)
	fs.SetOutput(stdout)
	tracePath := fs.String("trace", "", "invocations-per-minute CSV (HashFunction,HashApp,HashOwner,minute_1,…)")
	runPath := fs.String("durations", "", "execution-time CSV with an Average column in ms (default: the trace's _run.csv, if there is one)")
	model := fs.String("model", "concurrent", "concurrent: one environment per invocation in flight; paper: one per function, one invocation per active minute")
	dur := fs.Duration("duration", 0, "run every invocation this long instead of the trace's averages (concurrent model)")
	spread := fs.String("spread", "even", "where a minute's invocations arrive (concurrent model): even (60s/n apart from the minute's start) or start (all at its start)")
	tick := fs.Duration("tick", keepalive.DefaultTick, "reaper tick: keep-alives expire and pre-warms start on ticks")
	cost := fs.Duration("cost", 0, "the adaptive policy's ColdStartCost (0: its default)")
	workers := fs.Int("workers", 0, "functions replayed in parallel (0: GOMAXPROCS); the results do not depend on it")
	perFn := fs.String("per-function", "", "also write per-function results as CSV to this file")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	if *tracePath == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("usage: nimbus-replay -trace FILE [flags]")
	}
	tr, err := readTrace(*tracePath)
	if err != nil {
		return err
	}
	m, assumptions, err := buildModel(tr, *model, *spread, *dur, *tick, *tracePath, *runPath)
	if err != nil {
		return err
	}

	policies := []policy{
		{"fixed 10 min (today)", func() keepalive.Policy { return keepalive.Fixed{KeepAlive: 10 * time.Minute} }},
		{"fixed 5 min", func() keepalive.Policy { return keepalive.Fixed{KeepAlive: 5 * time.Minute} }},
		{"fixed 20 min", func() keepalive.Policy { return keepalive.Fixed{KeepAlive: 20 * time.Minute} }},
		{"hybrid histogram (ATC'20, published)", func() keepalive.Policy { return new(keepalive.Hybrid) }},
		{"adaptive (nimbus)", func() keepalive.Policy {
			return keepalive.NewAdaptive(keepalive.AdaptiveConfig{ColdStartCost: *cost})
		}},
	}
	fmt.Fprintf(stdout, "trace: %s: %d functions, %d minutes, %d invocations\n", *tracePath, len(tr.Functions), tr.Minutes, tr.Invocations())
	fmt.Fprintf(stdout, "model: %s\n", *model)
	for _, a := range assumptions {
		fmt.Fprintf(stdout, "  - %s\n", a)
	}
	fmt.Fprintf(stdout, "machine: %d CPUs, GOMAXPROCS %d, %s/%s, %s\n\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version())

	results := make([]keepalive.Result, len(policies))
	took := make([]time.Duration, len(policies))
	for i, p := range policies {
		t0 := time.Now()
		results[i] = keepalive.Replay(tr, p.new(), m, *workers)
		took[i] = time.Since(t0)
	}
	if err := writeTable(stdout, policies, results, took); err != nil {
		return err
	}
	if *perFn != "" {
		return writePerFunction(*perFn, tr, policies, results)
	}
	return nil
}

// buildModel turns the flags into a Model and the list of what it assumes.
func buildModel(tr *keepalive.Trace, model, spread string, dur, tick time.Duration, tracePath, runPath string) (keepalive.Model, []string, error) {
	var m keepalive.Model
	var as []string
	switch model {
	case "paper":
		m = keepalive.PaperModel
		m.Tick = tick
		as = append(as,
			"a minute with invocations counts as one invocation, arriving at the minute's start and running the whole minute",
			"so each function has at most one environment; concurrency and scale-out cold starts are not modelled")
	case "concurrent":
		switch spread {
		case "even":
			m.Spread = keepalive.Even
			as = append(as, "a minute's n invocations arrive 60s/n apart, the first at the minute's start")
		case "start":
			m.Spread = keepalive.AtMinuteStart
			as = append(as, "a minute's invocations all arrive at the minute's start")
		default:
			return m, nil, fmt.Errorf("-spread %q: want even or start", spread)
		}
		if dur > 0 {
			m.Duration = dur
			as = append(as, "every invocation runs "+dur.String())
		} else {
			note, err := readDurations(tr, tracePath, runPath)
			if err != nil {
				return m, nil, err
			}
			as = append(as, note)
		}
		as = append(as, "an invocation takes the most recently used idle environment or cold-starts a new one; each environment runs one invocation at a time")
		m.Tick = tick
	default:
		return m, nil, fmt.Errorf("-model %q: want concurrent or paper", model)
	}
	as = append(as,
		fmt.Sprintf("reaper tick %v: expired idle environments stop, and pre-warmed ones start, on ticks; at one instant, ends come first, then the tick, then arrivals", m.Tick),
		"starting an environment takes no time (cold starts are counted, not timed); a pre-warmed environment serves arrivals from its tick on",
		"idle = time environments are warm without running an invocation, counted up to the end of the trace; policies start empty and learn only from the past")
	return m, as, nil
}

func writeTable(w io.Writer, policies []policy, results []keepalive.Result, took []time.Duration) error {
	base := results[0]
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "policy\tinvocations\tcold starts\tcold rate\tidle env-min\tcold ×fixed10\tidle ×fixed10\tpre-warms\treplay\t")
	for i, r := range results {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.4f%%\t%.0f\t%.3f\t%.3f\t%d\t%.2fs\t\n",
			policies[i].name, r.Invocations, r.ColdStarts, 100*r.ColdRate(), r.Idle.Minutes(),
			ratio(float64(r.ColdStarts), float64(base.ColdStarts)), ratio(r.Idle.Minutes(), base.Idle.Minutes()),
			r.Prewarms, took[i].Seconds())
	}
	return tw.Flush()
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func readTrace(path string) (*keepalive.Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return keepalive.ParseInvocations(f)
}

// readDurations sets the functions' durations from runPath, or from the
// _run.csv beside tracePath if runPath is empty and that file exists, and
// says what was used.
func readDurations(tr *keepalive.Trace, tracePath, runPath string) (string, error) {
	def := "every invocation runs " + keepalive.DefaultDuration.String()
	if runPath == "" {
		if !strings.HasSuffix(tracePath, "_inv.csv") {
			return def + " (no durations file)", nil
		}
		runPath = strings.TrimSuffix(tracePath, "_inv.csv") + "_run.csv"
		if _, err := os.Stat(runPath); err != nil {
			return def + " (no " + runPath + ")", nil
		}
	}
	f, err := os.Open(runPath)
	if err != nil {
		return "", err
	}
	defer f.Close()
	n, err := keepalive.ParseDurations(tr, f)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("each invocation runs its function's average duration (Average of %s; %d of %d functions, the others %v)",
		runPath, n, len(tr.Functions), keepalive.DefaultDuration), nil
}

func writePerFunction(path string, tr *keepalive.Trace, policies []policy, results []keepalive.Result) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	fmt.Fprint(f, "function,invocations,active_minutes,duration_ms,peak_concurrency")
	for _, p := range policies {
		fmt.Fprintf(f, ",%s cold,%s idle_min,%s prewarms", p.name, p.name, p.name)
	}
	fmt.Fprintln(f)
	for j, fn := range tr.Functions {
		active := 0
		for _, c := range fn.Counts {
			if c > 0 {
				active++
			}
		}
		r0 := results[0].Functions[j]
		fmt.Fprintf(f, "%s,%d,%d,%d,%d", fn.Name, r0.Invocations, active, fn.Duration.Milliseconds(), r0.PeakBusy)
		for i := range results {
			r := results[i].Functions[j]
			fmt.Fprintf(f, ",%d,%.2f,%d", r.ColdStarts, r.Idle.Minutes(), r.Prewarms)
		}
		fmt.Fprintln(f)
	}
	return f.Close()
}
