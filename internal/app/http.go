package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/nimbus-dev/nimbus/internal/awsapi"
	"github.com/nimbus-dev/nimbus/internal/awsapi/snsapi"
	"github.com/nimbus-dev/nimbus/internal/events/queue"
	"github.com/nimbus-dev/nimbus/internal/events/topic"
	"github.com/nimbus-dev/nimbus/internal/gateway"
	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/logs"
	"github.com/nimbus-dev/nimbus/internal/registry"
	"github.com/nimbus-dev/nimbus/internal/workflow/executions"
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

// registerAPIAdmin serves the gateway's API definitions on the API address:
// GET /nimbus/v1/apis, PUT/GET/DELETE /nimbus/v1/apis/{id} (JSON gateway.API).
// Templates deploy through it; it is also how routes are tested on their own.
func registerAPIAdmin(mux *http.ServeMux, log *slog.Logger, store *gateway.Store, gw *gateway.Gateway) {
	mux.HandleFunc("GET /nimbus/v1/apis", func(w http.ResponseWriter, r *http.Request) {
		awsapi.WriteJSON(w, http.StatusOK, map[string]any{"apis": gw.APIs()})
	})
	mux.HandleFunc("GET /nimbus/v1/apis/{id}", func(w http.ResponseWriter, r *http.Request) {
		for _, a := range gw.APIs() {
			if a.ID == r.PathValue("id") {
				awsapi.WriteJSON(w, http.StatusOK, a)
				return
			}
		}
		awsapi.WriteError(w, log, lambda.NotFound("API not found: %s", r.PathValue("id")))
	})
	mux.HandleFunc("PUT /nimbus/v1/apis/{id}", func(w http.ResponseWriter, r *http.Request) {
		var a gateway.API
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil || json.Unmarshal(body, &a) != nil {
			awsapi.WriteError(w, log, lambda.InvalidRequestContent("The body must be a JSON API definition"))
			return
		}
		a.ID = r.PathValue("id")
		if err := store.Put(r.Context(), a); err != nil {
			awsapi.WriteError(w, log, err)
			return
		}
		awsapi.WriteJSON(w, http.StatusOK, a)
	})
	mux.HandleFunc("DELETE /nimbus/v1/apis/{id}", func(w http.ResponseWriter, r *http.Request) {
		if err := store.Delete(r.Context(), r.PathValue("id")); err != nil {
			awsapi.WriteError(w, log, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// awsJSONRouter sends AWS JSON-protocol requests (POST with X-Amz-Target:
// Service.Action) to the adapter registered for the target's prefix.
func awsJSONRouter(log *slog.Logger, byPrefix map[string]http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := r.Header.Get("X-Amz-Target")
		for prefix, h := range byPrefix {
			if strings.HasPrefix(target, prefix) {
				h.ServeHTTP(w, r)
				return
			}
		}
		awsapi.WriteError(w, log, &lambda.Error{Code: "UnknownOperationException", Status: http.StatusBadRequest,
			Message: "Unknown operation: X-Amz-Target " + target})
	})
}

// queueSender delivers destination records and dead letters to queues.
type queueSender struct{ q *queue.Service }

func (s queueSender) Send(ctx context.Context, arn string, body []byte) error {
	name, ok := s.q.ByARN(arn)
	if !ok {
		return lambda.NotFound("queue not found: %s", arn)
	}
	_, err := s.q.Send(ctx, name, queue.SendInput{Body: string(body)})
	return err
}

// awsRouter sends query-protocol requests (no X-Amz-Target; a form-encoded
// POST, or a GET with an Action parameter, which is how SNS's SubscribeURL and
// UnsubscribeURL arrive) to query, and AWS JSON-protocol requests to the
// adapter for their X-Amz-Target prefix.
func awsRouter(log *slog.Logger, byPrefix map[string]http.Handler, query http.Handler) http.Handler {
	jsonRouter := awsJSONRouter(log, byPrefix)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if snsapi.IsQuery(r) {
			query.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodPost {
			awsapi.WriteError(w, log, unknownOperation(r))
			return
		}
		jsonRouter.ServeHTTP(w, r)
	})
}

// workflowStarter lets scheduled rules start state machine executions. The
// execution name is the fire's stable id, so a re-fire after a crash finds
// the execution it already started.
type workflowStarter struct{ wf *executions.Service }

func (s workflowStarter) StartExecution(ctx context.Context, arn, name, input string) error {
	_, err := s.wf.Start(ctx, executions.StartInput{MachineARN: arn, Name: name, Input: &input})
	if e, ok := lambda.AsError(err); ok && e.Code == executions.CodeExecutionAlreadyExists {
		return nil // this fire already started it
	}
	return err
}

// messenger gives workflows the sqs:sendMessage and sns:publish integrations.
type messenger struct {
	q *queue.Service
	t *topic.Service
}

func (m messenger) SendMessage(ctx context.Context, queueURL, body string) (string, string, error) {
	name := queueURL[strings.LastIndexByte(queueURL, '/')+1:]
	if !m.q.Exists(name) {
		return "", "", &lambda.Error{Code: "QueueDoesNotExistException", Status: 400, Message: "The specified queue does not exist: " + queueURL}
	}
	res, err := m.q.Send(ctx, name, queue.SendInput{Body: body})
	return res.MessageID, res.MD5OfBody, err
}

func (m messenger) Publish(ctx context.Context, topicARN, message string, subject *string) (string, error) {
	return m.t.Publish(ctx, topic.PublishInput{TopicARN: topicARN, Message: message, Subject: subject})
}
