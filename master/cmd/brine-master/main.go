// Command brine-master is the brine master daemon (`serve`) and the
// operator CLI (`key`, `run`).
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/brine-cm/brine/master/cli"
)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	_, rest, err := cli.ExtractGlobal(args)
	if err != nil {
		fmt.Fprintln(stderr, "brine-master:", err)
		return 2
	}
	if len(rest) == 0 || rest[0] == "help" || rest[0] == "-h" || rest[0] == "--help" {
		usage(stdout)
		if len(rest) == 0 {
			return 2
		}
		return 0
	}
	if rest[0] == "serve" {
		return serve(args, stderr)
	}
	return cli.Main(args, cli.IO{In: stdin, Out: stdout, Err: stderr, Interactive: isTerminal(stdin)})
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: brine-master [--data-dir DIR] [--config FILE] COMMAND [flags] [args]
commands:
  serve    run the master (embedded NATS + JetStream)
             --listen HOST:PORT --data-dir DIR --file-root DIR --pillar-root DIR --log-level LEVEL
             --pprof 127.0.0.1:PORT (Go profiler, loopback only; or BRINE_PPROF)
  key      manage minion keys: list|accept|reject|delete|finger [ID|GLOB...] [--all] [-y] [--out json|yaml]
             salt-key letters: -L -a ID -A -r ID -R -d ID -D -f ID -F
  run      run a function: run [-E|-L|-G|-P|-I|-J|-S|-N|-C] [-t SECONDS] [--async] [-b N|N%] [--batch-wait S]
             [-v] [--out FORMAT] [--out-file FILE] [--expire DURATION] [--preview] [-p] TARGET FUNCTION [ARG...] [KEY=VALUE...]
  jobs     job history: list [--target T] [--function F] [--user U] [--since T] [--until T] | show JID | active | kill JID
  audit    the audit log: tail [-f] [-n N] | show [--actor --action --target --jid --since --until --minion ID]
             | verify [--local]; --out json prints JSON lines (see docs/audit.md)
  events   watch the master's events (Salt's state.event): events [TAG_GLOB] [--count N] [--timeout D] [--out json]
  operator add NAME   create another operator's credential (DATA_DIR/operators/NAME.nk, loaded at the
             next serve); limit it with acl: in the config; use it with --operator NAME --operator-key FILE
`)
}

// isTerminal is true only for a real terminal: /dev/null is a character
// device too, and a scripted `key accept` reading it must not be asked.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && isTTY(f)
}
