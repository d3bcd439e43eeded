// Package compile turns Salt SLS files into low-state chunks, the way
// Salt's state compiler does: it renders each SLS, follows include,
// applies extend and exclude, turns the `_in` requisites and `use` into
// forward arguments, expands `names` and orders the result with Salt's
// auto-order, so that an SLS tree written for Salt compiles unchanged.
package compile

import (
	"strings"

	"github.com/brine-cm/brine/pkg/execmod"
	"github.com/brine-cm/brine/states"
)

// Options carries what a compilation needs beyond the SLS names.
type Options struct {
	// Saltenv is the file-server environment; "base" when empty.
	Saltenv string
	// States, when set, is used to reject unknown module.function
	// declarations at compile time with the state ID and SLS named.
	States *states.Registry
}

// Errors lists every problem found while compiling, each a Salt message
// prefixed with file:line:col where the position is known, so a user sees
// all mistakes of one SLS tree at once instead of one per run.
type Errors struct {
	List []string
}

// Error joins the messages one per line.
func (e *Errors) Error() string { return strings.Join(e.List, "\n") }

// Compile renders and compiles the named SLS (with includes, extend,
// exclude, names, `_in` requisites turned into forward ones where Salt
// does) into ordered low chunks.
func Compile(ec *execmod.Context, mods []string, opts Options) ([]states.Chunk, error) {
	high, err := High(ec, mods, opts)
	if err != nil {
		return nil, err
	}
	return Low(high)
}

// High renders the named SLS and their includes and returns the merged
// high data with extend, requisite_in, use and exclude applied; it is
// what state.show_sls prints.
func High(ec *execmod.Context, mods []string, opts Options) (HighData, error) {
	b := newBuilder(ec, opts)
	for _, m := range mods {
		b.renderTop(m)
	}
	if len(b.errs) > 0 {
		return HighData{}, &Errors{List: b.errs}
	}
	b.finish()
	if len(b.errs) > 0 {
		return HighData{}, &Errors{List: b.errs}
	}
	return b.high, nil
}
