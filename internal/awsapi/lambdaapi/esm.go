package lambdaapi

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nimbus-dev/nimbus/internal/events/esm"
	"github.com/nimbus-dev/nimbus/internal/events/queue"
	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// SetEventSources enables the event source mapping operations.
func (a *API) SetEventSources(s *esm.Service) { a.esm = s }

type esmInput struct {
	EventSourceArn                 *string            `json:"EventSourceArn"`
	FunctionName                   *string            `json:"FunctionName"`
	Enabled                        *bool              `json:"Enabled"`
	BatchSize                      *int               `json:"BatchSize"`
	MaximumBatchingWindowInSeconds *int               `json:"MaximumBatchingWindowInSeconds"`
	FunctionResponseTypes          []string           `json:"FunctionResponseTypes"`
	ScalingConfig                  *esm.ScalingConfig `json:"ScalingConfig"`
	StartingPosition               string             `json:"StartingPosition"`
}

// applyESM validates in and applies it to m.
func (a *API) applyESM(m *esm.Mapping, in *esmInput) error {
	if in.FunctionName != nil {
		name, q, err := lambda.ParseFunctionRef(*in.FunctionName, "")
		if err != nil {
			return err
		}
		fn, ok := a.reg.Get(name)
		if !ok {
			return lambda.NotFound("Function not found: %s", lambda.FunctionARN(name))
		}
		if q != "" {
			if _, ok := fn.Resolve(q, 0); !ok {
				return lambda.NotFound("Function not found: %s", lambda.QualifiedARN(name, q))
			}
			m.FunctionArn = lambda.QualifiedARN(name, q)
		} else {
			m.FunctionArn = lambda.FunctionARN(name)
		}
	}
	if in.BatchSize != nil {
		m.BatchSize = *in.BatchSize
	}
	if in.MaximumBatchingWindowInSeconds != nil {
		m.MaximumBatchingWindowInSeconds = *in.MaximumBatchingWindowInSeconds
	}
	if m.BatchSize < 1 || m.BatchSize > 10000 {
		return lambda.InvalidParameter("1 validation error detected: Value '%d' at 'batchSize' failed to satisfy constraint: Member must have value between 1 and 10000", m.BatchSize)
	}
	if m.MaximumBatchingWindowInSeconds < 0 || m.MaximumBatchingWindowInSeconds > 300 {
		return lambda.InvalidParameter("1 validation error detected: Value '%d' at 'maximumBatchingWindowInSeconds' failed to satisfy constraint: Member must have value between 0 and 300", m.MaximumBatchingWindowInSeconds)
	}
	if m.BatchSize > 10 && m.MaximumBatchingWindowInSeconds < 1 {
		return lambda.InvalidParameter("Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10")
	}
	if in.FunctionResponseTypes != nil {
		for _, t := range in.FunctionResponseTypes {
			if t != "ReportBatchItemFailures" {
				return lambda.InvalidParameter("1 validation error detected: Value '[%s]' at 'functionResponseTypes' failed to satisfy constraint: Member must satisfy enum value set: [ReportBatchItemFailures]", t)
			}
		}
		m.FunctionResponseTypes = in.FunctionResponseTypes
	}
	if in.ScalingConfig != nil {
		if c := in.ScalingConfig.MaximumConcurrency; c != 0 && (c < 2 || c > 1000) {
			return lambda.InvalidParameter("1 validation error detected: Value '%d' at 'scalingConfig.maximumConcurrency' failed to satisfy constraint: Member must have value between 2 and 1000", c)
		}
		m.ScalingConfig = in.ScalingConfig
	}
	if in.Enabled != nil {
		m.State = "Disabled"
		if *in.Enabled {
			m.State = "Enabled"
		}
	}
	m.LastModified = float64(time.Now().UnixMilli()) / 1000
	m.StateTransitionReason = "USER_INITIATED"
	return nil
}

