package render

import (
	"testing"
)

func TestFilters(t *testing.T) {
	ec := tree(t, nil)
	cases := []struct{ src, want string }{
		// Salt's serialisers.
		{"{{ {'b': [1, 'yes', None, 1.5], 'a': 'x: y'} | yaml }}", "{a: 'x: y', b: [1, 'yes', null, 1.5]}"},
		{"{{ 'plain' | yaml }} {{ 'on' | yaml }} {{ '0644' | yaml }} {{ '' | yaml }} {{ true | yaml }}", "plain 'on' '0644' '' true"},
		{"{{ {'a': 1} | yaml(False) }}", "a: 1"},
		{"{{ {'b': [1, 'two'], 'a': {'x': none}} | json }}", `{"a": {"x": null}, "b": [1, "two"]}`},
		{"{{ {'a': [1]} | json(indent=2) }}", "{\n  \"a\": [\n    1\n  ]\n}"},
		{"{{ '<a & b>' | tojson }}", `"\u003ca \u0026 b\u003e"`},
		{"{{ 'é' | json }}", `"\u00e9"`},
		{"{{ ('{\"a\": [1, 2]}' | load_json).a | sum }}", "3"},
		{"{{ ('a: yes\\nb: 0755' | load_yaml).b }} {{ ('a: yes' | load_yaml).a }}", "755 True"},
		{"{{ 'it\\'s' | yaml_squote }} {{ 'say \"hi\"' | yaml_dquote }}", `'it''s' "say \"hi\""`},
		{"{{ 'yes' | yaml_encode }} {{ 5 | yaml_encode }} {{ true | yaml_encode }} {{ none | yaml_encode }}", `"yes" 5 true null`},
		// Salt's data helpers.
		{"{{ pillar | traverse('nginx:lookup:user') }} {{ pillar | traverse('nginx:nope', 'dflt') }} {{ {'l': [{'a': 1}]} | traverse('l:0:a') }}", "www dflt 1"},
		{"{{ 'abcabc' | regex_replace('b(c)', '\\\\1X') }} {{ 'ABC' | regex_replace('b', '-', ignorecase=True) }}", "acXacX A-C"},
		{"{{ 'ab12' | regex_search('([a-z]+)(\\\\d+)') }} {{ 'zz' | regex_search('\\\\d') is none }}", "['ab', '12'] True"},
		{"{{ 'ab12' | regex_match('\\\\d+') is none }} {{ '12ab' | regex_match('(\\\\d+)') }}", "True ['12']"},
		{"{{ [1, 2, 1, 'a', 'a'] | unique }}", "[1, 2, 'a']"},
		{"{{ '/etc' | path_join('nginx', 'nginx.conf') }} {{ 'a' | path_join('/abs') }}", "/etc/nginx/nginx.conf /abs"},
		{"{{ 'yes' | to_bool }} {{ 'no' | to_bool }} {{ 1 | to_bool }} {{ 0 | to_bool }} {{ [] | to_bool }} {{ none | to_bool }} {{ 'True' | to_bool }}", "True False True False False False True"},
		{"{{ 'a' | sequence }} {{ ['a'] | sequence }}", "['a'] ['a']"},
		{"{{ [1] | is_list }} {{ 'x' | is_list }}", "True False"},
		{"{{ [3, 1, 2] | min }} {{ [3, 1, 2] | max }} {{ ['b', 'a'] | min }}", "1 3 a"},
		{"{{ 'a b' | quote }} {{ 'safe-1.0' | quote }} {{ \"it's\" | quote }}", `'a b' safe-1.0 'it'"'"'s'`},
		{"{{ 'abc' | md5 }} {{ 'abc' | sha256 }}", "900150983cd24fb0d6963f7d28e17f72 ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{"{{ {'b': 1, 'A': 2} | dictsort }} {{ {'a': 2, 'b': 1} | dictsort(by='value') }}", "[['A', 2], ['b', 1]] [['b', 1], ['a', 2]]"},
		{"{{ 'a\\nb' | indent(2) }}|{{ 'a\\nb' | indent(2, true) }}", "a\n  b|  a\n  b"},
		{"{{ [1, 2] | union([2, 3]) }} {{ [1, 2] | intersect([2, 3]) }} {{ [1, 2] | difference([2]) }}", "[1, 2, 3] [2] [1]"},
		{"{{ '10.0.0.1' | is_ipv4 }} {{ '::1' | is_ipv6 }} {{ 'x' | is_ip }}", "True True False"},
		{"{{ 'abc' is match('a') }} {{ 'abc' is match('b') }}", "True False"},
		{"{{ [1, 2, 3] | avg }} {{ [] | is_iter }} {{ 'x' | is_iter }} {{ [0, 1, 0] | exactly_one_true }} {{ [1, 1] | exactly_n_true(2) }}", "2.0 True False True True"},
		{"{{ ['10.0.0.1', 'fe80::1', 'x', '192.168.0.0/24'] | ipv4 }} {{ grains.ipv4 | ipv6 }} {{ '::1' | ipaddr }}", "['10.0.0.1', '192.168.0.0/24'] [] ::1"},
		// Jinja's own, on the values formulas pass them.
		{"{{ missing | default('d') }} {{ '' | default('e', true) }} {{ 'v' | default('x') }}", "d e v"},
		{"{{ grains.ipv4 | join(', ') }} {{ [1, 2] | join }}", "127.0.0.1, 10.0.0.5 12"},
		{"{{ 'a-b' | replace('-', '_') }} {{ 'AbC' | lower }} {{ 'abc' | upper }}", "a_b abc ABC"},
		{"{{ grains.ipv4 | first }} {{ grains.ipv4 | last }} {{ grains.ipv4 | length }} {{ pillar | length }} {{ 'abc' | length }}", "127.0.0.1 10.0.0.5 2 2 3"},
		{"{{ 'ab' | list }} {{ pillar.nginx | list }} {{ range(3) | list }}", "['a', 'b'] ['lookup', 'port'] [0, 1, 2]"},
		{"{{ [3, 1, 2] | sort }} {{ [3, 1, 2] | sort(reverse=true) }}", "[1, 2, 3] [3, 2, 1]"},
		{"{{ ['a', 'b'] | map('upper') | list }} {{ [{'n': 'x'}, {'n': 'y'}] | map(attribute='n') | join }}", "['A', 'B'] xy"},
		{"{{ [1, 2, 3, 4] | select('odd') | list }} {{ [1, 2, 3, 4] | reject('odd') | list }}", "[1, 3] [2, 4]"},
		{"{{ [{'on': true, 'n': 1}, {'on': false, 'n': 2}] | selectattr('on') | map(attribute='n') | list }}", "[1]"},
		{"{% for k, v in {'b': 1, 'a': 2} | items %}{{ k }}{{ v }}{% endfor %}", "a2b1"},
		{"{{ 5 | string }} {{ '42' | int + 1 }} {{ '1.5' | float * 2 }} {{ 'x' | int }} {{ '  t ' | trim }}", "5 43 3.0 0 t"},
		{"{{ '%s=%d' | format('a', 3) }}", "a=3"},
	}
	for _, c := range cases {
		out, err := Jinja(ec, "f.sls", []byte(c.src), nil)
		if err != nil {
			t.Errorf("%s: %v", c.src, err)
			continue
		}
		if out != c.want {
			t.Errorf("%s\n got: %q\nwant: %q", c.src, out, c.want)
		}
	}
}

// The yaml and json filters are used inside YAML values; what they print
// must parse back to the same data.
func TestSerialisersInsideYAML(t *testing.T) {
	ec := tree(t, nil)
	ec.Pillar["cfg"] = map[string]any{
		"list":   []any{"a", "yes", "0644", "x: y", "#hash", "", "multi\nline", 1, 2.5, true, nil},
		"nested": map[string]any{"k": []any{map[string]any{"deep": "v"}}, "quote": `it's "q"`},
		"colon":  "http://example.com:80/",
	}
	src := `inline_yaml: {{ pillar.cfg | yaml }}
inline_json: {{ pillar.cfg | json }}
block:
  value: {{ pillar.cfg.nested | yaml }}
  str: {{ pillar.cfg.colon | yaml }}
`
	node, err := SLS(ec, "s", "s.sls", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(node)
	if err != nil {
		t.Fatal(err)
	}
	m := got.(map[string]any)
	assertEqual(t, m["inline_yaml"], ec.Pillar["cfg"])
	assertEqual(t, m["inline_json"], ec.Pillar["cfg"])
	assertEqual(t, m["block"], map[string]any{"value": ec.Pillar["cfg"].(map[string]any)["nested"], "str": "http://example.com:80/"})
}
