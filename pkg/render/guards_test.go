package render

import (
	"errors"
	"strings"
	"testing"
)

func TestArithmeticAndRange(t *testing.T) {
	ec := tree(t, nil)
	cases := []struct{ src, want string }{
		{"{{ 'ab' * 3 }} {{ 2 * 'x' }} {{ [1] * 3 }} {{ 2 * 3 }} {{ 2.5 * 2 }} {{ 'a' * 0 }}", "ababab xx [1, 1, 1] 6 5.0 "},
		{"{{ range(3) | list }} {{ range(1, 7, 2) | list }} {{ range(3, 0, -1) | list }} {{ range(0) | list }}", "[0, 1, 2] [1, 3, 5] [3, 2, 1] []"},
		{"{% for i in range(2) %}{{ loop.index }}{% endfor %}", "12"},
		{"{{ 0 * 5 }}|{{ '' * 2 }}|{{ 10 % 5 }}", "0||0"},
		{"{{ 7 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7.5 // 2 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 4 ** 0.5 }}", "3.5 3 -4 3.0 1024 0.5 2.0"},
		{"{{ (1 + 2) * 3 - 4 / 2 }}", "7.0"},
	}
	for _, c := range cases {
		if out := mustJinja(t, ec, c.src); out != c.want {
			t.Errorf("%s: got %q want %q", c.src, out, c.want)
		}
	}
}

// Templates that would exhaust memory fail with an error instead.
func TestResourceGuards(t *testing.T) {
	ec := tree(t, nil)
	for _, src := range []string{
		"{{ range(10000000000) }}",
		"{{ 'x' * 10000000000 }}",
		"{{ [1, 2] * 100000000000 }}",
		"{{ '%0999999999d' % 1 }}",
		"{{ 'x'.ljust(1000000000) }}",
		"{{ '{:>9999999999}'.format(1) }}",
		"{{ 'x' | center(1000000000) }}",
		"{{ 'x' | indent(1000000000) }}",
		"{{ 5 % 0 }}",
		"{{ 1 / 0 }}",
		"{{ 1 // 0 }}",
		"{{ 'a' / 2 }}",
	} {
		_, err := Jinja(ec, "g.sls", []byte(src), nil)
		var pe *Error
		if !errors.As(err, &pe) {
			t.Errorf("%s: want *Error, got %v", src, err)
		}
	}
}

func TestPanickedHere(t *testing.T) {
	catch := func(f func()) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = newPanicError("test", r)
			}
		}()
		f()
		return nil
	}
	var m map[string]int
	own := catch(func() { m["x"] = 1 })
	var pe *panicError
	if !errors.As(own, &pe) || !panickedHere(pe.stack) {
		t.Fatalf("a panic in this package was not attributed to it: %v", own)
	}
	foreign := catch(func() { _ = strings.Repeat("x", -1) })
	if !errors.As(foreign, &pe) || panickedHere(pe.stack) {
		t.Fatalf("a panic in another package was attributed to this one")
	}
}
