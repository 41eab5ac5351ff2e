package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nimbus-dev/nimbus/internal/config"
)

const schedulesUsage = "usage: nimbus schedules list [--next N] [--json]"

// scheduleView is one rule as GET /nimbus/v1/schedules shows it.
type scheduleView struct {
	Name               string      `json:"name"`
	ScheduleExpression string      `json:"scheduleExpression"`
	Timezone           string      `json:"timezone"`
	State              string      `json:"state"`
	Targets            []string    `json:"targets"`
	LastFire           *time.Time  `json:"lastFire"`
	NextFires          []time.Time `json:"nextFires"`
}

// schedulesCmd implements `nimbus schedules list`: every scheduled rule with
// its state, expression, last fire and next fire times (UTC), and targets.
func schedulesCmd(ctx context.Context, args []string, getenv config.Getenv, stdio IO) error {
	if len(args) == 0 || args[0] != "list" {
		fmt.Fprintln(stdio.Stderr, schedulesUsage)
		return ErrUsage
	}
	fs := flag.NewFlagSet("schedules list", flag.ContinueOnError)
	fs.SetOutput(stdio.Stderr)
	c := config.ClientFlags(fs, getenv)
	next := fs.Int("next", 3, "how many next fire times to show per rule (0-100)")
	raw := fs.Bool("json", false, "print the server's JSON answer")
	pos, err := parse(fs, args[1:])
	if err != nil || len(pos) != 0 || *next < 0 || *next > 100 {
		fmt.Fprintln(stdio.Stderr, schedulesUsage)
		return ErrUsage
	}
	resp, err := newDeployer(c).Do(ctx, http.MethodGet, "/nimbus/v1/schedules?next="+strconv.Itoa(*next), nil, nil)
	if err != nil {
		return apiError(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if *raw {
		_, err := stdio.Stdout.Write(append(body, '\n'))
		return err
	}
	var out struct {
		Schedules []scheduleView `json:"schedules"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return fmt.Errorf("unexpected answer from %s: %w", c.Endpoint, err)
	}
	return printSchedules(stdio.Stdout, out.Schedules)
}

func printSchedules(w io.Writer, schedules []scheduleView) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tSCHEDULE\tLAST FIRE\tNEXT FIRES\tTARGETS")
	orDash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	for _, s := range schedules {
		expr := s.ScheduleExpression
		if s.Timezone != "" {
			expr += " " + s.Timezone
		}
		last := ""
		if s.LastFire != nil {
			last = s.LastFire.UTC().Format(time.RFC3339)
		}
		var next []string
		for _, t := range s.NextFires {
			next = append(next, t.UTC().Format(time.RFC3339))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.State, expr, orDash(last),
			orDash(strings.Join(next, ", ")), orDash(strings.Join(s.Targets, ", ")))
	}
	return tw.Flush()
}
