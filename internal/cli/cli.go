// Package cli implements nimbus's client subcommands. Each is a client of a
// running server's API (found by --endpoint-url / NIMBUS_ENDPOINT), using the AWS
// SDK for the Lambda API, exactly as any other AWS client would.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/smithy-go"

	"github.com/nimbus-dev/nimbus/internal/config"
	"github.com/nimbus-dev/nimbus/internal/lambda"
)

// IO is the standard streams of a command.
type IO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// ErrUsage is returned for a command line that does not parse (exit status 2).
var ErrUsage = errors.New("usage")

// Usage is the top-level help.
const Usage = `usage: nimbus <command> [flags]

commands:
  server                         run the platform (see nimbus server -h)
  invoke NAME [--payload JSON|@file|-] [--qualifier Q] [--log] [--async]
  functions list
  functions get NAME
  functions create NAME --runtime R --handler H (--zip FILE | --dir DIR) [--timeout S] [--memory MB] [--env K=V,…]
  functions update-code NAME (--zip FILE | --dir DIR)
  functions delete NAME
  logs NAME [--follow] [--since 10m]
  schedules list [--next N] [--json]
  deploy [--template template.yaml] [--stack-name NAME] [--parameter-overrides K=V …]
  dev [DIR] [--parameter-overrides K=V …] [--debug FUNCTION]   deploy, redeploy on save, stream logs
  validate [--template template.yaml] [--parameter-overrides K=V …] [--plan]
  delete [--stack-name NAME]
  stacks list | stacks get NAME
  deployments list | deployments get FUNCTION ALIAS   traffic shifts (DeploymentPreference)
  secrets set NAME [VALUE|--from-file F|-] | secrets list | secrets delete NAME

client commands talk to --endpoint-url (NIMBUS_ENDPOINT, default http://127.0.0.1:8900)
`

// Run runs a client subcommand (args[0] is the command name).
func Run(ctx context.Context, args []string, getenv config.Getenv, stdio IO) error {
	if len(args) == 0 {
		fmt.Fprint(stdio.Stderr, Usage)
		return ErrUsage
	}
	switch args[0] {
	case "invoke":
		return invokeCmd(ctx, args[1:], getenv, stdio)
	case "functions":
		return functionsCmd(ctx, args[1:], getenv, stdio)
	case "logs":
		return logsCmd(ctx, args[1:], getenv, stdio)
	case "schedules":
		return schedulesCmd(ctx, args[1:], getenv, stdio)
	case "deploy":
		return deployCmd(ctx, args[1:], getenv, stdio)
	case "dev":
		return devCmd(ctx, args[1:], getenv, stdio)
	case "validate":
		return validateCmd(ctx, args[1:], getenv, stdio)
	case "delete":
		return deleteCmd(ctx, args[1:], getenv, stdio)
	case "stacks":
		return stacksCmd(ctx, args[1:], getenv, stdio)
	case "deployments":
		return deploymentsCmd(ctx, args[1:], getenv, stdio)
	case "secrets":
		return secretsCmd(ctx, args[1:], getenv, stdio)
	case "help", "-h", "--help":
		fmt.Fprint(stdio.Stdout, Usage)
		return nil
	}
	fmt.Fprintf(stdio.Stderr, "nimbus: unknown command %q\n\n%s", args[0], Usage)
	return ErrUsage
}

// parse parses flags that may come before or after positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, ErrUsage
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func newClient(c *config.Client) *awslambda.Client {
	return awslambda.New(awslambda.Options{
		Region:       lambda.Region,
		BaseEndpoint: aws.String(c.Endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, ""),
		Retryer:      retry.AddWithMaxAttempts(retry.NewStandard(), 1),
		HTTPClient:   &http.Client{},
	})
}

// apiError prints an API error the way the AWS CLI does.
func apiError(err error) error {
	if ae, ok := errors.AsType[smithy.APIError](err); ok {
		return fmt.Errorf("%s: %s", ae.ErrorCode(), ae.ErrorMessage())
	}
	if strings.Contains(err.Error(), "connection refused") {
		return fmt.Errorf("%w (is `nimbus server` running? set --endpoint-url or NIMBUS_ENDPOINT)", err)
	}
	return err
}
