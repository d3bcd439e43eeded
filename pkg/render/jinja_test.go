package render

import (
	"errors"
	"strings"
	"testing"

	"github.com/brine-cm/brine/pkg/execmod"
)

func TestSaltVariables(t *testing.T) {
	ec := tree(t, nil)
	ec.Saltenv = "prod"
	node, err := SLS(ec, "web.nginx", "web/nginx.sls", []byte(`vars:
  sls: {{ sls }}
  slspath: {{ slspath }}
  tpldir: {{ tpldir }}
  tplfile: {{ tplfile }}
  saltenv: {{ saltenv }}
  env: {{ env }}
  os: {{ grains['os'] }}
  id: {{ opts.id }}
  port: {{ pillar.nginx.port }}
  echo: {{ salt['test.echo']('hello') }}
  dotted: {{ salt.test.echo('dotted') }}
  kwargs: {{ salt['test.kwargs'](name='x', flags=[1, 2]) | json }}
  args: {{ salt['test.args'](1, 'two', {'k': 'v'}) | json }}
`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(node)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"sls": "web.nginx", "slspath": "web", "tpldir": "web", "tplfile": "web/nginx.sls",
		"saltenv": "prod", "env": "prod", "os": "Debian", "id": "web1", "port": 8080,
		"echo": "hello", "dotted": "dotted",
		"kwargs": map[string]any{"name": "x", "flags": []any{1, 2}},
		"args":   []any{1, "two", map[string]any{"k": "v"}},
	}
	assertEqual(t, got.(map[string]any)["vars"], want)
}

func TestJinjaExtraVars(t *testing.T) {
	ec := tree(t, nil)
	out, err := Jinja(ec, "nginx/files/nginx.conf", []byte("{{ tpldir }} {{ port }} {{ grains.id }} {{ extra.list | join(',') }}"),
		map[string]any{"port": 81, "grains": map[string]any{"id": "override"}, "extra": map[string]any{"list": []any{"a", "b"}}})
	if err != nil {
		t.Fatal(err)
	}
	if out != "nginx/files 81 override a,b" {
		t.Fatalf("got %q", out)
	}
}

func TestImportExtensions(t *testing.T) {
	ec := tree(t, map[string]string{
		"app/defaults.yaml":  "port: 80\nuser: {{ grains.id }}\nmode: 0644\nlist: [a, b]\n",
		"app/defaults.json":  `{"a": 1, "b": [true, null], "c": 1.5}`,
		"app/motd.txt":       "welcome to {{ grains.os }}\n",
		"app/macros.jinja":   "{% macro line(k, v, sep=' = ') %}{{ k }}{{ sep }}{{ v }}{% endmacro %}{% set answer = 42 %}",
		"app/map.jinja":      "{% import_yaml './defaults.yaml' as defaults %}\n{% set settings = salt['grains.filter_by']({'Debian': {'pkg': 'nginx-full'}, 'RedHat': {'pkg': 'nginx'}}, merge=pillar.get('nginx', {})) %}\n{% do defaults.update(settings) %}\n",
		"app/sub/rel.jinja":  "{% from '../macros.jinja' import line %}{% set rel = line('r', 1) %}",
		"app/ctx.jinja":      "{% set seen = caller_var | default('none') %}",
		"app/inc.txt":        "[{{ local }}]",
		"app/loop.jinja":     "{% include 'app/loop.jinja' %}",
		"common/shared.yaml": "shared: true\n",
	})
	cases := []struct{ name, src, want string }{
		{"import_yaml", "{% import_yaml 'app/defaults.yaml' as d %}{{ d.port }} {{ d.user }} {{ d.mode }} {{ d.list | join('+') }}", "80 web1 644 a+b"},
		{"import_yaml expr", "{% import_yaml tpldir ~ '/defaults.yaml' as d %}{{ d.port }}", "80"},
		{"import_yaml relative", "{% import_yaml './defaults.yaml' as d %}{{ d.port }}", "80"},
		{"import_yaml parent", "{% import_yaml '../common/shared.yaml' as s %}{{ s.shared }}", "True"},
		{"import_json", "{% import_json 'app/defaults.json' as j %}{{ j.a }} {{ j.b[0] }} {{ j.c }}", "1 True 1.5"},
		{"import_text", "{% import_text 'app/motd.txt' as m %}{{ m | trim }}", "welcome to Debian"},
		{"load_yaml", "{% load_yaml as y %}\nk: v\nflag: yes\nn: 010\n{% endload %}{{ y.k }} {{ y.flag }} {{ y.n }}", "v True 10"},
		{"load_json", `{% load_json as j %}{"x": [1, 2], "y": "z"}{% endload %}{{ j.x | sum }} {{ j.y }}`, "3 z"},
		{"from import with context", "{% from 'app/map.jinja' import defaults with context %}{{ defaults.pkg }} {{ defaults.port }} {{ defaults.lookup.user }}", "nginx-full 8080 www"},
		{"from import without context", "{% from 'app/map.jinja' import defaults %}{{ defaults.pkg }}", "nginx-full"},
		{"from import alias", "{% from 'app/macros.jinja' import line as l, answer %}{{ l('a', 1) }} {{ answer }}", "a = 1 42"},
		{"import module", "{% import 'app/macros.jinja' as m %}{{ m.line('k', 'v', sep=': ') }} {{ m.answer }}", "k: v 42"},
		{"relative from sub dir", "{% from 'app/sub/rel.jinja' import rel %}{{ rel }}", "r = 1"},
		{"with context sees caller", "{% set caller_var = 'yes' %}{% from 'app/ctx.jinja' import seen with context %}{{ seen }}", "yes"},
		{"without context does not", "{% set caller_var = 'yes' %}{% from 'app/ctx.jinja' import seen %}{{ seen }}", "none"},
		{"include", "{% set local = 'L' %}{% include 'app/inc.txt' %}", "[L]"},
		{"include ignore missing", "a{% include 'app/none.txt' ignore missing %}b", "ab"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := Jinja(ec, "app/init.sls", []byte(c.src), nil)
			if err != nil {
				t.Fatal(err)
			}
			if out != c.want {
				t.Fatalf("got %q want %q", out, c.want)
			}
		})
	}
	if _, err := Jinja(ec, "app/init.sls", []byte("{% include 'app/loop.jinja' %}"), nil); err == nil || !strings.Contains(err.Error(), "nested more than") {
		t.Fatalf("self-include: want depth error, got %v", err)
	}
	if _, err := Jinja(ec, "app/init.sls", []byte("{% import_yaml '../../etc/passwd' as p %}"), nil); err == nil || !strings.Contains(err.Error(), "escapes") {
		t.Fatalf("escaping import: want error, got %v", err)
	}
	if _, err := Jinja(ec, "app/init.sls", []byte("{% from 'app/macros.jinja' import nothing %}"), nil); err == nil || !strings.Contains(err.Error(), "cannot import name") {
		t.Fatalf("missing name: want error, got %v", err)
	}
}

