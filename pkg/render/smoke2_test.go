package render

import (
	"errors"
	"testing"
)

func TestSmoke2(t *testing.T) {
	ec := tree(t, nil)
	for _, src := range []string{"x\n{% if %}", "x\n  {{ foo.bar }}", "{{ pillar.nope.x }}", "a\n{% for x in %}{% endfor %}", "a\n{{ 1 + }}", "{% if true %}", "{{ x | nofilter }}", "{% set x = grains.nope.y %}", "{% if grains.x.y %}{% endif %}"} {
		_, err := Jinja(ec, "t.sls", []byte(src), nil)
		var pe *Error
		if errors.As(err, &pe) {
			var je *jinjaError
			if errors.As(pe.Err, &je) {
				t.Logf("%q: FULL %v", src, je.full)
			}
			var se interface{ Unwrap() error }
			_ = se
		}
		t.Logf("%q: %v", src, err)
	}
}
