package unzip

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// ent describes one entry of a test archive.
type ent struct {
	name string
	body string
	// mode is passed to FileHeader.SetMode, which marks the entry as made on
	// Unix. Zero leaves the header as Windows tools write it (FAT creator, no
	// Unix mode bits).
	mode fs.FileMode
	// raw, if non-nil, is written with CreateRaw as the entry's already
	// compressed data; setup must then fill in the sizes and checksum.
	raw   []byte
	setup func(*zip.FileHeader)
}

func file(name, body string) ent { return ent{name: name, body: body, mode: 0o644} }
func exe(name, body string) ent  { return ent{name: name, body: body, mode: 0o755} }
func dir(name string) ent        { return ent{name: name, mode: fs.ModeDir | 0o755} }
func link(name, target string) ent {
	return ent{name: name, body: target, mode: fs.ModeSymlink | 0o777}
}
func winFile(name, body string) ent {
	return ent{name: name, body: body}
}

func buildZip(t testing.TB, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range ents {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		if e.mode != 0 {
			h.SetMode(e.mode)
		}
		if e.setup != nil {
			e.setup(h)
		}
		var w io.Writer
		var err error
		if e.raw != nil {
			w, err = zw.CreateRaw(h)
			if err == nil {
				_, err = w.Write(e.raw)
			}
		} else {
			w, err = zw.CreateHeader(h)
			if err == nil {
				_, err = io.WriteString(w, e.body)
			}
		}
		if err != nil {
			t.Fatalf("writing entry %q: %v", e.name, err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// deflatedZeros returns a raw deflate stream that expands to mb MiB of
// zeros. It is built by repeating one sync-flushed chunk, so even a huge
// expansion costs almost nothing to build.
func deflatedZeros(t testing.TB, mb int) []byte {
	t.Helper()
	var chunk bytes.Buffer
	fw, err := flate.NewWriter(&chunk, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(make([]byte, 1<<20))
	fw.Flush() // ends with an empty stored block, byte aligned and not final
	out := bytes.Repeat(chunk.Bytes(), mb)
	return append(out, 0x01, 0x00, 0x00, 0xff, 0xff) // final empty stored block
}

func TestDeflatedZeros(t *testing.T) {
	n, err := io.Copy(io.Discard, flate.NewReader(bytes.NewReader(deflatedZeros(t, 3))))
	if err != nil || n != 3<<20 {
		t.Fatalf("got %d bytes, %v; want %d", n, err, 3<<20)
	}
}

// world is a scratch directory tree for one Extract call: the target is
// root/a/b/parent/cache/<hash>, deep enough that entries escaping by a few
// ".." levels would land inside root where snapshot sees them.
type world struct {
	root, cache, target string
}

func newWorld(t testing.TB) world {
	t.Helper()
	root := t.TempDir()
	cache := filepath.Join(root, "a", "b", "parent", "cache")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(cache, "0123abcd")
	// The unpacked tree is read-only; without this, t.TempDir's own cleanup
	// fails when the tests do not run as root.
	t.Cleanup(func() {
		if err := Remove(target); err != nil {
			t.Errorf("Remove(%s): %v", target, err)
		}
	})
	return world{root: root, cache: cache, target: target}
}

// walkRoot calls fn for everything below r, depth first in name order,
// without following symlinks. It goes through os.Root one directory at a
// time, so it copes with any name and any path length.
func walkRoot(t testing.TB, r *os.Root, prefix string, fn func(rel string, info fs.FileInfo, dir *os.Root, name string)) {
	t.Helper()
	d, err := r.Open(".")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		rel := prefix + e.Name()
		fn(rel, info, r, e.Name())
		if e.IsDir() {
			sub, err := r.OpenRoot(e.Name())
			if err != nil {
				t.Fatal(err)
			}
			walkRoot(t, sub, rel+"/", fn)
			sub.Close()
		}
	}
}

// snapshot lists everything under root (without following symlinks) as
// "path mode [-> target]".
func snapshot(t testing.TB, root string) []string {
	t.Helper()
	r, err := os.OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []string
	walkRoot(t, r, "", func(rel string, info fs.FileInfo, dir *os.Root, name string) {
		s := fmt.Sprintf("%s %v", rel, info.Mode())
		if info.Mode()&fs.ModeSymlink != 0 {
			target, err := dir.Readlink(name)
			if err != nil {
				t.Fatal(err)
			}
			s += " -> " + target
		}
		out = append(out, s)
	})
	return out
}

func assertUserError(t testing.TB, what string, err error, want string) {
	t.Helper()
	var ue *Error
	if !errors.As(err, &ue) {
		t.Fatalf("%s: got error %v (%T), want *Error", what, err, err)
	}
	if !strings.Contains(ue.Message, want) {
		t.Errorf("%s: message %q does not contain %q", what, ue.Message, want)
	}
}

func TestRejected(t *testing.T) {
	bomb := deflatedZeros(t, 300) // 300 MiB of zeros in a few hundred KB
	raw := func(name string, method uint16, payload []byte, size uint64, crc uint32) ent {
		return ent{name: name, raw: payload, setup: func(h *zip.FileHeader) {
			h.Method = method
			h.CompressedSize64 = uint64(len(payload))
			h.UncompressedSize64 = size
			h.CRC32 = crc
		}}
	}
	valid := buildZip(t, file("index.js", "exports.handler = async () => 1;\n"))

	tests := []struct {
		name string
		data func(t *testing.T) []byte
		want string // substring of the message
	}{
		// Not a zip, or too big.
		{"empty input", func(*testing.T) []byte { return nil }, "not a valid zip file"},
		{"not a zip", func(*testing.T) []byte { return []byte("#!/bin/sh\necho this is not a zip\n") }, "not a valid zip file"},
		{"truncated zip", func(*testing.T) []byte { return valid[:len(valid)/2] }, "not a valid zip file"},
		{"over 50 MB zipped", func(t *testing.T) []byte {
			big := strings.Repeat("x", MaxZipped)
			return buildZip(t, ent{name: "big.bin", body: big, mode: 0o644, setup: func(h *zip.FileHeader) { h.Method = zip.Store }})
		}, "must not be larger than 52428800 bytes"},

		// Sizes: declared and actual.
		{"declared size over limit", func(t *testing.T) []byte {
			return buildZip(t, raw("huge.bin", zip.Deflate, bomb, MaxUnzipped+1, 0))
		}, `unzipped size must not exceed 262144000 bytes (250 MB); entry "huge.bin"`},
		{"declared sizes add up over limit", func(t *testing.T) []byte {
			return buildZip(t,
				raw("one", zip.Deflate, bomb, 100<<20, 0),
				raw("two", zip.Deflate, bomb, 100<<20, 0),
				raw("three", zip.Deflate, bomb, 100<<20, 0))
		}, `entry "three" takes it over the limit`},
		{"zip bomb with lying header", func(t *testing.T) []byte {
			return buildZip(t, file("ok.txt", "fine"), raw("bomb.bin", zip.Deflate, bomb, 1024, 0))
		}, `zip entry "bomb.bin": data is corrupt or its size does not match the header`},

		// Corrupt or unsupported data.
		{"checksum mismatch", func(t *testing.T) []byte {
			return buildZip(t, file("ok.txt", "fine"), raw("bad.txt", zip.Store, []byte("hello"), 5, 12345))
		}, `zip entry "bad.txt": checksum mismatch`},
		{"corrupt deflate stream", func(t *testing.T) []byte {
			return buildZip(t, raw("bad.bin", zip.Deflate, []byte{0xff, 0xff, 0xff, 0xff, 0xff}, 100, 0))
		}, `zip entry "bad.bin": `},
		{"unsupported compression method", func(t *testing.T) []byte {
			return buildZip(t, raw("x.bz2", 12, []byte("BZh91AY&SY"), 10, 0))
		}, `zip entry "x.bz2": unsupported compression method 12`},
		{"encrypted entry", func(t *testing.T) []byte {
			e := file("secret.txt", "data")
			e.setup = func(h *zip.FileHeader) { h.Flags |= 0x1 }
			return buildZip(t, e)
		}, `zip entry "secret.txt": encrypted entries are not supported`},

		// Names.
		{"dotdot", func(t *testing.T) []byte { return buildZip(t, file("../evil", "x")) }, `zip entry "../evil": path escapes the package root`},
		{"dotdot deep", func(t *testing.T) []byte {
			return buildZip(t, file("index.js", "x"), file("a/../../../../../evil", "x"))
		}, `zip entry "a/../../../../../evil": path escapes the package root`},
		{"dotdot backslash", func(t *testing.T) []byte { return buildZip(t, winFile(`..\..\evil`, "x")) }, `path escapes the package root`},
		{"absolute", func(t *testing.T) []byte { return buildZip(t, file("/tmp/evil", "x")) }, `zip entry "/tmp/evil": absolute paths are not allowed`},
		{"absolute backslash", func(t *testing.T) []byte { return buildZip(t, winFile(`\evil`, "x")) }, `absolute paths are not allowed`},
		{"drive letter", func(t *testing.T) []byte { return buildZip(t, winFile(`C:\evil`, "x")) }, `drive letters`},
		{"drive-relative", func(t *testing.T) []byte { return buildZip(t, winFile(`c:evil`, "x")) }, `drive letters`},
		{"NUL byte", func(t *testing.T) []byte { return buildZip(t, file("a\x00b", "x")) }, `name contains a NUL byte`},
		{"empty name", func(t *testing.T) []byte { return buildZip(t, file("", "x")) }, `empty name`},
		{"file naming the root", func(t *testing.T) []byte { return buildZip(t, file("a/..", "x")) }, `does not refer to a file`},
		{"component too long", func(t *testing.T) []byte {
			return buildZip(t, file(strings.Repeat("n", 256), "x"))
		}, "path component longer than 255 bytes"},
		{"path too long", func(t *testing.T) []byte {
			return buildZip(t, file(strings.Repeat("d/", 2000)+"x", "x"))
		}, "path longer than 4000 bytes"},
		{"long names are shortened in messages", func(t *testing.T) []byte {
			return buildZip(t, file(strings.Repeat("n", 60000), "x"))
		}, `zip entry "` + strings.Repeat("n", 200) + `"...: path component longer than 255 bytes`},

		{"too deep", func(t *testing.T) []byte {
			return buildZip(t, file(strings.Repeat("d/", 256)+"x", "x"))
		}, "path is more than 256 directories deep"},
		{"too many files and directories", func(t *testing.T) []byte {
			// Implicit parent directories cost nothing in the archive.
			deep := strings.Repeat("d/", 250) + "f"
			var ents []ent
			for i := range 4200 {
				ents = append(ents, winFile(fmt.Sprintf("%d/%s", i, deep), ""))
			}
			return buildZip(t, ents...)
		}, "the archive has more than 1048576 files and directories"},
		{"symlinks too complex to verify", func(t *testing.T) []byte {
			// A chain of 40 links with 4000-byte targets, and many links
			// that each walk the whole chain.
			pad := strings.Repeat("./", 1990)
			var ents []ent
			for i := range 40 {
				ents = append(ents, link(fmt.Sprintf("c%d", i), fmt.Sprintf("%sc%d", pad, i+1)))
			}
			ents = append(ents, file("c40", "end"))
			for i := range 300 {
				ents = append(ents, link(fmt.Sprintf("l%d", i), "c0"))
			}
			return buildZip(t, ents...)
		}, "symlinks are too complex to verify"},

		// Entry types.
		{"named pipe", func(t *testing.T) []byte {
			return buildZip(t, ent{name: "fifo", mode: fs.ModeNamedPipe | 0o644})
		}, `zip entry "fifo": unsupported entry type`},
		{"device", func(t *testing.T) []byte {
			return buildZip(t, ent{name: "dev/null", mode: fs.ModeDevice | fs.ModeCharDevice | 0o666})
		}, `zip entry "dev/null": unsupported entry type`},

		// Conflicts.
		{"duplicate file", func(t *testing.T) []byte {
			return buildZip(t, file("index.js", "a"), file("index.js", "b"))
		}, `zip entry "index.js": conflicts with file (entry "index.js")`},
		{"duplicate after cleaning", func(t *testing.T) []byte {
			return buildZip(t, file("lib/a.js", "a"), file("./lib//x/../a.js", "b"))
		}, `zip entry "./lib//x/../a.js": conflicts with file (entry "lib/a.js") at the same path "lib/a.js"`},
		{"file then directory", func(t *testing.T) []byte {
			return buildZip(t, file("lib", "a"), dir("lib/"))
		}, `zip entry "lib/": conflicts with file`},
		{"directory then file", func(t *testing.T) []byte {
			return buildZip(t, dir("lib/"), file("lib", "a"))
		}, `zip entry "lib": conflicts with directory`},
		{"entry below a file", func(t *testing.T) []byte {
			return buildZip(t, file("lib", "a"), file("lib/x.js", "b"))
		}, `zip entry "lib/x.js": parent "lib" is a file`},
		{"implicit directory then file", func(t *testing.T) []byte {
			return buildZip(t, file("lib/x.js", "b"), file("lib", "a"))
		}, `zip entry "lib": conflicts with directory at the same path "lib"`},
		{"writing through a symlink", func(t *testing.T) []byte {
			return buildZip(t, dir("real/"), link("l", "real"), file("l/x.js", "b"))
		}, `zip entry "l/x.js": parent "l" is a symlink`},
		{"symlink to parent then write through it", func(t *testing.T) []byte {
			return buildZip(t, link("up", ".."), file("up/evil", "b"))
		}, `zip entry "up/evil": parent "up" is a symlink`},

		// Symlinks.
		{"symlink to /etc/passwd", func(t *testing.T) []byte {
			return buildZip(t, file("index.js", "x"), link("passwd", "/etc/passwd"))
		}, `zip entry "passwd": symlink target "/etc/passwd" is an absolute path`},
		{"symlink escaping with dotdot", func(t *testing.T) []byte {
			return buildZip(t, link("x", "../../x"))
		}, `zip entry "x": symlink target "../../x" points outside the package root`},
		{"symlink escaping from a subdirectory", func(t *testing.T) []byte {
			return buildZip(t, link("a/l", "../../x"))
		}, `zip entry "a/l": symlink target "../../x" points outside the package root`},
		{"symlink escaping through another symlink", func(t *testing.T) []byte {
			// Lexically "sub/up/../x" is "sub/x", but sub/up is the root, so
			// the kernel resolves it to ../x.
			return buildZip(t, dir("sub/"), link("sub/up", ".."), link("l", "sub/up/../x"))
		}, `zip entry "l": symlink target "sub/up/../x" points outside the package root`},
		{"symlink chain escaping", func(t *testing.T) []byte {
			return buildZip(t, link("a", "b/c"), link("b/c", "d"), link("b/d", "../.."))
		}, `points outside the package root`},
		{"symlink loop", func(t *testing.T) []byte {
			return buildZip(t, link("a", "b"), link("b", "a"))
		}, `symlink loop`},
		{"symlink absolute backslash", func(t *testing.T) []byte { return buildZip(t, link("l", `\etc\passwd`)) }, `is an absolute path`},
		{"symlink drive letter", func(t *testing.T) []byte { return buildZip(t, link("l", `C:/Windows`)) }, `is an absolute path`},
		{"symlink backslash", func(t *testing.T) []byte { return buildZip(t, link("l", `..\..\x`)) }, `contains a backslash`},
		{"symlink empty target", func(t *testing.T) []byte { return buildZip(t, link("l", "")) }, `symlink has an empty target`},
		{"symlink NUL", func(t *testing.T) []byte { return buildZip(t, link("l", "a\x00b")) }, `symlink target contains a NUL byte`},
		{"symlink target too long", func(t *testing.T) []byte {
			return buildZip(t, link("l", strings.Repeat("a/", 2001)))
		}, `symlink target longer than 4000 bytes`},
		{"symlink with a directory name", func(t *testing.T) []byte { return buildZip(t, link("l/", "")) }, `zip entry "l/": unsupported entry type`},
		{"symlink with a backslash directory name", func(t *testing.T) []byte { return buildZip(t, link(`l\`, "x")) }, `unsupported entry type`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.data(t)
			assertUserError(t, "Check", Check(data), tc.want)

			w := newWorld(t)
			before := snapshot(t, w.root)
			assertUserError(t, "Extract", Extract(data, w.target), tc.want)
			if after := snapshot(t, w.root); !slices.Equal(before, after) {
				t.Errorf("Extract of a rejected archive changed the file system:\nbefore: %q\nafter:  %q", before, after)
			}
		})
	}
}

// TestBudgetCountsActualBytes checks the byte counter used while copying on
// its own: headers are honest here, the budget is what stops the copy.
func TestBudgetCountsActualBytes(t *testing.T) {
	data := buildZip(t, file("a", strings.Repeat("a", 600)), file("b", strings.Repeat("b", 600)))
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	budget := int64(1000)
	if err := copyEntry(io.Discard, zr.File[0], &budget); err != nil || budget != 400 {
		t.Fatalf("first entry: err %v, budget left %d; want nil, 400", err, budget)
	}
	assertUserError(t, "second entry", copyEntry(io.Discard, zr.File[1], &budget), `zip entry "b": unzipped size must not exceed`)

	// Write errors are I/O errors, not the user's fault.
	budget = 1000
	werr := errors.New("disk full")
	err = copyEntry(failWriter{werr}, zr.File[0], &budget)
	if !errors.Is(err, werr) {
		t.Fatalf("got %v, want the writer's error", err)
	}
}

// TestRootConfinesWrites feeds the extraction code plans that validation
// would never produce, to check that os.Root keeps writes inside the
// temporary directory even if validation had a bug.
func TestRootConfinesWrites(t *testing.T) {
	data := buildZip(t, file("f", "payload"))
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	zf := zr.File[0]
	tests := []struct {
		name  string
		build func(root *node)
	}{
		{"dotdot name", func(root *node) {
			n := newNode(root, "..", kindFile, "..")
			n.f, n.perm = zf, 0o444
		}},
		{"dotdot path", func(root *node) {
			n := newNode(root, "../../../../evil", kindFile, "x")
			n.f, n.perm = zf, 0o444
		}},
		{"absolute path", func(root *node) {
			n := newNode(root, "/tmp/evil", kindFile, "x")
			n.f, n.perm = zf, 0o444
		}},
		{"write through escaping symlink", func(root *node) {
			l := newNode(root, "up", kindSymlink, "up")
			l.target = "../../.."
			n := newNode(root, "up/evil", kindFile, "x")
			n.f, n.perm = zf, 0o444
		}},
		{"directory through escaping symlink", func(root *node) {
			l := newNode(root, "up", kindSymlink, "up")
			l.target = ".."
			newNode(root, "up/evil", kindDir, "x")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			tmp := filepath.Join(w.cache, "tmp")
			if err := os.Mkdir(tmp, 0o755); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { Remove(tmp) })
			before := snapshot(t, w.root)
			p := &plan{root: &node{kind: kindDir, children: map[string]*node{}}, contentBudget: MaxUnzipped}
			tc.build(p.root)
			if err := p.extractInto(tmp); err == nil {
				t.Fatal("extractInto succeeded")
			}
			for _, s := range snapshot(t, w.root) {
				if !slices.Contains(before, s) && !strings.HasPrefix(s, "a/b/parent/cache/tmp/") && !strings.HasPrefix(s, "a/b/parent/cache/tmp ") {
					t.Errorf("written outside the temporary directory: %s", s)
				}
			}
		})
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

type wantEntry struct {
	mode fs.FileMode
	body string // file content, or symlink target
}

func TestExtractValid(t *testing.T) {
	tests := []struct {
		name string
		ents []ent
		want map[string]wantEntry // every path under the target
	}{
		{
			name: "unix archive with nested dirs, executables and symlinks",
			ents: []ent{
				exe("bootstrap", "#!/bin/sh\nexec ./bin/tool\n"),
				dir("bin/"),
				exe("bin/tool", "\x7fELF..."),
				dir("bin/"), // listed twice: harmless
				file("README.md", "# hello\n"),
				{name: "config.json", body: "{}", mode: 0o666 | fs.ModeSetuid}, // writable + setuid in the zip
				file("lib/nested/deep/data.txt", "deep data"),                  // implicit parents
				file("./lib/./nested/other.txt", "other"),                      // cleaned
				file("late/x.txt", "x"),
				dir("late/"), // directory entry after its contents
				dir("empty/"),
				dir("a/b/"),
				link("a/b/readme", "../../README.md"), // relative to its own directory: inside
				link("lib/current", "nested/deep"),    // symlink to a directory
				link("data", "lib/current/data.txt"),  // chain: data -> lib/current -> lib/nested/deep
				link("lib/nested/up", "../.."),        // the root itself
				link("dangling", "does/not/exist"),    // dangling but inside: allowed
				{name: "stored.txt", body: "stored", mode: 0o644, setup: func(h *zip.FileHeader) { h.Method = zip.Store }},
			},
			want: map[string]wantEntry{
				"bootstrap":                {0o555, "#!/bin/sh\nexec ./bin/tool\n"},
				"bin":                      {fs.ModeDir | 0o555, ""},
				"bin/tool":                 {0o555, "\x7fELF..."},
				"README.md":                {0o444, "# hello\n"},
				"config.json":              {0o444, "{}"},
				"lib":                      {fs.ModeDir | 0o555, ""},
				"lib/nested":               {fs.ModeDir | 0o555, ""},
				"lib/nested/deep":          {fs.ModeDir | 0o555, ""},
				"lib/nested/deep/data.txt": {0o444, "deep data"},
				"lib/nested/other.txt":     {0o444, "other"},
				"late":                     {fs.ModeDir | 0o555, ""},
				"late/x.txt":               {0o444, "x"},
				"empty":                    {fs.ModeDir | 0o555, ""},
				"a":                        {fs.ModeDir | 0o555, ""},
				"a/b":                      {fs.ModeDir | 0o555, ""},
				"a/b/readme":               {fs.ModeSymlink, "../../README.md"},
				"lib/current":              {fs.ModeSymlink, "nested/deep"},
				"data":                     {fs.ModeSymlink, "lib/current/data.txt"},
				"lib/nested/up":            {fs.ModeSymlink, "../.."},
				"dangling":                 {fs.ModeSymlink, "does/not/exist"},
				"stored.txt":               {0o444, "stored"},
			},
		},
		{
			name: "archive made on Windows",
			ents: []ent{
				winFile("bootstrap", "binary"),
				winFile("handler.py", "def handler(e, c): pass\n"),
				winFile(`lib\util.py`, "# util\n"), // backslash separators
				winFile("sub/bootstrap", "not at the root"),
				{name: "empty/"}, // Windows directory entry
				{name: `conf\`},  // directory entry with a backslash
				winFile(`conf\app.ini`, "[app]\n"),
				winFile(`.\bootstrap2`, "x"),
			},
			want: map[string]wantEntry{
				"bootstrap":     {0o555, "binary"},
				"handler.py":    {0o444, "def handler(e, c): pass\n"},
				"lib":           {fs.ModeDir | 0o555, ""},
				"lib/util.py":   {0o444, "# util\n"},
				"sub":           {fs.ModeDir | 0o555, ""},
				"sub/bootstrap": {0o444, "not at the root"},
				"empty":         {fs.ModeDir | 0o555, ""},
				"conf":          {fs.ModeDir | 0o555, ""},
				"conf/app.ini":  {0o444, "[app]\n"},
				"bootstrap2":    {0o444, "x"},
			},
		},
		{
			name: "unix bootstrap without the executable bit stays as zipped",
			ents: []ent{file("bootstrap", "x")},
			want: map[string]wantEntry{"bootstrap": {0o444, "x"}},
		},
		{
			name: "empty archive",
			want: map[string]wantEntry{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := buildZip(t, tc.ents...)
			if err := Check(data); err != nil {
				t.Fatalf("Check: %v", err)
			}
			w := newWorld(t)
			if err := Extract(data, w.target); err != nil {
				t.Fatalf("Extract: %v", err)
			}
			assertTree(t, w.target, tc.want)

			// Nothing but the target appeared: no temporary directories left.
			wantWorld := []string{"a d", "a/b d", "a/b/parent d", "a/b/parent/cache d", "a/b/parent/cache/0123abcd d"}
			var gotWorld []string
			for _, s := range snapshot(t, w.root) {
				if !strings.HasPrefix(s, "a/b/parent/cache/0123abcd/") {
					p, mode, _ := strings.Cut(s, " ")
					gotWorld = append(gotWorld, p+" "+mode[:1])
				}
			}
			if !slices.Equal(gotWorld, wantWorld) {
				t.Errorf("world = %q, want %q", gotWorld, wantWorld)
			}

			if err := Remove(w.target); err != nil {
				t.Fatalf("Remove: %v", err)
			}
			if _, err := os.Lstat(w.target); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("target still there after Remove: %v", err)
			}
		})
	}
}

func assertTree(t *testing.T, target string, want map[string]wantEntry) {
	t.Helper()
	fi, err := os.Lstat(target)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != fs.ModeDir|0o555 {
		t.Errorf("target mode = %v, want %v", fi.Mode(), fs.ModeDir|0o555)
	}
	got := map[string]bool{}
	r, err := os.OpenRoot(target)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	walkRoot(t, r, "", func(rel string, info fs.FileInfo, dir *os.Root, name string) {
		got[rel] = true
		w, ok := want[rel]
		if !ok {
			t.Errorf("unexpected path %q", rel)
			return
		}
		mode := info.Mode()
		if w.mode == fs.ModeSymlink {
			mode &= fs.ModeType // symlink permissions are meaningless on Linux
		}
		if mode != w.mode {
			t.Errorf("%s: mode %v, want %v", rel, mode, w.mode)
		}
		switch {
		case mode&fs.ModeSymlink != 0:
			target, err := dir.Readlink(name)
			if err != nil || target != w.body {
				t.Errorf("%s: link target %q (%v), want %q", rel, target, err, w.body)
			}
		case mode.IsRegular():
			b, err := dir.ReadFile(name)
			if err != nil || string(b) != w.body {
				t.Errorf("%s: content %q (%v), want %q", rel, b, err, w.body)
			}
		}
	})
	for p := range want {
		if !got[p] {
			t.Errorf("missing %q", p)
		}
	}
}

func TestSymlinkChainResolves(t *testing.T) {
	data := buildZip(t,
		file("lib/nested/deep/data.txt", "deep data"),
		link("lib/current", "nested/deep"),
		link("data", "lib/current/data.txt"),
		link("alias", "data"))
	w := newWorld(t)
	if err := Extract(data, w.target); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(w.target, "alias"))
	if err != nil || string(b) != "deep data" {
		t.Fatalf("reading through the chain: %q, %v", b, err)
	}
}

func TestExtractExistingTarget(t *testing.T) {
	data := buildZip(t, file("index.js", "new"))
	w := newWorld(t)
	if err := os.Mkdir(w.target, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.target, "marker"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, w.root)
	if err := Extract(data, w.target); err != nil {
		t.Fatalf("Extract onto an existing target: %v", err)
	}
	if after := snapshot(t, w.root); !slices.Equal(before, after) {
		t.Errorf("Extract wrote although the target existed:\nbefore: %q\nafter:  %q", before, after)
	}
	// Metadata problems are still reported.
	assertUserError(t, "Extract", Extract(buildZip(t, file("../x", "")), w.target), "escapes")
}

func TestExtractCreatesParent(t *testing.T) {
	target := filepath.Join(t.TempDir(), "new", "cache", "h")
	if err := Extract(buildZip(t, exe("bootstrap", "x")), target); err != nil {
		t.Fatal(err)
	}
	assertTree(t, target, map[string]wantEntry{"bootstrap": {0o555, "x"}})
	if err := Remove(target); err != nil {
		t.Fatal(err)
	}
}

func TestExtractConcurrent(t *testing.T) {
	data := buildZip(t, exe("bootstrap", "x"), file("lib/a.txt", "a"), link("b", "lib/a.txt"))
	w := newWorld(t)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { errs[i] = Extract(data, w.target) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Extract #%d: %v", i, err)
		}
	}
	entries, err := os.ReadDir(w.cache)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != filepath.Base(w.target) {
		t.Errorf("cache contains %v, want only the target", entries)
	}
	assertTree(t, w.target, map[string]wantEntry{
		"bootstrap": {0o555, "x"},
		"lib":       {fs.ModeDir | 0o555, ""},
		"lib/a.txt": {0o444, "a"},
		"b":         {fs.ModeSymlink, "lib/a.txt"},
	})
}

func TestRemove(t *testing.T) {
	w := newWorld(t)
	if err := Remove(w.target); err != nil {
		t.Fatalf("Remove of a missing directory: %v", err)
	}
	// A leftover temporary directory from a crash: read-only, with a symlink
	// that must not be followed.
	outside := filepath.Join(w.root, "outside")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	leftover := filepath.Join(w.cache, ".0123abcd.tmp-42")
	for _, d := range []string{leftover, leftover + "/x", leftover + "/x/y"} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(leftover+"/x/y/f", []byte("f"), 0o444)
	os.Symlink(outside, leftover+"/x/out")
	for _, d := range []string{leftover + "/x/y", leftover + "/x", leftover} {
		os.Chmod(d, 0o555)
	}
	if err := Remove(leftover); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(leftover); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("leftover still exists: %v", err)
	}
	if fi, err := os.Stat(outside); err != nil || fi.Mode() != fs.ModeDir|0o755 {
		t.Fatalf("symlink target outside was touched: %v %v", fi, err)
	}
}

// fuzzSeeds are archives worth mutating: valid ones and near misses.
func fuzzSeeds(t testing.TB) [][]byte {
	return [][]byte{
		buildZip(t, exe("bootstrap", "#!/bin/sh\n"), dir("bin/"), file("lib/a/b.txt", "b"), link("lib/c", "a/b.txt"), link("d", "lib/c")),
		buildZip(t, winFile("bootstrap", "x"), winFile(`lib\x.py`, "y")),
		buildZip(t, dir("sub/"), link("sub/up", ".."), link("l", "sub/up/x")),
		buildZip(t, link("a/b/l", "../../x"), file("x", "x")),
		buildZip(t, file("../evil", "x")),
		buildZip(t, link("passwd", "/etc/passwd")),
		buildZip(t, link("a", "b"), link("b", "a")),
		buildZip(t, ent{name: "s.txt", body: "stored", mode: 0o644, setup: func(h *zip.FileHeader) { h.Method = zip.Store }}),
		[]byte("not a zip"),
	}
}

func FuzzCheck(f *testing.F) {
	// fsync dominates the cost of extracting tiny archives; the fuzzer is
	// after logic errors, not durability.
	syncToDisk = false
	f.Cleanup(func() { syncToDisk = true })
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	// One scratch tree per fuzz worker: a fresh one per input would make
	// most of the time go into creating and deleting directories.
	w := newWorld(f)
	pristine := snapshot(f, w.root)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkErr := Check(data)
		if checkErr != nil {
			var ue *Error
			if !errors.As(checkErr, &ue) {
				t.Fatalf("Check returned %T %v, want *Error", checkErr, checkErr)
			}
		}
		extractErr := Extract(data, w.target)
		if checkErr != nil {
			var ue *Error
			if !errors.As(extractErr, &ue) {
				Remove(w.target)
				t.Fatalf("Check rejected (%v) but Extract returned %v", checkErr, extractErr)
			}
			if got := snapshot(t, w.root); !slices.Equal(got, pristine) {
				t.Fatalf("rejected archive changed the file system: %q", got)
			}
			return
		}
		if extractErr != nil {
			t.Fatalf("Check accepted but Extract failed: %v", extractErr)
		}
		defer func() {
			if err := Remove(w.target); err != nil {
				t.Fatalf("Remove: %v", err)
			}
		}()
		// Everything created is inside the target.
		var outside []string
		for _, s := range snapshot(t, w.root) {
			if p, _, _ := strings.Cut(s, " "); p != "a/b/parent/cache/0123abcd" && !strings.HasPrefix(p, "a/b/parent/cache/0123abcd/") {
				outside = append(outside, s)
			}
		}
		if !slices.Equal(outside, pristine) {
			t.Fatalf("paths outside the target: %q, want %q", outside, pristine)
		}
		assertConfined(t, w.target)
	})
}

// assertConfined checks, on the real file system and independently of the
// package's own resolver, that no symlink under dir resolves outside it and
// that nothing is writable or set-uid.
func assertConfined(t *testing.T, dir string) {
	t.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	walkRoot(t, root, "", func(p string, info fs.FileInfo, _ *os.Root, _ string) {
		mode := info.Mode()
		switch {
		case mode&fs.ModeSymlink != 0:
			if !resolvesInside(root, p) {
				target, _ := root.Readlink(p)
				t.Errorf("symlink %q -> %q resolves outside the target", p, target)
			}
		case mode.IsDir():
			if mode.Perm() != 0o555 {
				t.Errorf("directory %q has mode %v", p, mode)
			}
		case mode.IsRegular():
			if perm := mode &^ fs.ModeType; perm != 0o555 && perm != 0o444 {
				t.Errorf("file %q has mode %v", p, mode)
			}
		default:
			t.Errorf("%q has unexpected type %v", p, mode)
		}
	})
	if fi, err := root.Stat("."); err != nil || fi.Mode() != fs.ModeDir|0o555 {
		t.Errorf("target: %v, %v; want a directory with mode 0o555", fi, err)
	}
}

// resolvesInside follows the symlink at name the way the kernel would, using
// the file system itself, and reports whether it stays below root. Missing
// components are followed lexically, which is stricter than the kernel.
func resolvesInside(root *os.Root, name string) bool {
	var stack []string
	if d := path.Dir(name); d != "." {
		stack = strings.Split(d, "/")
	}
	target, err := root.Readlink(name)
	if err != nil {
		return false
	}
	pending := [][]string{strings.Split(target, "/")}
	for hops := 0; len(pending) > 0; {
		top := &pending[len(pending)-1]
		if len(*top) == 0 {
			pending = pending[:len(pending)-1]
			continue
		}
		c := (*top)[0]
		*top = (*top)[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(stack) == 0 {
				return false
			}
			stack = stack[:len(stack)-1]
			continue
		}
		cand := path.Join(append(slices.Clone(stack), c)...)
		if fi, err := root.Lstat(cand); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			if hops++; hops > 40 {
				return false
			}
			t, err := root.Readlink(cand)
			if err != nil || path.IsAbs(t) {
				return false
			}
			pending = append(pending, strings.Split(t, "/"))
			continue
		}
		stack = append(stack, c)
	}
	return true
}
