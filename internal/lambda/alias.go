package lambda

import "regexp"

// Alias is an alias as the Lambda API returns it (AliasConfiguration).
type Alias struct {
	AliasArn        string        `json:"AliasArn"`
	Name            string        `json:"Name"`
	FunctionVersion string        `json:"FunctionVersion"`
	Description     string        `json:"Description"`
	RoutingConfig   *AliasRouting `json:"RoutingConfig,omitempty"`
	RevisionId      string        `json:"RevisionId"`
}

// AliasRouting sends a share of an alias's invocations to one other version.
type AliasRouting struct {
	AdditionalVersionWeights map[string]float64 `json:"AdditionalVersionWeights,omitempty"`
}

var aliasRE = regexp.MustCompile(`^(?:[a-zA-Z0-9_-]*[a-zA-Z_-][a-zA-Z0-9_-]*)$`)

// ValidAliasName reports whether name can name an alias (not a number, not $LATEST).
func ValidAliasName(name string) bool { return len(name) <= 128 && aliasRE.MatchString(name) }

// Provisioned is the durable part of a provisioned concurrency configuration.
type Provisioned struct {
	Requested    int    `json:"requested"`
	LastModified string `json:"lastModified"`
}
