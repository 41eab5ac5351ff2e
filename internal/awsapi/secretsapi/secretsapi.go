// Package secretsapi serves the subset of the AWS Secrets Manager API that
// `aws secretsmanager` and the SDKs need to manage secrets, in the AWS JSON
// 1.1 protocol: POST / with "X-Amz-Target: secretsmanager.<Action>", over
// the secrets store (internal/secrets). Actions: CreateSecret,
// PutSecretValue, GetSecretValue, DescribeSecret, ListSecrets,
// DeleteSecret (RecoveryWindowInDays or ForceDeleteWithoutRecovery),
// RestoreSecret. It only decodes, checks wire shapes, calls the store and
// encodes.
//
// Only GetSecretValue answers with a value; every other answer carries
// metadata only, and nothing here logs request bodies. Errors are written
// by awsapi.JSONService in the JSON 1.1 shape ({"__type", "message"} and
// X-Amzn-ErrorType); internal errors are logged and answered 500
// InternalServiceError without their text.
package secretsapi

import (
	"log/slog"
	"net/http"

	"github.com/nimbus-dev/nimbus/internal/awsapi"
	"github.com/nimbus-dev/nimbus/internal/secrets"
)

// TargetPrefix starts the X-Amz-Target header of every Secrets Manager request.
const TargetPrefix = "secretsmanager."

// MaxBody bounds a request body: a 64 KiB value, base64-encoded if binary,
// and the rest of the request.
const MaxBody = 256 << 10

// API is the Secrets Manager API.
type API struct {
	s *secrets.Store
}

// New returns the API's handler over the secrets store.
func New(log *slog.Logger, s *secrets.Store) http.Handler {
	a := &API{s: s}
	return &awsapi.JSONService{
		Prefix:       TargetPrefix,
		ContentType:  "application/x-amz-json-1.1",
		MaxBody:      MaxBody,
		InternalCode: "InternalServiceError",
		Log:          log,
		Ops: map[string]awsapi.JSONOp{
			"CreateSecret":   a.createSecret,
			"PutSecretValue": a.putSecretValue,
			"GetSecretValue": a.getSecretValue,
			"DescribeSecret": a.describeSecret,
			"ListSecrets":    a.listSecrets,
			"DeleteSecret":   a.deleteSecret,
			"RestoreSecret":  a.restoreSecret,
		},
	}
}

var decode = awsapi.DecodeJSON
