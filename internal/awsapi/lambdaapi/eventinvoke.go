package lambdaapi

import (
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/nimbus-dev/nimbus/internal/lambda"
	"github.com/nimbus-dev/nimbus/internal/registry"
)

type eventInvokeView struct {
	FunctionArn string `json:"FunctionArn"`
	lambda.EventInvokeConfig
}

func eventInvokeQualifier(fn *registry.Function, q string) (string, error) {
	if q == "" {
		return lambda.Latest, nil
	}
	if _, ok := fn.Resolve(q, 0); !ok {
		return "", lambda.NotFound("Function not found: %s", lambda.QualifiedARN(fn.Latest.FunctionName, q))
	}
	return q, nil
}

// errNoEventInvoke is the error of a qualifier without an event invoke config.
func errNoEventInvoke(fn *registry.Function, q string) error {
	return lambda.NotFound("The function %s doesn't have an EventInvokeConfig", lambda.QualifiedARN(fn.Latest.FunctionName, q))
}

func validateEventInvoke(c *lambda.EventInvokeConfig) error {
	if r := c.MaximumRetryAttempts; r != nil && (*r < 0 || *r > 2) {
		return lambda.InvalidParameter("1 validation error detected: Value '%d' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value less than or equal to 2", *r)
	}
	if a := c.MaximumEventAgeInSeconds; a != nil && (*a < lambda.MinAsyncMaxAge || *a > lambda.DefaultAsyncMaxAge) {
		return lambda.InvalidParameter("1 validation error detected: Value '%d' at 'maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value between 60 and 21600", *a)
	}
	if d := c.DestinationConfig; d != nil {
		for _, dest := range []*lambda.Destination{d.OnSuccess, d.OnFailure} {
			if dest == nil || dest.Destination == "" {
				continue
			}
			p := strings.SplitN(dest.Destination, ":", 6)
			if len(p) < 6 || p[0] != "arn" || !slices.Contains([]string{"lambda", "sqs", "sns", "events"}, p[2]) {
				return lambda.InvalidParameter("The destination ARN %s is invalid: it must be a Lambda function, SQS queue, SNS topic or EventBridge event bus ARN.", dest.Destination)
			}
		}
	}
	return nil
}

// putEventInvoke serves PUT (replace) and POST (UpdateFunctionEventInvokeConfig: merge).
func (a *API) putEventInvoke(merge bool) op {
	return func(r *http.Request) (int, any, error) {
		fn, q, err := a.function(r)
		if err != nil {
			return 0, nil, err
		}
		if q, err = eventInvokeQualifier(fn, q); err != nil {
			return 0, nil, err
		}
		var in lambda.EventInvokeConfig
		if err := decode(r, 1<<20, &in); err != nil {
			return 0, nil, err
		}
		if err := validateEventInvoke(&in); err != nil {
			return 0, nil, err
		}
		var out lambda.EventInvokeConfig
		_, err = a.reg.Update(r.Context(), fn.Latest.FunctionName, func(f *registry.Function) error {
			cur, exists := f.EventInvoke[q]
			if merge {
				if !exists {
					return errNoEventInvoke(fn, q)
				}
				if in.MaximumRetryAttempts != nil {
					cur.MaximumRetryAttempts = in.MaximumRetryAttempts
				}
				if in.MaximumEventAgeInSeconds != nil {
					cur.MaximumEventAgeInSeconds = in.MaximumEventAgeInSeconds
				}
				if in.DestinationConfig != nil {
					cur.DestinationConfig = in.DestinationConfig
				}
				in = cur
			}
			in.LastModified = float64(time.Now().UnixMilli()) / 1000
			if f.EventInvoke == nil {
				f.EventInvoke = map[string]lambda.EventInvokeConfig{}
			}
			f.EventInvoke[q] = in
			out = in
			return nil
		})
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, eventInvokeView{lambda.QualifiedARN(fn.Latest.FunctionName, q), out}, nil
	}
}

func (a *API) getEventInvoke(r *http.Request) (int, any, error) {
	fn, q, err := a.function(r)
	if err != nil {
		return 0, nil, err
	}
	if q, err = eventInvokeQualifier(fn, q); err != nil {
		return 0, nil, err
	}
	c, ok := fn.EventInvoke[q]
	if !ok {
		return 0, nil, errNoEventInvoke(fn, q)
	}
	return http.StatusOK, eventInvokeView{lambda.QualifiedARN(fn.Latest.FunctionName, q), c}, nil
}

func (a *API) deleteEventInvoke(r *http.Request) (int, any, error) {
	fn, q, err := a.function(r)
	if err != nil {
		return 0, nil, err
	}
	if q, err = eventInvokeQualifier(fn, q); err != nil {
		return 0, nil, err
	}
	if _, ok := fn.EventInvoke[q]; !ok {
		return 0, nil, errNoEventInvoke(fn, q)
	}
	if _, err := a.reg.Update(r.Context(), fn.Latest.FunctionName, func(f *registry.Function) error {
		delete(f.EventInvoke, q)
		return nil
	}); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

func (a *API) listEventInvoke(r *http.Request) (int, any, error) {
	fn, _, err := a.function(r)
	if err != nil {
		return 0, nil, err
	}
	qs := slices.Sorted(maps.Keys(fn.EventInvoke))
	items := make([]eventInvokeView, 0, len(qs))
	for _, q := range qs {
		items = append(items, eventInvokeView{lambda.QualifiedARN(fn.Latest.FunctionName, q), fn.EventInvoke[q]})
	}
	page, next, err := paginate(items, r.URL.Query().Get("Marker"), 50, func(v eventInvokeView) string { return v.FunctionArn })
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, struct {
		FunctionEventInvokeConfigs []eventInvokeView `json:"FunctionEventInvokeConfigs"`
		NextMarker                 string            `json:"NextMarker,omitempty"`
	}{page, next}, nil
}
