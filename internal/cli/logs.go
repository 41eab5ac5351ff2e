package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/nimbus-dev/nimbus/internal/config"
	"github.com/nimbus-dev/nimbus/internal/lambda"
)

func logsCmd(ctx context.Context, args []string, getenv config.Getenv, stdio IO) error {
	fs := flag.NewFlagSet("logs", flag.ContinueOnError)
	fs.SetOutput(stdio.Stderr)
	c := config.ClientFlags(fs, getenv)
	follow := fs.Bool("follow", false, "keep printing new log records")
	since := fs.Duration("since", 0, "only records from this long ago, e.g. 10m (default: all)")
	pos, err := parse(fs, args)
	if err != nil || len(pos) != 1 {
		fmt.Fprintln(stdio.Stderr, "usage: nimbus logs NAME [--follow] [--since 10m]")
		return ErrUsage
	}
	q := url.Values{}
	if *since > 0 {
		q.Set("since", time.Now().Add(-*since).UTC().Format(time.RFC3339Nano))
	}
	if *follow {
		q.Set("follow", "true")
	}
	u := c.Endpoint + "/nimbus/v1/functions/" + url.PathEscape(pos[0]) + "/logs?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	empty := sha256.Sum256(nil)
	err = v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey},
		req, hex.EncodeToString(empty[:]), "lambda", lambda.Region, time.Now())
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return apiError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: %s", resp.Header.Get("X-Amzn-ErrorType"), b)
	}
	if _, err := io.Copy(stdio.Stdout, resp.Body); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}
