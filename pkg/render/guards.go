package render

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/exec"
)

// A template is data an operator (or an attacker with write access to
// pillar-driven names) controls; rendering one must fail with an error,
// never exhaust the minion's memory. These limits sit far above anything
// a real formula does.
const (
	maxRange   = 100000  // items range() may produce
	maxRepeat  = 1 << 24 // bytes or items 'x' * n and [..] * n may produce
	maxPadding = 100000  // widths for center/indent/ljust/format and friends
)

var errTooLarge = errors.New("value too large for a template")

// pyRange replaces gonja's range (a goroutine feeding a channel, leaked
// when the loop stops early) with Python's semantics on a list.
func pyRange(va *exec.VarArgs) (any, error) {
	var start, stop, step = 0, 0, 1
	ints := make([]int, len(va.Args))
	for i, a := range va.Args {
		if !a.IsInteger() {
			return nil, exec.ErrInvalidCall(fmt.Errorf("range() arguments must be integers, not %q", a.String()))
		}
		ints[i] = a.Integer()
	}
	switch len(ints) {
	case 1:
		stop = ints[0]
	case 2:
		start, stop = ints[0], ints[1]
	case 3:
		start, stop, step = ints[0], ints[1], ints[2]
	default:
		return nil, exec.ErrInvalidCall(errors.New("range() takes 1 to 3 integer arguments"))
	}
	if step == 0 {
		return nil, exec.ErrInvalidCall(errors.New("range() step must not be zero"))
	}
	var n int
	if step > 0 && stop > start {
		n = (stop - start + step - 1) / step
	} else if step < 0 && stop < start {
		n = (start - stop - step - 1) / -step
	}
	if n < 0 || n > maxRange {
		return nil, fmt.Errorf("range() of %d items: %w", n, errTooLarge)
	}
	out := make([]any, n)
	for i := range out {
		out[i] = start + i*step
	}
	return listPtr(out), nil
}

func pyMul(l, r *exec.Value) (any, error) {
	switch {
	case l.IsString() && r.IsInteger(), l.IsInteger() && r.IsString():
		s, n := l.String(), r.Integer()
		if l.IsInteger() {
			s, n = r.String(), l.Integer()
		}
		if n <= 0 {
			return "", nil
		}
		if len(s) > 0 && n > maxRepeat/len(s) {
			return nil, fmt.Errorf("string repeated %d times: %w", n, errTooLarge)
		}
		return strings.Repeat(s, n), nil
	case l.IsList() && r.IsInteger():
		items, n := iterList(l), r.Integer()
		if n <= 0 || len(items) == 0 {
			return listPtr(nil), nil
		}
		if n > maxRepeat/len(items) {
			return nil, fmt.Errorf("list repeated %d times: %w", n, errTooLarge)
		}
		out := make([]any, 0, len(items)*n)
		for range n {
			out = append(out, items...)
		}
		return listPtr(out), nil
	case l.IsInteger() && r.IsInteger():
		return l.Integer() * r.Integer(), nil
	case l.IsNumber() && r.IsNumber():
		return l.Float() * r.Float(), nil
	}
	return nil, fmt.Errorf("unsupported operand types for *: %q and %q", l.String(), r.String())
}

func checkWidths(va *exec.VarArgs) error {
	check := func(v *exec.Value) error {
		if v.IsInteger() && (v.Integer() > maxPadding || v.Integer() < -maxPadding) {
			return fmt.Errorf("width %d: %w", v.Integer(), errTooLarge)
		}
		return nil
	}
	for _, a := range va.Args {
		if err := check(a); err != nil {
			return err
		}
	}
	for _, a := range va.KwArgs {
		if err := check(a); err != nil {
			return err
		}
	}
	return nil
}

// guardedFilters wraps gonja filters whose integer arguments size an
// allocation.
func guardedFilters() map[string]exec.FilterFunction {
	out := map[string]exec.FilterFunction{}
	for _, name := range []string{"center", "indent", "slice", "batch", "pprint", "wordwrap", "truncate", "filesizeformat"} {
		inner, ok := builtins.Filters.Get(name)
		if !ok {
			continue
		}
		out[name] = func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
			if err := checkWidths(va); err != nil {
				return errValue(e, err)
			}
			return inner(e, in, va)
		}
	}
	return out
}

var reBigWidth = regexp.MustCompile(`[0-9]{6,}`)

// guardedStrMethods wraps gonja's str methods the same way; for format
// the widths live in the format string itself.
func guardedStrMethods() *exec.MethodSet[string] {
	names := []string{"capitalize", "capwords", "casefold", "center", "count", "encode", "endswith", "expandtabs",
		"find", "format", "format_map", "isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "islower",
		"isnumeric", "isprintable", "isspace", "istitle", "isupper", "join", "ljust", "lower", "lstrip",
		"partition", "removeprefix", "removesuffix", "replace", "rfind", "rjust", "rpartition", "rsplit",
		"rstrip", "split", "splitlines", "startswith", "strip", "swapcase", "title", "upper", "zfill"}
	m := map[string]exec.Method[string]{}
	for _, name := range names {
		inner, ok := builtins.Methods.Str.Get(name)
		if !ok {
			continue
		}
		isFormat := name == "format" || name == "format_map"
		m[name] = func(self string, sv *exec.Value, va *exec.VarArgs) (any, error) {
			if isFormat && reBigWidth.MatchString(self) {
				return nil, fmt.Errorf("format string %q: %w", self, errTooLarge)
			}
			if err := checkWidths(va); err != nil {
				return nil, err
			}
			if name == "replace" && va != nil && len(va.Args) == 2 && va.KwArgs["count"] == nil {
				// Python's count is optional (every occurrence); gonja
				// requires it.
				va = &exec.VarArgs{Args: append(append([]*exec.Value{}, va.Args...), exec.AsValue(-1)), KwArgs: va.KwArgs}
			}
			return inner(self, sv, va)
		}
	}
	return exec.NewMethodSet(m)
}