func (a *API) createESM(r *http.Request) (int, any, error) {
	if a.esm == nil {
		return 0, nil, lambda.InvalidParameter("event source mappings are not available")
	}
	var in esmInput
	if err := decode(r, 1<<20, &in); err != nil {
		return 0, nil, err
	}
	if in.EventSourceArn == nil || in.FunctionName == nil {
		return 0, nil, lambda.InvalidParameter("EventSourceArn and FunctionName are required")
	}
	name, ok := queue.NameFromARN(*in.EventSourceArn)
	if !ok {
		return 0, nil, lambda.InvalidParameter("Unsupported event source %s: nimbus maps SQS queues (arn:aws:sqs:…) so far", *in.EventSourceArn)
	}
	if !a.esm.Queues().Exists(name) {
		return 0, nil, lambda.InvalidParameter("Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The specified queue does not exist: %s", *in.EventSourceArn)
	}
	m := esm.Mapping{UUID: lambda.NewRequestID(), EventSourceArn: *in.EventSourceArn, BatchSize: 10, State: "Enabled", FunctionResponseTypes: []string{}}
	if err := a.applyESM(&m, &in); err != nil {
		return 0, nil, err
	}
	existing, err := a.esm.List(r.Context())
	if err != nil {
		return 0, nil, err
	}
	for _, e := range existing {
		if e.EventSourceArn == m.EventSourceArn && e.FunctionArn == m.FunctionArn {
			return 0, nil, lambda.Conflict("An event source mapping with SQS arn (\" %s \") and function (\" %s \") already exists. Please update or delete the existing mapping with UUID %s", m.EventSourceArn, m.FunctionArn, e.UUID)
		}
	}
	if err := a.esm.Put(r.Context(), &m); err != nil {
		return 0, nil, err
	}
	return http.StatusAccepted, m, nil
}

func (a *API) getESM(r *http.Request) (int, any, error) {
	if a.esm == nil {
		return 0, nil, lambda.NotFound("no event source mappings")
	}
	m, err := a.esm.Get(r.Context(), r.PathValue("uuid"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, m, nil
}

func (a *API) updateESM(r *http.Request) (int, any, error) {
	if a.esm == nil {
		return 0, nil, lambda.NotFound("no event source mappings")
	}
	m, err := a.esm.Get(r.Context(), r.PathValue("uuid"))
	if err != nil {
		return 0, nil, err
	}
	var in esmInput
	if err := decode(r, 1<<20, &in); err != nil {
		return 0, nil, err
	}
	if err := a.applyESM(m, &in); err != nil {
		return 0, nil, err
	}
	if err := a.esm.Put(r.Context(), m); err != nil {
		return 0, nil, err
	}
	return http.StatusAccepted, m, nil
}

func (a *API) deleteESM(r *http.Request) (int, any, error) {
	if a.esm == nil {
		return 0, nil, lambda.NotFound("no event source mappings")
	}
	m, err := a.esm.Get(r.Context(), r.PathValue("uuid"))
	if err != nil {
		return 0, nil, err
	}
	if err := a.esm.Delete(r.Context(), m.UUID); err != nil {
		return 0, nil, err
	}
	m.State = "Deleting"
	return http.StatusAccepted, m, nil
}

func (a *API) listESM(r *http.Request) (int, any, error) {
	var items []esm.Mapping
	if a.esm != nil {
		all, err := a.esm.List(r.Context())
		if err != nil {
			return 0, nil, err
		}
		q := r.URL.Query()
		fnARN := ""
		if f := q.Get("FunctionName"); f != "" {
			name, _, err := lambda.ParseFunctionRef(f, "")
			if err != nil {
				return 0, nil, err
			}
			fnARN = lambda.FunctionARN(name)
		}
		for _, m := range all {
			if src := q.Get("EventSourceArn"); src != "" && m.EventSourceArn != src {
				continue
			}
			if fnARN != "" && m.FunctionArn != fnARN && !strings.HasPrefix(m.FunctionArn, fnARN+":") {
				continue
			}
			items = append(items, m)
		}
	}
	slices.SortFunc(items, func(x, y esm.Mapping) int { return strings.Compare(x.UUID, y.UUID) })
	maxItems := 100
	if s := r.URL.Query().Get("MaxItems"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 && n <= 10000 {
			maxItems = n
		}
	}
	page, next, err := paginate(items, r.URL.Query().Get("Marker"), maxItems, func(m esm.Mapping) string { return m.UUID })
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, struct {
		EventSourceMappings []esm.Mapping `json:"EventSourceMappings"`
		NextMarker          string        `json:"NextMarker,omitempty"`
	}{page, next}, nil
}