func TestStatementsAndMethods(t *testing.T) {
	ec := tree(t, nil)
	cases := []struct{ name, src, want string }{
		{"do update", "{% set d = {'a': 1} %}{% do d.update({'b': 2}) %}{% do d.update(c=3) %}{{ d | json }}", `{"a": 1, "b": 2, "c": 3}`},
		{"do append", "{% set l = [] %}{% do l.append('x') %}{% do l.append({'k': 1}) %}{{ l | json }}", `["x", {"k": 1}]`},
		{"nested append", "{% set d = {'l': []} %}{% do d.l.append(1) %}{% do d['l'].append(2) %}{{ d | json }}", `{"l": [1, 2]}`},
		{"alias shares", "{% set a = {} %}{% set b = a %}{% do b.update({'x': 1}) %}{{ a | json }}", `{"x": 1}`},
		{"pillar copy isolated", "{% do pillar.update({'new': 1}) %}{{ pillar.new }}", "1"},
		{"get", "{{ pillar.get('nginx').get('port') }} {{ pillar.get('missing', 'dflt') }} {{ pillar.get('missing') is none }}", "8080 dflt True"},
		{"items", "{% for k, v in {'b': 2, 'a': 1}.items() %}{{ k }}={{ v }} {% endfor %}", "a=1 b=2 "},
		{"keys values", "{{ {'b': 2, 'a': 1}.keys() | list }} {{ {'b': 2, 'a': 1}.values() | list }}", "['a', 'b'] [1, 2]"},
		{"setdefault", "{% set d = {} %}{% do d.setdefault('l', []).append(1) %}{% do d.setdefault('l', []).append(2) %}{{ d | json }}", `{"l": [1, 2]}`},
		{"pop", "{% set d = {'a': 1, 'b': 2} %}{{ d.pop('a') }} {{ d | json }}", `1 {"b": 2}`},
		{"extend", "{% set l = [1] %}{% do l.extend([2, 3]) %}{{ l }}", "[1, 2, 3]"},
		{"loop mutation", "{% set acc = [] %}{% for i in range(3) %}{% do acc.append(i * 2) %}{% endfor %}{{ acc }}", "[0, 2, 4]"},
		{"set block", "{% set body %}a{{ 1 + 1 }}{% endset %}{{ body }}", "a2"},
		{"if in loop", "{% for u, d in pillar.users.items() if d.uid > 1000 %}{{ u }}{% endfor %}", "alice"},
		{"namespace", "{% set ns = namespace(n=0) %}{% for i in [1, 2, 3] %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}", "6"},
		{"macro caller", "{% macro wrap() %}<{{ caller() }}>{% endmacro %}{% call wrap() %}in{% endcall %}", "<in>"},
		{"percent format", "{{ '%s-%s' % ('a', 1) }} {{ '%05.1f' % 3.14159 }} {{ '%(x)s!' % {'x': 'y'} }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 4 % 2 }}", "a-1 003.1 y! 1 2 0"},
		{"loop index mod", "{% for i in [1, 2, 3, 4] %}{% if loop.index % 2 == 0 %}{{ i }}{% endif %}{% endfor %}", "24"},
		{"string methods", "{{ 'a,b'.split(',') | join('|') }} {{ 'Abc'.lower() }} {{ 'abc'.startswith('a') }} {{ '{0}:{1}'.format('h', 80) }} {{ ' x '.strip() }}", "a|b abc True h:80 x"},
		{"raise", "{% if false %}{{ raise('never') }}{% endif %}ok", "ok"},
		{"undefined renders empty", "[{{ nothing }}][{{ pillar.nothing }}]", "[][]"},
		{"is defined", "{{ nothing is defined }} {{ grains is defined }}", "False True"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := mustJinja(t, ec, c.src)
			if out != c.want {
				t.Fatalf("got %q want %q", out, c.want)
			}
		})
	}
	if _, ok := ec.Pillar["new"]; ok {
		t.Fatal("template mutation of pillar leaked into ec.Pillar")
	}
}

