package lambda

// EventInvokeConfig is a function's (or version's or alias's) configuration for
// asynchronous invocation, as the Lambda API shows it
// (FunctionEventInvokeConfig), minus FunctionArn which is derived.
type EventInvokeConfig struct {
	MaximumRetryAttempts     *int               `json:"MaximumRetryAttempts,omitempty"`
	MaximumEventAgeInSeconds *int               `json:"MaximumEventAgeInSeconds,omitempty"`
	DestinationConfig        *DestinationConfig `json:"DestinationConfig,omitempty"`
	LastModified             float64            `json:"LastModified"` // epoch seconds
}

// DestinationConfig names where async invocation records go.
type DestinationConfig struct {
	OnSuccess *Destination `json:"OnSuccess,omitempty"`
	OnFailure *Destination `json:"OnFailure,omitempty"`
}

// Destination is a function, queue, topic or event bus ARN.
type Destination struct {
	Destination string `json:"Destination,omitempty"`
}

// Async defaults and bounds.
const (
	DefaultAsyncRetries = 2
	DefaultAsyncMaxAge  = 21600 // seconds, 6 h
	MinAsyncMaxAge      = 60
)

// Retries returns the configured retry attempts or the default.
func (c *EventInvokeConfig) Retries() int {
	if c == nil || c.MaximumRetryAttempts == nil {
		return DefaultAsyncRetries
	}
	return *c.MaximumRetryAttempts
}

// MaxAge returns the configured maximum event age in seconds or the default.
func (c *EventInvokeConfig) MaxAge() int {
	if c == nil || c.MaximumEventAgeInSeconds == nil {
		return DefaultAsyncMaxAge
	}
	return *c.MaximumEventAgeInSeconds
}

// OnSuccess and OnFailure return the destination ARNs ("" when none).
func (c *EventInvokeConfig) OnSuccess() string {
	if c == nil || c.DestinationConfig == nil || c.DestinationConfig.OnSuccess == nil {
		return ""
	}
	return c.DestinationConfig.OnSuccess.Destination
}

func (c *EventInvokeConfig) OnFailure() string {
	if c == nil || c.DestinationConfig == nil || c.DestinationConfig.OnFailure == nil {
		return ""
	}
	return c.DestinationConfig.OnFailure.Destination
}
