package runtimeapi

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// StreamWriter receives a streamed response: Begin exactly once, with the
// response's content type, before the first Write; then the body bytes in
// order. Calls happen on the runtime's request goroutine and never after
// Invoke has returned. A Write error (the client went away) is not the
// function's failure: the rest of the body is read and dropped.
type StreamWriter interface {
	Begin(contentType string)
	Write(p []byte) (int, error)
}

// streamBuffer is how much of a streamed body is read (and forwarded) at once.
const streamBuffer = 32 << 10

// streamResponse forwards a /response body to c.inv.Stream as it arrives,
// whatever the Response-Mode header says (aws-lambda-go streams an io.Reader
// result without setting it). Up to lambda.MaxStreamedResponse bytes are
// forwarded; beyond, the invocation fails with Function.ResponseSizeTooLarge.
// An error trailer ends the invocation with that error; Result.Streamed tells
// whether any byte had been forwarded before it.
func (s *Server) streamResponse(w http.ResponseWriter, r *http.Request, c *call) {
	out := streamOut{c: c, contentType: r.Header.Get("Content-Type")}
	if out.contentType == "" {
		out.contentType = "application/octet-stream"
	}
	buf := make([]byte, streamBuffer)
	var n int64
	var res Result
	for {
		k, err := r.Body.Read(buf)
		if k > 0 {
			n += int64(k)
			if n > s.maxStream() {
				res = errorResult(errTypeSizeTooBig, "Response payload size exceeded maximum allowed payload size ("+strconv.FormatInt(s.maxStream(), 10)+" bytes).")
				res.Streamed = c.streamed()
				s.finish(c, res)
				writeError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "Exceeded maximum allowed payload size ("+strconv.FormatInt(s.maxStream(), 10)+" bytes).")
				return
			}
			out.write(buf[:k])
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			res = errorResult("Runtime.TruncatedResponse", "RequestId: "+c.inv.RequestID+" Error: Runtime exited without providing a reason")
			res.Streamed = c.streamed()
			s.finish(c, res)
			writeError(w, http.StatusBadRequest, "TruncatedHTTPRequest", "The request body could not be read")
			return
		}
	}
	if et, ok := trailerError(r); ok {
		res = et
	} else {
		out.write(nil) // an empty body still begins the stream
		res = Result{ContentType: out.contentType}
	}
	res.Streamed = c.streamed()
	s.finish(c, res)
	accepted(w)
}

// finish ends call c with res if it is still current.
func (s *Server) finish(c *call, res Result) {
	if s.take(c.inv.RequestID) == c {
		c.done <- res
	}
}

// streamOut writes to a call's StreamWriter unless Invoke has given up on it.
// Whether the stream began, and whether a Write failed, belong to the call:
// a runtime that posts a second /response for it while the first streams
// must not begin the stream twice.
type streamOut struct {
	c           *call
	contentType string
}

func (o *streamOut) write(p []byte) {
	c := o.c
	c.smu.Lock()
	defer c.smu.Unlock()
	if c.abandoned || c.failed {
		return
	}
	if !c.begun {
		c.begun = true
		c.inv.Stream.Begin(o.contentType)
	}
	if len(p) > 0 {
		if _, err := c.inv.Stream.Write(p); err != nil {
			c.failed = true
		}
	}
}

// streamed reports whether the call's stream began.
func (c *call) streamed() bool {
	c.smu.Lock()
	defer c.smu.Unlock()
	return c.begun
}

// Interrupter is implemented by a StreamWriter whose Write can block on a slow
// reader (a client that stopped reading): Interrupt makes a Write in progress
// return at once with an error. It may be called concurrently with Write.
type Interrupter interface{ Interrupt() }

// interrupt ends a stream write in progress when Invoke gives up on the call
// (its deadline, the process's end): without it, abandon would wait for a
// write stalled on a client that stopped reading, and the invocation's
// timeout with it.
func (c *call) interrupt() {
	if i, ok := c.inv.Stream.(Interrupter); ok {
		i.Interrupt()
	}
}

// abandon stops any further use of the call's StreamWriter (Invoke returned).
func (c *call) abandon() {
	c.smu.Lock()
	c.abandoned = true
	c.smu.Unlock()
}

// trailerError returns the error a response body's trailers report, if any
// (Lambda-Runtime-Function-Error-Type, -Body as base64 of the error JSON).
func trailerError(r *http.Request) (Result, bool) {
	et := r.Trailer.Get(headerErrorType)
	if et == "" {
		return Result{}, false
	}
	res := Result{ErrorType: et, ContentType: "application/json"}
	if b, err := base64.StdEncoding.DecodeString(r.Trailer.Get(headerErrorBody)); err == nil && json.Valid(b) {
		res.Payload = b
	} else {
		res.Payload = errorJSON(et, "The function's response stream ended with an error")
	}
	return res, true
}

func (s *Server) maxStream() int64 {
	if s.MaxStreamed > 0 {
		return s.MaxStreamed
	}
	return lambda.MaxStreamedResponse
}
