package sandbox

import (
	"bytes"
	"os"
	"sync"
	"syscall"
	"time"
)

const maxLine = 256 << 10

// output reads a process's combined stdout/stderr pipe and splits it into lines.
//
// The pipe's read end is non-blocking and polled by the runtime network poller.
// Both the reader goroutine and flush read it under mu, so flush can drain
// whatever is buffered in the pipe right now: it is the only way to be sure that
// everything a process printed before it answered an invocation is attributed to
// that invocation.
type output struct {
	f    *os.File
	fd   int
	emit func([]byte)
	eof  chan struct{}

	mu      sync.Mutex
	partial []byte // guarded by mu
	buf     []byte // guarded by mu
	closed  bool   // guarded by mu
}

func newOutput(f *os.File, emit func([]byte)) (*output, error) {
	if emit == nil {
		emit = func([]byte) {}
	}
	o := &output{f: f, emit: emit, eof: make(chan struct{}), buf: make([]byte, 64<<10)}
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	if err := rc.Control(func(fd uintptr) { o.fd = int(fd) }); err != nil {
		return nil, err
	}
	go o.run(rc)
	return o, nil
}

func (o *output) run(rc syscall.RawConn) {
	defer close(o.eof)
	rc.Read(func(uintptr) bool {
		o.mu.Lock()
		defer o.mu.Unlock()
		return o.drainLocked()
	})
	o.mu.Lock()
	o.closed = true
	o.endLocked()
	o.mu.Unlock()
	o.f.Close()
}

// drainLocked reads until the pipe is empty. It reports true at end of file.
func (o *output) drainLocked() bool {
	if o.closed {
		return true
	}
	for {
		n, err := syscall.Read(o.fd, o.buf)
		if n > 0 {
			o.splitLocked(o.buf[:n])
			continue
		}
		if err == syscall.EAGAIN {
			return false
		}
		if err == syscall.EINTR {
			continue
		}
		o.closed = true
		return true
	}
}

func (o *output) splitLocked(b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			o.partial = append(o.partial, b...)
			if len(o.partial) >= maxLine {
				o.emit(o.partial)
				o.partial = o.partial[:0]
			}
			return
		}
		if len(o.partial) > 0 {
			o.partial = append(o.partial, b[:i]...)
			o.emit(o.partial)
			o.partial = o.partial[:0]
		} else {
			o.emit(b[:i])
		}
		b = b[i+1:]
	}
}

func (o *output) endLocked() {
	if len(o.partial) > 0 {
		o.emit(o.partial)
		o.partial = o.partial[:0]
	}
}

// flush delivers everything written so far, including a final partial line.
func (o *output) flush() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.drainLocked()
	o.endLocked()
}

// wait waits for end of file on the pipe, at most d.
func (o *output) wait(d time.Duration) {
	select {
	case <-o.eof:
	case <-time.After(d):
		o.f.SetReadDeadline(time.Now())
		<-o.eof
	}
}
