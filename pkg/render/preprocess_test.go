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

func TestResolveName(t *testing.T) {
	cases := []struct{ current, ref, want string }{
		{"a/b/c.sls", "./x.jinja", "a/b/x.jinja"},
		{"a/b/c.sls", "../x.jinja", "a/x.jinja"},
		{"a/b/c.sls", "../../x.jinja", "x.jinja"},
		{"a/b/c.sls", "x/map.jinja", "x/map.jinja"},
		{"a/b/c.sls", "salt://x/map.jinja", "x/map.jinja"},
		{"a/b/c.sls", "/x/map.jinja", "x/map.jinja"},
		{"a/b/c.sls", "x/../y.jinja", "y.jinja"},
		{"a/b/c.sls", "../../../x", ""},
		{"a/b/c.sls", "./../../../x", ""},
		{"c.sls", "../x", ""},
		{"c.sls", "", ""},
		{"c.sls", "a\x00b", ""},
	}
	for _, c := range cases {
		got, err := resolveName(c.current, c.ref)
		if c.want == "" {
			if err == nil {
				t.Errorf("%s + %q: want error, got %q", c.current, c.ref, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s + %q: got %q, %v; want %q", c.current, c.ref, got, err, c.want)
		}
	}
}
