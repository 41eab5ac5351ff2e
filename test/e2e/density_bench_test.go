package e2e

// BenchmarkIdleDensity measures how many idle warm environments fit in a GiB:
// it warms NIMBUS_BENCH_ENVS environments (default 200) of an aws-lambda-go
// function with as many concurrent invocations, waits until they are all idle,
// and adds up the proportional set size (PSS: shared pages divided among their
// sharers) of every process under the server plus what the server itself grew
// by. Its same-run baseline is the bare function: the same bootstrap started
// directly on the host (no sandbox, no nimbus) against a stub Runtime API that
// holds /next, measured the same way.
//
//	NIMBUS_BENCH_ENVS=300 go test ./test/e2e/ -run '^$' -bench IdleDensity -benchtime 1x

import (
	"bufio"
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func BenchmarkIdleDensity(b *testing.B) {
	n := 200
	if v, err := strconv.Atoi(os.Getenv("NIMBUS_BENCH_ENVS")); err == nil && v > 0 {
		n = v
	}
	bare := barePSS(b, 20)

	s := startServer(b, b.TempDir())
	c := benchClient()
	createFunction(b, s.client(), "density", benchRuntimes[0].runtime, "bootstrap", goZip, benchMemory)
	url := invokeURL(s, "density")
	if _, _, err := post(c, url, benchPayload, nil); err != nil {
		b.Fatal(err)
	}
	waitSettled()
	serverPid := s.cmd.Process.Pid
	before := pss(serverPid)

	for b.Loop() {
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				// Each invocation holds its environment long enough for all n to overlap.
				if _, _, err := post(c, url, []byte(`{"action":"sleep","sleepMs":2000}`), nil); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	}
	waitSettled()
	procs := descendants(serverPid)
	var envs int64
	for _, p := range procs {
		envs += pss(p)
	}
	grew := pss(serverPid) - before
	if charged := cgroupCharge(procs); charged > 0 {
		// What the kernel charges the environments' memory cgroups: their pages
		// plus kernel memory (page tables, stacks) that PSS leaves out.
		b.ReportMetric(float64(charged)/float64(n)/1024, "cgroup-KiB/env")
	}
	perEnv := float64(envs+grew) / float64(n)
	b.ReportMetric(float64(len(procs))/float64(n), "procs/env")
	b.ReportMetric(float64(envs)/float64(n)/1024, "env-KiB/env")
	b.ReportMetric(float64(grew)/float64(n)/1024, "server-KiB/env")
	b.ReportMetric(float64(1<<30)/perEnv, "envs/GiB")
	b.ReportMetric(float64(bare)/1024, "bare-KiB/proc")
	b.ReportMetric(float64(1<<30)/float64(bare), "bare-procs/GiB")
	b.ReportMetric(perEnv/float64(bare), "x-bare")
}

// barePSS starts k copies of the Go test function's bootstrap directly, each
// polling a stub Runtime API that never answers /next, and returns their mean PSS.
func barePSS(b *testing.B, k int) int64 {
	dir := b.TempDir()
	if err := unzipTo(goZip, dir); err != nil {
		b.Fatal(err)
	}
	hold := make(chan struct{})
	stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hold:
		case <-r.Context().Done():
		}
	}))
	defer stub.Close()
	defer close(hold)
	var cmds []*exec.Cmd
	for range k {
		cmd := exec.Command(filepath.Join(dir, "bootstrap"))
		cmd.Env = []string{"AWS_LAMBDA_RUNTIME_API=" + strings.TrimPrefix(stub.URL, "http://"), "_HANDLER=bootstrap",
			"AWS_LAMBDA_FUNCTION_NAME=bare", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128", "AWS_LAMBDA_FUNCTION_VERSION=$LATEST"}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	defer func() {
		for _, c := range cmds {
			c.Process.Kill()
			c.Wait()
		}
	}()
	waitSettled()
	var sum int64
	for _, c := range cmds {
		sum += pss(c.Process.Pid)
	}
	return sum / int64(k)
}

// waitSettled gives processes that just went idle time to finish their start-up
// allocations and the server's garbage collector a cycle (memory, not timing, is
// measured afterwards).
func waitSettled() { time.Sleep(3 * time.Second) }

// pss is a process's proportional set size in bytes (0 if it is gone).
func pss(pid int) int64 {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "Pss:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// descendants lists every process below pid (scanning /proc for parent links).
func descendants(pid int) []int {
	parent := map[int]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(st, ')')
		if f := strings.Fields(string(st[i+1:])); i > 0 && len(f) > 1 {
			parent[p], _ = strconv.Atoi(f[1])
		}
	}
	var out []int
	var walk func(int)
	walk = func(p int) {
		for c, pp := range parent {
			if pp == p {
				out = append(out, c)
				walk(c)
			}
		}
	}
	walk(pid)
	return out
}

// cgroupCharge sums memory.usage_in_bytes of the distinct v1 memory cgroups
// the processes are in (0 when the host has no v1 memory controller).
func cgroupCharge(pids []int) int64 {
	seen := map[string]bool{}
	var sum int64
	for _, p := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/cgroup")
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.SplitN(l, ":", 3)
			if len(f) != 3 || f[1] != "memory" || seen[f[2]] {
				continue
			}
			seen[f[2]] = true
			u, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/memory", f[2], "memory.usage_in_bytes"))
			if err != nil {
				continue
			}
			v, _ := strconv.ParseInt(strings.TrimSpace(string(u)), 10, 64)
			sum += v
		}
	}
	return sum
}
