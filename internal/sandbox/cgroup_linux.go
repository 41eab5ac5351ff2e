package sandbox

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// cgroups makes one cgroup per environment (in every needed v1 hierarchy, or
// one v2 cgroup) under a parent of this launcher's inside the server's own
// cgroup, so limits nest under whatever limits the server itself has.
type cgroups struct {
	v2      bool
	parents []string          // v1: memory, cpu, pids parents (deduplicated); v2: one
	ctl     map[string]string // controller → its parent
	memory  string            // the parent holding the memory controller
	memsw   bool              // v1: swap accounting is on (memory.memsw.*)
	pidsMax int               // per environment
	allMax  int               // for all environments together
	home    []*os.File        // v1: the tasks files of the server's own cgroups
}

// cgroup is one environment's.
type cgroup struct {
	cgs  *cgroups
	id   string
	dirs []string
	mem  string // the dir with the memory controller
	// memMB is the memory cap in MB (0: none), set by create and resize
	// (which run before the environment is handed on: not shared).
	memMB int
	join  []*os.File // v1: the tasks files of g's dirs
	dir   *os.File   // v2: g's dir, for CLONE_INTO_CGROUP

	// peakMu guards peakFile, the peak-memory file kept open so that reading
	// it for each invocation's REPORT line is one pread, not open+read+close.
	peakMu   sync.Mutex
	peakFile *os.File
	peakBuf  [32]byte
}

const cgroup2Magic = 0x63677270

var v1Controllers = []string{"memory", "cpu", "pids"}

// newCgroups finds the server's cgroups and creates the launcher's parents,
// named after the state dir so that a restarted server finds its leftovers.
func newCgroups(stateDir string, pidsMax int) (*cgroups, error) {
	own, err := ownCgroups()
	if err != nil {
		return nil, err
	}
	h := fnv.New32a()
	h.Write([]byte(stateDir))
	name := fmt.Sprintf("nimbus-%08x", h.Sum32())
	var st syscall.Statfs_t
	if err := syscall.Statfs("/sys/fs/cgroup", &st); err == nil && st.Type == cgroup2Magic {
		return newCgroups2(own[""], name, pidsMax)
	}
	mounts, err := v1Mounts()
	if err != nil {
		return nil, err
	}
	c := &cgroups{pidsMax: pidsMax, ctl: map[string]string{}}
	for _, ctl := range v1Controllers {
		m, ok := mounts[ctl]
		if !ok {
			return nil, fmt.Errorf("no cgroup v1 %s hierarchy is mounted", ctl)
		}
		path, ok := own[ctl]
		if !ok {
			return nil, fmt.Errorf("/proc/self/cgroup has no %s hierarchy", ctl)
		}
		rel, ok := strings.CutPrefix(path, m.root)
		if !ok {
			return nil, fmt.Errorf("cgroup %s is outside its mount's root %s", path, m.root)
		}
		dir := filepath.Join(m.point, rel, name)
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, err
		}
		c.ctl[ctl] = dir
		if ctl == "memory" {
			c.memory = dir
		}
		if !slices.Contains(c.parents, dir) {
			c.parents = append(c.parents, dir)
		}
	}
	_, err = os.Stat(filepath.Join(c.memory, "memory.memsw.limit_in_bytes"))
	c.memsw = err == nil
	if err := c.capAll(); err != nil {
		return nil, err
	}
	for _, p := range c.parents {
		f, err := os.OpenFile(filepath.Join(filepath.Dir(p), "tasks"), os.O_WRONLY, 0)
		if err != nil {
			c.close()
			return nil, err
		}
		c.home = append(c.home, f)
	}
	return c, nil
}

// newCgroups2 is the cgroup v2 variant. (The development host has v1; this
// path is not exercised by the tests there.)
func newCgroups2(own, name string, pidsMax int) (*cgroups, error) {
	ownDir := filepath.Join("/sys/fs/cgroup", own)
	if err := os.WriteFile(filepath.Join(ownDir, "cgroup.subtree_control"), []byte("+memory +cpu +pids"), 0); err != nil {
		return nil, fmt.Errorf("cgroup v2: the server's cgroup %s cannot delegate memory, cpu and pids (%v); run nimbus in a cgroup of its own with them delegated", ownDir, err)
	}
	dir := filepath.Join(ownDir, name)
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+memory +cpu +pids"), 0); err != nil {
		return nil, fmt.Errorf("cgroup v2: %v", err)
	}
	ctl := map[string]string{"memory": dir, "cpu": dir, "pids": dir}
	c := &cgroups{v2: true, parents: []string{dir}, ctl: ctl, memory: dir, pidsMax: pidsMax}
	return c, c.capAll()
}

