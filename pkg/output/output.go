// Package output prints job returns the way Salt's outputters do (json,
// yaml, nested, highstate, txt, raw), so that operators who read or parse
// `salt-call` output read and parse brine's unchanged.
package output

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/brine-cm/brine/proto"
)

// ErrUnknownFormat is returned for an --out value no printer handles, so the
// CLI can report a usage error (exit 2) rather than a run failure.
var ErrUnknownFormat = errors.New("unknown output format")

// Formats lists every format Print accepts, for usage text and validation.
var Formats = []string{"highstate", "json", "nested", "raw", "txt", "yaml"}

// Options tune a printer the way Salt's state_output/state_verbose/color
// settings do; the zero value is Salt's default minus colour.
type Options struct {
	// Color adds ANSI colours; Print turns it on only for terminals.
	Color bool
	// StateOutput is Salt's state_output: full (default), terse, mixed,
	// changes, optionally with an "_id" suffix.
	StateOutput string
	// HideClean hides states that succeeded without changes
	// (Salt's state_verbose: False).
	HideClean bool
	// Static prints all minions as one JSON document instead of one
	// document per minion (Salt's --static).
	Static bool
	// Retcode colours nested output red when non-zero, as Salt does.
	Retcode int
}

// Print writes results, keyed by minion id, in format; colours are used
// only when w is a terminal, so pipes and files stay plain.
func Print(w io.Writer, format string, results map[string]any) error {
	return Fprint(w, format, results, Options{Color: IsTerminal(w)})
}

// Fprint is Print with explicit options.
func Fprint(w io.Writer, format string, results map[string]any, opts Options) error {
	bw := bufio.NewWriter(w)
	var err error
	switch format {
	case "", "nested":
		err = printNested(bw, results, opts)
	case "highstate":
		err = printHighstate(bw, results, opts)
	case "json":
		err = printJSON(bw, results, opts)
	case "yaml":
		err = printYAML(bw, results)
	case "txt":
		err = printTxt(bw, results)
	case "raw":
		err = printRaw(bw, results)
	default:
		return fmt.Errorf("%w %q (want one of %v)", ErrUnknownFormat, format, Formats)
	}
	if err != nil {
		return err
	}
	return bw.Flush()
}

// IsTerminal reports whether w is a character device, the same test Salt
// uses to decide on colours, without a terminal library.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	if err != nil {
		return false
	}
	return st.Mode()&os.ModeCharDevice != 0
}

func sortedIDs(m map[string]any) []string {
	ids := make([]string, 0, len(m))
	for k := range m {
		ids = append(ids, k)
	}
	sort.Strings(ids)
	return ids
}

// Normalize turns any return value (structs such as proto.StateResult,
// typed maps and slices) into the generic tree every printer walks:
// map[string]any, []any, string, bool, nil, int64, float64.
func Normalize(v any) any {
	switch x := v.(type) {
	case nil, string, bool, int64, float64:
		return x
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case uint32:
		return int64(x)
	case uint64:
		return int64(x)
	case float32:
		return float64(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = Normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = Normalize(e)
		}
		return out
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out
	case map[string]string:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = e
		}
		return out
	case proto.StateResult:
		return stateResultMap(&x)
	case *proto.StateResult:
		if x == nil {
			return nil
		}
		return stateResultMap(x)
	case map[string]proto.StateResult:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = stateResultMap(&e)
		}
		return out
	case error:
		return x.Error()
	}
	// Anything else goes through its JSON form, as it would on the wire.
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return decodeGeneric(b)
}

func decodeGeneric(b []byte) any {
	var g any
	d := json.NewDecoder(bytesReader(b))
	d.UseNumber()
	if err := d.Decode(&g); err != nil {
		return string(b)
	}
	return fromJSONNumbers(g)
}

func fromJSONNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = fromJSONNumbers(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = fromJSONNumbers(e)
		}
		return x
	}
	return v
}

func stateResultMap(r *proto.StateResult) map[string]any {
	var res any
	if r.Result != nil {
		res = *r.Result
	}
	ch := map[string]any{}
	if r.Changes != nil {
		ch = Normalize(r.Changes).(map[string]any)
	}
	return map[string]any{
		"name":        r.Name,
		"changes":     ch,
		"result":      res,
		"comment":     r.Comment,
		"__sls__":     r.SLS,
		"__run_num__": int64(r.RunNum),
		"start_time":  r.StartTime,
		"duration":    r.Duration,
		"__id__":      r.ID,
	}
}
