package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/nimbus-dev/nimbus/internal/config"
	"github.com/nimbus-dev/nimbus/internal/lambda"
)

const secretsUsage = `usage:
  nimbus secrets set NAME [VALUE | --from-file FILE | -] [--description D]
      creates the secret or stores a new value; '-' reads the value from stdin
      (one trailing newline dropped) so it stays out of shell history
  nimbus secrets list                  names and dates, never values
  nimbus secrets delete NAME [--recovery-window DAYS]
      deletes at once, or after a recovery window of 7 to 30 days

functions read secrets through {{resolve:secretsmanager:NAME}} or
{{resolve:secretsmanager:NAME:SecretString:JSONKEY}} in environment variables`

// secretsCmd manages secrets through the Secrets Manager API, as
// `aws secretsmanager` would.
func secretsCmd(ctx context.Context, args []string, getenv config.Getenv, stdio IO) error {
	if len(args) == 0 {
		fmt.Fprintln(stdio.Stderr, secretsUsage)
		return ErrUsage
	}
	fset := flag.NewFlagSet("secrets "+args[0], flag.ContinueOnError)
	fset.SetOutput(stdio.Stderr)
	c := config.ClientFlags(fset, getenv)
	fromFile := fset.String("from-file", "", "read the value from FILE (exact bytes)")
	description := fset.String("description", "", "the secret's description (set only)")
	window := fset.Int("recovery-window", 0, "delete after this many days (7 to 30) instead of at once")
	pos, err := parse(fset, args[1:])
	if err != nil {
		return err
	}
	cl := newSecretsClient(c)
	switch {
	case args[0] == "set" && (len(pos) == 1 || len(pos) == 2):
		value, err := secretValue(pos[1:], *fromFile, stdio.Stdin)
		if err != nil {
			return err
		}
		return setSecret(ctx, cl, pos[0], value, *description, stdio)
	case args[0] == "list" && len(pos) == 0:
		return listSecrets(ctx, cl, stdio)
	case args[0] == "delete" && len(pos) == 1:
		in := &sm.DeleteSecretInput{SecretId: &pos[0], ForceDeleteWithoutRecovery: aws.Bool(*window == 0)}
		if *window != 0 {
			in.RecoveryWindowInDays = aws.Int64(int64(*window))
		}
		out, err := cl.DeleteSecret(ctx, in)
		if err != nil {
			return apiError(err)
		}
		if *window != 0 {
			fmt.Fprintf(stdio.Stdout, "%s will be deleted on %s (restore with aws secretsmanager restore-secret)\n", pos[0], out.DeletionDate.UTC().Format(time.RFC3339))
			return nil
		}
		fmt.Fprintf(stdio.Stdout, "deleted %s\n", pos[0])
		return nil
	}
	fmt.Fprintln(stdio.Stderr, secretsUsage)
	return ErrUsage
}

func newSecretsClient(c *config.Client) *sm.Client {
	return sm.New(sm.Options{
		Region:       lambda.Region,
		BaseEndpoint: aws.String(c.Endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, ""),
		Retryer:      retry.AddWithMaxAttempts(retry.NewStandard(), 1),
		HTTPClient:   &http.Client{},
	})
}

// secretValue takes the value from the argument, the file, or stdin ("-").
func secretValue(arg []string, fromFile string, stdin io.Reader) (string, error) {
	switch {
	case len(arg) == 1 && fromFile != "":
		return "", fmt.Errorf("give the value as an argument, --from-file or '-', not two of them")
	case fromFile != "":
		b, err := os.ReadFile(fromFile)
		return string(b), err
	case len(arg) == 0:
		return "", fmt.Errorf("no value: give VALUE, --from-file FILE, or '-' to read stdin")
	case arg[0] == "-":
		if stdin == nil {
			return "", fmt.Errorf("no stdin to read the value from")
		}
		b, err := io.ReadAll(io.LimitReader(stdin, 1<<20))
		if err != nil {
			return "", err
		}
		s := strings.TrimSuffix(string(b), "\n")
		return strings.TrimSuffix(s, "\r"), nil
	}
	return arg[0], nil
}

// setSecret stores a new value, creating the secret if it does not exist.
func setSecret(ctx context.Context, cl *sm.Client, name, value, description string, stdio IO) error {
	put, err := cl.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: &name, SecretString: &value})
	if err == nil {
		fmt.Fprintf(stdio.Stdout, "updated %s (version %s)\n", aws.ToString(put.ARN), aws.ToString(put.VersionId))
		return nil
	}
	if _, ok := errors.AsType[*smtypes.ResourceNotFoundException](err); !ok {
		return apiError(err)
	}
	in := &sm.CreateSecretInput{Name: &name, SecretString: &value}
	if description != "" {
		in.Description = &description
	}
	out, err := cl.CreateSecret(ctx, in)
	if err != nil {
		return apiError(err)
	}
	fmt.Fprintf(stdio.Stdout, "created %s\n", aws.ToString(out.ARN))
	return nil
}

func listSecrets(ctx context.Context, cl *sm.Client, stdio IO) error {
	tw := tabwriter.NewWriter(stdio.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCREATED\tLAST CHANGED\tDESCRIPTION")
	p := sm.NewListSecretsPaginator(cl, &sm.ListSecretsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return apiError(err)
		}
		for _, s := range page.SecretList {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", aws.ToString(s.Name), date(s.CreatedDate), date(s.LastChangedDate), aws.ToString(s.Description))
		}
	}
	return tw.Flush()
}

func date(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
