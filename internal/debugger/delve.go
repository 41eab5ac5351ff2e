package debugger

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// errNoDelve is what PUT debug answers when dlv cannot be found.
var errNoDelve = lambda.InvalidParameter("Delve (dlv) is not installed on the nimbus server's host. Install it with " +
	"`go install github.com/go-delve/delve/cmd/dlv@" + DelveVersion + "` (nimbus looks on PATH, then in $(go env GOBIN) and $(go env GOPATH)/bin), " +
	"then enable debugging again.")

// placeDelve finds dlv on the host and makes it visible to environments:
// a copy in HostDir, replaced atomically when the host's dlv is newer. It
// returns the copy's path as environments see it.
func (d *Debuggers) placeDelve(ctx context.Context) (string, error) {
	if err := checkPtrace(); err != nil {
		return "", err
	}
	src, err := findDelve(ctx)
	if err != nil {
		return "", err
	}
	si, err := os.Stat(src)
	if err != nil {
		return "", errNoDelve
	}
	dst := filepath.Join(d.cfg.HostDir, "dlv")
	if di, err := os.Stat(dst); err == nil && di.Size() == si.Size() && !di.ModTime().Before(si.ModTime()) {
		return filepath.Join(d.cfg.EnvDir, "dlv"), nil
	}
	if err := os.MkdirAll(d.cfg.HostDir, 0o755); err != nil {
		return "", err
	}
	tmp := filepath.Join(d.cfg.HostDir, ".dlv-"+lambda.NewHexID(8))
	// A hard link shares the host file's mode: environments run as another
	// user, so it must be executable by everyone, or else be copied.
	if err := os.Link(src, tmp); err != nil || si.Mode().Perm()&0o005 != 0o005 {
		os.Remove(tmp)
		if err := copyFile(src, tmp); err != nil {
			os.Remove(tmp)
			return "", err
		}
	}
	// A running environment keeps the old file; new ones get the new one.
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return filepath.Join(d.cfg.EnvDir, "dlv"), nil
}

// findDelve looks for dlv on PATH, then in the go command's GOBIN and GOPATH/bin.
func findDelve(ctx context.Context) (string, error) {
	if p, err := exec.LookPath("dlv"); err == nil {
		return filepath.Abs(p)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", errNoDelve
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, goBin, "env", "GOBIN", "GOPATH").Output()
	if err != nil {
		return "", errNoDelve
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var dirs []string
	if len(lines) > 0 && strings.TrimSpace(lines[0]) != "" {
		dirs = append(dirs, strings.TrimSpace(lines[0]))
	}
	if len(lines) > 1 {
		for _, p := range filepath.SplitList(strings.TrimSpace(lines[1])) {
			dirs = append(dirs, filepath.Join(p, "bin"))
		}
	}
	for _, dir := range dirs {
		p := filepath.Join(dir, "dlv")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errNoDelve
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	return errors.Join(err, out.Close())
}

// checkPtrace refuses hosts where Delve, an unprivileged process tracing its
// own child, cannot work: Yama's ptrace_scope 2 (admin only) or 3 (none).
// Environments get no capability to get round it.
func checkPtrace() error {
	b, err := os.ReadFile("/proc/sys/kernel/yama/ptrace_scope")
	if err != nil {
		return nil // no Yama: ordinary same-user rules, which Delve meets
	}
	if scope := strings.TrimSpace(string(b)); scope != "0" && scope != "1" {
		return lambda.InvalidParameter("This host's kernel.yama.ptrace_scope is %s, which forbids the environment's unprivileged user to trace its own child: "+
			"Delve cannot run. Set it to 1 (sysctl -w kernel.yama.ptrace_scope=1) to debug Go functions.", scope)
	}
	return nil
}
