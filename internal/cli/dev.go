package cli

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/nimbus-dev/nimbus/internal/config"
	"github.com/nimbus-dev/nimbus/internal/dev"
	"github.com/nimbus-dev/nimbus/internal/template"
)

const devUsage = "usage: nimbus dev [DIR] [--template template.yaml] [--stack-name NAME] [--parameter-overrides K=V …] [--debug FUNCTION [--debug-port N]]\n" +
	"                  [--data-dir DIR/.nimbus] [--api-addr 127.0.0.1:8900] [--gateway-addr 127.0.0.1:8080]"

// devCmd is `nimbus dev`: deploy DIR's template, redeploy on every save,
// stream the logs (package dev).
func devCmd(ctx context.Context, args []string, getenv config.Getenv, stdio IO) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stdio.Stderr)
	c := config.ClientFlags(fs, getenv)
	var tf templateFlags
	tf.register(fs)
	dataDir := fs.String("data-dir", getenv("NIMBUS_DATA_DIR"), "the embedded server's data directory (NIMBUS_DATA_DIR; default DIR/.nimbus)")
	apiAddr := fs.String("api-addr", getenv("NIMBUS_API_ADDR"), "the embedded server's API address (NIMBUS_API_ADDR; default: --endpoint-url's)")
	gatewayAddr := fs.String("gateway-addr", cmp.Or(getenv("NIMBUS_GATEWAY_ADDR"), "127.0.0.1:8080"), "the embedded server's gateway address (NIMBUS_GATEWAY_ADDR)")
	debug := fs.String("debug", "", "run this function (logical id or name) under a debugger")
	debugPort := fs.Int("debug-port", 0, "the debugger's port (default: the runtime's)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 && !strings.Contains(pos[0], "=") {
		if tf.template != "" {
			fmt.Fprintf(stdio.Stderr, "nimbus dev: give DIR or --template, not both\n%s\n", devUsage)
			return ErrUsage
		}
		tf.template, pos = pos[0], pos[1:]
	}
	if err := tf.takeOverrides(pos); err != nil {
		fmt.Fprintf(stdio.Stderr, "nimbus dev: %v\n%s\n", err, devUsage)
		return ErrUsage
	}
	path, err := templatePath(tf.template)
	if err != nil {
		return err
	}
	tf.template = path
	endpoint, embedAPI, err := devAddresses(c.Endpoint, *apiAddr)
	if err != nil {
		fmt.Fprintf(stdio.Stderr, "nimbus dev: %v\n%s\n", err, devUsage)
		return ErrUsage
	}
	return dev.Run(ctx, dev.Config{
		Load: func(endpoint string) (*template.Plan, error) {
			plan, _, err := tf.load(endpoint)
			return plan, err
		},
		Template: path,
		Endpoint: endpoint,
		Embedded: dev.EmbeddedConfig{
			DataDir:     cmp.Or(*dataDir, filepath.Join(filepath.Dir(path), ".nimbus")),
			APIAddr:     embedAPI,
			GatewayAddr: *gatewayAddr,
		},
		AccessKeyID:     c.AccessKeyID,
		SecretAccessKey: c.SecretAccessKey,
		Debug:           *debug,
		DebugPort:       *debugPort,
		Out:             stdio.Stdout,
		Color:           isTerminal(stdio.Stdout) && getenv("NO_COLOR") == "",
		Progress:        progress(stdio.Stdout),
	})
}

// devAddresses decides where dev looks for a server and where an embedded
// one listens: at --api-addr if given (a port 0 one is always started
// anew), else at --endpoint-url's host and port.
func devAddresses(endpoint, apiAddr string) (probe, listen string, err error) {
	if apiAddr != "" {
		if _, port, err := net.SplitHostPort(apiAddr); err != nil {
			return "", "", fmt.Errorf("--api-addr %q: %v", apiAddr, err)
		} else if port == "0" {
			return "", apiAddr, nil
		}
		return "http://" + apiAddr, apiAddr, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "http" || u.Port() == "" {
		return "", "", fmt.Errorf("--endpoint-url %q: want http://HOST:PORT (or set --api-addr)", endpoint)
	}
	return endpoint, u.Host, nil
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
