package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nimbus-dev/nimbus/internal/config"
	"github.com/nimbus-dev/nimbus/internal/deploy"
	"github.com/nimbus-dev/nimbus/internal/template"
)

const (
	deployUsage   = "usage: nimbus deploy [--template template.yaml] [--stack-name NAME] [--parameter-overrides K=V …]"
	validateUsage = "usage: nimbus validate [--template template.yaml] [--stack-name NAME] [--parameter-overrides K=V …] [--plan]"
	deleteUsage   = "usage: nimbus delete [--stack-name NAME | NAME] [--template template.yaml]"
	stacksUsage   = "usage:\n  nimbus stacks list\n  nimbus stacks get NAME"
)

// templateFlags are the flags deploy and validate share.
type templateFlags struct {
	template  string
	stack     string
	overrides overrides
}

func (tf *templateFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&tf.template, "template", "", "the SAM template (default template.yaml, or template.yml)")
	fs.StringVar(&tf.template, "t", "", "shorthand for --template")
	fs.StringVar(&tf.stack, "stack-name", "", "the stack's name (default: the name of the template's directory)")
	fs.Var(&tf.overrides, "parameter-overrides", "parameter values K=V (repeatable; more K=V may follow)")
}

// overrides collects --parameter-overrides values: K=V, several K=V in one
// space-separated string (as SAM's config file writes them), or
// ParameterKey=K,ParameterValue=V.
type overrides struct {
	set  bool
	vals map[string]string
}

func (o *overrides) String() string { return "" }

func (o *overrides) Set(s string) error {
	o.set = true
	if o.vals == nil {
		o.vals = map[string]string{}
	}
	parts := []string{s}
	if fields := strings.Fields(s); len(fields) > 1 && allHaveEquals(fields) {
		parts = fields
	}
	for _, p := range parts {
		if rest, ok := strings.CutPrefix(p, "ParameterKey="); ok {
			k, v, ok := strings.Cut(rest, ",ParameterValue=")
			if !ok || k == "" {
				return fmt.Errorf("%q: want ParameterKey=K,ParameterValue=V", p)
			}
			o.vals[k] = v
			continue
		}
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return fmt.Errorf("%q: want KEY=VALUE", p)
		}
		o.vals[k] = v
	}
	return nil
}

func allHaveEquals(fields []string) bool {
	for _, f := range fields {
		if !strings.Contains(f, "=") {
			return false
		}
	}
	return true
}

// takeOverrides accepts the positional arguments that follow
// --parameter-overrides A=1 (B=2 C=3 …) as more overrides.
func (tf *templateFlags) takeOverrides(pos []string) error {
	for _, p := range pos {
		if !tf.overrides.set || !strings.Contains(p, "=") {
			return fmt.Errorf("unexpected argument %q", p)
		}
		if err := tf.overrides.Set(p); err != nil {
			return err
		}
	}
	return nil
}

