package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-dev/nimbus/internal/awsapi"
	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/secrets"
	"github.com/nimbus-dev/nimbus/internal/template"
)

// stacksBucket is the KV bucket of deployed stacks: key = stack name, value =
// JSON stackRecord. The plan is kept as the deployer wrote it (a
// template.Plan); the server only checks that it names the stack.
const stacksBucket = "nimbus_stacks"

// maxStackBytes bounds a stored record (a plan holds inline code and state
// machine definitions; the backbone's message limit is 8 MiB).
const maxStackBytes = 4 << 20

// stackRecord is what the stack store keeps per stack.
type stackRecord struct {
	Plan       json.RawMessage `json:"plan"`
	DeployedAt time.Time       `json:"deployedAt"`
}

// stackSummary is one line of GET /nimbus/v1/stacks.
type stackSummary struct {
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Resources   int       `json:"resources"`
	DeployedAt  time.Time `json:"deployedAt"`
}

// registerStacks serves the stack store on the API address. The deployer
// (nimbus deploy) reads a stack's last applied plan, diffs against it, and
// writes the new one; nimbus delete removes it.
//
//	GET    /nimbus/v1/stacks         {"stacks": [{name, description, resources, deployedAt}]}
//	GET    /nimbus/v1/stacks/{name}  {plan, deployedAt}; ETag "<revision>"
//	PUT    /nimbus/v1/stacks/{name}  body {plan}; deployedAt is the server's clock
//	DELETE /nimbus/v1/stacks/{name}  204
//
// PUT and DELETE honour If-Match: "<revision>" (the ETag read) and PUT
// honours If-None-Match: * (create only), answering 412
// PreconditionFailedException when another deploy wrote the stack in
// between. Without them the write is unconditional.
//
// Records are stored sealed with the secrets key (see sealStack): a plan
// holds resolved parameter values, NoEcho ones included.
func registerStacks(mux *http.ServeMux, log *slog.Logger, kv jetstream.KeyValue, key *secrets.Key) {
	s := &stackStore{kv: kv, key: key}
	mux.HandleFunc("GET /nimbus/v1/stacks", func(w http.ResponseWriter, r *http.Request) {
		list, err := s.list(r.Context())
		if err != nil {
			awsapi.WriteError(w, log, err)
			return
		}
		awsapi.WriteJSON(w, http.StatusOK, map[string]any{"stacks": list})
	})
	mux.HandleFunc("GET /nimbus/v1/stacks/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if err := checkStackName(name); err != nil {
			awsapi.WriteError(w, log, err)
			return
		}
		e, err := s.get(r.Context(), name)
		if err != nil {
			awsapi.WriteError(w, log, err)
			return
		}
		value, err := openStack(s.key, name, e.Value())
		if err != nil {
			awsapi.WriteError(w, log, err)
			return
		}
		writeStack(w, http.StatusOK, value, e.Revision())
	})
	mux.HandleFunc("PUT /nimbus/v1/stacks/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if err := checkStackName(name); err != nil {
			awsapi.WriteError(w, log, err)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxStackBytes+1))
		if err != nil {
			awsapi.WriteError(w, log, lambda.InvalidRequestContent("The request body could not be read"))
			return
		}
		if len(body) > maxStackBytes {
			awsapi.WriteError(w, log, lambda.RequestTooLarge("A stack record must be smaller than %d bytes", maxStackBytes))
			return
		}
		value, err := newStackRecord(name, body, time.Now().UTC())
		if err != nil {
			awsapi.WriteError(w, log, err)
			return
		}
		rev, err := s.put(r.Context(), name, value, r.Header.Get("If-Match"), r.Header.Get("If-None-Match"))
		if err != nil {
			awsapi.WriteError(w, log, err)
			return
		}
		writeStack(w, http.StatusOK, value, rev)
	})
	mux.HandleFunc("DELETE /nimbus/v1/stacks/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if err := checkStackName(name); err != nil {
			awsapi.WriteError(w, log, err)
			return
		}
		if err := s.delete(r.Context(), name, r.Header.Get("If-Match")); err != nil {
			awsapi.WriteError(w, log, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// registerInfo serves GET /nimbus/v1/info: the server's API and gateway
// URLs as it listens on them, so that clients (nimbus deploy) can print the
// gateway URLs of what they deployed.
func registerInfo(mux *http.ServeMux, apiURL, gatewayURL string) {
	mux.HandleFunc("GET /nimbus/v1/info", func(w http.ResponseWriter, r *http.Request) {
		awsapi.WriteJSON(w, http.StatusOK, map[string]string{"api": apiURL, "gateway": gatewayURL})
	})
}

func checkStackName(name string) error {
	if !template.ValidStackName(name) {
		return lambda.Validation("stack name %q must start with a letter and hold only letters, digits and '-' (at most 128)", name)
	}
	return nil
}

// newStackRecord checks a PUT body ({"plan": {...}}) and returns the record to store.
func newStackRecord(name string, body []byte, now time.Time) ([]byte, error) {
	var in struct {
		Plan json.RawMessage `json:"plan"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, lambda.InvalidRequestContent("The body must be a JSON object {\"plan\": …}")
	}
	var plan struct {
		Stack     string            `json:"stack"`
		Resources []json.RawMessage `json:"resources"`
	}
	if len(in.Plan) == 0 || json.Unmarshal(in.Plan, &plan) != nil || plan.Resources == nil {
		return nil, lambda.InvalidRequestContent("plan must be a JSON object with a resources list")
	}
	if plan.Stack != name {
		return nil, lambda.InvalidParameter("the plan is for stack %q, not %q", plan.Stack, name)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, in.Plan); err != nil {
		return nil, lambda.InvalidRequestContent("plan is not valid JSON")
	}
	return json.Marshal(stackRecord{Plan: compact.Bytes(), DeployedAt: now})
}

func writeStack(w http.ResponseWriter, status int, value []byte, rev uint64) {
	w.Header().Set("ETag", strconv.Quote(strconv.FormatUint(rev, 10)))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(value)))
	w.WriteHeader(status)
	w.Write(value)
}

// stackStore is the KV bucket behind the handlers. It keeps no state of its
// own; the bucket's revisions give the conditional writes.
type stackStore struct {
	kv  jetstream.KeyValue
	key *secrets.Key
}

func (s *stackStore) get(ctx context.Context, name string) (jetstream.KeyValueEntry, error) {
	e, err := s.kv.Get(ctx, name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, lambda.NotFound("Stack not found: %s", name)
	}
	if err != nil {
		return nil, fmt.Errorf("stacks: get %s: %w", name, err)
	}
	return e, nil
}

func (s *stackStore) put(ctx context.Context, name string, value []byte, ifMatch, ifNoneMatch string) (uint64, error) {
	value, err := sealStack(s.key, name, value)
	if err != nil {
		return 0, err
	}
	var rev uint64
	switch {
	case ifNoneMatch == "*":
		rev, err = s.kv.Create(ctx, name, value)
		if errors.Is(err, jetstream.ErrKeyExists) {
			return 0, lambda.PreconditionFailed("Stack %s already exists (another deploy created it); deploy again", name)
		}
	case ifMatch != "":
		want, perr := parseETag(ifMatch)
		if perr != nil {
			return 0, perr
		}
		rev, err = s.kv.Update(ctx, name, value, want)
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyNotFound) {
			return 0, lambda.PreconditionFailed("Stack %s was changed by another deploy or delete since it was read; deploy again", name)
		}
	default:
		rev, err = s.kv.Put(ctx, name, value)
	}
	if err != nil {
		return 0, fmt.Errorf("stacks: put %s: %w", name, err)
	}
	return rev, nil
}

func (s *stackStore) delete(ctx context.Context, name, ifMatch string) error {
	e, err := s.get(ctx, name)
	if err != nil {
		return err
	}
	var opts []jetstream.KVDeleteOpt
	if ifMatch != "" {
		want, err := parseETag(ifMatch)
		if err != nil {
			return err
		}
		if want != e.Revision() {
			return lambda.PreconditionFailed("Stack %s was changed by another deploy since it was read", name)
		}
		opts = append(opts, jetstream.LastRevision(want))
	}
	if err := s.kv.Delete(ctx, name, opts...); err != nil {
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
			return lambda.PreconditionFailed("Stack %s was changed by another deploy since it was read", name)
		}
		return fmt.Errorf("stacks: delete %s: %w", name, err)
	}
	return nil
}

func (s *stackStore) list(ctx context.Context) ([]stackSummary, error) {
	keys, err := s.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("stacks: list: %w", err)
	}
	var names []string
	for k := range keys.Keys() {
		names = append(names, k)
	}
	slices.Sort(names)
	out := []stackSummary{}
	for _, name := range names {
		e, err := s.kv.Get(ctx, name)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // deleted since listed
		}
		if err != nil {
			return nil, fmt.Errorf("stacks: get %s: %w", name, err)
		}
		var rec struct {
			Plan struct {
				Description string            `json:"description"`
				Resources   []json.RawMessage `json:"resources"`
			} `json:"plan"`
			DeployedAt time.Time `json:"deployedAt"`
		}
		value, err := openStack(s.key, name, e.Value())
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(value, &rec); err != nil {
			return nil, fmt.Errorf("stacks: decode %s: %w", name, err)
		}
		out = append(out, stackSummary{Name: name, Description: rec.Plan.Description, Resources: len(rec.Plan.Resources), DeployedAt: rec.DeployedAt})
	}
	return out, nil
}

func parseETag(s string) (uint64, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "W/")
	rev, err := strconv.ParseUint(strings.Trim(s, `"`), 10, 64)
	if err != nil {
		return 0, lambda.InvalidParameter("If-Match must be an ETag returned by GET /nimbus/v1/stacks/{name}")
	}
	return rev, nil
}
