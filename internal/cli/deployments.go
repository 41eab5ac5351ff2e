package cli

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/nimbus-dev/nimbus/internal/config"
	"github.com/nimbus-dev/nimbus/internal/shift"
)

const deploymentsUsage = "usage: nimbus deployments list [--json] | nimbus deployments get FUNCTION ALIAS [--json]"

// deploymentsCmd implements `nimbus deployments`: the traffic shifts of
// aliases (DeploymentPreference), as the server's shifter runs them.
func deploymentsCmd(ctx context.Context, args []string, getenv config.Getenv, stdio IO) error {
	if len(args) == 0 {
		fmt.Fprintln(stdio.Stderr, deploymentsUsage)
		return ErrUsage
	}
	fs := flag.NewFlagSet("deployments "+args[0], flag.ContinueOnError)
	fs.SetOutput(stdio.Stderr)
	c := config.ClientFlags(fs, getenv)
	raw := fs.Bool("json", false, "print the server's JSON answer")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	d := newDeployer(c)
	switch {
	case args[0] == "list" && len(pos) == 0:
		list, err := d.Deployments(ctx)
		if err != nil {
			return apiError(err)
		}
		if *raw {
			return printJSON(stdio, list)
		}
		tw := tabwriter.NewWriter(stdio.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "FUNCTION\tALIAS\tFROM\tTO\tSTATUS\tTO-WEIGHT\tTYPE\tUPDATED")
		for _, x := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%g%%\t%s\t%s\n", x.Function, x.Alias, x.From, x.To, x.Status, 100*x.Weight, kind(x), x.UpdatedAt.Local().Format(time.DateTime))
		}
		return tw.Flush()
	case args[0] == "get" && len(pos) == 2:
		x, err := d.Deployment(ctx, pos[0], pos[1])
		if err != nil {
			return apiError(err)
		}
		if *raw {
			return printJSON(stdio, x)
		}
		printDeployment(stdio, x)
		return nil
	}
	fmt.Fprintln(stdio.Stderr, deploymentsUsage)
	return ErrUsage
}

func kind(d *shift.Deployment) string {
	if d.Type != "" {
		return d.Type
	}
	return d.Kind
}

func printDeployment(stdio IO, d *shift.Deployment) {
	w := stdio.Stdout
	fmt.Fprintf(w, "deployment %s: %s:%s from version %s to %s (%s)\n", d.ID, d.Function, d.Alias, d.From, d.To, kind(d))
	fmt.Fprintf(w, "status: %s, version %s has %g%% of the traffic\n", d.Status, d.To, 100*d.Weight)
	if !d.NextStepAt.IsZero() {
		fmt.Fprintf(w, "next step: %s\n", d.NextStepAt.Local().Format(time.DateTime))
	}
	if h := d.Health; h != nil {
		fmt.Fprintf(w, "this interval: version %s %d invocations, %d errors; version %s %d invocations, %d errors\n",
			d.To, h.ToInvocations, h.ToErrors, d.From, h.FromInvocations, h.FromErrors)
	}
	if d.Reason != "" {
		fmt.Fprintf(w, "reason: %s\n", d.Reason)
	}
	for _, e := range d.Events {
		fmt.Fprintf(w, "  %s  %s\n", e.At.Local().Format(time.DateTime), e.Message)
	}
}
