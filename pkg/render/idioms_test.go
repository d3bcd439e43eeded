package render

import "testing"

// Constructs lifted from public Salt formulas (users, openssh, sysctl,
// docker, postgres) that gonja does not handle out of the box.
func TestFormulaIdioms(t *testing.T) {
	ec := tree(t, nil)
	ec.Pillar["users"] = map[string]any{
		"bob": map[string]any{"groups": []any{"adm", "www"}, "shell": "/bin/zsh"},
		"eve": map[string]any{"absent": true},
	}
	cases := []struct{ src, want string }{
		{"{% set a, b = 1, 2 %}{{ a }}{{ b }}", "12"},
		{"{% set k, v = ['x', 'y'] %}{{ k }}{{ v }}", "xy"},
		{"{%- for user, data in salt['pillar.get']('users', {}).items() %}{{ user }}:{{ data.get('groups', []) | join(',') }};{% endfor %}", "bob:adm,www;eve:;"},
		{"{% for name, u in pillar.users | dictsort %}{% if 'shell' in u %}{{ name }}{% endif %}{% endfor %}", "bob"},
		{"{% if grains['os_family'] in ['Debian', 'Ubuntu'] %}deb{% endif %}", "deb"},
		{"{{ (pillar.get('nope') or {}).get('y', 'dflt') }}", "dflt"},
		{"{% set x = none %}{% if x is not none %}set{% else %}unset{% endif %} {% if not x %}falsy{% endif %}", "unset falsy"},
		{"{{ [{'enabled': 1}, {}] | selectattr('enabled', 'defined') | list | length }}", "1"},
		{"key:\n  {{ {'a': {'b': [1, 2]}} | yaml(False) | indent(2) }}", "key:\n  a:\n    b:\n      - 1\n      - 2"},
		{"{{ pillar.users.bob.groups[0] }} {{ pillar.users.bob.groups[-1] }} {{ pillar.users.bob.groups[1:] }}", "adm www ['www']"},
		{"{{ [{'n': 2}, {'n': 1}] | sort(attribute='n') | map(attribute='n') | list }}", "[1, 2]"},
		{"{{ pillar.users.bob }}", "{'groups': ['adm', 'www'], 'shell': '/bin/zsh'}"},
		{"{% set d = {} %}{% set _ = d.update({'k': 'v'}) %}{{ d }}", "{'k': 'v'}"},
		{"{{ pillar.users is mapping }} {{ grains.ipv4 is sequence }} {{ 'x' is string }} {{ 1 is number }}", "True True True True"},
		{"{% set l = grains.ipv4 + ['x'] %}{{ l | length }}", "3"},
		{"{{ '%s:%s' % (grains.id, pillar.nginx.port) }}", "web1:8080"},
		{"{%- set ns = namespace(found=false) %}{% for g in pillar.users.bob.groups %}{% if g == 'www' %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.found }}", "True"},
		{"{{ salt['test.echo'](pillar.users.bob) | json }}", `{"groups": ["adm", "www"], "shell": "/bin/zsh"}`},
	}
	for _, c := range cases {
		out, err := Jinja(ec, "i.sls", []byte(c.src), nil)
		if err != nil {
			t.Errorf("%s: %v", c.src, err)
			continue
		}
		if out != c.want {
			t.Errorf("%s\n got: %q\nwant: %q", c.src, out, c.want)
		}
	}
}

func TestReprInsideYAML(t *testing.T) {
	ec := tree(t, nil)
	ec.Pillar["v"] = map[string]any{"q": "it's", "list": []any{"a", true, nil, 1.5}}
	node, err := SLS(ec, "r", "r.sls", []byte("a: {{ pillar.v }}\n"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(node)
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, got, map[string]any{"a": map[string]any{"q": "it's", "list": []any{"a", true, "None", 1.5}}})
}

// Jinja prints a defined None as "None" (Salt SLS then reads the string
// "None"), and an undefined value as nothing.
func TestNonePrinting(t *testing.T) {
	ec := tree(t, nil)
	cases := []struct{ src, want string }{
		{"[{{ none }}]", "[None]"},
		{"[{{ pillar.get('missing') }}]", "[None]"},
		{"[{{ salt['pillar.get']('missing') }}]", "[None]"},
		{"{% set x = none %}[{{ x }}]", "[None]"},
		{"[{{ nothing }}][{{ pillar.nothing }}][{{ grains['nothing'] }}]", "[][][]"},
		{"[{{ 'a' if false }}][{{ 'a' if false else none }}]", "[][None]"},
		{"{% for x in [none] %}[{{ x }}]{% endfor %}", "[None]"},
		{"{% set d = {'k': none, 'l': [none]} %}[{{ d.k }}][{{ d['k'] }}][{{ d.l[0] }}][{{ d.missing }}][{{ d.l[5] }}]", "[None][None][None][][]"},
	}
	for _, c := range cases {
		if out := mustJinja(t, ec, c.src); out != c.want {
			t.Errorf("%s: got %q want %q", c.src, out, c.want)
		}
	}
}
