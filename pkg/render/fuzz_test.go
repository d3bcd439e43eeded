package render

import (
	"errors"
	"strings"
	"testing"
)

// FuzzSLS feeds arbitrary SLS text through the whole front end: nothing
// may panic, and every failure must be a positioned *Error.
func FuzzSLS(f *testing.F) {
	ec := tree(f, map[string]string{
		"f/map.jinja":     "{% set m = {'a': 1} %}{% macro mac(x) %}{{ x }}{% endmacro %}",
		"f/defaults.yaml": "a: 1\nb: [x, yes]\n",
		"f/self.jinja":    "{% include 'f/self.jinja' %}",
	})
	for _, seed := range []string{
		"a: {{ 1 + 1 }}\n",
		"{% from 'f/map.jinja' import m, mac %}{{ mac(m.a) }}: {{ m | yaml }}\n",
		"#!yaml\na: [1, 2]\nb: {c: d}\n",
		"{% import_yaml 'f/defaults.yaml' as d %}x: {{ d | json }}\n",
		"{% set l = [] %}{% do l.append('%s' % 1) %}k: {{ l }}\n",
		"a: 1\na: 2\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		node, err := SLS(ec, "f", "f/init.sls", src)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error is %T, not *Error: %v", err, err)
			}
			if pe.Line < 1 || pe.Col < 1 {
				t.Fatalf("unpositioned error: %v", err)
			}
			var pan *panicError
			if errors.As(err, &pan) && panickedHere(pan.stack) {
				t.Fatalf("panic in pkg/render: %v\n%s", pan.value, pan.stack)
			}
			_ = pe.Error()
			return
		}
		if _, err := Decode(node); err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("decode error is %T, not *Error: %v", err, err)
			}
		}
	})
}

// panickedHere reports whether the frame that panicked belongs to this
// package (gonja's and yaml.v3's own panics are recovered by design).
func panickedHere(stack []byte) bool {
	lines := strings.Split(string(stack), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "panic(") {
			for _, next := range lines[i+1:] {
				if strings.HasPrefix(next, "\t") {
					continue
				}
				if strings.HasPrefix(next, "runtime.") {
					continue
				}
				return strings.Contains(next, "brine/pkg/render.")
			}
		}
	}
	return false
}
