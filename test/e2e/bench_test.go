package e2e

// Benchmarks of the invoke path against a real `nimbus server` process.
//
// Every figure comes with a same-run baseline: BenchmarkLoopbackEcho (and its
// parallel twin) is a bare net/http echo server on loopback, driven by the very
// same client as the raw Invoke benchmarks, so the ratio Invoke/echo says what
// nimbus adds over one loopback HTTP round trip on this machine at this moment.
//
// Besides ns/op each benchmark reports percentiles of the per-operation
// latencies it recorded (p50-µs, p99-µs, max-µs). Benchmarks never fail on
// numbers: they fail only when an invocation does not succeed (or, for cold
// starts, when the invocation was not a cold start). See docs/performance.md.
//
//	go test ./test/e2e/ -run '^$' -bench 'LoopbackEcho|WarmInvoke|ColdStart' -benchtime 2s
//	NIMBUS_BENCH_MEMORY=1769 go test ./test/e2e/ -run '^$' -bench ColdStart

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// benchPayload is the event of every benchmark invocation (and the echo body).
var benchPayload = []byte(`{}`)

// benchMemory is the functions' MemorySize: NIMBUS_BENCH_MEMORY, else the
// default (128 MB). nimbus gives an environment a CPU share proportional to its
// memory (1,769 MB = one full share), as Lambda does, which shows under contention.
func benchMemory(in *awslambda.CreateFunctionInput) {
	if mb, err := strconv.Atoi(os.Getenv("NIMBUS_BENCH_MEMORY")); err == nil {
		in.MemorySize = aws.Int32(int32(mb))
	}
}

// benchParallelism × GOMAXPROCS goroutines run the parallel benchmarks (8 on 2 cores).
const benchParallelism = 4

type benchRuntime struct {
	name, handler string
	runtime       types.Runtime
	zip           func() []byte // the zips are built by TestMain, after package init
}

var benchRuntimes = []benchRuntime{
	{"go", "bootstrap", types.RuntimeProvidedal2023, func() []byte { return goZip }},
	{"node", "index.handler", types.RuntimeNodejs20x, func() []byte { return nodeCJS }},
	{"python", "app.handler", types.RuntimePython311, func() []byte { return pythonZip }},
	// A minimal custom runtime (one goroutine, hand-written requests): what the
	// platform itself adds, with aws-lambda-go's client costs taken out.
	{"raw", "bootstrap", types.RuntimeProvidedal2023, func() []byte { return rawZip }},
}

// benchClient is the keep-alive client of the echo baseline and of the raw
// Invoke benchmarks alike, so that their ratio compares servers, not clients.
func benchClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}}
}

// post sends body to url and reads the whole answer. It returns an error for a
// transport failure, a status other than 200 or a function error.
func post(c *http.Client, url string, body []byte, hdr http.Header) ([]byte, http.Header, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	out, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Amz-Function-Error") != "" {
		return nil, nil, fmt.Errorf("POST %s: %s %s: %.300s", url, resp.Status, resp.Header.Get("X-Amz-Function-Error"), out)
	}
	return out, resp.Header, nil
}

func invokeURL(s *server, name string) string {
	return s.API + "/2015-03-31/functions/" + name + "/invocations"
}

// latencies collects per-operation durations; safe for concurrent use.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d ...time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d...)
	l.mu.Unlock()
}

// report adds p50, p99 and max (in µs, or in the given unit prefix) to b's results.
func (l *latencies) report(b *testing.B, prefix string, unit time.Duration, unitName string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return
	}
	slices.Sort(l.d)
	q := func(p float64) time.Duration { return l.d[min(len(l.d)-1, int(p*float64(len(l.d))))] }
	b.ReportMetric(float64(q(0.50))/float64(unit), prefix+"p50-"+unitName)
	b.ReportMetric(float64(q(0.99))/float64(unit), prefix+"p99-"+unitName)
	b.ReportMetric(float64(l.d[len(l.d)-1])/float64(unit), prefix+"max-"+unitName)
}

