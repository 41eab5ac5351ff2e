package build

import (
	"archive/zip"
	"bytes"
	"debug/buildinfo"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"testing"

	"github.com/nimbus-dev/nimbus/internal/template"
)

type entry struct {
	mode fs.FileMode
	data string
}

func unzip(t *testing.T, b []byte) map[string]entry {
	t.Helper()
	r, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]entry{}
	for _, f := range r.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(rc)
		rc.Close()
		out[f.Name] = entry{f.Mode(), string(data)}
		if !f.Modified.Equal(modTime) {
			t.Errorf("%s: modified %v, want the fixed time", f.Name, f.Modified)
		}
	}
	return out
}

func TestBuildGo(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	dir, err := filepath.Abs("../../../test/e2e/testdata/gofn")
	if err != nil {
		t.Fatal(err)
	}
	b := template.Build{Kind: template.BuildGo, Dir: dir, Arch: "amd64"}
	z, err := Build(t.Context(), b)
	if err != nil {
		t.Fatal(err)
	}
	files := unzip(t, z)
	if len(files) != 1 {
		t.Fatalf("zip holds %d files, want only bootstrap", len(files))
	}
	boot := files["bootstrap"]
	if boot.mode != 0o755 || len(boot.data) < 4 || boot.data[:4] != "\x7fELF" {
		t.Fatalf("bootstrap: mode %v, %d bytes, want an executable ELF file", boot.mode, len(boot.data))
	}
	if bytes.Contains([]byte(boot.data), []byte("net/rpc")) {
		t.Errorf("bootstrap was built without -tags lambda.norpc")
	}
	// Unchanged code builds to the same package (Go builds are reproducible).
	again, err := Build(t.Context(), b)
	if err != nil {
		t.Fatal(err)
	}
	if CodeSHA256(again) != CodeSHA256(z) {
		t.Errorf("two builds of the same code differ")
	}
	// The binary runs where nimbus runs it: on this Linux host, as bootstrap.
	if b.Arch == hostArch() {
		out := filepath.Join(t.TempDir(), "bootstrap")
		if err := os.WriteFile(out, []byte(boot.data), 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(out)
		cmd.Env = []string{} // no AWS_LAMBDA_RUNTIME_API: aws-lambda-go exits with an error
		if msg, err := cmd.CombinedOutput(); err == nil {
			t.Errorf("bootstrap ran without a Runtime API: %s", msg)
		}
	}
}

func TestBuildGoError(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/broken\n\ngo 1.26\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() { undefined() }\n"), 0o644)
	_, err := Build(t.Context(), template.Build{Kind: template.BuildGo, Dir: dir})
	be, ok := errors.AsType[*Error](err)
	if !ok || !bytes.Contains([]byte(be.Output), []byte("undefined: undefined")) || be.Dir != dir {
		t.Fatalf("error %v, want a build error with the compiler's output", err)
	}
}

func TestBuildDirectories(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode fs.FileMode) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
	}
	write("index.js", "exports.handler = 1", 0o600)
	write("lib/util.js", "module.exports = 2", 0o644)
	write("bin/tool", "#!/bin/sh", 0o700)
	write(".git/HEAD", "ref", 0o644)
	write("__pycache__/x.pyc", "x", 0o644)
	write("pkg/__pycache__/y.pyc", "y", 0o644)
	if err := os.Symlink("../lib/util.js", filepath.Join(dir, "bin", "util.js")); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []template.BuildKind{template.BuildNode, template.BuildPython, template.BuildPrebuilt} {
		z, err := Build(t.Context(), template.Build{Kind: kind, Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		got := unzip(t, z)
		want := map[string]entry{
			"index.js":    {0o644, "exports.handler = 1"},
			"lib/util.js": {0o644, "module.exports = 2"},
			"bin/tool":    {0o755, "#!/bin/sh"},
			"bin/util.js": {fs.ModeSymlink | 0o777, "../lib/util.js"},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: zip = %v, want %v", kind, got, want)
		}
		r, _ := zip.NewReader(bytes.NewReader(z), int64(len(z)))
		var names []string
		for _, f := range r.File {
			names = append(names, f.Name)
		}
		if !sort.StringsAreSorted(names) {
			t.Errorf("entries %v are not in order", names)
		}
		again, _ := Build(t.Context(), template.Build{Kind: kind, Dir: dir})
		if !bytes.Equal(again, z) {
			t.Errorf("%s: zipping the same directory twice differs", kind)
		}
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}
	if _, err := Build(t.Context(), template.Build{Kind: template.BuildNode, Dir: dir}); err == nil {
		t.Errorf("a symbolic link out of the directory was packaged")
	}
}

func TestBuildInlineAndZip(t *testing.T) {
	z, err := Build(t.Context(), template.Build{Kind: template.BuildInline, InlineFile: "index.js", InlineCode: "exports.handler = 1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := unzip(t, z); !reflect.DeepEqual(got, map[string]entry{"index.js": {0o644, "exports.handler = 1"}}) {
		t.Errorf("inline zip = %v", got)
	}
	name := filepath.Join(t.TempDir(), "code.zip")
	os.WriteFile(name, z, 0o644)
	got, err := Build(t.Context(), template.Build{Kind: template.BuildZip, Dir: name})
	if err != nil || !bytes.Equal(got, z) {
		t.Errorf("zip build = %d bytes, %v; want the file as it is", len(got), err)
	}
	os.WriteFile(name, []byte("not a zip"), 0o644)
	if _, err := Build(t.Context(), template.Build{Kind: template.BuildZip, Dir: name}); err == nil {
		t.Errorf("a file that is not a zip was accepted")
	}
	if _, err := Build(t.Context(), template.Build{Kind: "rust"}); err == nil {
		t.Errorf("an unknown kind was accepted")
	}
}

func TestCodeSHA256(t *testing.T) {
	// The base64 SHA-256 Lambda reports, here of the empty input.
	if got := CodeSHA256(nil); got != "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" {
		t.Errorf("CodeSHA256(nil) = %s", got)
	}
}

func hostArch() string { return runtime.GOARCH }

func TestBuildGoDebug(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	dir, err := filepath.Abs("../../../test/e2e/testdata/gofn")
	if err != nil {
		t.Fatal(err)
	}
	b := template.Build{Kind: template.BuildGo, Dir: dir, Arch: "amd64"}
	gcflags := func(opts Options) string {
		t.Helper()
		z, err := BuildWith(t.Context(), b, opts)
		if err != nil {
			t.Fatal(err)
		}
		info, err := buildinfo.Read(bytes.NewReader([]byte(unzip(t, z)["bootstrap"].data)))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range info.Settings {
			if s.Key == "-gcflags" {
				return s.Value
			}
		}
		return ""
	}
	if got := gcflags(Options{Debug: true}); got != "all=-N -l" {
		t.Errorf("debug build: -gcflags %q, want all=-N -l (optimisations and inlining off)", got)
	}
	if got := gcflags(Options{}); got != "" {
		t.Errorf("normal build: -gcflags %q, want none", got)
	}
}
