package app

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/nimbus-dev/nimbus/internal/awsapi"
	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/logs"
	"github.com/nimbus-dev/nimbus/internal/registry"
)

// logsHandler streams a function's log records as text:
// GET /nimbus/v1/functions/{name}/logs?since=<RFC 3339 time>&follow=true.
func logsHandler(log *slog.Logger, reg *registry.Registry, store *logs.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, _, err := lambda.ParseFunctionRef(r.PathValue("name"), "")
		if err != nil {
			awsapi.WriteError(w, log, err)
			return
		}
		if _, ok := reg.Get(name); !ok {
			awsapi.WriteError(w, log, lambda.NotFound("Function not found: %s", lambda.FunctionARN(name)))
			return
		}
		var since time.Time
		if s := r.URL.Query().Get("since"); s != "" {
			if since, err = time.Parse(time.RFC3339Nano, s); err != nil {
				awsapi.WriteError(w, log, lambda.InvalidParameter("since must be an RFC 3339 time: %s", s))
				return
			}
		}
		follow := r.URL.Query().Get("follow") == "true"
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		flusher, _ := w.(http.Flusher)
		if flusher != nil {
			flusher.Flush()
		}
		err = store.Read(r.Context(), name, since, follow, func(rec logs.Record) error {
			if _, err := w.Write(rec.Text); err != nil {
				return err
			}
			if flusher != nil {
				flusher.Flush()
			}
			return nil
		})
		if err != nil && r.Context().Err() == nil {
			log.Warn("log read", "function", name, "err", err)
		}
	})
}

// gatewayHandler serves the HTTP gateway address. Routes come with the gateway
// work; until then every path is API Gateway's "Not Found".
func gatewayHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"message":"Not Found"}` + "\n"))
	})
}
