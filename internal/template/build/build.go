// Package build makes a function's deployment package (a zip) from the Build
// a template plan gives it: Go sources are compiled the way `sam build` does
// for provided runtimes (CGO_ENABLED=0 GOOS=linux -tags lambda.norpc, into an
// executable bootstrap); Node.js, Python and prebuilt-bootstrap directories
// are zipped as they are (installing their dependencies is the user's);
// inline code becomes a one-file zip.
//
// Zips are deterministic — entries in lexical order, fixed times, modes
// reduced to 0644/0755 — so unchanged code keeps its CodeSha256 and a
// diff-based deploy leaves it alone. Build may be called concurrently; Go
// builds share the user's build cache.
package build

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/nimbus-dev/nimbus/internal/template"
)

// MaxUnzipped bounds the code a package may hold (Lambda's 250 MB limit).
const MaxUnzipped = 250 << 20

// modTime is every entry's modification time (the zip epoch).
var modTime = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// skipped are names never packaged (.nimbus: `nimbus dev`'s data directory).
var skipped = map[string]bool{".git": true, "__pycache__": true, ".aws-sam": true, ".DS_Store": true, ".nimbus": true}

// Error is a failed build; Output is what the compiler said.
type Error struct {
	Dir    string
	Output string
	Err    error
}

func (e *Error) Error() string {
	if e.Output != "" {
		return fmt.Sprintf("building %s: %v\n%s", e.Dir, e.Err, e.Output)
	}
	return fmt.Sprintf("building %s: %v", e.Dir, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Options change how a package is built.
type Options struct {
	// Debug builds Go code for a debugger: optimisations and inlining off
	// (-gcflags=all=-N -l). Other kinds are unaffected.
	Debug bool
}

// Build returns the deployment package of a function.
func Build(ctx context.Context, b template.Build) ([]byte, error) {
	return BuildWith(ctx, b, Options{})
}

// BuildWith is Build with options.
func BuildWith(ctx context.Context, b template.Build, opts Options) ([]byte, error) {
	switch b.Kind {
	case template.BuildGo:
		return goBuild(ctx, b, opts)
	case template.BuildNode, template.BuildPython, template.BuildPrebuilt:
		zb, err := zipDir(b.Dir)
		if err != nil {
			return nil, &Error{Dir: b.Dir, Err: err}
		}
		return zb, nil
	case template.BuildZip:
		data, err := os.ReadFile(b.Dir)
		if err != nil {
			return nil, &Error{Dir: b.Dir, Err: err}
		}
		if _, err := zip.NewReader(bytes.NewReader(data), int64(len(data))); err != nil {
			return nil, &Error{Dir: b.Dir, Err: fmt.Errorf("not a zip file: %w", err)}
		}
		return data, nil
	case template.BuildInline:
		var buf bytes.Buffer
		w := zip.NewWriter(&buf)
		if err := add(w, b.InlineFile, 0o644, strings.NewReader(b.InlineCode)); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	return nil, &Error{Dir: b.Dir, Err: fmt.Errorf("unknown build kind %q", b.Kind)}
}

// CodeSHA256 is a package's hash as Lambda reports it (CodeSha256: base64 of SHA-256).
func CodeSHA256(zipped []byte) string {
	h := sha256.Sum256(zipped)
	return base64.StdEncoding.EncodeToString(h[:])
}

// maxOutput bounds the compiler output kept in an Error.
const maxOutput = 16 << 10

func goBuild(ctx context.Context, b template.Build, opts Options) ([]byte, error) {
	arch := b.Arch
	if arch == "" {
		arch = "amd64"
	}
	tmp, err := os.MkdirTemp("", "nimbus-build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "bootstrap")
	// -buildvcs=false: VCS stamps change with unrelated commits, and so
	// would the package's hash.
	args := []string{"build", "-tags", "lambda.norpc", "-buildvcs=false", "-o", out}
	if opts.Debug {
		args = append(args, "-gcflags=all=-N -l")
	}
	cmd := exec.CommandContext(ctx, "go", append(args, ".")...)
	cmd.Dir = b.Dir
	// The toolchain needs the user's environment (PATH, HOME, GOPATH,
	// GOCACHE, GOFLAGS, proxies); only the target is ours.
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			err = errors.New("go is not installed (it is needed to build Go functions)")
		}
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		text := output.String()
		if len(text) > maxOutput {
			text = text[:maxOutput] + "…"
		}
		return nil, &Error{Dir: b.Dir, Output: strings.TrimSpace(text), Err: err}
	}
	f, err := os.Open(out)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	if err := add(w, "bootstrap", 0o755, f); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// zipDir zips a directory as it is, without .git, __pycache__ and the like.
// Symbolic links are kept as links if they stay inside the directory.
func zipDir(dir string) ([]byte, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	fsys := root.FS()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	var total int64
	err = fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if name != "." && skipped[d.Name()] {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		switch {
		case d.IsDir():
			return nil
		case d.Type()&fs.ModeSymlink != 0:
			target, err := root.Readlink(name)
			if err != nil {
				return err
			}
			resolved := path.Join(path.Dir(name), filepath.ToSlash(target))
			if filepath.IsAbs(target) || resolved == ".." || strings.HasPrefix(resolved, "../") {
				return fmt.Errorf("%s is a symbolic link to %s, outside the code directory", name, target)
			}
			return add(w, name, fs.ModeSymlink|0o777, strings.NewReader(target))
		case !d.Type().IsRegular():
			return nil // sockets, pipes, devices
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if total += info.Size(); total > MaxUnzipped {
			return fmt.Errorf("the code is larger than %d MB unzipped", MaxUnzipped>>20)
		}
		mode := fs.FileMode(0o644)
		if info.Mode()&0o111 != 0 {
			mode = 0o755
		}
		f, err := fsys.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		return add(w, name, mode, f)
	})
	if err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func add(w *zip.Writer, name string, mode fs.FileMode, r io.Reader) error {
	h := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: modTime}
	h.SetMode(mode)
	fw, err := w.CreateHeader(h)
	if err != nil {
		return err
	}
	_, err = io.Copy(fw, r)
	return err
}
