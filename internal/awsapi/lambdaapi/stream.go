package lambdaapi

import (
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/nimbus-dev/nimbus/internal/awsapi"
	"github.com/nimbus-dev/nimbus/internal/awsapi/eventstream"
	"github.com/nimbus-dev/nimbus/internal/invoke"
	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// InvokeWithResponseStream (POST /2021-11-15/functions/{name}/response-streaming-invocations):
// the answer is 200 with an application/vnd.amazon.eventstream body of
// PayloadChunk events as the function produces its response, then one
// InvokeComplete event {ErrorCode, ErrorDetails, LogResult}. Headers:
// Content-Type is the function's response content type (the body is an event
// stream regardless, as on AWS), X-Amz-Executed-Version. Errors found before
// the function runs (not found, throttled, bad request) are ordinary AWS error
// answers; the function's own failure, before or after bytes, is an
// InvokeComplete whose ErrorCode is the error type and ErrorDetails its message.

// eventStreamType is the media type of the body (used as Content-Type only
// when the function produced no stream).
const eventStreamType = "application/vnd.amazon.eventstream"

// maxChunkEvent bounds one PayloadChunk's payload, far below the format's 16 MB.
const maxChunkEvent = 256 << 10

// streamWriteTimeout bounds each write to the client: one that stops reading
// loses its stream instead of holding the function's response (and the
// invocation's end) indefinitely.
const streamWriteTimeout = time.Minute

func (a *API) invokeStreamHandler(w http.ResponseWriter, r *http.Request) {
	payload, tail, ok := a.readInvokeRequest(w, r)
	if !ok {
		return
	}
	sink := &eventSink{w: w, rc: http.NewResponseController(w), requestID: lambda.NewRequestID()}
	sink.es = eventstream.NewWriter(w)
	// net/http keeps a write deadline on the connection for its next
	// requests (no server WriteTimeout resets it): clear it when done.
	defer sink.rc.SetWriteDeadline(time.Time{})
	req := invokeRequest(r, payload, tail)
	req.RequestID = sink.requestID
	resp, err := a.invoke.InvokeStream(r.Context(), req, sink)
	if err != nil {
		awsapi.WriteError(w, a.log, err) // nothing was written yet
		return
	}
	if resp.Status != http.StatusOK { // DryRun
		w.Header().Set("X-Amzn-RequestId", resp.RequestID)
		w.Header().Set("X-Amz-Executed-Version", resp.ExecutedVersion)
		w.WriteHeader(resp.Status)
		return
	}
	if !sink.begun { // the function failed before any byte
		sink.ExecutedVersion(resp.ExecutedVersion)
		sink.Begin(eventStreamType)
	}
	var done struct {
		ErrorCode    string `json:"ErrorCode,omitempty"`
		ErrorDetails string `json:"ErrorDetails,omitempty"`
		LogResult    string `json:"LogResult,omitempty"`
	}
	done.LogResult = resp.LogResult
	if resp.FunctionError != "" {
		done.ErrorCode, done.ErrorDetails = resp.ErrorType, errorMessage(resp.Payload)
	}
	b, _ := json.Marshal(done)
	sink.rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	if sink.err == nil && sink.es.Event("InvokeComplete", "application/json", b) == nil {
		sink.rc.Flush()
	}
}

// errorMessage is the errorMessage of a Lambda error document, or the document.
func errorMessage(doc []byte) string {
	var e struct {
		ErrorMessage *string `json:"errorMessage"`
	}
	if json.Unmarshal(doc, &e) == nil && e.ErrorMessage != nil {
		return *e.ErrorMessage
	}
	return string(doc)
}

// eventSink writes a streamed response as PayloadChunk events, flushing each.
type eventSink struct {
	w         http.ResponseWriter
	rc        *http.ResponseController
	es        *eventstream.Writer
	requestID string
	version   string
	begun     bool
	err       error // the first write error: the client is gone
}

func (s *eventSink) ExecutedVersion(v string) { s.version = v }

func (s *eventSink) Begin(contentType string) {
	s.begun = true
	h := s.w.Header()
	h.Set("Content-Type", contentType)
	h.Set("X-Amzn-RequestId", s.requestID)
	if s.version != "" {
		h.Set("X-Amz-Executed-Version", s.version)
	}
	s.rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	s.w.WriteHeader(http.StatusOK)
	s.err = s.rc.Flush()
}

// Interrupt ends a write stalled on a client that stopped reading (the
// invocation timed out meanwhile); InvokeComplete sets a new deadline.
func (s *eventSink) Interrupt() { s.rc.SetWriteDeadline(time.Now()) }

func (s *eventSink) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n := len(p)
	s.rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	for len(p) > 0 {
		k := min(len(p), maxChunkEvent)
		if s.err = s.es.Event("PayloadChunk", "application/octet-stream", p[:k]); s.err != nil {
			return 0, s.err
		}
		p = p[k:]
	}
	if s.err = s.rc.Flush(); s.err != nil {
		return 0, s.err
	}
	return n, nil
}

// invokeRequest is the invoke.Request an Invoke-family HTTP request asks for.
func invokeRequest(r *http.Request, payload []byte, tail bool) invoke.Request {
	return invoke.Request{
		FunctionName:  r.PathValue("name"),
		Qualifier:     r.URL.Query().Get("Qualifier"),
		Type:          lambda.InvocationType(r.Header.Get("X-Amz-Invocation-Type")),
		Payload:       payload,
		ContentType:   r.Header.Get("Content-Type"),
		ClientContext: r.Header.Get("X-Amz-Client-Context"),
		Tail:          tail,
	}
}

// readInvokeRequest reads an invoke's payload (≤ 6 MB) and X-Amz-Log-Type,
// answering the error itself when it returns false.
func (a *API) readInvokeRequest(w http.ResponseWriter, r *http.Request) (payload []byte, tail, ok bool) {
	payload, err := io.ReadAll(io.LimitReader(r.Body, lambda.MaxSyncPayload+1))
	if err != nil {
		awsapi.WriteError(w, a.log, lambda.InvalidRequestContent("The request body could not be read"))
		return nil, false, false
	}
	if len(payload) > lambda.MaxSyncPayload {
		awsapi.WriteError(w, a.log, lambda.RequestTooLarge("Request must be smaller than %d bytes for the InvokeFunction operation", lambda.MaxSyncPayload))
		return nil, false, false
	}
	logType := r.Header.Get("X-Amz-Log-Type")
	if logType != "" && logType != "None" && logType != "Tail" {
		awsapi.WriteError(w, a.log, lambda.InvalidParameter("1 validation error detected: Value '%s' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [Tail, None]", logType))
		return nil, false, false
	}
	return payload, logType == "Tail", true
}
