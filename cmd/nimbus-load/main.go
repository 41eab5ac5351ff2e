// Command nimbus-load is a small closed-loop load generator for a nimbus server
// on this machine. It POSTs the same body to -url from -c workers, each sending
// its next request as soon as the previous answer is read, for -n requests in all
// or for -d.
//
// Every figure comes with its own baselines: before the target, nimbus-load
// measures a bare net/http echo server on loopback with the same client,
// concurrency and request count (or duration) twice — served in its own
// process (the classic loopback round trip) and served by a child process (a
// round trip between two processes, as every request to a server is; on a VM
// whose idle vCPUs sleep, waking another process is most of its cost). It
// prints requests/s, p50, p90, p99 and max latency and errors for each, and
// the ratio target/baseline for both baselines.
//
// It only ever talks to loopback addresses: a URL whose host is not a loopback IP
// or "localhost" is refused, every dial is checked, and redirects are not followed.
//
//	nimbus-load -url http://127.0.0.1:8900/2015-03-31/functions/fn/invocations -c 8 -n 20000
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

const (
	maxRequests = 10_000_000
	maxDuration = 10 * time.Minute
	maxConc     = 1024
)

func main() {
	target := flag.String("url", "", "target URL (loopback only), e.g. http://127.0.0.1:8900/2015-03-31/functions/NAME/invocations")
	conc := flag.Int("c", 1, "concurrent workers (closed loop)")
	n := flag.Int("n", 10000, "total requests (ignored with -d)")
	dur := flag.Duration("d", 0, "run for this long instead of -n requests (at most 10m)")
	body := flag.String("body", "{}", "request body (POST)")
	warm := flag.Int("warmup", 200, "unmeasured requests sent first, at the same concurrency")
	serveEcho := flag.Bool("serve-echo", false, "internal: serve the echo baseline on loopback, print its address, until stdin closes")
	flag.Parse()
	if *serveEcho {
		runEchoChild()
		return
	}

	if err := check(*target, *conc, *n, *dur, *warm); err != nil {
		fmt.Fprintln(os.Stderr, "nimbus-load:", err)
		os.Exit(2)
	}
	echo, err := startEcho()
	if err != nil {
		fmt.Fprintln(os.Stderr, "nimbus-load: echo server:", err)
		os.Exit(1)
	}
	defer echo.Close()

	child, stop, err := startEchoChild()
	if err != nil {
		fmt.Fprintln(os.Stderr, "nimbus-load: echo child process:", err)
		os.Exit(1)
	}
	defer stop()

	l := load{conc: *conc, n: *n, d: *dur, warmup: *warm, body: []byte(*body)}
	base := l.run("http://" + echo.Addr().String() + "/")
	proc := l.run("http://" + child + "/")
	tgt := l.run(*target)

	mode := fmt.Sprintf("%d requests", *n)
	if *dur > 0 {
		mode = dur.String()
	}
	fmt.Printf("concurrency %d, %s each, body %d bytes, %d warm-up requests each\n\n", *conc, mode, len(*body), *warm)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "\tok\terrors\treq/s\tp50\tp90\tp99\tmax\t")
	base.print(w, "baseline (loopback echo)")
	proc.print(w, "baseline (echo, other process)")
	tgt.print(w, "target")
	w.Flush()
	fmt.Printf("\nratio target/baseline: req/s %.3fx, p50 %.1fx, p90 %.1fx, p99 %.1fx\n",
		tgt.rps()/base.rps(), ratio(tgt.q(.5), base.q(.5)), ratio(tgt.q(.9), base.q(.9)), ratio(tgt.q(.99), base.q(.99)))
	fmt.Printf("ratio target/other-process baseline: req/s %.3fx, p50 %.1fx, p90 %.1fx, p99 %.1fx; p50 added %s\n",
		tgt.rps()/proc.rps(), ratio(tgt.q(.5), proc.q(.5)), ratio(tgt.q(.9), proc.q(.9)), ratio(tgt.q(.99), proc.q(.99)),
		(tgt.q(.5) - proc.q(.5)).Round(time.Microsecond))
	if tgt.errs > 0 {
		fmt.Printf("first target error: %v\n", tgt.firstErr)
		os.Exit(1)
	}
}

