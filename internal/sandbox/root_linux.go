package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// Where an isolated environment sees things.
const (
	taskRoot    = "/var/task"    // the function's code, read-only
	runtimeRoot = "/var/runtime" // Config.RuntimeDir, read-only
)

// hostDirs are the host directories every environment sees read-only at the
// same path: programs, shared libraries and configuration (ld.so.cache,
// resolv.conf, CA certificates, passwd). Symlinks (merged /usr) are recreated.
var hostDirs = []string{"/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32", "/etc"}

// devices are the only device nodes in an environment's /dev.
var devices = []struct {
	name         string
	major, minor uint32
}{{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}}

// rootfs is the skeleton every isolated environment starts from: a mount
// namespace (kept alive by an fd, with no process in it) whose root is a small
// read-only tmpfs holding /dev, empty mount points and read-only bind mounts of
// hostDirs, runtimeRoot and Config.ReadOnly. Nothing else of the host is
// mounted in it, so a copy of it is cheap and shows nothing of the data dir.
type rootfs struct {
	base    int    // the skeleton's mount namespace
	host    int    // the server's mount namespace
	proc    int    // O_PATH fd of the server's /proc
	ownPID  bool   // procfs takes pidns=: each environment gets a /proc of its own
	procWhy string // why not, if not
}

// buildRoot builds the skeleton. It runs on a locked thread with an fs_struct
// of its own (unshare(CLONE_FS)); it leaves the thread in the host namespace.
func buildRoot(cfg *Config, mnt string) (_ *rootfs, err error) {
	r := &rootfs{base: -1, host: -1, proc: -1}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	if r.proc, err = openat(atFDCWD, "/proc", oPath|syscall.O_DIRECTORY); err != nil {
		return nil, err
	}
	if r.host, err = openat(r.proc, nsPath(0, "mnt"), syscall.O_RDONLY); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(mnt, 0o700); err != nil {
		return nil, err
	}
	binds, err := rootBinds(cfg)
	if err != nil {
		return nil, err
	}
	// Detached copies of the host trees, made while the host is still visible.
	fds := make([]int, len(binds))
	for i := range fds {
		fds[i] = -1
	}
	defer func() {
		for _, fd := range fds {
			if fd >= 0 {
				syscall.Close(fd)
			}
		}
	}()
	for i, b := range binds {
		if b.link != "" {
			continue
		}
		if fds[i], err = cloneTree(b.src, mountAttrRdonly|mountAttrNosuid|mountAttrNodev); err != nil {
			return nil, err
		}
	}

	if err := syscall.Unshare(syscall.CLONE_NEWNS); err != nil {
		return nil, &os.SyscallError{Syscall: "unshare(CLONE_NEWNS)", Err: err}
	}
	defer func() {
		if e := setns(r.host, syscall.CLONE_NEWNS); e != nil && err == nil {
			err = e
		}
	}()
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return nil, fmt.Errorf("make / private: %w", err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", syscall.MS_NOSUID, "size=1m,nr_inodes=4096,mode=755"); err != nil {
		return nil, fmt.Errorf("mount tmpfs on %s: %w", mnt, err)
	}
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	for _, d := range []string{"var/task", "var/runtime", "tmp", "proc", "dev", "opt"} {
		if err := os.MkdirAll(filepath.Join(mnt, d), 0o755); err != nil {
			return nil, err
		}
	}
	for _, d := range devices {
		p := filepath.Join(mnt, "dev", d.name)
		if err := syscall.Mknod(p, syscall.S_IFCHR|0o666, int(d.major<<8|d.minor)); err != nil {
			return nil, &os.PathError{Op: "mknod", Path: p, Err: err}
		}
	}
	for name, target := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		if err := os.Symlink(target, filepath.Join(mnt, "dev", name)); err != nil {
			return nil, err
		}
	}
	for i, b := range binds {
		dst := filepath.Join(mnt, b.dst)
		if b.link != "" {
			if err := os.Symlink(b.link, dst); err != nil {
				return nil, err
			}
			continue
		}
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return nil, err
		}
		if err := attach(fds[i], dst); err != nil {
			return nil, err
		}
	}
	// Make the skeleton the namespace's root and drop everything else.
	if err := syscall.Chdir(mnt); err != nil {
		return nil, err
	}
	if err := os.Mkdir(".old", 0o700); err != nil {
		return nil, err
	}
	if err := syscall.PivotRoot(".", ".old"); err != nil {
		return nil, &os.SyscallError{Syscall: "pivot_root", Err: err}
	}
	if err := syscall.Unmount(".old", syscall.MNT_DETACH); err != nil {
		return nil, fmt.Errorf("detach the host root: %w", err)
	}
	if err := syscall.Rmdir(".old"); err != nil {
		return nil, err
	}
	if err := syscall.Chdir("/"); err != nil {
		return nil, err
	}
	if err := syscall.Mount("", "/", "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY|syscall.MS_NOSUID, ""); err != nil {
		return nil, fmt.Errorf("remount the root read-only: %w", err)
	}
	if r.base, err = openat(r.proc, nsPath(0, "mnt"), syscall.O_RDONLY); err != nil {
		return nil, err
	}
	r.ownPID, r.procWhy = probeProc(r.proc)
	return r, nil
}

