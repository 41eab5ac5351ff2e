package sandbox

import (
	"fmt"
	"math/bits"
	"os"
	"slices"
	"sync"
	"syscall"
	"unsafe"
)

// CPU placement: every environment is bound to its own share of the host's
// CPUs, as Lambda gives each environment a CPU allowance that grows with its
// memory (one full vCPU at 1,769 MB, up to six at 10,240 MB). An environment
// of MemorySize m may run on ceil(m/1769) CPUs; the launcher picks the ones
// with the fewest environments bound to them, so environments spread evenly
// and each stays on the CPUs it started on.
//
// Why: on a VM, waking a process on a vCPU that sleeps costs tens of
// microseconds (the hypervisor has to wake the vCPU), and a warm invocation
// wakes the environment's process twice. A process free to run anywhere is
// woken on whichever CPU is idle, most often a sleeping one, and its threads
// migrate between CPUs; a bound one is woken where it ran last. Runtimes that
// size themselves by the CPUs they may use (Go's GOMAXPROCS, Node's thread
// pool) also start with as many threads as their allowance, not the host's.
// The measured effect is in docs/performance.md ("CPU placement").
//
// The mask is set on the spawner thread just before it forks (the child
// inherits it, so no instruction of the environment runs anywhere else) and
// the thread's own mask is restored right after.

// cpuMask is a kernel CPU affinity mask (cpu_set_t, 1,024 CPUs).
type cpuMask [16]uint64

func (m *cpuMask) set(cpu int)      { m[cpu/64] |= 1 << (cpu % 64) }
func (m *cpuMask) has(cpu int) bool { return m[cpu/64]&(1<<(cpu%64)) != 0 }

// count is the number of CPUs in m.
func (m *cpuMask) count() int {
	n := 0
	for _, w := range m {
		n += bits.OnesCount64(w)
	}
	return n
}

// cpusPerVCPU is the MemorySize that buys one full vCPU on Lambda.
const cpusPerVCPU = 1769

// placer binds environments to CPUs.
type placer struct {
	mu   sync.Mutex
	cpus []int   // the CPUs the server may use, ascending
	load []int   // environments bound to cpus[i]
	all  cpuMask // every CPU in cpus: the spawner threads' own mask
}

// newPlacer reads the server's own affinity. With fewer than two CPUs there is
// nothing to place and it returns nil.
func newPlacer() (*placer, error) {
	var m cpuMask
	if _, _, e := syscall.RawSyscall(syscall.SYS_SCHED_GETAFFINITY, 0, unsafe.Sizeof(m), uintptr(unsafe.Pointer(&m))); e != 0 {
		return nil, os.NewSyscallError("sched_getaffinity", e)
	}
	p := &placer{all: m}
	for cpu := range len(m) * 64 {
		if m.has(cpu) {
			p.cpus = append(p.cpus, cpu)
		}
	}
	if len(p.cpus) < 2 {
		return nil, fmt.Errorf("the server may use only %d CPU", len(p.cpus))
	}
	p.load = make([]int, len(p.cpus))
	return p, nil
}

// describe is the start-up report line.
func (p *placer) describe() string {
	return fmt.Sprintf("CPU placement (each environment bound to ceil(MemorySize/1769 MB) of %d CPUs, least used first; SCHED_BATCH): on", len(p.cpus))
}

// count is how many CPUs an environment of memMB is bound to.
func (p *placer) count(memMB int) int {
	return min(max(1, (memMB+cpusPerVCPU-1)/cpusPerVCPU), len(p.cpus))
}

// place chooses the CPUs for an environment of memMB and counts it there
// until the returned release is called.
func (p *placer) place(memMB int) (cpuMask, func()) {
	n := p.count(memMB)
	p.mu.Lock()
	defer p.mu.Unlock()
	chosen := make([]int, 0, n)
	for range n {
		best := -1
		for i := range p.cpus {
			if (best < 0 || p.load[i] < p.load[best]) && !slices.Contains(chosen, i) {
				best = i
			}
		}
		chosen = append(chosen, best)
		p.load[best]++
	}
	var m cpuMask
	for _, i := range chosen {
		m.set(p.cpus[i])
	}
	return m, sync.OnceFunc(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, i := range chosen {
			p.load[i]--
		}
	})
}

// Scheduling policies (sched(7)). Placed environments run SCHED_BATCH: when
// one wakes up it does not preempt the thread running on its CPU (most often
// the server's, handing it an invocation); otherwise it gets its fair share.
const (
	schedOther = 0
	schedBatch = 3
)

// setAffinity binds thread tid (0: the calling one) to m.
func setAffinity(tid int, m *cpuMask) error {
	if _, _, e := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, uintptr(tid), unsafe.Sizeof(*m), uintptr(unsafe.Pointer(m))); e != 0 {
		return os.NewSyscallError("sched_setaffinity", e)
	}
	return nil
}

// placeThread binds the calling thread to m with the scheduling policy.
func placeThread(m *cpuMask, policy int) error {
	if err := setAffinity(0, m); err != nil {
		return err
	}
	var param struct{ priority int32 }
	if _, _, e := syscall.RawSyscall(syscall.SYS_SCHED_SETSCHEDULER, 0, uintptr(policy), uintptr(unsafe.Pointer(&param))); e != 0 {
		return os.NewSyscallError("sched_setscheduler", e)
	}
	return nil
}