func TestWhitespaceLikeSalt(t *testing.T) {
	ec := tree(t, nil)
	cases := []struct{ src, want string }{
		// trim_blocks and lstrip_blocks are off: the newline after a
		// block tag and the indentation before it stay.
		{"a\n{% if true %}\nb\n{% endif %}\nc\n", "a\n\nb\n\nc\n"},
		{"a\n  {% if true %}b{% endif %}\n", "a\n  b\n"},
		{"a\n{%- if true %}\nb\n{%- endif %}\nc\n", "a\nb\nc\n"},
		{"a\n{% if true -%}\n  b\n{%- endif %}", "a\nb"},
		{"x\n", "x\n"},
		{"{# comment #}y", "y"},
		{"{% raw %}{{ not }}{% endraw %}", "{{ not }}"},
	}
	for _, c := range cases {
		if out := mustJinja(t, ec, c.src); out != c.want {
			t.Errorf("%q: got %q want %q", c.src, out, c.want)
		}
	}
}

func TestUndefinedChainErrors(t *testing.T) {
	ec := tree(t, nil)
	for _, src := range []string{"{{ nothing.attr }}", "{{ pillar.missing.deeper }}", "{% set x = grains.nope.x %}"} {
		_, err := Jinja(ec, "t.sls", []byte(src), nil)
		var pe *Error
		if !errors.As(err, &pe) || !strings.Contains(pe.Error(), "is undefined") {
			t.Errorf("%q: want undefined error, got %v", src, err)
		}
	}
}

