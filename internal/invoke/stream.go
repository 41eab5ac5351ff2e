package invoke

import "io"

// StreamSink receives a streamed invocation response (InvokeWithResponseStream,
// RESPONSE_STREAM function URLs) as the function produces it.
//
// Begin is called exactly once, before the first Write, with the content type
// of the function's response. Write receives body bytes in the order the
// function sent them; the caller flushes them to its client as they arrive.
type StreamSink interface {
	Begin(contentType string)
	io.Writer
}
