package lambda

import (
	"crypto/sha256"
	"encoding/base32"
	"strings"
)

// FunctionURLConfig is the durable record of one function URL (of $LATEST or
// of an alias), as the Lambda API shows it minus FunctionUrl and FunctionArn,
// which are derived.
type FunctionURLConfig struct {
	AuthType         string `json:"AuthType"` // NONE | AWS_IAM
	Cors             *Cors  `json:"Cors,omitempty"`
	InvokeMode       string `json:"InvokeMode"`       // BUFFERED | RESPONSE_STREAM
	CreationTime     string `json:"CreationTime"`     // ISO 8601
	LastModifiedTime string `json:"LastModifiedTime"` // ISO 8601
}

// Cors is a function URL's cross-origin resource sharing configuration.
type Cors struct {
	AllowCredentials *bool    `json:"AllowCredentials,omitempty"`
	AllowHeaders     []string `json:"AllowHeaders,omitempty"`
	AllowMethods     []string `json:"AllowMethods,omitempty"`
	AllowOrigins     []string `json:"AllowOrigins,omitempty"`
	ExposeHeaders    []string `json:"ExposeHeaders,omitempty"`
	MaxAge           *int     `json:"MaxAge,omitempty"`
}

// Function URL vocabulary.
const (
	AuthTypeNone      = "NONE"
	AuthTypeIAM       = "AWS_IAM"
	InvokeModeBuffer  = "BUFFERED"
	InvokeModeStream  = "RESPONSE_STREAM"
	URLTimeFormat     = "2006-01-02T15:04:05.000000Z"
	FunctionURLDomain = "lambda-url.localhost"
)

// MaxStreamedResponse is the most a streamed response may carry (AWS raised it
// from 20 MB to 200 MB in July 2025; docs "Response streaming for Lambda functions").
const MaxStreamedResponse = 200 << 20

var urlIDEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// FunctionURLID is the 32-character lower-case alphanumeric id in a function
// URL's host name (<id>.lambda-url.localhost), derived deterministically from
// the function name and the qualifier ("" and $LATEST are the same URL).
func FunctionURLID(name, qualifier string) string {
	if qualifier == "" {
		qualifier = Latest
	}
	sum := sha256.Sum256([]byte(name + "\x00" + qualifier))
	return strings.ToLower(urlIDEncoding.EncodeToString(sum[:]))[:32]
}
