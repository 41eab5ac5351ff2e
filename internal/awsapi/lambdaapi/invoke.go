package lambdaapi

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"

	"github.com/nimbus-dev/nimbus/internal/awsapi"
	"github.com/nimbus-dev/nimbus/internal/invoke"
	"github.com/nimbus-dev/nimbus/internal/lambda"
)

func (a *API) invokeHandler(w http.ResponseWriter, r *http.Request) {
	payload, tail, ok := a.readInvokeRequest(w, r)
	if !ok {
		return
	}
	resp, err := a.invoke.Invoke(r.Context(), invokeRequest(r, payload, tail))
	if err != nil {
		awsapi.WriteError(w, a.log, err)
		return
	}
	h := w.Header()
	h.Set("X-Amzn-RequestId", resp.RequestID)
	if resp.ExecutedVersion != "" && resp.Status == http.StatusOK {
		h.Set("X-Amz-Executed-Version", resp.ExecutedVersion)
	}
	if resp.FunctionError != "" {
		h.Set("X-Amz-Function-Error", resp.FunctionError)
	}
	if resp.LogResult != "" {
		h.Set("X-Amz-Log-Result", resp.LogResult)
	}
	if resp.Status != http.StatusOK {
		w.WriteHeader(resp.Status)
		return
	}
	h.Set("Content-Type", resp.ContentType)
	h.Set("Content-Length", strconv.Itoa(len(resp.Payload)))
	w.WriteHeader(http.StatusOK)
	w.Write(resp.Payload)
}

// invokeAsyncHandler serves the deprecated InvokeAsync API (always 202).
func (a *API) invokeAsyncHandler(w http.ResponseWriter, r *http.Request) {
	payload, err := io.ReadAll(io.LimitReader(r.Body, lambda.MaxAsyncPayload+1))
	if err != nil {
		awsapi.WriteError(w, a.log, lambda.InvalidRequestContent("The request body could not be read"))
		return
	}
	resp, err := a.invoke.Invoke(r.Context(), invoke.Request{FunctionName: r.PathValue("name"), Type: lambda.Event, Payload: payload})
	if err != nil {
		awsapi.WriteError(w, a.log, err)
		return
	}
	w.Header().Set("X-Amzn-RequestId", resp.RequestID)
	awsapi.WriteJSON(w, http.StatusAccepted, map[string]int{"Status": http.StatusAccepted})
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func itoa(n int) string { return strconv.Itoa(n) }
