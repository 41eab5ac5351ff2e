package shift

import (
	"fmt"
	"strconv"
	"time"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// Kinds of traffic shifting (the template's DeploymentPreference kinds).
const (
	Canary    = "canary"    // Percent for one interval, then everything
	Linear    = "linear"    // Percent more every interval
	AllAtOnce = "allAtOnce" // everything at once (after the PreTraffic hook)
)

// Status is where a deployment is.
type Status string

const (
	PreTraffic  Status = "PreTraffic"  // the PreTraffic hook is to run; no traffic on the new version
	Shifting    Status = "Shifting"    // the alias routes Weight of its traffic to the new version
	PostTraffic Status = "PostTraffic" // everything on the new version; the PostTraffic hook is to run
	Succeeded   Status = "Succeeded"   // the alias points at the new version
	RolledBack  Status = "RolledBack"  // the alias points at the old version again; see Reason
	Stopped     Status = "Stopped"     // the function or alias went away; see Reason
)

// Done reports whether a deployment in status s has finished.
func (s Status) Done() bool { return s == Succeeded || s == RolledBack || s == Stopped }

// Spec is what a deploy asks for: move alias Alias of Function from version
// From (default: the version it points at) to version To.
type Spec struct {
	Function string `json:"function"`
	Alias    string `json:"alias"`
	From     string `json:"from,omitempty"`
	To       string `json:"to"`
	// Type is the preference as written (Canary10Percent5Minutes), for display.
	Type    string `json:"type,omitempty"`
	Kind    string `json:"kind"`
	Percent int    `json:"percent,omitempty"`
	// IntervalMinutes is the time between steps; IntervalSeconds, when set,
	// replaces it (short shifts for tests and demos).
	IntervalMinutes int `json:"intervalMinutes,omitempty"`
	IntervalSeconds int `json:"intervalSeconds,omitempty"`
	// PreTraffic and PostTraffic name hook functions (name, name:qualifier
	// or ARN); empty means none.
	PreTraffic  string `json:"preTraffic,omitempty"`
	PostTraffic string `json:"postTraffic,omitempty"`
}

// Interval is the time between two steps.
func (s *Spec) Interval() time.Duration {
	if s.IntervalSeconds > 0 {
		return time.Duration(s.IntervalSeconds) * time.Second
	}
	return time.Duration(s.IntervalMinutes) * time.Minute
}

// check validates a spec (From may still be empty).
func (s *Spec) check() error {
	switch {
	case s.Function == "" || s.Alias == "":
		return lambda.InvalidParameter("a deployment needs a function and an alias")
	case !lambda.ValidAliasName(s.Alias):
		return lambda.InvalidParameter("%q is not an alias name", s.Alias)
	case !isVersion(s.To):
		return lambda.InvalidParameter("to must be a published version number, not %q", s.To)
	case s.From != "" && !isVersion(s.From):
		return lambda.InvalidParameter("from must be a published version number, not %q", s.From)
	case s.IntervalMinutes < 0 || s.IntervalSeconds < 0:
		return lambda.InvalidParameter("intervals cannot be negative")
	}
	switch s.Kind {
	case AllAtOnce:
	case Canary, Linear:
		if s.Percent < 1 || s.Percent > 99 {
			return lambda.InvalidParameter("percent must be 1-99, not %d", s.Percent)
		}
		if s.Interval() <= 0 {
			return lambda.InvalidParameter("a %s deployment needs intervalMinutes (or intervalSeconds)", s.Kind)
		}
	default:
		return lambda.InvalidParameter("kind must be canary, linear or allAtOnce, not %q", s.Kind)
	}
	return nil
}

func isVersion(v string) bool {
	n, err := strconv.Atoi(v)
	return err == nil && n > 0 && strconv.Itoa(n) == v
}

// weight is the new version's share after step k (0-based): canary goes
// Percent, then 1; linear goes Percent, 2·Percent, … up to 1; allAtOnce
// goes to 1 at once.
func (s *Spec) weight(k int) float64 {
	switch s.Kind {
	case Canary:
		if k == 0 {
			return float64(s.Percent) / 100
		}
	case Linear:
		if p := (k + 1) * s.Percent; p < 100 {
			return float64(p) / 100
		}
	}
	return 1
}

// Event is one thing that happened to a deployment.
type Event struct {
	At      time.Time `json:"at"`
	Message string    `json:"message"`
}

// maxEvents bounds a record's event list (the oldest go first).
const maxEvents = 100

// Health is the current interval's invocations of each version, as the
// rollback rule sees them.
type Health struct {
	Since           time.Time `json:"since"`
	FromInvocations uint64    `json:"fromInvocations"`
	FromErrors      uint64    `json:"fromErrors"`
	ToInvocations   uint64    `json:"toInvocations"`
	ToErrors        uint64    `json:"toErrors"`
}

// Deployment is the durable record of an alias's last traffic shift
// (KV bucket "nimbus_deployments", key "<function>.<alias>", JSON).
type Deployment struct {
	ID string `json:"id"`
	Spec
	Status Status `json:"status"`
	// Weight is the new version's share of the alias's traffic (0-1).
	Weight float64 `json:"weight"`
	// Step counts the weights applied so far.
	Step int `json:"step"`
	// NextStepAt is when the weight rises next (while Shifting).
	NextStepAt time.Time `json:"nextStepAt,omitzero"`
	StartedAt  time.Time `json:"startedAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
	// Reason says why a deployment was rolled back or stopped.
	Reason string  `json:"reason,omitempty"`
	Events []Event `json:"events"`
	// Health is the current interval's counts (not stored: computed when read).
	Health *Health `json:"health,omitempty"`
}

// key is the record's KV key.
func (d *Deployment) key() string { return key(d.Function, d.Alias) }

func key(function, alias string) string { return function + "." + alias }

func (d *Deployment) event(at time.Time, format string, args ...any) string {
	msg := fmt.Sprintf(format, args...)
	d.Events = append(d.Events, Event{At: at, Message: msg})
	if n := len(d.Events); n > maxEvents {
		d.Events = d.Events[n-maxEvents:]
	}
	d.UpdatedAt = at
	return msg
}
