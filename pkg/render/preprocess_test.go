package render

import "testing"

func TestTrailingCommas(t *testing.T) {
	ec := tree(t, nil)
	cases := []struct{ src, want string }{
		{"{{ [1, 2,] }}", "[1, 2]"},
		{"{% set d = {\n  'a': 1,\n  'b': {'c': 2,},\n} %}{{ d | json }}", `{"a": 1, "b": {"c": 2}}`},
		{"{{ salt['test.args'](1, 2,\n) | json }}", "[1, 2]"},
		{"{{ 'a,]' }} {{ \"x,}\" }}", "a,] x,}"},
		{"{# [1,] #}{% raw %}{{ [1,] }}{% endraw %}", "{{ [1,] }}"},
		{"a,]\n{{ 1 }}", "a,]\n1"},
	}
	for _, c := range cases {
		if out := mustJinja(t, ec, c.src); out != c.want {
			t.Errorf("%q: got %q want %q", c.src, out, c.want)
		}
	}
	// Positions do not move: an error after a rewritten comma still
	// points at its own column.
	_, err := Jinja(ec, "p.sls", []byte("{% set d = {'a': 1,} %}{{ salt['no.fn']() }}"), nil)
	if pe, ok := err.(*Error); !ok || pe.Col != 33 || pe.Text != "{% set d = {'a': 1,} %}{{ salt['no.fn']() }}" {
		t.Fatalf("got %v", err)
	}
}
