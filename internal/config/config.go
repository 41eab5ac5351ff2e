// Package config turns command-line flags and environment variables into plain
// structs. It is the only reader of the process environment: every flag has an
// environment variable (flags win), and zero values are documented defaults.
package config

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"
)

// Server configures `nimbus server` (and the embedded server of `nimbus dev`).
type Server struct {
	DataDir        string
	APIAddr        string
	GatewayAddr    string
	AsyncRetryBase time.Duration
	KeepAlive      time.Duration
	// KeepAlivePolicy is "fixed" (every idle environment stays KeepAlive) or
	// "adaptive" (keepalive.Adaptive, KeepAlive while it learns).
	KeepAlivePolicy string
	// CPUPlacement is "on" (each environment bound to its share of the
	// CPUs, scheduled SCHED_BATCH; see sandbox) or "off".
	CPUPlacement string
	RuntimeMap   map[string]string
	// AccessKeys maps access key ids to secrets; empty means no authentication
	// (only allowed on loopback addresses).
	AccessKeys map[string]string
	// AccountConcurrency is the account concurrency limit.
	AccountConcurrency int
	// UnreservedMin is how much of it reservations must leave unreserved.
	UnreservedMin int
	// ScaleUpRate is how many new environments a function may start per 10 s.
	ScaleUpRate int
	// Prestart is how many Node/Python interpreters per runtime in use are
	// started ahead of cold starts (0: none).
	Prestart int
	LogLevel string
	// SecretsKeyFile holds the 32-byte key that seals secrets and stack
	// records; empty means <DataDir>/secrets.key (generated on first run).
	SecretsKeyFile string
	// SecretsKey is the key as base64 (NIMBUS_SECRETS_KEY only, never a flag,
	// so it stays out of process listings); when set, no key file is used.
	SecretsKey string
}

// Client configures the client subcommands.
type Client struct {
	Endpoint        string
	AccessKeyID     string
	SecretAccessKey string
}

// Getenv is how config reads the environment (os.Getenv in main).
type Getenv func(string) string