// echoServer is the bare baseline: it answers every request with its body.
func echoServer(b *testing.B) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// serial times one call per b.Loop iteration.
func serial(b *testing.B, call func() error) {
	var lat latencies
	lat.d = make([]time.Duration, 0, 1<<16)
	for b.Loop() {
		t0 := time.Now()
		if err := call(); err != nil {
			b.Fatal(err)
		}
		lat.d = append(lat.d, time.Since(t0))
	}
	lat.report(b, "", time.Microsecond, "µs")
}

// parallel times call in benchParallelism × GOMAXPROCS goroutines.
func parallel(b *testing.B, call func() error) {
	var lat latencies
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		mine := make([]time.Duration, 0, 1<<14)
		defer func() { lat.add(mine...) }()
		for pb.Next() {
			t0 := time.Now()
			if err := call(); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(t0))
		}
	})
	lat.report(b, "", time.Microsecond, "µs")
}

func BenchmarkLoopbackEcho(b *testing.B) {
	srv := echoServer(b)
	c := benchClient()
	serial(b, func() error { _, _, err := post(c, srv.URL, benchPayload, nil); return err })
}

// BenchmarkLoopbackEchoProcess is the same echo served by another process (this
// test binary run again): a loopback round trip between two processes, as every
// request to the server is. On a VM whose idle vCPUs sleep, waking the other
// process is most of its cost (~100 µs here when the machine is otherwise idle,
// against ~17 µs within one process).
func BenchmarkLoopbackEchoProcess(b *testing.B) {
	url := echoChild(b)
	c := benchClient()
	serial(b, func() error { _, _, err := post(c, url, benchPayload, nil); return err })
}

const echoChildEnv = "NIMBUS_E2E_ECHO_CHILD"

// echoChild starts this test binary as an echo server process and returns its URL.
func echoChild(b *testing.B) string {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), echoChildEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatalf("echo child: %v", err)
	}
	return "http://" + strings.TrimSpace(line) + "/"
}

// serveEchoChild serves the echo on loopback, prints its address and exits
// when stdin closes (the benchmark ended, or died).
func serveEchoChild() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.Exit(1)
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}))
	fmt.Println(ln.Addr().String())
	io.Copy(io.Discard, os.Stdin)
}

func BenchmarkLoopbackEchoParallel(b *testing.B) {
	srv := echoServer(b)
	c := benchClient()
	parallel(b, func() error { _, _, err := post(c, srv.URL, benchPayload, nil); return err })
}