// probeProc reports whether procfs accepts pidns= (by mounting, detached, a
// proc of the server's own pid namespace), and if not, why.
func probeProc(proc int) (bool, string) {
	ns, err := openat(proc, nsPath(0, "pid"), syscall.O_RDONLY)
	if err != nil {
		return false, err.Error()
	}
	defer syscall.Close(ns)
	fd, err := procFor(ns)
	if err != nil {
		if errors.Is(err, syscall.EINVAL) {
			return false, "this kernel's procfs has no pidns= mount option (Linux 6.18+)"
		}
		return false, err.Error()
	}
	syscall.Close(fd)
	return true, ""
}

type bind struct {
	src, dst string
	link     string // recreate dst as a symlink to link instead of mounting
}

// rootBinds lists what the skeleton shows of the host.
func rootBinds(cfg *Config) ([]bind, error) {
	var out []bind
	var shown []string // host paths visible at the same path
	for _, d := range hostDirs {
		fi, err := os.Lstat(d)
		if err != nil {
			continue
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			t, err := os.Readlink(d)
			if err != nil {
				return nil, err
			}
			out = append(out, bind{dst: d, link: t})
			continue
		}
		if fi.IsDir() {
			out = append(out, bind{src: d, dst: d})
			shown = append(shown, d)
		}
	}
	if cfg.RuntimeDir != "" {
		out = append(out, bind{src: cfg.RuntimeDir, dst: runtimeRoot})
	}
	ro := slices.Clone(cfg.ReadOnly)
	slices.Sort(ro)
	for _, p := range ro {
		p = filepath.Clean(p)
		if !filepath.IsAbs(p) {
			return nil, fmt.Errorf("read-only path %q is not absolute", p)
		}
		if slices.ContainsFunc(shown, func(s string) bool { return within(p, s) }) {
			continue // already visible
		}
		if _, err := os.Stat(p); err != nil {
			return nil, err
		}
		out = append(out, bind{src: p, dst: p})
		shown = append(shown, p)
	}
	// The data dir (StateDir's parent) must not become visible through any of them.
	data := filepath.Dir(filepath.Clean(cfg.StateDir))
	for _, s := range shown {
		if within(data, s) {
			return nil, fmt.Errorf("the data dir %s is inside %s, which environments see", data, s)
		}
	}
	return out, nil
}

// within reports whether path p is dir or inside it.
func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

func (r *rootfs) close() {
	for _, fd := range []int{r.base, r.host, r.proc} {
		if fd >= 0 {
			syscall.Close(fd)
		}
	}
}

// enter moves the calling (locked, fs-unshared) thread into a fresh copy of
// the skeleton and mounts the environment's code and /tmp in it. The thread's
// root is then the skeleton's root; leave returns it to the host.
func (r *rootfs) enter(code int, tmpMB int) error {
	if err := setns(r.base, syscall.CLONE_NEWNS); err != nil {
		return err
	}
	if err := syscall.Unshare(syscall.CLONE_NEWNS); err != nil {
		return &os.SyscallError{Syscall: "unshare(CLONE_NEWNS)", Err: err}
	}
	if code >= 0 { // else a pre-started environment: Process.Assign attaches it
		if err := attach(code, taskRoot); err != nil {
			return err
		}
	}
	if err := mountTmp(tmpMB, 0); err != nil {
		return fmt.Errorf("mount /tmp: %w", err)
	}
	return nil
}

// tmpSize is the size in MB of an environment's /tmp for Spec.EphemeralMB (0: 512,
// Lambda's default).
func tmpSize(ephemeralMB int) int {
	if ephemeralMB <= 0 {
		return 512
	}
	return ephemeralMB
}

// mountTmp mounts (flags 0) or remounts (syscall.MS_REMOUNT) the calling
// thread's /tmp as a tmpfs of mb MB.
func mountTmp(mb int, flags uintptr) error {
	return syscall.Mount("tmpfs", "/tmp", "tmpfs", flags|syscall.MS_NOSUID|syscall.MS_NODEV, fmt.Sprintf("size=%dm,mode=1777", mb))
}

// mountProc mounts, in the thread's current (environment) namespace, a /proc
// showing the pid namespace of process pid.
func (r *rootfs) mountProc(pid int) error {
	ns, err := openat(r.proc, nsPath(pid, "pid"), syscall.O_RDONLY)
	if err != nil {
		return err
	}
	defer syscall.Close(ns)
	fd, err := procFor(ns)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	return attach(fd, "/proc")
}

// leave returns the calling thread to the host's mount namespace.
func (r *rootfs) leave() error { return setns(r.host, syscall.CLONE_NEWNS) }