// ParseServer parses the server's flags.
func ParseServer(name string, args []string, getenv Getenv, stderr io.Writer) (*Server, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &Server{}
	var runtimeMap, accessKeys string
	fs.StringVar(&c.DataDir, "data-dir", env(getenv, "NIMBUS_DATA_DIR", "./.nimbus"), "directory for all durable state (NIMBUS_DATA_DIR)")
	fs.StringVar(&c.APIAddr, "api-addr", env(getenv, "NIMBUS_API_ADDR", "127.0.0.1:8900"), "address of the AWS-compatible API; port 0 picks one (NIMBUS_API_ADDR)")
	fs.StringVar(&c.GatewayAddr, "gateway-addr", env(getenv, "NIMBUS_GATEWAY_ADDR", "127.0.0.1:8080"), "address of the HTTP gateway; port 0 picks one (NIMBUS_GATEWAY_ADDR)")
	fs.DurationVar(&c.AsyncRetryBase, "async-retry-base", envDuration(getenv, "NIMBUS_ASYNC_RETRY_BASE", time.Minute), "delay before the first retry of a failed async invocation (NIMBUS_ASYNC_RETRY_BASE)")
	fs.DurationVar(&c.KeepAlive, "keep-alive", envDuration(getenv, "NIMBUS_KEEP_ALIVE", 10*time.Minute), "how long idle execution environments stay warm (NIMBUS_KEEP_ALIVE)")
	fs.StringVar(&c.KeepAlivePolicy, "keep-alive-policy", env(getenv, "NIMBUS_KEEP_ALIVE_POLICY", "fixed"), "fixed: idle environments stay --keep-alive; adaptive: learn each function's pattern, keep warm and pre-warm by expected cost (NIMBUS_KEEP_ALIVE_POLICY)")
	fs.StringVar(&c.CPUPlacement, "cpu-placement", env(getenv, "NIMBUS_CPU_PLACEMENT", "on"), "on: bind each execution environment to ceil(MemorySize/1769 MB) of the CPUs, least used first, scheduled SCHED_BATCH; off: let them run anywhere (NIMBUS_CPU_PLACEMENT)")
	fs.StringVar(&runtimeMap, "runtime-map", getenv("NIMBUS_RUNTIME_MAP"), "run runtimes on another's interpreter, e.g. python3.12=python3.11,nodejs22.x=nodejs20.x (NIMBUS_RUNTIME_MAP)")
	fs.StringVar(&accessKeys, "access-keys", getenv("NIMBUS_ACCESS_KEYS"), "ACCESS_KEY_ID:SECRET[,…]: require SigV4 signatures by these keys (NIMBUS_ACCESS_KEYS)")
	fs.IntVar(&c.AccountConcurrency, "account-concurrency", envInt(getenv, "NIMBUS_ACCOUNT_CONCURRENCY", 1000), "account concurrency limit (NIMBUS_ACCOUNT_CONCURRENCY)")
	fs.IntVar(&c.UnreservedMin, "unreserved-min", envInt(getenv, "NIMBUS_UNRESERVED_MIN", 100), "concurrency that reservations must leave unreserved (NIMBUS_UNRESERVED_MIN)")
	fs.IntVar(&c.Prestart, "prestart", envInt(getenv, "NIMBUS_PRESTART", 2), "Node and Python interpreters per runtime in use kept started, in their own sandboxes, ahead of cold starts; 0: none (NIMBUS_PRESTART)")
	fs.IntVar(&c.ScaleUpRate, "scale-up-rate", envInt(getenv, "NIMBUS_SCALE_UP_RATE", 1000), "new execution environments per function per 10 s (NIMBUS_SCALE_UP_RATE)")
	fs.StringVar(&c.SecretsKeyFile, "secrets-key-file", getenv("NIMBUS_SECRETS_KEY_FILE"), "file holding the 32-byte key that encrypts secrets and stack records; default <data-dir>/secrets.key, generated on first run (NIMBUS_SECRETS_KEY_FILE; NIMBUS_SECRETS_KEY=<base64> gives the key itself)")
	c.SecretsKey = getenv("NIMBUS_SECRETS_KEY")
	fs.StringVar(&c.LogLevel, "log-level", env(getenv, "NIMBUS_LOG_LEVEL", "info"), "server log level: debug, info, warn, error (NIMBUS_LOG_LEVEL)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if c.SecretsKeyFile == "" {
		c.SecretsKeyFile = filepath.Join(c.DataDir, "secrets.key")
	}
	var err error
	if c.RuntimeMap, err = pairs(runtimeMap, "="); err != nil {
		return nil, fmt.Errorf("--runtime-map: %w", err)
	}
	if c.AccessKeys, err = pairs(accessKeys, ":"); err != nil {
		return nil, fmt.Errorf("--access-keys: %w", err)
	}
	if c.AccountConcurrency < 1 || c.UnreservedMin < 0 || c.UnreservedMin > c.AccountConcurrency || c.ScaleUpRate < 1 || c.Prestart < 0 {
		return nil, fmt.Errorf("--account-concurrency must be ≥ 1, --unreserved-min within it, --scale-up-rate ≥ 1, --prestart ≥ 0")
	}
	if c.AsyncRetryBase <= 0 {
		return nil, fmt.Errorf("--async-retry-base must be positive")
	}
	if c.CPUPlacement != "on" && c.CPUPlacement != "off" {
		return nil, fmt.Errorf("--cpu-placement must be on or off")
	}
	if c.KeepAlivePolicy != "fixed" && c.KeepAlivePolicy != "adaptive" {
		return nil, fmt.Errorf("--keep-alive-policy must be fixed or adaptive")
	}
	return c, nil
}

// ClientFlags registers the client flags on fs and returns the config they fill.
func ClientFlags(fs *flag.FlagSet, getenv Getenv) *Client {
	c := &Client{}
	fs.StringVar(&c.Endpoint, "endpoint-url", env(getenv, "NIMBUS_ENDPOINT", "http://127.0.0.1:8900"), "nimbus API endpoint (NIMBUS_ENDPOINT)")
	c.AccessKeyID = env(getenv, "AWS_ACCESS_KEY_ID", "nimbus")
	c.SecretAccessKey = env(getenv, "AWS_SECRET_ACCESS_KEY", "nimbus")
	return c
}

func env(getenv Getenv, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

func envDuration(getenv Getenv, key string, def time.Duration) time.Duration {
	if v := getenv(key); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return def
}

func envInt(getenv Getenv, key string, def int) int {
	if v := getenv(key); v != "" {
		var n int
		if _, err := fmt.Sscanf(v, "%d", &n); err == nil {
			return n
		}
	}
	return def
}

// pairs parses "k1=v1,k2=v2" with the given separator.
func pairs(s, sep string) (map[string]string, error) {
	out := map[string]string{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		k, v, ok := strings.Cut(item, sep)
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("%q is not KEY%sVALUE", item, sep)
		}
		out[k] = v
	}
	return out, nil
}
