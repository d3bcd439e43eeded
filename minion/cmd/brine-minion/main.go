// Command brine-minion is the brine minion daemon and its local CLI
// (`call`, `grains`, `audit`).
package main

import (
	"fmt"
	"os"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	fmt.Fprintln(os.Stderr, "usage: brine-minion [call --local ...|grains|audit] [flags]")
	return 2
}
