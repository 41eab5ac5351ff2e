package dev

import (
	"context"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// ignoredDirs are directories whose changes never matter: version control,
// nimbus's own data, build outputs and caches.
var ignoredDirs = map[string]bool{
	".git": true, ".hg": true, ".svn": true, ".nimbus": true, ".aws-sam": true,
	"__pycache__": true, ".pytest_cache": true, ".mypy_cache": true, ".idea": true, ".vscode": true,
}

// ignoredFile reports whether a file name is an editor's temporary or
// backup file (vim's swap files and its 4913 probe, emacs's locks and
// autosaves, JetBrains' safe-write copies, `~` backups) or a compiled
// Python file: editors write and rename these around every save.
func ignoredFile(name string) bool {
	switch {
	case name == "4913", name == ".DS_Store",
		strings.HasSuffix(name, "~"),
		strings.HasPrefix(name, ".#"),
		strings.HasPrefix(name, "#") && strings.HasSuffix(name, "#"),
		strings.HasSuffix(name, ".swp"), strings.HasSuffix(name, ".swx"), strings.HasSuffix(name, ".swo"),
		strings.HasSuffix(name, "___jb_tmp___"), strings.HasSuffix(name, "___jb_old___"),
		strings.HasSuffix(name, ".pyc"):
		return true
	}
	return false
}

// watcher watches directory trees for changes, recursively (inotify is not),
// and delivers debounced batches of changed paths.
//
// node_modules directories are watched one level deep: installing or
// removing a package changes that level (and .package-lock.json in it),
// while watching every file of every dependency would exhaust inotify's
// watches for nothing.
type watcher struct {
	w       *fsnotify.Watcher
	skip    func(path string) bool // extra paths to ignore (the data dir)
	watched map[string]bool        // directories watched; owned by the caller of sync and run
}

func newWatcher(skip func(string) bool) (*watcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	return &watcher{w: w, skip: skip, watched: map[string]bool{}}, nil
}

func (w *watcher) close() { w.w.Close() }

// add watches root and every directory below it that matters. A root that
// does not exist is ignored (a CodeUri not written yet).
func (w *watcher) add(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if w.ignoredDir(p) {
			return fs.SkipDir
		}
		if !w.watched[p] {
			if err := w.w.Add(p); err != nil {
				return err
			}
			w.watched[p] = true
		}
		if d.Name() == "node_modules" {
			return fs.SkipDir
		}
		return nil
	})
}

func (w *watcher) ignoredDir(p string) bool {
	return ignoredDirs[filepath.Base(p)] || w.skip(p) || filepath.Base(filepath.Dir(p)) == "node_modules"
}

// relevant reports whether an event on path can change what is deployed.
func (w *watcher) relevant(p string) bool {
	if ignoredFile(filepath.Base(p)) || w.skip(p) {
		return false
	}
	for dir := filepath.Dir(p); dir != "/" && dir != "."; dir = filepath.Dir(dir) {
		if ignoredDirs[filepath.Base(dir)] {
			return false
		}
		if filepath.Base(filepath.Dir(dir)) == "node_modules" {
			return false // inside a dependency
		}
	}
	return true
}

// Debouncing: a batch is delivered once no event came for quiet, or maxWait
// after its first event, whichever is first. Editors save in bursts (write a
// temporary file, rename it over the original, touch a backup) within a few
// milliseconds.
const (
	quiet   = 40 * time.Millisecond
	maxWait = 500 * time.Millisecond
)

// batch is a set of changed paths and when the first change was seen.
type batch struct {
	first time.Time
	paths map[string]bool
}

// next waits for the next batch of relevant changes. New directories are
// watched as they appear. It returns ctx's error when ctx ends, or the
// watcher's.
func (w *watcher) next(ctx context.Context) (batch, error) {
	b := batch{paths: map[string]bool{}}
	var timer <-chan time.Time
	var deadline time.Time
	for {
		select {
		case <-ctx.Done():
			return b, ctx.Err()
		case err, ok := <-w.w.Errors:
			if !ok {
				return b, context.Canceled
			}
			return b, err
		case ev, ok := <-w.w.Events:
			if !ok {
				return b, context.Canceled
			}
			if ev.Op == fsnotify.Chmod || !w.relevant(ev.Name) {
				continue
			}
			if ev.Op.Has(fsnotify.Create) {
				// A new directory (mkdir, git checkout, a package installed):
				// watch it and what it already holds.
				w.add(ev.Name)
			}
			if ev.Op.Has(fsnotify.Remove) || ev.Op.Has(fsnotify.Rename) {
				delete(w.watched, ev.Name)
			}
			now := time.Now()
			if len(b.paths) == 0 {
				b.first, deadline = now, now.Add(maxWait)
			}
			b.paths[ev.Name] = true
			wait := min(quiet, time.Until(deadline))
			timer = time.After(max(wait, 0))
		case <-timer:
			return b, nil
		}
	}
}
