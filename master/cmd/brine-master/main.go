// Command brine-master is the brine master daemon (`serve`) and the
// operator CLI (`key`, `run`, `jobs`, `audit`, ...).
package main

import (
	"fmt"
	"os"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	fmt.Fprintln(os.Stderr, "usage: brine-master serve|key|run|jobs|audit [flags]")
	if len(args) == 0 {
		return 2
	}
	return 2
}
