package render

import "testing"

func TestSmoke(t *testing.T) {
	ec := tree(t, map[string]string{"x/map.jinja": "{% set nginx = salt['grains.filter_by']({'Debian': {'pkg': 'nginx'}, 'default': {'pkg':'x'}}, merge=pillar.get('nginx')) %}\n"})
	for _, src := range []string{
		"{{ grains.os }} {{ salt['test.echo']('hi') }} {{ salt.test.echo('yo') }}",
		"{% set d = {} %}{% do d.update({'a': 1}) %}{{ d | json }}",
		"{% set l = [] %}{% do l.append(1) %}{% do l.append('b') %}{{ l | yaml }}",
		"{% from 'x/map.jinja' import nginx with context %}{{ nginx | json }}",
		"{% set d = {'a': {'b': []}} %}{% do d.a.b.append(3) %}{{ d | json }}",
		"{{ undefined_var }}|{{ pillar.nope }}",
		"{% load_yaml as y %}\na: 1\nb: [x, yes]\n{% endload %}{{ y | json }}",
		"{% for k, v in pillar.nginx.items() %}{{ k }}={{ v }};{% endfor %}",
		"{{ grains.ipv4 | join(',') }} {{ grains.ipv4 | length }} {{ grains.ipv4 | first }} {{ grains.ipv4|last }} {{ grains.ipv4 | sort | list }}",
		"{{ 'a' ~ 1 }} {{ '%s-%s' | format('a', 'b') }} {{ ' x ' | trim }} {{ 'A' | lower }} {{ 3 | string }} {{ '5' | int + 1 }}",
	} {
		out, err := Jinja(ec, "t.sls", []byte(src), nil)
		t.Logf("%q -> %q err=%v", src, out, err)
	}
}
