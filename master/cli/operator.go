package cli

import (
	"fmt"

	"github.com/brine-cm/brine/master"
)

// operatorCmd is `brine-master operator add NAME`: it creates a second
// operator's credential (an nkey seed, 0600) under DATA_DIR/operators,
// which the master loads at its next start. What the operator may run is
// limited by the `acl:` section of the master's config.
func operatorCmd(g Global, args []string, io IO) (int, error) {
	const usage = `usage: brine-master operator add NAME
Creates another operator's credential in DATA_DIR/operators/NAME.nk (0600),
loaded at the master's next start. Limit what it may run with acl: in the
master config; use it with --operator NAME --operator-key FILE.
`
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help") {
		fmt.Fprint(io.Out, usage)
		return 0, nil
	}
	if len(args) != 2 || args[0] != "add" {
		fmt.Fprint(io.Err, usage)
		return 2, nil
	}
	// Only the data dir matters here; the master need not be running.
	g.URL = "-"
	if err := g.resolve(); err != nil {
		return 1, err
	}
	cfg := master.Config{DataDir: g.DataDir}
	pub, file, err := master.AddOperator(cfg.OperatorsDir(), args[1])
	if err != nil {
		return 1, err
	}
	fmt.Fprintf(io.Out, "operator %s\npublic key: %s\ncredential: %s (keep it secret)\n", args[1], pub, file)
	fmt.Fprintf(io.Out, "the master loads it at its next start; then: brine-master --operator %s --operator-key %s run ...\n", args[1], file)
	return 0, nil
}
