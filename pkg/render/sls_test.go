package render

import (
	"errors"
	"math"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/brine-cm/brine/pkg/execmod"
)

// A formula laid out as the saltstack-formulas ones are: defaults.yaml,
// a map.jinja merging grains.filter_by lookups with pillar, macros, and an
// SLS using all of it.
func TestFormulaFixture(t *testing.T) {
	ec := tree(t, map[string]string{
		"nginx/defaults.yaml": `nginx:
  package: nginx
  service: nginx
  config: /etc/nginx/nginx.conf
  user: root
  server:
    worker_processes: auto
    keepalive: 65
`,
		"nginx/osfamilymap.yaml": `Debian:
  user: www-data
  repo: deb http://nginx.org/packages/debian/ {{ grains.get('oscodename', 'bookworm') }} nginx
RedHat:
  user: nginx
`,
		"nginx/map.jinja": `{#- vim: ft=jinja #}
{%- import_yaml tpldir ~ "/defaults.yaml" as default_settings %}
{%- import_yaml tpldir ~ "/osfamilymap.yaml" as osfamilymap %}
{%- set osfamily = salt['grains.filter_by'](osfamilymap, grain='os_family') or {} %}
{%- do default_settings.nginx.update(osfamily) %}
{%- set nginx = salt['pillar.get']('nginx', default=default_settings.nginx, merge=True) %}
{%- set nginx = salt['grains.filter_by']({'default': default_settings.nginx}, merge=salt['pillar.get']('nginx:lookup', {})) %}
`,
		"nginx/macros.jinja": `{%- macro files_switch(name, prefix='files') -%}
salt://{{ tpldir }}/{{ prefix }}/{{ grains.os_family }}/{{ name }}
{%- endmacro %}
`,
	})
	ec.Grains["oscodename"] = "bookworm"
	src := `{%- from "nginx/map.jinja" import nginx with context %}
{%- from "./macros.jinja" import files_switch with context %}
{%- set vhosts = pillar.get('nginx', {}).get('vhosts', {'default': {'port': 80}}) %}

nginx-pkg:
  pkg.installed:
    - name: {{ nginx.package }}

nginx-config:
  file.managed:
    - name: {{ nginx.config }}
    - source: {{ files_switch('nginx.conf') }}
    - user: {{ nginx.user }}
    - mode: 0644
    - template: jinja
    - context:
        server: {{ nginx.server | json }}
    - require:
      - pkg: nginx-pkg

{% for name, vhost in vhosts | dictsort %}
nginx-vhost-{{ name }}:
  file.managed:
    - name: /etc/nginx/sites-enabled/{{ name }}.conf
    - contents: |
        listen {{ vhost.port }};
    - watch_in:
      - service: nginx-service
{% endfor %}

nginx-service:
  service.running:
    - name: {{ nginx.service }}
    - enable: True
    - reload: yes
`
	node, err := SLS(ec, "nginx", "nginx/init.sls", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if node.Kind != yaml.MappingNode {
		t.Fatalf("want a mapping node, got kind %d", node.Kind)
	}
	got, err := Decode(node)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"nginx-pkg": map[string]any{"pkg.installed": []any{map[string]any{"name": "nginx"}}},
		"nginx-config": map[string]any{"file.managed": []any{
			map[string]any{"name": "/etc/nginx/nginx.conf"},
			map[string]any{"source": "salt://nginx/files/Debian/nginx.conf"},
			map[string]any{"user": "www"},
			map[string]any{"mode": 644},
			map[string]any{"template": "jinja"},
			map[string]any{"context": map[string]any{"server": map[string]any{"worker_processes": "auto", "keepalive": 65}}},
			map[string]any{"require": []any{map[string]any{"pkg": "nginx-pkg"}}},
		}},
		"nginx-vhost-default": map[string]any{"file.managed": []any{
			map[string]any{"name": "/etc/nginx/sites-enabled/default.conf"},
			map[string]any{"contents": "listen 80;\n"},
			map[string]any{"watch_in": []any{map[string]any{"service": "nginx-service"}}},
		}},
		"nginx-service": map[string]any{"service.running": []any{
			map[string]any{"name": "nginx"},
			map[string]any{"enable": true},
			map[string]any{"reload": true},
		}},
	}
	assertEqual(t, got, want)

	// Positions survive: the state ids sit on their source lines.
	lines := map[string]int{}
	for i := 0; i+1 < len(node.Content); i += 2 {
		lines[node.Content[i].Value] = node.Content[i].Line
	}
	// Lines are those of the rendered text: the leading "{%-" tags fold
	// the first three source lines into one, as Jinja does.
	if lines["nginx-pkg"] != 3 || lines["nginx-config"] != 7 {
		t.Fatalf("positions: %v", lines)
	}
}