func TestNoRegistryOrFiles(t *testing.T) {
	out, err := Jinja(nil, "a.sls", []byte("{{ grains | length }}{{ pillar | length }}"), nil)
	if err != nil || out != "00" {
		t.Fatalf("nil context: %q %v", out, err)
	}
	_, err = Jinja(&execmod.Context{}, "a.sls", []byte("{{ salt['test.echo'](1) }}"), nil)
	if !errors.Is(err, execmod.ErrUnknownFunction) {
		t.Fatalf("want ErrUnknownFunction, got %v", err)
	}
	_, err = Jinja(&execmod.Context{}, "a.sls", []byte("{% include 'x' %}"), nil)
	if err == nil || !strings.Contains(err.Error(), "no file client") {
		t.Fatalf("want file client error, got %v", err)
	}
}

func TestExtendsBlocks(t *testing.T) {
	ec := tree(t, map[string]string{"base/layout.jinja": "A{% block body %}default{% endblock %}Z"})
	for _, ref := range []string{"base/layout.jinja", "./layout.jinja"} {
		out, err := Jinja(ec, "base/page.jinja", []byte("{% extends '"+ref+"' %}{% block body %}[{{ grains.id }}]{% endblock %}"), nil)
		if err != nil || out != "A[web1]Z" {
			t.Errorf("%s: got %q %v", ref, out, err)
		}
	}
}

// Formulas lean on Jinja details gonja lacks or differs on: a macro body
// mentioning varargs/kwargs receives the extra arguments, str.replace's
// count is optional, and an included template loses its final newline.
func TestJinjaCompatDetails(t *testing.T) {
	ec := tree(t, map[string]string{"f/inc.jinja": "incl_{{ x }}\n"})
	out, err := Jinja(ec, "f/init.sls", []byte(`{%- macro m(a) %}{{ a }}|{{ varargs | join(',') }}|{{ kwargs.k }}{% endmacro -%}
{%- macro plain(a) %}{{ a }}{% endmacro -%}
{{ m(1, 2, 3, k='v') }} {{ plain(1) }} {{ 'a-b-c'.replace('-', '_') }} {{ 'a-b-c'.replace('-', '_', 1) }} [{% set x = 'X' %}{% include 'f/inc.jinja' %}]`), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "1|2,3|v 1 a_b_c a_b-c [incl_X]"
	if out != want {
		t.Fatalf("got  %q\nwant %q", out, want)
	}
	// A macro that does not mention varargs still refuses extra
	// arguments, as Jinja does.
	if _, err := Jinja(ec, "f/init.sls", []byte(`{% macro plain(a) %}{{ a }}{% endmacro %}{{ plain(1, 2) }}`), nil); err == nil {
		t.Fatal("extra positional argument to a macro without varargs accepted")
	}
}

// A macro called with arguments it does not take is reported where it
// is called, not where it is defined.
func TestMacroArgumentErrorAtCallSite(t *testing.T) {
	ec := tree(t, map[string]string{"f/mm.jinja": "{% macro plain(a) %}\n{{ a }}{% endmacro %}\n"})
	for _, src := range []string{
		"{% from 'f/mm.jinja' import plain %}\na:\n  b: {{ plain(1, 2) }}\n",
		"{% from 'f/mm.jinja' import plain %}\na:\n  b: {{ plain(1, z=2) }}\n",
	} {
		_, err := SLS(ec, "f", "f/init.sls", []byte(src))
		var pe *Error
		if !errors.As(err, &pe) {
			t.Fatalf("%q: want *Error, got %v", src, err)
		}
		if pe.File != "f/init.sls" || pe.Line != 3 || !strings.Contains(pe.Error(), "macro 'plain'") {
			t.Fatalf("%q: got %v (file %s line %d)", src, err, pe.File, pe.Line)
		}
	}
}
