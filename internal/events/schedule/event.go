package schedule

import (
	"crypto/sha256"
	"encoding/json"
	"time"

	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// scheduledEvent is EventBridge's "Scheduled Event", fields in AWS's order.
type scheduledEvent struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       string          `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// Event returns the Scheduled Event of rule name's occurrence at: its time
// is the scheduled time (not when it was sent), its id is stable for the
// occurrence.
func Event(name string, at time.Time) []byte {
	b, _ := json.Marshal(scheduledEvent{
		Version: "0", ID: stableUUID(RuleARN(name), at.UTC().Format(time.RFC3339)), DetailType: "Scheduled Event",
		Source: "aws.events", Account: lambda.Account, Time: at.UTC().Format("2006-01-02T15:04:05Z"),
		Region: lambda.Region, Resources: []string{RuleARN(name)}, Detail: json.RawMessage("{}"),
	})
	return b
}

// DeliveryID is the id of the delivery of rule name's occurrence at to
// target: the Lambda request id (the async queue's deduplication id) or the
// state machine execution name. The same inputs always give the same id.
func DeliveryID(name string, at time.Time, target string) string {
	return stableUUID(RuleARN(name), at.UTC().Format(time.RFC3339), target)
}

// stableUUID derives a UUID (version 8, RFC 9562) from parts.
func stableUUID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	var b [32]byte
	h.Sum(b[:0])
	return lambda.FormatUUID([16]byte(b[:16]), 8)
}
