package render

import "testing"

func TestSmoke(t *testing.T) {
	ec := tree(t, map[string]string{
		"x/map.jinja":     "{% import_yaml './defaults.yaml' as defaults %}\n{% set nginx = salt['grains.filter_by']({'Debian': {'pkg': 'nginx'}, 'default': {'pkg':'x'}}, merge=pillar.get('nginx')) %}\n{% do defaults.update(nginx) %}",
		"x/defaults.yaml": "port: 80\nname: {{ grains.id }}\nmode: 0644\n",
		"x/macros.jinja":  "{% macro greet(n, p='!') %}hello {{ n }}{{ p }}{% endmacro %}{% set top = 5 %}",
		"x/inc.sls":       "included {{ v }}\n",
		"x/bad.jinja":     "line1\n{{ salt['no.such']() }}\n",
	})
	for _, src := range []string{
		"{% from 'x/map.jinja' import defaults %}{{ defaults | json }}",
		"{% import 'x/macros.jinja' as m %}{{ m.greet('bob') }} {{ m.top }}",
		"{% from 'x/macros.jinja' import greet %}{{ greet('a', p='?') }}",
		"{% set v = 3 %}{% include 'x/inc.sls' %}",
		"a\n{% if true %}\nb\n{% endif %}\nc\n",
		"a\n{%- if true %}\nb\n{%- endif %}\nc",
		"x\n\n{{ salt['no.such']('a') }}",
		"x\n{{ salt['test.fail']() }}",
		"x\n{% include 'x/bad.jinja' %}",
		"x\n{% if %}",
		"x\n  {{ foo.bar }}",
		"{{ pillar.nope.x }}",
		"{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
		"{% include 'x/inc.sls' %}{% include tplfile %}",
		"{{ {'a': [1, 'yes', None, 1.5, 'x: y']} | yaml }}",
		"{{ none }}|{{ True }}|{{ 1.0 }}",
		"{{ 'abc' | regex_replace('b(.)', '\\\\1X') }} {{ 'ab12' | regex_search('([a-z]+)(\\\\d+)') }}",
		"{{ pillar | traverse('nginx:lookup:user') }}",
		"{{ [3,1,2] | max }} {{ [3,1,2] | min }} {{ 'x y' | quote }} {{ 'a' | md5 }}",
		"{{ ['a','b'] | map('upper') | list }} {{ [{'n':1},{'n':2}] | selectattr('n', 'gt', 1) | list }}",
		"{{ {'b':1,'a':2} | dictsort }}",
		"{{ 'x' | indent(4) }}",
		"{% set ns = namespace(a=1) %}{% set ns.a = 2 %}{{ ns.a }}",
		"{{ '{0}-{1}'.format('a', 'b') }} {{ 'a,b'.split(',') }} {{ 'abc'.startswith('a') }}",
		"{{ '%s' % 'x' }}",
		"{{ [1,2] | sequence }} {{ 'a' | sequence }} {{ 'yes' | to_bool }} {{ [1] | is_list }}",
		"{{ 'a' | path_join('b', 'c') }} {{ 'it''s' | yaml_squote }} {{ 'x' | yaml_dquote }} {{ 'yes' | yaml_encode }}",
		"{{ 'a' is match('a') }} {{ [1,1,2] | unique }}",
		"{{ pillar.get('nginx').get('port') }}",
		"{% set x = pillar.get('users', {}) %}{% for u, d in x.items() %}{{ u }}:{{ d.uid }}{% endfor %}",
		"{{ salt['test.kwargs'](a=1, b=[1,2]) | json }}",
	} {
		out, err := Jinja(ec, "t.sls", []byte(src), map[string]any{"extra": 1})
		t.Logf("%q -> %q err=%v", src, out, err)
	}
}
