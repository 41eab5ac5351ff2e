package debugger

import (
	"fmt"
	"strings"
)

// instructions returns how to attach to s with VS Code and JetBrains IDEs.
// taskRoot is where the environment sees the function's code ("" when it
// runs on the host's file system, where paths need no mapping).
func instructions(s *Session, taskRoot string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Function %s (%s) runs under %s on 127.0.0.1:%d, one environment at a time; "+
		"its init and invocation timeouts are suspended while debugging (the deadline the function sees is 15 minutes after the invocation starts).\n\n",
		s.Function, s.Runtime, s.Debugger, s.Port)
	switch s.Debugger {
	case Delve:
		writeDelve(&b, s)
	case Inspector:
		writeInspector(&b, s, taskRoot)
	case Debugpy:
		writeDebugpy(&b, s, taskRoot)
	}
	b.WriteString("\nThe debugger's process is the function's environment: it starts now, again after every code " +
		"or configuration change, and at the next invocation after the program exits; attach again then.\n" +
		"Stop debugging: DELETE /nimbus/v1/functions/" + s.Function + "/debug (or end `nimbus dev --debug`).\n")
	return b.String()
}

func writeDelve(b *strings.Builder, s *Session) {
	fmt.Fprintf(b, `Delve needs to be installed on the server's host once:
  go install github.com/go-delve/delve/cmd/dlv@%s
Build the function without optimisations for a faithful debugging experience:
  go build -gcflags="all=-N -l" -tags lambda.norpc -o bootstrap   (nimbus dev --debug does this)

VS Code (Go extension), .vscode/launch.json:
  {
    "name": "nimbus: %[2]s",
    "type": "go",
    "request": "attach",
    "mode": "remote",
    "host": "127.0.0.1",
    "port": %[3]d
  }

GoLand / IntelliJ IDEA: Run > Edit Configurations > + > Go Remote; Host 127.0.0.1, Port %[3]d; then Debug.

Command line: dlv connect 127.0.0.1:%[3]d
`, DelveVersion, s.Function, s.Port)
}

func writeInspector(b *strings.Builder, s *Session, taskRoot string) {
	remote := taskRoot
	if remote == "" {
		remote = "<the function's unpacked code directory>"
	}
	fmt.Fprintf(b, `VS Code, .vscode/launch.json ("restart" reattaches when the environment restarts):
  {
    "name": "nimbus: %[1]s",
    "type": "node",
    "request": "attach",
    "address": "127.0.0.1",
    "port": %[2]d,
    "restart": true,
    "localRoot": "${workspaceFolder}/<the function's CodeUri>",
    "remoteRoot": "%[3]s"
  }

WebStorm / IntelliJ IDEA: Run > Edit Configurations > + > Attach to Node.js/Chrome; Host 127.0.0.1, Port %[2]d,
tick "Reconnect automatically"; map the function's directory to the remote path %[3]s.

Chrome: open chrome://inspect and add 127.0.0.1:%[2]d under "Discover network targets".
`, s.Function, s.Port, remote)
}

func writeDebugpy(b *strings.Builder, s *Session, taskRoot string) {
	remote := taskRoot
	if remote == "" {
		remote = "<the function's unpacked code directory>"
	}
	fmt.Fprintf(b, `VS Code (Python Debugger extension), .vscode/launch.json:
  {
    "name": "nimbus: %[1]s",
    "type": "debugpy",
    "request": "attach",
    "connect": { "host": "127.0.0.1", "port": %[2]d },
    "pathMappings": [
      { "localRoot": "${workspaceFolder}/<the function's CodeUri>", "remoteRoot": "%[3]s" }
    ],
    "justMyCode": true
  }

PyCharm / IntelliJ IDEA: their remote debugging speaks pydevd, not debugpy's protocol (DAP), so they cannot
attach here; use VS Code or another DAP client (nvim-dap, Emacs dape) with the settings above.
`, s.Function, s.Port, remote)
}
