// Package unzip checks and unpacks Lambda deployment packages (zip archives)
// without trusting anything inside them.
//
// # Contract
//
// [Check] validates an archive entirely in memory and writes nothing. An
// archive is accepted only if all of the following hold:
//
//   - len(data) <= [MaxZipped] and data is a readable zip archive;
//   - the uncompressed sizes declared in the headers add up to at most
//     [MaxUnzipped], and so do the bytes actually produced by decompressing
//     every entry (headers are not trusted: every entry is decompressed, and
//     its size and CRC-32 are verified);
//   - no entry is encrypted or uses a compression method other than Store or
//     Deflate;
//   - every entry name is relative (no leading "/" or "\", no drive letter
//     such as "C:"), contains no NUL byte, has no ".." component that climbs
//     above the root, and is not longer than the platform can represent.
//     Backslashes in names are treated as path separators, as produced by
//     some Windows zip tools;
//   - every entry is a regular file, a directory or a symbolic link (devices,
//     pipes and sockets are rejected);
//   - the tree has at most 1<<20 files, directories and symlinks (counting
//     parent directories the archive does not list) and is at most 256
//     levels deep, which bounds the work Extract does for any archive;
//   - no two entries conflict: the same path twice (other than a directory
//     listed twice), a file and a directory at the same path, or an entry
//     below a file or a symlink (nothing is ever written through a symlink);
//   - every symlink target (the entry's content) is non-empty, relative, free
//     of NUL bytes and backslashes, and — resolved from the symlink's own
//     directory, following the archive's other symlinks the way the kernel
//     would — never leaves the root. Chains of symlinks inside the root are
//     fine; loops and chains deeper than the kernel follows are rejected.
//
// Every rejection is an [*Error] whose Message is safe to return to the
// client and names the offending entry where there is one. Check returns no
// other kind of error.
//
// [Extract] performs the same checks and unpacks the archive into a fresh
// directory. The archive is unpacked into a temporary sibling of the target,
// flushed to stable storage and renamed into place, so the target path
// either does not exist or holds the complete package, even after a crash.
// Every file-system operation inside the temporary directory goes through
// an [os.Root], so nothing can be created outside it even if validation
// were wrong. The unpacked tree is read-only: files are 0o555 if any
// executable bit is set in the zip and 0o444 otherwise, directories are
// 0o555. Entries without Unix mode bits (archives made on Windows) get 0o444,
// except a regular file named "bootstrap" at the root, which gets 0o555 so
// that custom runtimes zipped on Windows can still start. Set-uid, set-gid
// and sticky bits are never reproduced. Parent directories that are not
// listed in the archive are created implicitly.
//
// Targets are content-addressed: if the target already exists, Extract
// assumes another caller unpacked the same content and returns nil without
// writing. Metadata problems (names, sizes in headers, symlinks) are
// reported before anything is written; corrupt compressed data is detected
// while unpacking, in which case the temporary directory is removed again
// and only the target's parent directory (created if missing) remains.
//
// Because the result is read-only, use [Remove] rather than os.RemoveAll to
// delete an unpacked package. A crash during Extract can leave a temporary
// directory named ".<target>.tmp-*" next to the target; Remove deletes those
// too.
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
	"path/filepath"
	"strings"
)

const (
	MaxZipped   = 50 << 20  // 50 MB, Lambda's direct-upload limit
	MaxUnzipped = 250 << 20 // 250 MB
)

const (
	// maxPathLen bounds entry names (after cleaning) and symlink targets. It
	// leaves room below Linux's PATH_MAX (4096) for the directory the code is
	// mounted at.
	maxPathLen = 4000
	// maxComponentLen is NAME_MAX on Linux file systems.
	maxComponentLen = 255
	// maxSymlinkHops is the number of symlinks Linux follows while resolving
	// one path before giving up with ELOOP.
	maxSymlinkHops = 40
	// maxResolveSteps bounds the total work spent resolving all symlinks of
	// one archive, so that crafted archives cannot make Check slow.
	maxResolveSteps = 1 << 24
	// maxNodes bounds the number of files, directories and symlinks an
	// archive may create, including implicit parent directories (which cost
	// nothing in the archive).
	maxNodes = 1 << 20
	// maxDepth bounds the number of components in an entry name. Extract
	// keeps one directory open per level.
	maxDepth = 256
)

// Error is a user's mistake in the archive; Message is safe to show to the
// client and names the offending entry.
type Error struct{ Message string }

func (e *Error) Error() string { return e.Message }

func userErr(format string, args ...any) *Error {
	return &Error{Message: fmt.Sprintf(format, args...)}
}

