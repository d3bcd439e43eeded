// Command brine-minion is the brine minion daemon and its local CLI
// (`call`, `grains`, `audit`).
package main

import (
	"fmt"
	"io"
	"os"
)

// subcommand is one verb of the CLI; each lives in its own file.
type subcommand struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

// commands is the static dispatch table; the daemon is the default when
// the first argument is a flag or absent.
var commands = map[string]subcommand{
	"daemon": {summary: "run the minion daemon (the default when the first argument is a flag)", run: runDaemon},
	"call":   {summary: "run one function locally, as salt-call (--local: masterless)", run: runCall},
	"grains": {summary: "print this host's grains (--out json|yaml|nested)", run: runGrains},
	"audit":  {summary: "this host's audit log: verify | show (--out json)", run: runAudit},
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
		usage(stdout)
		return 0
	}
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, ok := commands[args[0]]
		if !ok {
			fmt.Fprintf(stderr, "brine-minion: unknown command %q\n", args[0])
			usage(stderr)
			return 2
		}
		return cmd.run(args[1:], stdout, stderr)
	}
	daemon, ok := commands["daemon"]
	if !ok {
		fmt.Fprintln(stderr, "brine-minion: daemon not built in")
		return 2
	}
	return daemon.run(args, stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: brine-minion [daemon flags]          run the minion daemon")
	fmt.Fprintln(w, "       brine-minion COMMAND [flags] [args]")
	fmt.Fprintln(w, "commands:")
	for _, name := range sortedKeys(commands) {
		fmt.Fprintf(w, "  %-8s %s\n", name, commands[name].summary)
	}
}
