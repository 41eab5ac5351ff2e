// Package awsapi is the edge where AWS wire protocols meet the platform: it
// translates the one error vocabulary (lambda.Error) into AWS's error shapes,
// writes JSON answers, and authenticates requests with SigV4 when access keys are
// configured. Protocol adapters live in subpackages (lambdaapi, …).
package awsapi

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/nimbus-dev/nimbus/internal/awsapi/sigv4"
	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// WriteJSON writes v as a JSON answer.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"Type":"Service","message":"internal error"}`)
	}
	w.Header()["Content-Type"] = []string{"application/json"}
	w.Header()["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(status)
	w.Write(b)
}

// WriteError writes err in AWS's REST-JSON error shape: the status, the
// X-Amzn-ErrorType header, and {"Type","message"[,"Reason"]}. Errors that are not
// *lambda.Error are internal: they are logged and answered as ServiceException
// without their text.
func WriteError(w http.ResponseWriter, log *slog.Logger, err error) {
	e, ok := lambda.AsError(err)
	if !ok {
		log.Error("internal error", "err", err)
		e = lambda.ServiceError("An internal error occurred; see the server log.")
	}
	body := map[string]string{"Type": "User", "message": e.Message}
	if e.Status >= 500 {
		body["Type"] = "Service"
	}
	if e.Reason != "" {
		body["Reason"] = e.Reason
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	w.Header().Set("X-Amzn-ErrorType", e.Code)
	WriteJSON(w, e.Status, body)
}

// Auth verifies SigV4 signatures on every request but /healthz. A nil verifier
// accepts everything (loopback development mode).
func Auth(v *sigv4.Verifier, maxBody int64, log *slog.Logger, next http.Handler) http.Handler {
	if v == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil {
			WriteError(w, log, lambda.InvalidRequestContent("The request body could not be read"))
			return
		}
		if int64(len(body)) > maxBody {
			WriteError(w, log, &lambda.Error{Code: "RequestEntityTooLargeException", Status: http.StatusRequestEntityTooLarge,
				Message: "Request must be smaller than " + strconv.FormatInt(maxBody, 10) + " bytes"})
			return
		}
		if err := v.Verify(r, body); err != nil {
			se, _ := err.(*sigv4.Error)
			code, msg := "InvalidSignatureException", err.Error()
			if se != nil {
				code, msg = se.Code, se.Message
			}
			WriteError(w, log, &lambda.Error{Code: code, Status: http.StatusForbidden, Message: msg})
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}