// capAll caps the processes of all environments together at half the host's
// pid space, so that fork bombs in many environments at once cannot use it up.
func (c *cgroups) capAll() error {
	b, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("pid_max: %w", err)
	}
	c.allMax = max(c.pidsMax, n/2)
	return os.WriteFile(filepath.Join(c.ctl["pids"], "pids.max"), []byte(strconv.Itoa(c.allMax)), 0)
}

// describe names the mechanism for the start-up report.
func (c *cgroups) describe() string {
	if c.v2 {
		return fmt.Sprintf("cgroup v2 limits (memory = MemorySize without swap, cpu.weight ∝ memory, pids ≤ %d, ≤ %d for all): on", c.pidsMax, c.allMax)
	}
	swap := "memory+swap"
	if !c.memsw {
		swap = "memory (swappiness 0; no swap accounting)"
	}
	return fmt.Sprintf("cgroup v1 limits (%s = MemorySize, cpu.shares ∝ memory, pids ≤ %d, ≤ %d for all): on", swap, c.pidsMax, c.allMax)
}

// create makes environment id's cgroup with a memory limit of memMB (0: none).
func (c *cgroups) create(id string, memMB int) (_ *cgroup, err error) {
	g := &cgroup{cgs: c, id: id, memMB: memMB}
	defer func() {
		if err != nil {
			g.destroy()
		}
	}()
	for _, p := range c.parents {
		dir := filepath.Join(p, id)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return nil, err
		}
		g.dirs = append(g.dirs, dir)
		if p == c.memory {
			g.mem = dir
		}
	}
	writes := [][2]string{{"pids.max", strconv.Itoa(c.pidsMax)}}
	if !c.v2 && !c.memsw && memMB > 0 {
		writes = append(writes, [2]string{"memory.swappiness", "0"})
	}
	writes = append(writes, c.limits(memMB, false)...) // from no cap: down
	for _, w := range writes {
		if err := g.write(w[0], w[1]); err != nil {
			return nil, err
		}
	}
	if c.v2 {
		if g.dir, err = os.Open(g.dirs[0]); err != nil {
			return nil, err
		}
		return g, nil
	}
	for _, d := range g.dirs {
		f, err := os.OpenFile(filepath.Join(d, "tasks"), os.O_WRONLY, 0)
		if err != nil {
			return nil, err
		}
		g.join = append(g.join, f)
	}
	return g, nil
}

// limits are the control-file writes that give a cgroup the memory cap and
// CPU share of an environment of memMB (0: no cap, the default share). In v1
// memory.limit_in_bytes may never exceed memory.memsw.limit_in_bytes, so a
// limit that grows (up) sets memsw first and one that shrinks sets it last.
func (c *cgroups) limits(memMB int, up bool) [][2]string {
	shares := 1024
	if memMB > 0 {
		shares = max(2, memMB*1024/1769)
	}
	mem := strconv.Itoa(memMB << 20)
	if c.v2 {
		w := [][2]string{{"cpu.weight", strconv.Itoa(1 + (shares-2)*9999/262142)}}
		if memMB > 0 {
			w = append(w, [2]string{"memory.max", mem}, [2]string{"memory.swap.max", "0"})
		}
		return w
	}
	w := [][2]string{{"cpu.shares", strconv.Itoa(shares)}}
	if memMB <= 0 {
		return w
	}
	if !c.memsw {
		return append(w, [2]string{"memory.limit_in_bytes", mem})
	}
	if up {
		return append(w, [2]string{"memory.memsw.limit_in_bytes", mem}, [2]string{"memory.limit_in_bytes", mem})
	}
	return append(w, [2]string{"memory.limit_in_bytes", mem}, [2]string{"memory.memsw.limit_in_bytes", mem})
}

// resize gives g the memory cap and CPU share of an environment of memMB.
func (g *cgroup) resize(memMB int) error {
	up := g.memMB > 0 && memMB > g.memMB // from no cap, any cap is down
	for _, w := range g.cgs.limits(memMB, up) {
		if err := g.write(w[0], w[1]); err != nil {
			return fmt.Errorf("%s: %w", w[0], err)
		}
	}
	g.memMB = memMB
	return nil
}

