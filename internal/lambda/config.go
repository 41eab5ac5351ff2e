// Package lambda is the pure vocabulary of functions: their configuration as the
// Lambda API shows it, ARNs and qualifiers, runtimes' limits, and the error kinds
// every other package speaks. It does no I/O.
package lambda

import (
	"strings"
	"time"
)

// Limits of the Lambda service that nimbus enforces.
const (
	MaxSyncPayload     = 6 << 20     // 6 MB request and response, RequestResponse
	MaxAsyncPayload    = 1 << 20     // 1 MB, Event
	MaxResponsePayload = 6<<20 + 100 // what the Runtime API accepts before Function.ResponseSizeTooLarge
	MaxEnvBytes        = 4 << 10     // customer environment variables, total
	MaxClientContext   = 3583        // bytes of base64 X-Amz-Client-Context
	InitTimeout        = 10 * time.Second
	DefaultTimeout     = 3
	DefaultMemory      = 128
	DefaultEphemeral   = 512
	TailBytes          = 4 << 10
)

// TimeFormat is how the Lambda API formats LastModified.
const TimeFormat = "2006-01-02T15:04:05.000-0700"

// Config is a function version's configuration exactly as the Lambda API returns it
// (FunctionConfiguration). It is also the durable record of that version.
type Config struct {
	FunctionName     string            `json:"FunctionName"`
	FunctionArn      string            `json:"FunctionArn"`
	Runtime          string            `json:"Runtime,omitempty"`
	Role             string            `json:"Role"`
	Handler          string            `json:"Handler,omitempty"`
	CodeSize         int64             `json:"CodeSize"`
	Description      string            `json:"Description"`
	Timeout          int               `json:"Timeout"`
	MemorySize       int               `json:"MemorySize"`
	LastModified     string            `json:"LastModified"`
	CodeSha256       string            `json:"CodeSha256"`
	Version          string            `json:"Version"`
	Environment      *Environment      `json:"Environment,omitempty"`
	DeadLetterConfig *DeadLetterConfig `json:"DeadLetterConfig,omitempty"`
	TracingConfig    TracingConfig     `json:"TracingConfig"`
	RevisionId       string            `json:"RevisionId"`
	State            string            `json:"State"`
	StateReason      string            `json:"StateReason,omitempty"`
	StateReasonCode  string            `json:"StateReasonCode,omitempty"`
	LastUpdateStatus string            `json:"LastUpdateStatus"`
	PackageType      string            `json:"PackageType"`
	Architectures    []string          `json:"Architectures"`
	EphemeralStorage EphemeralStorage  `json:"EphemeralStorage"`
	LoggingConfig    LoggingConfig     `json:"LoggingConfig"`
	SnapStart        SnapStart         `json:"SnapStart"`
}

type Environment struct {
	Variables map[string]string `json:"Variables"`
}
type DeadLetterConfig struct {
	TargetArn string `json:"TargetArn,omitempty"`
}
type TracingConfig struct {
	Mode string `json:"Mode"`
}
type EphemeralStorage struct {
	Size int `json:"Size"`
}
type LoggingConfig struct {
	LogFormat string `json:"LogFormat"`
	LogGroup  string `json:"LogGroup"`
}
type SnapStart struct {
	ApplyOn            string `json:"ApplyOn"`
	OptimizationStatus string `json:"OptimizationStatus"`
}

// States of a function and of its last update.
const (
	StateActive      = "Active"
	StatePending     = "Pending"
	StateFailed      = "Failed"
	UpdateSuccessful = "Successful"
	UpdateInProgress = "InProgress"
	UpdateFailed     = "Failed"
)

// LogGroup returns the log group name of a function.
func LogGroup(name string) string { return "/aws/lambda/" + name }

// EnvVars returns the customer's environment variables (nil-safe).
func (c *Config) EnvVars() map[string]string {
	if c.Environment == nil {
		return nil
	}
	return c.Environment.Variables
}

// Qualified returns the ARN of this version.
func (c *Config) QualifiedARN() string { return QualifiedARN(c.FunctionName, c.Version) }

// InvocationType is X-Amz-Invocation-Type.
type InvocationType string

const (
	RequestResponse InvocationType = "RequestResponse"
	Event           InvocationType = "Event"
	DryRun          InvocationType = "DryRun"
)

// Runtime families: how a runtime's functions are started and built.
const (
	FamilyProvided = "provided" // provided.al2023, provided.al2: the function's own bootstrap
	FamilyNode     = "node"     // nodejs20.x, nodejs22.x
	FamilyPython   = "python"   // python3.11, python3.12
)

// RuntimeFamily is a runtime identifier's family, or "" for one nimbus does
// not run (go1.x, java21, …).
func RuntimeFamily(runtime string) string {
	switch {
	case strings.HasPrefix(runtime, "provided"):
		return FamilyProvided
	case strings.HasPrefix(runtime, "nodejs"):
		return FamilyNode
	case strings.HasPrefix(runtime, "python"):
		return FamilyPython
	}
	return ""
}
