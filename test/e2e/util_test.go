package e2e

import (
	"crypto/sha256"
	"encoding/base64"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
)

func sha256b64(b []byte) string {
	s := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(s[:])
}

func awsRequestID(md middleware.Metadata) (string, bool) {
	return awsmiddleware.GetRequestIDMetadata(md)
}