// benchServer starts a server with one function per runtime, each invoked once (warm).
func benchServer(b *testing.B, prefix string, rts []benchRuntime) *server {
	s := startServer(b, b.TempDir())
	c := benchClient()
	for _, rt := range rts {
		name := prefix + rt.name
		createFunction(b, s.client(), name, rt.runtime, rt.handler, rt.zip(), benchMemory)
		if _, _, err := post(c, invokeURL(s, name), benchPayload, nil); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

func BenchmarkWarmInvoke(b *testing.B) {
	s := benchServer(b, "warm-", benchRuntimes)
	for _, rt := range benchRuntimes {
		b.Run(rt.name, func(b *testing.B) {
			c := benchClient()
			url := invokeURL(s, "warm-"+rt.name)
			serial(b, func() error { _, _, err := post(c, url, benchPayload, nil); return err })
		})
	}
}

func BenchmarkWarmInvokeSDK(b *testing.B) {
	s := benchServer(b, "sdk-", benchRuntimes[:1])
	b.Run("go", func(b *testing.B) {
		c := s.client()
		ctx := context.Background()
		in := &awslambda.InvokeInput{FunctionName: aws.String("sdk-go"), Payload: benchPayload}
		serial(b, func() error {
			out, err := c.Invoke(ctx, in)
			if err == nil && out.FunctionError != nil {
				err = fmt.Errorf("function error %s: %s", aws.ToString(out.FunctionError), out.Payload)
			}
			return err
		})
	})
}

func BenchmarkWarmInvokeParallel(b *testing.B) {
	rts := []benchRuntime{benchRuntimes[0], benchRuntimes[3]} // go, raw
	s := benchServer(b, "par-", rts)
	for _, rt := range rts {
		b.Run(rt.name, func(b *testing.B) {
			c := benchClient()
			url := invokeURL(s, "par-"+rt.name)
			// Start as many environments as there will be concurrent requests, so
			// that the measurement has no cold start in it: overlapping sleeps for
			// the Go test function, a burst of concurrent requests for the echo.
			n := benchParallelism * runtime.GOMAXPROCS(0)
			warm := []byte(`{"action":"sleep","sleepMs":300}`)
			rounds := 1
			if rt.name == "raw" {
				warm, rounds = benchPayload, 200
			}
			var wg sync.WaitGroup
			for range n {
				wg.Go(func() {
					for range rounds {
						if _, _, err := post(c, url, warm, nil); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			parallel(b, func() error { _, _, err := post(c, url, benchPayload, nil); return err })
		})
	}
}

// BenchmarkCPUPlacement compares two servers in the same run, one with
// --cpu-placement=on (the default) and one with it off, on the aws-lambda-go
// test function: a warm invoke serially, benchParallelism × GOMAXPROCS
// concurrent clients with an empty handler (the platform's overhead), and the
// same concurrency with CPU-bound invocations (~10 ms of hashing each), which
// placement must not slow down. The off server is stopped before the on
// server starts, so neither runs while the other is measured.
func BenchmarkCPUPlacement(b *testing.B) {
	n := benchParallelism * runtime.GOMAXPROCS(0)
	spin := []byte(`{"action":"spin","size":10}`)
	for _, mode := range []string{"off", "on"} {
		b.Run(mode, func(b *testing.B) {
			s := startServer(b, b.TempDir(), "--cpu-placement", mode)
			defer s.stop()
			createFunction(b, s.client(), "place", types.RuntimeProvidedal2023, "bootstrap", goZip, benchMemory)
			c := benchClient()
			url := invokeURL(s, "place")
			var wg sync.WaitGroup // n environments, started by overlapping sleeps
			for range n {
				wg.Go(func() {
					if _, _, err := post(c, url, []byte(`{"action":"sleep","sleepMs":300}`), nil); err != nil {
						b.Error(err)
					}
				})
			}
			wg.Wait()
			b.Run("serial", func(b *testing.B) {
				serial(b, func() error { _, _, err := post(c, url, benchPayload, nil); return err })
			})
			b.Run("parallel", func(b *testing.B) {
				parallel(b, func() error { _, _, err := post(c, url, benchPayload, nil); return err })
			})
			b.Run("parallel-cpu", func(b *testing.B) {
				parallel(b, func() error { _, _, err := post(c, url, spin, nil); return err })
			})
		})
	}
}

var initDurationRE = regexp.MustCompile(`Init Duration: ([0-9.]+) ms`)

// BenchmarkColdStart times invocations that each start a new environment: before
// each one (timer stopped) an UpdateFunctionConfiguration changes an environment
// variable, which retires the warm pool, and the old environment is waited out so
// that its shutdown does not overlap the measurement. ns/op is the invoke alone,
// as the client sees it; init-p50-ms is the server's own Init Duration (process
// start until the runtime's first /next). The scale-up limit is lifted for it.
// Node and Python cold starts run in pre-started interpreters (the
// default); the "-own-process" runs start a process per cold start, on a
// server with --prestart 0.
func BenchmarkColdStart(b *testing.B) {
	// Lambda's scale-up limit (1,000 new environments per function per 10 s)
	// would throttle a long run with 429s: lift it, this measures the start path.
	b.Setenv("NIMBUS_SCALE_UP_RATE", "1000000")
	benchColdStarts(b, benchRuntimes, "")
	benchColdStarts(b, benchRuntimes[1:3], "-own-process", "--prestart", "0")
}

func benchColdStarts(b *testing.B, runtimes []benchRuntime, suffix string, args ...string) {
	s := startServer(b, b.TempDir(), args...)
	defer s.stop()
	sdk := s.client()
	ctx := context.Background()
	for _, rt := range runtimes {
		name := "cold-" + rt.name
		createFunction(b, sdk, name, rt.runtime, rt.handler, rt.zip(), benchMemory)
		b.Run(rt.name+suffix, func(b *testing.B) {
			c := benchClient()
			url := invokeURL(s, name)
			tail := http.Header{"X-Amz-Log-Type": {"Tail"}}
			var lat, inits latencies
			var last http.Header
			check := func() {
				if last == nil {
					return
				}
				logs, _ := base64.StdEncoding.DecodeString(last.Get("X-Amz-Log-Result"))
				m := initDurationRE.FindSubmatch(logs)
				if m == nil {
					b.Fatalf("the invocation was not a cold start (no Init Duration):\n%s", logs)
				}
				ms, _ := strconv.ParseFloat(string(m[1]), 64)
				inits.add(time.Duration(ms * float64(time.Millisecond)))
			}
			// Unmeasured: a runtime's first cold start on a server starts
			// its pool of pre-started interpreters (and is not from it).
			if _, _, err := post(c, url, benchPayload, nil); err != nil {
				b.Fatal(err)
			}
			i := 0
			for b.Loop() {
				b.StopTimer()
				check()
				i++
				_, err := sdk.UpdateFunctionConfiguration(ctx, &awslambda.UpdateFunctionConfigurationInput{
					FunctionName: aws.String(name),
					Environment:  &types.Environment{Variables: map[string]string{"BENCH_ITERATION": strconv.Itoa(i)}},
				})
				if err != nil {
					b.Fatal(err)
				}
				waitOnlyPrestarted(b, s)
				b.StartTimer()

				t0 := time.Now()
				_, hdr, err := post(c, url, benchPayload, tail)
				d := time.Since(t0)
				if err != nil {
					b.Fatal(err)
				}
				lat.add(d)
				last = hdr
			}
			check()
			lat.report(b, "", time.Millisecond, "ms")
			inits.report(b, "init-", time.Millisecond, "ms")
		})
		// Stop this function's last environment, so that the next runtime's
		// waitOnlyPrestarted does not wait for it.
		if _, err := sdk.DeleteFunction(ctx, &awslambda.DeleteFunctionInput{FunctionName: aws.String(name)}); err != nil {
			b.Fatal(err)
		}
	}
}

// waitOnlyPrestarted waits until the server's only child processes are its
// pre-started interpreters, all done with their pre-init
// (nimbus_prestarted_environments), i.e. every retired environment has
// exited and been reaped, and the pre-started processes taken since have
// been replaced and are ready.
func waitOnlyPrestarted(b *testing.B, s *server) {
	pid := strconv.Itoa(s.cmd.Process.Pid)
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := children(pid)
		ready, starting := prestarted(b, s)
		if n == ready && starting == 0 {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("server %s has %d child processes after 10s, want its %d pre-started ones (%d still starting)", pid, n, ready, starting)
		}
		time.Sleep(time.Millisecond)
	}
}

var prestartedRE = regexp.MustCompile(`(?m)^nimbus_prestarted_environments\{[^}]*state="(ready|starting)"\} (\d+)$`)

// prestarted sums the server's nimbus_prestarted_environments gauges.
func prestarted(b *testing.B, s *server) (ready, starting int) {
	resp, err := http.Get(s.API + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range prestartedRE.FindAllSubmatch(body, -1) {
		v, _ := strconv.Atoi(string(m[2]))
		if string(m[1]) == "ready" {
			ready += v
		} else {
			starting += v
		}
	}
	return ready, starting
}

// children counts the processes whose parent is pid (scanning /proc: this
// kernel has no /proc/PID/task/TID/children).
func children(pid string) int {
	n := 0
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may contain spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if f := strings.Fields(string(b[i+1:])); i > 0 && len(f) > 1 && f[1] == pid {
			n++
		}
	}
	return n
}
