package target_test

import (
	"fmt"

	"github.com/brine-cm/brine/pkg/target"
)

func ExampleParse() {
	opts := target.Options{Nodegroups: map[string]string{"loop": "N@other", "other": "N@loop"}}
	for _, expr := range []string{"web* and E@db(", "( web* or db*", "web* or db*)", "web* and X@foo", "web* or N@nosuch", "web* and", "and web*", "web* db*", ""} {
		_, err := target.Parse(target.Compound, expr, opts)
		fmt.Println(err)
	}
	_, err := target.Parse(target.Nodegroup, "loop", opts)
	fmt.Println(err)
	e, _ := target.Parse(target.Compound, "(web* or db*) and not G@os:Debian", opts)
	fmt.Println(e.Match(&target.Minion{ID: "web1", Grains: map[string]any{"os": "Ubuntu"}}), e)
	// Output:
	// target "web* and E@db(": column 12: invalid regular expression: missing closing ): `db(`
	// target "( web* or db*": column 1: unbalanced parentheses: "(" is never closed
	// target "web* or db*)": column 12: unbalanced parentheses: ")" has no matching "("
	// target "web* and X@foo": column 10: unknown prefix "X@" (want one of G@ P@ I@ J@ E@ L@ S@ N@)
	// target "web* or N@nosuch": column 11: unknown nodegroup "nosuch"
	// target "web* and": column 6: dangling operator "and": nothing follows it
	// target "and web*": column 1: expression cannot start with operator "and"
	// target "web* db*": column 6: missing operator before "db*"
	// target "": column 1: empty expression
	// target "loop": column 1: nodegroup cycle: loop -> other -> loop
	// true ( web* or db* ) and not G@os:Debian
}