func entryErr(name, format string, args ...any) *Error {
	return &Error{Message: "zip entry " + quote(name) + ": " + fmt.Sprintf(format, args...)}
}

// quote quotes a name from the archive for an error message, shortening it
// if needed: zip entry names can be up to 64 KB long.
func quote(s string) string {
	const max = 200
	if len(s) > max {
		return fmt.Sprintf("%q...", s[:max])
	}
	return fmt.Sprintf("%q", s)
}

// Check validates an archive without writing anything. See the package
// documentation for the rules. It returns nil or an [*Error].
func Check(data []byte) error {
	p, err := newPlan(data)
	if err != nil {
		return err
	}
	budget := p.contentBudget
	for _, n := range p.files {
		if err := copyEntry(io.Discard, n.f, &budget); err != nil {
			return err
		}
	}
	return nil
}

// Extract checks data (as [Check]) and unpacks it into dir, which must not
// exist yet. If dir already exists, Extract returns nil without writing.
// Errors caused by the archive are [*Error]; anything else is an I/O error.
func Extract(data []byte, dir string) error {
	dir = filepath.Clean(dir)
	base := filepath.Base(dir)
	if base == "." || base == ".." || base == string(filepath.Separator) {
		return fmt.Errorf("unzip: invalid target directory %q", dir)
	}
	p, err := newPlan(data)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(dir); err == nil {
		return nil // someone else already unpacked the same content
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	prefix := base
	if len(prefix) > 200 { // leave room for the suffix below NAME_MAX
		prefix = prefix[:200]
	}
	tmp, err := os.MkdirTemp(parent, "."+prefix+".tmp-")
	if err != nil {
		return err
	}
	if err := p.extractInto(tmp); err != nil {
		_ = Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		_ = Remove(tmp)
		if _, serr := os.Lstat(dir); serr == nil {
			return nil // lost the race; the winner's copy is identical
		}
		return err
	}
	return syncPath(parent)
}

// Remove deletes a directory tree created by [Extract] (or a temporary
// directory left behind by a crash), first making its directories writable
// again. It returns nil if dir does not exist.
func Remove(dir string) error {
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	if !fi.IsDir() {
		return os.Remove(dir)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	werr := makeWritable(root)
	root.Close()
	if err := os.RemoveAll(dir); err != nil {
		return errors.Join(err, werr)
	}
	return nil
}

// makeWritable gives the owner full access to every directory under r,
// without following symlinks. It works one directory at a time so that it
// copes with any name and any path length.
func makeWritable(r *os.Root) error {
	if err := r.Chmod(".", 0o700); err != nil {
		return err
	}
	d, err := r.Open(".")
	if err != nil {
		return err
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	for _, e := range entries {
		if !e.IsDir() { // false for symlinks
			continue
		}
		sub, serr := r.OpenRoot(e.Name())
		if serr == nil {
			serr = makeWritable(sub)
			sub.Close()
		}
		err = errors.Join(err, serr)
	}
	return err
}

// kind is the type of a node in the archive's file tree.
type kind uint8

const (
	kindDir kind = iota
	kindFile
	kindSymlink
)

// node is one path in the tree the archive describes.
type node struct {
	kind     kind
	name     string // last path component
	path     string // cleaned, slash-separated, relative to the root
	entry    string // name of the zip entry that created it; "" for implicit dirs
	parent   *node
	children map[string]*node // directories only
	order    []*node          // children in the order they were added
	f        *zip.File        // files only
	perm     fs.FileMode      // files only
	target   string           // symlinks only
}

// plan is a validated archive: everything except the compressed contents of
// regular files has been checked.
type plan struct {
	root          *node
	files         []*node // regular files in archive order
	contentBudget int64   // bytes regular files may still expand to
}

func newPlan(data []byte) (*plan, error) {
	if len(data) > MaxZipped {
		return nil, userErr("zip file is %d bytes; it must not be larger than %d bytes (50 MB)", len(data), MaxZipped)
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		// zip.ErrInsecurePath (GODEBUG=zipinsecurepath=0) comes with a usable
		// reader; the names are checked below with better messages.
		return nil, userErr("not a valid zip file: %v", err)
	}

	var declared uint64
	for _, f := range zr.File {
		if f.UncompressedSize64 > MaxUnzipped-declared {
			return nil, userErr("unzipped size must not exceed %d bytes (250 MB); entry %s takes it over the limit", MaxUnzipped, quote(f.Name))
		}
		declared += f.UncompressedSize64
	}

	root := &node{kind: kindDir, children: map[string]*node{}}
	p := &plan{root: root}
	nodes := 0
	var links []*node
	var linkBytes int64
	for _, f := range zr.File {
		name := f.Name
		if f.Flags&0x1 != 0 {
			return nil, entryErr(name, "encrypted entries are not supported")
		}
		mode := f.Mode()
		// Like "/", a trailing "\" (from Windows tools) marks a directory.
		dirName := strings.HasSuffix(name, "/") || strings.HasSuffix(name, `\`)
		var k kind
		switch {
		case mode&fs.ModeSymlink != 0 && !dirName:
			k = kindSymlink
		case mode&fs.ModeSymlink != 0:
			return nil, entryErr(name, "unsupported entry type (symlink with a directory name)")
		case mode.IsDir() || dirName && mode.IsRegular():
			k = kindDir
		case mode&fs.ModeType != 0:
			return nil, entryErr(name, "unsupported entry type %v (only files, directories and symlinks are allowed)", mode.Type())
		default:
			k = kindFile
		}
		if k != kindDir && f.Method != zip.Store && f.Method != zip.Deflate {
			return nil, entryErr(name, "unsupported compression method %d (only store and deflate are supported)", f.Method)
		}
		comps, problem := splitName(name)
		if problem != "" {
			return nil, entryErr(name, "%s", problem)
		}
		if len(comps) == 0 {
			if k == kindDir {
				continue // the root itself, e.g. "./"
			}
			return nil, entryErr(name, "name does not refer to a file")
		}

		if len(comps) > maxDepth {
			return nil, entryErr(name, "path is more than %d directories deep", maxDepth)
		}
		dir := root
		for _, c := range comps[:len(comps)-1] {
			child := dir.children[c]
			if child == nil {
				if nodes++; nodes > maxNodes {
					return nil, entryErr(name, "the archive has more than %d files and directories", maxNodes)
				}
				child = newNode(dir, c, kindDir, "")
			} else if child.kind != kindDir {
				return nil, entryErr(name, "parent %s is a %s in this archive", quote(child.path), child.kind.noun())
			}
			dir = child
		}
		last := comps[len(comps)-1]
		existing := dir.children[last]
		if existing != nil {
			if k == kindDir && existing.kind == kindDir {
				if existing.entry == "" {
					existing.entry = name
				}
				continue // directory listed twice, or after its contents
			}
			what := existing.kind.noun()
			if existing.entry != "" {
				what = fmt.Sprintf("%s (entry %s)", what, quote(existing.entry))
			}
			return nil, entryErr(name, "conflicts with %s at the same path %s", what, quote(existing.path))
		}
		if nodes++; nodes > maxNodes {
			return nil, entryErr(name, "the archive has more than %d files and directories", maxNodes)
		}
		n := newNode(dir, last, k, name)
		switch k {
		case kindFile:
			n.f = f
			n.perm = filePerm(&f.FileHeader, n.path)
			p.files = append(p.files, n)
		case kindSymlink:
			target, err := readLink(f)
			if err != nil {
				return nil, err
			}
			n.target = target
			linkBytes += int64(len(target))
			links = append(links, n)
		}
	}

	steps := maxResolveSteps
	var r resolver
	for _, l := range links {
		if err := r.check(l, &steps); err != nil {
			return nil, err
		}
	}
	p.contentBudget = MaxUnzipped - linkBytes
	return p, nil
}

func newNode(parent *node, name string, k kind, entry string) *node {
	n := &node{kind: k, name: name, parent: parent, entry: entry}
	if parent.path == "" {
		n.path = name
	} else {
		n.path = parent.path + "/" + name
	}
	if k == kindDir {
		n.children = map[string]*node{}
	}
	parent.children[name] = n
	parent.order = append(parent.order, n)
	return n
}

func (k kind) noun() string {
	switch k {
	case kindFile:
		return "file"
	case kindSymlink:
		return "symlink"
	}
	return "directory"
}

// splitName validates an entry name and returns its cleaned components, or a
// description of the problem.
func splitName(name string) (comps []string, problem string) {
	if name == "" {
		return nil, "empty name"
	}
	if strings.IndexByte(name, 0) >= 0 {
		return nil, "name contains a NUL byte"
	}
	n := strings.ReplaceAll(name, `\`, "/")
	if n[0] == '/' {
		return nil, "absolute paths are not allowed"
	}
	if hasDriveLetter(n) {
		return nil, "absolute paths (drive letters) are not allowed"
	}
	size := 0
	for _, c := range strings.Split(n, "/") {
		switch c {
		case "", ".":
			continue
		case "..":
			if len(comps) == 0 {
				return nil, "path escapes the package root"
			}
			size -= len(comps[len(comps)-1]) + 1
			comps = comps[:len(comps)-1]
			continue
		}
		if len(c) > maxComponentLen {
			return nil, fmt.Sprintf("path component longer than %d bytes", maxComponentLen)
		}
		comps = append(comps, c)
		size += len(c) + 1
		if size-1 > maxPathLen {
			return nil, fmt.Sprintf("path longer than %d bytes", maxPathLen)
		}
	}
	return comps, ""
}

func hasDriveLetter(s string) bool {
	return len(s) >= 2 && s[1] == ':' && ('a' <= s[0] && s[0] <= 'z' || 'A' <= s[0] && s[0] <= 'Z')
}

// hasUnixMode reports whether the header carries Unix permission bits.
// Archives made on Windows (FAT/NTFS creators) or with an all-zero Unix mode
// do not.
func hasUnixMode(h *zip.FileHeader) bool {
	const creatorUnix, creatorMacOSX = 3, 19
	c := h.CreatorVersion >> 8
	return (c == creatorUnix || c == creatorMacOSX) && h.ExternalAttrs>>16 != 0
}

func filePerm(h *zip.FileHeader, path string) fs.FileMode {
	if hasUnixMode(h) {
		if h.Mode().Perm()&0o111 != 0 {
			return 0o555
		}
		return 0o444
	}
	if path == "bootstrap" {
		return 0o555
	}
	return 0o444
}

// readLink reads and validates a symlink entry's target, except for where it
// resolves to (see resolver).
func readLink(f *zip.File) (string, error) {
	rc, err := f.Open()
	if err != nil {
		return "", contentErr(f, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxPathLen+1))
	if err != nil {
		return "", contentErr(f, err)
	}
	// Fewer than maxPathLen+1 bytes means rc reached EOF, so its size and
	// CRC-32 have been verified.
	switch t := string(b); {
	case len(b) > maxPathLen:
		return "", entryErr(f.Name, "symlink target longer than %d bytes", maxPathLen)
	case t == "":
		return "", entryErr(f.Name, "symlink has an empty target")
	case strings.IndexByte(t, 0) >= 0:
		return "", entryErr(f.Name, "symlink target contains a NUL byte")
	case t[0] == '/' || t[0] == '\\' || hasDriveLetter(t):
		return "", entryErr(f.Name, "symlink target %s is an absolute path", quote(t))
	case strings.IndexByte(t, '\\') >= 0:
		return "", entryErr(f.Name, "symlink target %s contains a backslash", quote(t))
	default:
		return t, nil
	}
}

// resolver follows a symlink through the archive's tree the way the kernel
// would once the tree is on disk, and reports an error if it ever climbs
// above the root. Paths through missing entries or files are followed
// lexically; the kernel would fail on them instead, so this only ever rejects
// more than necessary.
type resolver struct {
	stack   []*node    // resolved position; nil for a path that does not exist
	pending [][]string // component lists still to walk, innermost last
}

func (r *resolver) check(link *node, steps *int) error {
	r.stack = r.stack[:0]
	for n := link.parent; n != nil; n = n.parent {
		r.stack = append(r.stack, n)
	}
	for i, j := 0, len(r.stack)-1; i < j; i, j = i+1, j-1 {
		r.stack[i], r.stack[j] = r.stack[j], r.stack[i]
	}
	r.pending = append(r.pending[:0], strings.Split(link.target, "/"))
	hops := 0
	for len(r.pending) > 0 {
		top := &r.pending[len(r.pending)-1]
		if len(*top) == 0 {
			r.pending = r.pending[:len(r.pending)-1]
			continue
		}
		c := (*top)[0]
		*top = (*top)[1:]
		if *steps--; *steps < 0 {
			return entryErr(link.entry, "the archive's symlinks are too complex to verify")
		}
		switch c {
		case "", ".":
			continue
		case "..":
			if len(r.stack) == 1 {
				return entryErr(link.entry, "symlink target %s points outside the package root", quote(link.target))
			}
			r.stack = r.stack[:len(r.stack)-1]
			continue
		}
		var child *node
		if cur := r.stack[len(r.stack)-1]; cur != nil && cur.kind == kindDir {
			child = cur.children[c]
		}
		if child != nil && child.kind == kindSymlink {
			if hops++; hops > maxSymlinkHops {
				return entryErr(link.entry, "symlink target %s is a symlink loop or chain longer than %d links", quote(link.target), maxSymlinkHops)
			}
			r.pending = append(r.pending, strings.Split(child.target, "/"))
			continue
		}
		r.stack = append(r.stack, child)
	}
	return nil
}

// budgetWriter counts the bytes written through it and fails once more than
// remaining bytes have been written, whatever the headers claimed. It
// remembers write errors so they can be told apart from read errors.
type budgetWriter struct {
	w         io.Writer
	remaining int64
	over      bool
	err       error
}

var errBudget = errors.New("unzipped size limit exceeded")

func (b *budgetWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > b.remaining {
		b.over = true
		return 0, errBudget
	}
	b.remaining -= int64(len(p))
	n, err := b.w.Write(p)
	if err != nil {
		b.err = err
	}
	return n, err
}

// copyEntry decompresses f into dst, verifying its size and checksum and
// charging the bytes produced against *budget.
func copyEntry(dst io.Writer, f *zip.File, budget *int64) error {
	rc, err := f.Open()
	if err != nil {
		return contentErr(f, err)
	}
	defer rc.Close()
	bw := &budgetWriter{w: dst, remaining: *budget}
	_, err = io.Copy(bw, rc)
	*budget = bw.remaining
	switch {
	case bw.over:
		return entryErr(f.Name, "unzipped size must not exceed %d bytes (250 MB)", MaxUnzipped)
	case bw.err != nil:
		return bw.err // writing failed: not the archive's fault
	case err != nil:
		return contentErr(f, err)
	}
	return nil
}

// contentErr describes a failure to read an entry's data.
func contentErr(f *zip.File, err error) *Error {
	var corrupt flate.CorruptInputError
	switch {
	case errors.Is(err, zip.ErrAlgorithm):
		return entryErr(f.Name, "unsupported compression method %d", f.Method)
	case errors.Is(err, zip.ErrChecksum):
		return entryErr(f.Name, "checksum mismatch; the archive is corrupt")
	case errors.Is(err, zip.ErrFormat), errors.Is(err, io.ErrUnexpectedEOF):
		return entryErr(f.Name, "data is corrupt or its size does not match the header")
	case errors.As(err, &corrupt):
		return entryErr(f.Name, "compressed data is corrupt")
	}
	return entryErr(f.Name, "cannot read data: %v", err)
}

// extractInto unpacks the plan into the empty directory tmp and makes the
// result read-only and durable. It walks the tree depth-first with one
// os.Root per directory level, so each operation is a single *at system call
// on a single name, confined to that directory.
func (p *plan) extractInto(tmp string) error {
	root, err := os.OpenRoot(tmp)
	if err != nil {
		return err
	}
	defer root.Close()
	budget := p.contentBudget
	if err := writeDir(root, p.root, &budget); err != nil {
		return err
	}
	return finishDir(root, p.root)
}

// writeDir creates d's children inside r, which is d.
func writeDir(r *os.Root, d *node, budget *int64) error {
	for _, c := range d.order {
		switch c.kind {
		case kindDir:
			if err := r.Mkdir(c.name, 0o755); err != nil {
				return err
			}
			sub, err := r.OpenRoot(c.name)
			if err != nil {
				return err
			}
			err = writeDir(sub, c, budget)
			sub.Close()
			if err != nil {
				return err
			}
		case kindSymlink:
			if err := r.Symlink(c.target, c.name); err != nil {
				return err
			}
		case kindFile:
			f, err := r.OpenFile(c.name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, c.perm)
			if err != nil {
				return err
			}
			err = copyEntry(f, c.f, budget)
			if err == nil {
				err = f.Chmod(c.perm) // the umask may have cleared bits
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// finishDir flushes everything below d to stable storage, then makes d
// read-only and flushes d itself. All data was written before the first
// fsync, so on journaling file systems the first one commits nearly
// everything and the rest are cheap.
func finishDir(r *os.Root, d *node) error {
	for _, c := range d.order {
		switch c.kind {
		case kindFile:
			if err := syncIn(r, c.name); err != nil {
				return err
			}
		case kindDir:
			sub, err := r.OpenRoot(c.name)
			if err != nil {
				return err
			}
			err = finishDir(sub, c)
			sub.Close()
			if err != nil {
				return err
			}
		}
	}
	if err := r.Chmod(".", 0o555); err != nil {
		return err
	}
	return syncIn(r, ".")
}

// syncToDisk can be turned off by tests that extract many tiny archives.
var syncToDisk = true

func syncIn(root *os.Root, name string) error {
	if !syncToDisk {
		return nil
	}
	f, err := root.Open(name)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncPath(name string) error {
	if !syncToDisk {
		return nil
	}
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
