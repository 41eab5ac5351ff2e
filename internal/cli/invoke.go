package cli

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/nimbus-dev/nimbus/internal/config"
)

// ErrFunction is returned when the invoked function failed (exit status 1); its
// error document has been printed.
var ErrFunction = fmt.Errorf("function error")

func invokeCmd(ctx context.Context, args []string, getenv config.Getenv, stdio IO) error {
	fs := flag.NewFlagSet("invoke", flag.ContinueOnError)
	fs.SetOutput(stdio.Stderr)
	c := config.ClientFlags(fs, getenv)
	payload := fs.String("payload", "", "event: JSON, @file, or - for standard input")
	qualifier := fs.String("qualifier", "", "version or alias")
	withLog := fs.Bool("log", false, "print the last 4 KB of the invocation's log on stderr")
	async := fs.Bool("async", false, "invoke asynchronously (InvocationType Event)")
	pos, err := parse(fs, args)
	if err != nil || len(pos) != 1 {
		fmt.Fprintln(stdio.Stderr, "usage: nimbus invoke NAME [--payload JSON|@file|-] [--qualifier Q] [--log] [--async]")
		return ErrUsage
	}
	body, err := readPayload(*payload, stdio.Stdin)
	if err != nil {
		return err
	}
	in := &awslambda.InvokeInput{FunctionName: aws.String(pos[0]), Payload: body}
	if *qualifier != "" {
		in.Qualifier = qualifier
	}
	if *withLog {
		in.LogType = types.LogTypeTail
	}
	if *async {
		in.InvocationType = types.InvocationTypeEvent
	}
	out, err := newClient(c).Invoke(ctx, in)
	if err != nil {
		return apiError(err)
	}
	if *withLog && out.LogResult != nil {
		if b, err := base64.StdEncoding.DecodeString(*out.LogResult); err == nil {
			stdio.Stderr.Write(b)
		}
	}
	if *async {
		fmt.Fprintf(stdio.Stdout, "accepted (%d)\n", out.StatusCode)
		return nil
	}
	stdio.Stdout.Write(out.Payload)
	if len(out.Payload) > 0 && out.Payload[len(out.Payload)-1] != '\n' {
		fmt.Fprintln(stdio.Stdout)
	}
	if out.FunctionError != nil {
		return ErrFunction
	}
	return nil
}

func readPayload(p string, stdin io.Reader) ([]byte, error) {
	switch {
	case p == "":
		return []byte("{}"), nil
	case p == "-":
		return io.ReadAll(stdin)
	case strings.HasPrefix(p, "@"):
		return os.ReadFile(p[1:])
	}
	return []byte(p), nil
}
