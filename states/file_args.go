package states

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/brine-cm/brine/pkg/execmod"
)

// The helpers in this file are shared by the file, cmd, user, group and
// cron state modules: argument coercion that names the state and argument
// on bad input, and Salt-shaped result builders.

// modArgs reads one state call's arguments and keeps the first coercion
// error, so a state function can read every argument and check once.
type modArgs struct {
	fn  string // "file.managed", used in error messages
	m   map[string]any
	err error
}

func newModArgs(fn string, r *Request) *modArgs {
	m := r.Args
	if m == nil {
		m = map[string]any{}
	}
	return &modArgs{fn: fn, m: m}
}

func (a *modArgs) fail(err error) {
	if a.err == nil && err != nil {
		a.err = fmt.Errorf("%s: %w", a.fn, err)
	}
}

func (a *modArgs) has(key string) bool { return execmod.Has(a.m, key) }

func (a *modArgs) str(key, def string) string {
	s, err := execmod.Str(a.m, key, def)
	a.fail(err)
	return s
}

func (a *modArgs) boolean(key string, def bool) bool {
	b, err := execmod.Bool(a.m, key, def)
	a.fail(err)
	return b
}

func (a *modArgs) integer(key string, def int) int {
	i, err := execmod.Int(a.m, key, def)
	a.fail(err)
	return i
}

func (a *modArgs) float(key string, def float64) float64 {
	f, err := execmod.Float(a.m, key, def)
	a.fail(err)
	return f
}

func (a *modArgs) strList(key string) []string {
	l, err := execmod.StrList(a.m, key)
	a.fail(err)
	return l
}

func (a *modArgs) mapping(key string) map[string]any {
	m, err := execmod.Map(a.m, key)
	a.fail(err)
	return m
}

func (a *modArgs) mapList(key string) map[string]any {
	m, err := execmod.MapList(a.m, key)
	a.fail(err)
	return m
}

// mode reads a file mode the way Salt normalises it: "0644", 644, "644"
// and "0o644" all mean octal 644; the result is Salt's four-digit string
// ("0644") and the numeric value. Absent gives ("", 0, false).
func (a *modArgs) mode(key string) (string, uint32, bool) {
	v, ok := a.m[key]
	if !ok || v == nil {
		return "", 0, false
	}
	s, okS := execmod.ToString(v)
	if !okS {
		a.fail(&execmod.ArgError{Arg: key, Want: "an octal file mode", Got: v})
		return "", 0, false
	}
	norm, n, err := normalizeMode(s)
	if err != nil {
		a.fail(&execmod.ArgError{Arg: key, Want: "an octal file mode", Got: v})
		return "", 0, false
	}
	return norm, n, true
}

// normalizeMode follows Salt's salt.utils.files.normalize_mode.
func normalizeMode(s string) (string, uint32, error) {
	s = strings.Trim(strings.TrimSpace(s), `"'`)
	s = strings.Replace(s, "0o", "0", 1)
	s = strings.TrimLeft(s, "0")
	for len(s) < 4 {
		s = "0" + s
	}
	n, err := strconv.ParseUint(s, 8, 32)
	if err != nil || n > 0o7777 {
		return "", 0, fmt.Errorf("bad mode %q", s)
	}
	return s, uint32(n), nil
}

// outcome builds Salt's return dict incrementally.
type outcome struct {
	name    string
	result  *bool
	changes map[string]any
	comment []string
}

func newOutcome(name string) *outcome {
	t := true
	return &outcome{name: name, result: &t, changes: map[string]any{}}
}

func (r *outcome) ok(comment string) Result {
	t := true
	r.result = &t
	r.comment = []string{comment}
	return r.done()
}

func (r *outcome) failed(comment string) Result {
	f := false
	r.result = &f
	r.comment = []string{comment}
	return r.done()
}

func (r *outcome) pending(comment string) Result {
	r.result = nil
	r.comment = []string{comment}
	return r.done()
}

func (r *outcome) done() Result {
	return Result{Result: r.result, Changes: r.changes, Comment: strings.Join(r.comment, "\n"), Name: r.name}
}

// argFail is the result for bad arguments: Salt reports them as a failed
// state whose comment names the problem.
func argFail(name string, err error) Result {
	return newOutcome(name).failed(err.Error())
}