func TestShebangPipelines(t *testing.T) {
	ec := tree(t, nil)
	cases := []struct {
		name, src string
		want      any
	}{
		{"default jinja|yaml", "a: {{ 1 + 1 }}\n", map[string]any{"a": 2}},
		{"yaml only", "#!yaml\na: '{{ not jinja }}'\n", map[string]any{"a": "{{ not jinja }}"}},
		{"jinja|yaml", "#!jinja|yaml\na: {{ grains.id }}\n", map[string]any{"a": "web1"}},
		{"json", "#!json\n{\"a\": [1, true]}\n", map[string]any{"a": []any{1, true}}},
		{"jinja|json", "#!jinja|json\n{\"a\": \"{{ grains.os }}\"}\n", map[string]any{"a": "Debian"}},
		{"spaces around pipes", "#! jinja | yaml\na: {{ 1 + 1 }}\n", map[string]any{"a": 2}},
		{"old style yaml_jinja", "#!yaml_jinja\na: {{ 1 + 1 }}\n", map[string]any{"a": 2}},
		{"interpreter line", "#!/usr/bin/env brine\na: {{ 1 + 1 }}\n", map[string]any{"a": 2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			node, err := SLS(ec, "x", "x.sls", []byte(c.src))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(node)
			if err != nil {
				t.Fatal(err)
			}
			assertEqual(t, got, c.want)
		})
	}
	_, err := SLS(ec, "x", "x.sls", []byte("#!py\ndef run(): return {}\n"))
	var pe *Error
	if !errors.As(err, &pe) || pe.Line != 1 || pe.Col != 3 || !strings.Contains(pe.Error(), `"py" is not supported`) {
		t.Fatalf("py renderer: got %v", err)
	}
	for src, want := range map[string]string{
		"#!jinja\na: 1\n":              "ends in jinja",
		"#!jinja | yaml | gpg\na: 1\n": `"gpg" is not supported`,
		"#!jinja||yaml\na: 1\n":        "empty renderer",
	} {
		_, err := SLS(ec, "x", "x.sls", []byte(src))
		if !errors.As(err, &pe) || pe.Line != 1 || !strings.Contains(pe.Error(), want) {
			t.Errorf("%q: got %v, want an error at line 1 containing %q", src, err, want)
		}
	}
}

func TestEmptyOutput(t *testing.T) {
	ec := tree(t, nil)
	for _, src := range []string{"", "\n\n", "# only a comment\n", "{% if false %}a: 1{% endif %}\n", "{# nothing #}", "~\n"} {
		node, err := SLS(ec, "e", "e.sls", []byte(src))
		if err != nil || node != nil {
			t.Errorf("%q: want (nil, nil), got (%v, %v)", src, node, err)
		}
	}
}

