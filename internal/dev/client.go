package dev

import (
	"errors"
	"net/http"
	"strings"

	"github.com/nimbus-dev/nimbus/internal/deploy"
)

// client calls nimbus's own endpoints (/nimbus/v1/…) on the API address
// with the deployer's signed requests (deploy.Deployer.Do).
type client struct {
	*deploy.Deployer
}

// unknownOperation reports whether err says the server does not provide
// the endpoint.
func unknownOperation(err error) bool {
	e, ok := errors.AsType[*deploy.APIError](err)
	return ok && e.Status == http.StatusNotFound && strings.HasPrefix(e.Code, "UnknownOperation")
}