// load finds, parses and plans the template.
func (tf *templateFlags) load(endpoint string) (*template.Plan, string, error) {
	path, err := templatePath(tf.template)
	if err != nil {
		return nil, "", err
	}
	dir := filepath.Dir(path)
	stack := tf.stack
	if stack == "" {
		if stack, err = stackName(dir); err != nil {
			return nil, path, err
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, path, err
	}
	t, err := template.Parse(data)
	if err != nil {
		return nil, path, fmt.Errorf("%s:\n%w", path, err)
	}
	plan, err := t.Plan(template.Options{Stack: stack, Dir: dir, Parameters: tf.overrides.vals, Endpoint: endpoint})
	if err != nil {
		return nil, path, fmt.Errorf("%s:\n%w", path, err)
	}
	return plan, path, nil
}

// templatePath resolves --template: empty means template.yaml (or
// template.yml) in the current directory; a directory means the template in it.
func templatePath(name string) (string, error) {
	if name == "" {
		name = "."
	}
	if fi, err := os.Stat(name); err == nil && fi.IsDir() {
		for _, n := range []string{"template.yaml", "template.yml", "template.json"} {
			if p := filepath.Join(name, n); fileExists(p) {
				return filepath.Abs(p)
			}
		}
		return "", fmt.Errorf("no template.yaml in %s (set --template)", name)
	}
	if !fileExists(name) {
		return "", fmt.Errorf("template %s not found", name)
	}
	return filepath.Abs(name)
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// stackName is the default stack name: the template directory's name,
// with characters a stack name cannot hold replaced by '-'.
func stackName(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	base := filepath.Base(abs)
	var b strings.Builder
	for _, c := range base {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9' && b.Len() > 0:
			b.WriteRune(c)
		case b.Len() > 0:
			b.WriteByte('-')
		}
	}
	name := strings.Trim(b.String(), "-")
	if len(name) > 128 {
		name = name[:128]
	}
	if !template.ValidStackName(name) {
		return "", fmt.Errorf("cannot name the stack after directory %q: set --stack-name", base)
	}
	return name, nil
}

func newDeployer(c *config.Client) *deploy.Deployer {
	return deploy.New(deploy.Config{Endpoint: c.Endpoint, AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey})
}

func deployCmd(ctx context.Context, args []string, getenv config.Getenv, stdio IO) error {
	fs := flag.NewFlagSet("deploy", flag.ContinueOnError)
	fs.SetOutput(stdio.Stderr)
	c := config.ClientFlags(fs, getenv)
	var tf templateFlags
	tf.register(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := tf.takeOverrides(pos); err != nil {
		fmt.Fprintf(stdio.Stderr, "nimbus deploy: %v\n%s\n", err, deployUsage)
		return ErrUsage
	}
	plan, path, err := tf.load(c.Endpoint)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdio.Stdout, "Deploying stack %s from %s to %s\n", plan.Stack, path, c.Endpoint)
	printWarnings(stdio.Stderr, plan.Warnings)
	res, err := newDeployer(c).Deploy(ctx, plan, deploy.Options{Progress: progress(stdio.Stdout)})
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("deploy of stack %s interrupted: %w", plan.Stack, err)
		}
		return fmt.Errorf("deploy of stack %s failed: %w", plan.Stack, err)
	}
	res.WriteSummary(stdio.Stdout)
	return nil
}

func validateCmd(ctx context.Context, args []string, getenv config.Getenv, stdio IO) error {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stdio.Stderr)
	c := config.ClientFlags(fs, getenv)
	var tf templateFlags
	tf.register(fs)
	printPlan := fs.Bool("plan", false, "print the resolved plan (JSON)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := tf.takeOverrides(pos); err != nil {
		fmt.Fprintf(stdio.Stderr, "nimbus validate: %v\n%s\n", err, validateUsage)
		return ErrUsage
	}
	plan, path, err := tf.load(c.Endpoint)
	if err != nil {
		return err
	}
	if *printPlan {
		return printJSON(stdio, plan)
	}
	counts := map[string]int{}
	var kinds []string
	for i := range plan.Resources {
		k := plan.Resources[i].Type
		if counts[k] == 0 {
			kinds = append(kinds, k)
		}
		counts[k]++
	}
	fmt.Fprintf(stdio.Stdout, "%s is valid: stack %s, %d resources\n", path, plan.Stack, len(plan.Resources))
	for _, k := range kinds {
		fmt.Fprintf(stdio.Stdout, "  %3d %s\n", counts[k], k)
	}
	for _, u := range plan.Unsupported {
		fmt.Fprintf(stdio.Stdout, "  not deployed: %s (%s): %s\n", u.LogicalID, u.Type, u.Reason)
	}
	printWarnings(stdio.Stdout, plan.Warnings)
	return nil
}