func TestErrorPositions(t *testing.T) {
	ec := tree(t, map[string]string{
		"lib/broken.jinja": "{% set a = 1 %}\n{% set b = salt['nope.missing']() %}\n",
	})
	cases := []struct {
		name, src     string
		file          string
		line, col     int
		text, msg     string
		isUnknownFunc bool
	}{
		{"unknown salt function", "a: 1\nb: {{ salt['no.such']('x') }}\n", "t/init.sls", 2, 13, "b: {{ salt['no.such']('x') }}", `"no.such" is not available`, true},
		{"failing salt function", "a: 1\n\n  c: {{ salt['test.fail']() }}\n", "t/init.sls", 3, 15, "  c: {{ salt['test.fail']() }}", "deliberate failure", false},
		{"jinja syntax", "a: 1\nb: {{ 1 + }}\n", "t/init.sls", 2, 11, "b: {{ 1 + }}", "jinja syntax error", false},
		{"unclosed block", "a: 1\n{% if true %}\nb: 2\n", "t/init.sls", 3, 1, "b: 2", "expected tag", false},
		{"empty if", "x: 1\n{% if %}\n{% endif %}\n", "t/init.sls", 2, 1, "{% if %}", "jinja syntax error", false},
		{"unknown filter", "a: {{ 1 | frobnicate }}\n", "t/init.sls", 1, 11, "a: {{ 1 | frobnicate }}", `no filter named "frobnicate"`, false},
		{"undefined chain", "a: 1\nb: {{ pillar.nope.deeper }}\n", "t/init.sls", 2, 7, "b: {{ pillar.nope.deeper }}", `"pillar.nope" is undefined`, false},
		{"error in imported file", "{% from 'lib/broken.jinja' import a %}\n", "lib/broken.jinja", 2, 18, "{% set b = salt['nope.missing']() %}", `"nope.missing" is not available`, true},
		{"yaml syntax after jinja", "{% set v = 'x' %}\na: {{ v }}\nb: [unclosed\n", "t/init.sls", 3, 5, "b: [unclosed", "yaml: did not find expected", false},
		{"yaml unclosed flow at end", "a:\n  rootgroup: [\n", "t/init.sls", 2, 14, "  rootgroup: [", "yaml: did not find expected node content", false},
		{"yaml mapping value in a scalar", "a:\n  b: x: y\n", "t/init.sls", 2, 7, "  b: x: y", "mapping values are not allowed", false},
		{"yaml unterminated quote", "a:\n  b: \"open\n  c: 1\n", "t/init.sls", 2, 6, "  b: \"open", "unexpected end of stream", false},
		{"yaml bad indent", "a:\n  b: 1\n c: 2\n", "t/init.sls", 3, 2, " c: 2", "yaml: did not find expected key", false},
		{"duplicate key", "a: 1\nb: 2\na: {{ 3 }}\n", "t/init.sls", 3, 1, "a: 3", `duplicate key "a" (first defined at line 1)`, false},
		{"nested duplicate key", "s:\n  pkg.installed:\n    - name: x\n  pkg.installed: []\n", "t/init.sls", 4, 3, "  pkg.installed: []", `duplicate key "pkg.installed"`, false},
		{"raise", "{{ raise('custom stop') }}\n", "t/init.sls", 1, 4, "{{ raise('custom stop') }}", "custom stop", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := SLS(ec, "t", "t/init.sls", []byte(c.src))
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("want *Error, got %T %v", err, err)
			}
			if pe.File != c.file || pe.Line != c.line || pe.Col != c.col || pe.Text != c.text {
				t.Fatalf("got %s:%d:%d %q, want %s:%d:%d %q\n%v", pe.File, pe.Line, pe.Col, pe.Text, c.file, c.line, c.col, c.text, err)
			}
			if !strings.Contains(pe.Error(), c.msg) {
				t.Fatalf("message %q lacks %q", pe.Error(), c.msg)
			}
			if c.isUnknownFunc != errors.Is(err, execmod.ErrUnknownFunction) {
				t.Fatalf("errors.Is(ErrUnknownFunction) = %v", !c.isUnknownFunc)
			}
			prefix := pe.File + ":" + itoa(pe.Line) + ":" + itoa(pe.Col) + ": "
			if !strings.HasPrefix(pe.Error(), prefix) || (c.text != "" && !strings.HasSuffix(pe.Error(), "\n    "+c.text)) {
				t.Fatalf("format: %q", pe.Error())
			}
		})
	}
}

func itoa(i int) string {
	return strings.TrimSpace(strings.Repeat(" ", 0) + func() string { return fmtInt(i) }())
}

func fmtInt(i int) string {
	if i == 0 {
		return "0"
	}
	neg := i < 0
	if neg {
		i = -i
	}
	var b []byte
	for i > 0 {
		b = append([]byte{byte('0' + i%10)}, b...)
		i /= 10
	}
	if neg {
		b = append([]byte{'-'}, b...)
	}
	return string(b)
}