// placement tells a spawner how to start a child in g (nothing for a nil g).
// In v1, the spawner thread moves itself into g's cgroups (a write of "0" to
// tasks: a single thread moving itself skips the global lock, whose RCU grace
// period made moving the child by pid take up to 20 ms), forks, and moves
// back home. In v2 the child is cloned straight into g (CLONE_INTO_CGROUP).
func (g *cgroup) placement(req *spawnReq) {
	if g == nil {
		return
	}
	if g.dir != nil {
		req.cmd.SysProcAttr.UseCgroupFD = true
		req.cmd.SysProcAttr.CgroupFD = int(g.dir.Fd())
		return
	}
	req.join, req.home = g.join, g.cgs.home
}

// started releases what only starting needed.
func (g *cgroup) started() {
	if g == nil {
		return
	}
	for _, f := range g.join {
		f.Close()
	}
	g.join = nil
	if g.dir != nil {
		g.dir.Close()
		g.dir = nil
	}
}

// write writes a control file, in the dir of its controller ("memory.max": memory).
func (g *cgroup) write(file, value string) error {
	ctl, _, _ := strings.Cut(file, ".")
	return os.WriteFile(filepath.Join(g.cgs.ctl[ctl], g.id, file), []byte(value), 0)
}

// peak is the highest memory use of the whole tree, in bytes (0 if unknown).
func (g *cgroup) peak() int64 {
	if g.mem == "" {
		return 0
	}
	g.peakMu.Lock()
	defer g.peakMu.Unlock()
	if g.peakFile == nil {
		file := "memory.max_usage_in_bytes"
		if g.cgs.v2 {
			file = "memory.peak"
		}
		f, err := os.Open(filepath.Join(g.mem, file))
		if err != nil {
			return 0
		}
		g.peakFile = f
	}
	n, _ := g.peakFile.ReadAt(g.peakBuf[:], 0) // cgroup files are regenerated on every read at offset 0
	v, _ := strconv.ParseInt(strings.TrimSpace(string(g.peakBuf[:n])), 10, 64)
	return v
}

// destroy kills whatever is left in g and removes it.
func (g *cgroup) destroy() {
	g.peakMu.Lock()
	if g.peakFile != nil {
		g.peakFile.Close()
		g.peakFile = nil
	}
	g.peakMu.Unlock()
	g.started()
	removeCgroup(g.dirs, g.cgs != nil && g.cgs.v2)
}

// removeCgroup kills every process in dirs and removes them, waiting up to a
// second for the killed processes to go.
func removeCgroup(dirs []string, v2 bool) {
	deadline := time.Now().Add(time.Second)
	for _, d := range dirs {
		for {
			err := syscall.Rmdir(d)
			if err == nil || err == syscall.ENOENT || time.Now().After(deadline) {
				break
			}
			if v2 {
				os.WriteFile(filepath.Join(d, "cgroup.kill"), []byte("1"), 0)
			} else {
				killAll(d)
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// killAll SIGKILLs every process in cgroup v1 dir.
func killAll(dir string) {
	b, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	for f := range bytes.FieldsSeq(b) {
		if pid, err := strconv.Atoi(string(f)); err == nil && pid > 1 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// sweep removes every environment cgroup under the launcher's parents (left
// by a previous server on this state dir).
func (c *cgroups) sweep() {
	byName := map[string][]string{}
	for _, p := range c.parents {
		ents, _ := os.ReadDir(p)
		for _, e := range ents {
			if e.IsDir() {
				byName[e.Name()] = append(byName[e.Name()], filepath.Join(p, e.Name()))
			}
		}
	}
	for _, dirs := range byName {
		removeCgroup(dirs, c.v2)
	}
}

// close removes the launcher's parents (if empty).
func (c *cgroups) close() {
	for _, f := range c.home {
		f.Close()
	}
	for _, p := range c.parents {
		syscall.Rmdir(p)
	}
}

// ownCgroups maps each v1 controller (and "" for v2) to the server's cgroup path.
func ownCgroups() (map[string]string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		if f[1] == "" {
			out[""] = f[2]
			continue
		}
		for ctl := range strings.SplitSeq(f[1], ",") {
			out[ctl] = f[2]
		}
	}
	return out, nil
}

type cgMount struct{ point, root string }

// v1Mounts maps each v1 controller to its hierarchy's mount.
func v1Mounts() (map[string]cgMount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]cgMount{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root point opts [optional…] - fstype source superopts
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		a, b := strings.Fields(pre), strings.Fields(post)
		if len(a) < 5 || len(b) < 3 || b[0] != "cgroup" {
			continue
		}
		for opt := range strings.SplitSeq(b[2], ",") {
			if _, seen := out[opt]; !seen {
				out[opt] = cgMount{point: a[4], root: a[3]}
			}
		}
	}
	return out, sc.Err()
}
