// Command nimbus is a self-hosted serverless platform: `nimbus server` runs it,
// every other subcommand is a client of a running server.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/nimbus-dev/nimbus/internal/app"
	"github.com/nimbus-dev/nimbus/internal/cli"
	"github.com/nimbus-dev/nimbus/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, cli.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	switch {
	case err == nil:
	case errors.Is(err, cli.ErrUsage):
		os.Exit(2)
	case errors.Is(err, cli.ErrFunction):
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, "nimbus:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv config.Getenv, stdio cli.IO) error {
	if len(args) > 0 && args[0] == "server" {
		cfg, err := config.ParseServer("server", args[1:], getenv, stdio.Stderr)
		if err != nil {
			return cli.ErrUsage
		}
		return app.Run(ctx, cfg, stdio.Stdout, stdio.Stderr)
	}
	return cli.Run(ctx, args, getenv, stdio)
}

var _ io.Writer = os.Stdout