// PyYAML (YAML 1.1) scalar resolution as Salt's loader applies it.
func TestPyYAMLScalars(t *testing.T) {
	cases := []struct {
		in   string
		want any
	}{
		{"yes", true}, {"Yes", true}, {"YES", true}, {"no", false}, {"No", false}, {"NO", false},
		{"on", true}, {"On", true}, {"ON", true}, {"off", false}, {"Off", false}, {"OFF", false},
		{"true", true}, {"True", true}, {"TRUE", true}, {"false", false}, {"False", false}, {"FALSE", false},
		{"y", "y"}, {"n", "n"}, {"yEs", "yEs"},
		{"~", nil}, {"null", nil}, {"Null", nil}, {"NULL", nil}, {"", nil},
		{"0", 0}, {"42", 42}, {"-17", -17}, {"+5", 5}, {"1_000", 1000},
		{"0644", 644}, {"0755", 755}, {"0800", 800}, {"00", 0}, {"0x1F", 31}, {"0b101", 5}, {"-010", -8},
		{"1:30", 90}, {"190:20:30", 685230},
		{"1.5", 1.5}, {"-0.5", -0.5}, {"1.0e+3", 1000.0}, {".5", 0.5}, {"1.", 1.0}, {"6.8523015e+5", 685230.15},
		{".inf", math.Inf(1)}, {"-.Inf", math.Inf(-1)},
		{"1e3", "1e3"}, {"1.0e3", "1.0e3"}, {"0o644", "0o644"}, {"1.2.3", "1.2.3"}, {"12abc", "12abc"},
		{"'yes'", "yes"}, {`"0644"`, "0644"}, {"'~'", "~"}, {`"1.5"`, "1.5"}, {"'null'", "null"},
		{"!!str yes", "yes"}, {"!!str 0644", "0644"}, {"!!int '12'", 12}, {"!!float '1'", 1.0}, {"!!bool 'on'", true},
		{"2024-01-02", "2024-01-02"},
		{"plain text", "plain text"},
	}
	for _, c := range cases {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte("v: "+c.in+"\n"), &doc); err != nil {
			t.Fatalf("%q: %v", c.in, err)
		}
		got, err := Decode(&doc)
		if err != nil {
			t.Fatalf("%q: %v", c.in, err)
		}
		v := got.(map[string]any)["v"]
		if f, ok := c.want.(float64); ok {
			if g, ok := v.(float64); !ok || g != f {
				t.Errorf("%q: got %#v want %#v", c.in, v, c.want)
			}
			continue
		}
		if v != c.want {
			t.Errorf("%q: got %#v (%T) want %#v (%T)", c.in, v, v, c.want, c.want)
		}
	}
	var doc yaml.Node
	_ = yaml.Unmarshal([]byte("v: .nan\n"), &doc)
	got, _ := Decode(&doc)
	if f, ok := got.(map[string]any)["v"].(float64); !ok || !math.IsNaN(f) {
		t.Errorf(".nan: got %#v", got)
	}
}

func TestDecodeStructures(t *testing.T) {
	src := `base: &b
  a: 1
  b: [x, 2]
merged:
  <<: *b
  b: override
keys:
  80: http
  yes: bool
  ~: none
  1.5: f
alias: *b
`
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	got, err := Decode(&doc)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"base":   map[string]any{"a": 1, "b": []any{"x", 2}},
		"merged": map[string]any{"a": 1, "b": "override"},
		"keys":   map[string]any{"80": "http", "True": "bool", "None": "none", "1.5": "f"},
		"alias":  map[string]any{"a": 1, "b": []any{"x", 2}},
	}
	assertEqual(t, got, want)
	if v, err := Decode(nil); v != nil || err != nil {
		t.Fatalf("Decode(nil) = %v, %v", v, err)
	}
}