func deleteCmd(ctx context.Context, args []string, getenv config.Getenv, stdio IO) error {
	fs := flag.NewFlagSet("delete", flag.ContinueOnError)
	fs.SetOutput(stdio.Stderr)
	c := config.ClientFlags(fs, getenv)
	stack := fs.String("stack-name", "", "the stack to delete (default: the name of the template's directory)")
	tmpl := fs.String("template", "", "the template whose directory names the stack")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 1 || len(pos) == 1 && *stack != "":
		fmt.Fprintln(stdio.Stderr, deleteUsage)
		return ErrUsage
	case len(pos) == 1:
		*stack = pos[0]
	case *stack == "":
		path, err := templatePath(*tmpl)
		if err != nil {
			return fmt.Errorf("%w; or name the stack (--stack-name)", err)
		}
		if *stack, err = stackName(filepath.Dir(path)); err != nil {
			return err
		}
	}
	start := time.Now()
	if err := newDeployer(c).Delete(ctx, *stack, progress(stdio.Stdout)); err != nil {
		return fmt.Errorf("delete of stack %s failed: %w", *stack, err)
	}
	fmt.Fprintf(stdio.Stdout, "\nStack %s deleted in %s.\n", *stack, time.Since(start).Round(time.Millisecond))
	return nil
}

func stacksCmd(ctx context.Context, args []string, getenv config.Getenv, stdio IO) error {
	if len(args) == 0 {
		fmt.Fprintln(stdio.Stderr, stacksUsage)
		return ErrUsage
	}
	fs := flag.NewFlagSet("stacks "+args[0], flag.ContinueOnError)
	fs.SetOutput(stdio.Stderr)
	c := config.ClientFlags(fs, getenv)
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	d := newDeployer(c)
	switch {
	case args[0] == "list" && len(pos) == 0:
		stacks, err := d.Stacks(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdio.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tRESOURCES\tDEPLOYED\tDESCRIPTION")
		for _, s := range stacks {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", s.Name, s.Resources, s.DeployedAt.Local().Format(time.DateTime), s.Description)
		}
		return tw.Flush()
	case args[0] == "get" && len(pos) == 1:
		s, err := d.Stack(ctx, pos[0])
		if err != nil {
			return err
		}
		return printJSON(stdio, s)
	}
	fmt.Fprintln(stdio.Stderr, stacksUsage)
	return ErrUsage
}

func printWarnings(w io.Writer, warnings []string) {
	for _, s := range warnings {
		fmt.Fprintf(w, "warning: %s\n", s)
	}
}

var actionSymbols = map[deploy.Action]string{
	deploy.ActionBuild: "*", deploy.ActionCreate: "+", deploy.ActionUpdate: "~", deploy.ActionReplace: "~",
	deploy.ActionDelete: "-", deploy.ActionUnchanged: "=", deploy.ActionRetain: "!", deploy.ActionSkip: "!",
}

// progress prints deploy events as they happen:
//
//   - build     Function            HelloFn (go, 1.2s)
//   - create    Function            hello-HelloFn
//     ~ update    Function            hello-HelloFn
//   - delete    Queue               hello-Jobs
//     = unchanged Api                 hellohttpapi1a2b3c4d
func progress(w io.Writer) func(deploy.Event) {
	return func(e deploy.Event) {
		sym := actionSymbols[e.Action]
		name := e.PhysicalID
		if name == "" || e.Action == deploy.ActionBuild {
			name = e.LogicalID
		}
		var notes []string
		if e.Detail != "" {
			notes = append(notes, e.Detail)
		}
		if e.Elapsed >= 100*time.Millisecond {
			notes = append(notes, e.Elapsed.Round(10*time.Millisecond).String())
		}
		suffix := ""
		if len(notes) > 0 {
			suffix = " (" + strings.Join(notes, ", ") + ")"
		}
		fmt.Fprintf(w, "%s %-9s %-18s  %s%s\n", sym, e.Action, e.Kind, name, suffix)
	}
}