func check(target string, conc, n int, d time.Duration, warm int) error {
	if target == "" {
		return errors.New("-url is required")
	}
	u, err := url.Parse(target)
	switch {
	case err != nil:
		return err
	case u.Scheme != "http":
		return fmt.Errorf("only http:// URLs are supported, got %q", u.Scheme)
	case !loopback(u.Hostname()):
		return fmt.Errorf("refusing non-loopback host %q: nimbus-load only targets this machine", u.Hostname())
	case conc < 1 || conc > maxConc:
		return fmt.Errorf("-c must be in 1..%d", maxConc)
	case d == 0 && (n < 1 || n > maxRequests):
		return fmt.Errorf("-n must be in 1..%d", maxRequests)
	case d < 0 || d > maxDuration:
		return fmt.Errorf("-d must be in 0..%s", maxDuration)
	case warm < 0 || warm > maxRequests:
		return fmt.Errorf("-warmup must be in 0..%d", maxRequests)
	}
	return nil
}

func loopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

// startEcho serves the baseline: every request is answered with its body.
func startEcho() (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	}))
	return ln, nil
}

// startEchoChild runs this program again as the echo server of the
// other-process baseline and returns its address; stop ends it.
func startEchoChild() (addr string, stop func(), err error) {
	self, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(self, "-serve-echo")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop = func() { stdin.Close(); cmd.Wait() }
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		stop()
		return "", nil, fmt.Errorf("no address from the child: %w", err)
	}
	return strings.TrimSpace(line), stop, nil
}

// runEchoChild is the child's side: serve, print the address, and exit when
// the parent closes stdin (or dies).
func runEchoChild() {
	ln, err := startEcho()
	if err != nil {
		fmt.Fprintln(os.Stderr, "nimbus-load -serve-echo:", err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr().String())
	io.Copy(io.Discard, os.Stdin)
}

// newClient returns a keep-alive client that can dial loopback addresses only.
func newClient(conc int) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: time.Minute,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := d.DialContext(ctx, network, addr)
				if err == nil {
					if ta, ok := c.RemoteAddr().(*net.TCPAddr); !ok || !ta.IP.IsLoopback() {
						c.Close()
						return nil, fmt.Errorf("refusing non-loopback address %s", c.RemoteAddr())
					}
				}
				return c, err
			},
			MaxIdleConns:        conc,
			MaxIdleConnsPerHost: conc,
			DisableCompression:  true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

type load struct {
	conc, n, warmup int
	d               time.Duration
	body            []byte
}

type result struct {
	lat      []time.Duration // successful requests only, sorted
	errs     int
	firstErr error
	elapsed  time.Duration
}

// run warms target up, then measures it with a fresh set of workers.
func (l load) run(target string) result {
	c := newClient(l.conc)
	defer c.CloseIdleConnections()
	l.do(c, target, l.warmup, 0) // unmeasured; starts the environments a cold server lacks
	return l.do(c, target, l.n, l.d)
}

// do sends n requests (or, with d > 0, as many as fit in d) from l.conc workers.
func (l load) do(c *http.Client, target string, n int, d time.Duration) result {
	var next atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	var res result
	start := time.Now()
	deadline := start.Add(d)
	for range l.conc {
		wg.Go(func() {
			lat, errs, first := []time.Duration(nil), 0, error(nil)
			for d > 0 && time.Now().Before(deadline) || d == 0 && next.Add(1) <= int64(n) {
				t0 := time.Now()
				if err := l.one(c, target); err != nil {
					if errs++; first == nil {
						first = err
					}
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			res.lat = append(res.lat, lat...)
			if res.errs += errs; res.firstErr == nil {
				res.firstErr = first
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	slices.Sort(res.lat)
	return res
}

// one sends one request. A transport error, a non-2xx status or a function
// error (X-Amz-Function-Error) is an error.
func (l load) one(c *http.Client, target string) error {
	resp, err := c.Post(target, "application/json", bytes.NewReader(l.body))
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	switch {
	case err != nil:
		return err
	case resp.StatusCode/100 != 2:
		return fmt.Errorf("status %s", resp.Status)
	case resp.Header.Get("X-Amz-Function-Error") != "":
		return fmt.Errorf("function error %s", resp.Header.Get("X-Amz-Function-Error"))
	}
	return nil
}

func (r result) rps() float64 { return float64(len(r.lat)) / r.elapsed.Seconds() }

// q returns the p-quantile of the successful requests' latencies.
func (r result) q(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	return r.lat[min(len(r.lat)-1, int(p*float64(len(r.lat))))]
}

func (r result) print(w io.Writer, name string) {
	fmt.Fprintf(w, "%s\t%d\t%d\t%.0f\t%s\t%s\t%s\t%s\t\n", name, len(r.lat), r.errs, r.rps(),
		ms(r.q(.5)), ms(r.q(.9)), ms(r.q(.99)), ms(r.q(1)))
}

func ms(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	}
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(max(b, 1)) }