func TestDecodeErrorsCarryFile(t *testing.T) {
	ec := tree(t, nil)
	cases := []struct {
		src       string
		line, col int
		msg       string
	}{
		{"a: 1\nb: !!int abc\n", 2, 4, `cannot parse "abc" as an int`},
		{"a: 1\nb:\n  <<: [1, 2]\n", 3, 7, "merge key expects a mapping"},
		{"? [a, b]\n: v\n", 1, 3, "a sequence cannot be a mapping key"},
	}
	for _, c := range cases {
		_, err := SLS(ec, "d", "d.sls", []byte(c.src))
		var pe *Error
		if !errors.As(err, &pe) || pe.File != "d.sls" || pe.Line != c.line || pe.Col != c.col || !strings.Contains(pe.Error(), c.msg) {
			t.Errorf("%q: got %v (%+v)", c.src, err, pe)
		}
	}
	// A failing call inside a condition stops the render too.
	_, err := SLS(ec, "d", "d.sls", []byte("a: 1\n{% if salt['test.fail']() %}b: 2{% endif %}\n"))
	var pe *Error
	if !errors.As(err, &pe) || pe.Line != 2 || !strings.Contains(pe.Error(), "deliberate failure") {
		t.Errorf("failing condition: got %v", err)
	}
}

func TestMissingFilePosition(t *testing.T) {
	ec := tree(t, nil)
	_, err := SLS(ec, "m", "app/init.sls", []byte("a: 1\n{% import_yaml './nope.yaml' as x %}\n"))
	var pe *Error
	if !errors.As(err, &pe) || pe.Line != 2 || pe.Col != 19 || !strings.Contains(pe.Error(), `read "app/nope.yaml"`) {
		t.Fatalf("got %v", err)
	}
}

func TestErrorsInsideMacrosAndFilters(t *testing.T) {
	ec := tree(t, map[string]string{
		"lib/macros.jinja": "{%- macro load(f) %}\n{%- load_yaml as v %}{% include f ignore missing %}{% endload %}\n{{ salt['test.fail']() }}\n{%- endmacro %}",
	})
	// A failure inside an imported macro is reported in the macro's file,
	// even when the macro's output is piped through filters.
	_, err := SLS(ec, "m", "m.sls", []byte("{% from 'lib/macros.jinja' import load %}\na: {{ load('x.yaml') | load_yaml | default({}) }}\n"))
	var pe *Error
	if !errors.As(err, &pe) || pe.File != "lib/macros.jinja" || pe.Line != 3 || !strings.Contains(pe.Error(), "deliberate failure") {
		t.Fatalf("got %v", err)
	}
	// A failing call piped into a filter is not swallowed by the filter.
	_, err = SLS(ec, "m", "m.sls", []byte("a: {{ salt['test.fail']() | default('fallback') }}\n"))
	if !errors.As(err, &pe) || pe.Line != 1 || !strings.Contains(pe.Error(), "deliberate failure") {
		t.Fatalf("got %v", err)
	}
	// load_yaml of nothing is None.
	out, err := Jinja(ec, "m.sls", []byte("{% load_yaml as v %}{% endload %}{{ v is none }} {{ '' | load_yaml is none }}"), nil)
	if err != nil || out != "True True" {
		t.Fatalf("got %q %v", out, err)
	}
}

// A failure the template swallowed is not blamed for a later one.
func TestSwallowedFailureNotBlamed(t *testing.T) {
	ec := tree(t, map[string]string{
		"lib/m.jinja": "{% macro bad() %}{{ salt['test.fail']() }}{% endmacro %}",
	})
	cases := []struct {
		src, file string
		line      int
		msg       string
	}{
		{"{% if salt['no.fn'] is defined %}{% endif %}\n{{ salt['test.fail']() }}\n", "s.sls", 2, "deliberate failure"},
		{"{% from 'lib/m.jinja' import bad %}{% if bad() is defined %}{% endif %}\na: {{ 1 | nofilter }}\n", "s.sls", 2, `no filter named "nofilter"`},
	}
	for _, c := range cases {
		_, err := SLS(ec, "s", "s.sls", []byte(c.src))
		var pe *Error
		if !errors.As(err, &pe) || pe.File != c.file || pe.Line != c.line || !strings.Contains(pe.Error(), c.msg) {
			t.Errorf("%q: got %v", c.src, err)
		}
	}
}
