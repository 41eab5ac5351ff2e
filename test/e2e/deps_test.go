package e2e

// The Go test function (testdata/gofn) is built by TestMain inside this module;
// these imports keep its dependency in go.mod (go mod tidy skips testdata).
import (
	_ "github.com/aws/aws-lambda-go/lambda"
	_ "github.com/aws/aws-lambda-go/lambdacontext"
)
