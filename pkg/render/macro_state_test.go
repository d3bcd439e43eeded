package render

import "testing"

// A macro that generates whole states from a kwargs dict, with a filter
// block, dict.pop and whitespace-controlled output (the shape of the
// postgres formula's macros).
func TestMacroStateGenerator(t *testing.T) {
	ec := tree(t, map[string]string{
		"pg/macros.jinja": `{%- macro kwargs_list(kw) -%}
  {%- filter indent(4) %}
    {%- for k, v in kw|dictsort() %}
- {{ k }}: {{ v }}
    {%- endfor %}
  {%- endfilter %}
{%- endmacro %}

{%- macro state(name, kind, kw) %}
  {%- do kw.update({'name': name}) %}
  {%- if 'ensure' in kw %}
    {%- set ensure = kw.pop('ensure') %}
  {%- endif %}
  {%- if 'owner' not in kw and kind != 'schema' %}
    {%- do kw.update({'owner': 'postgres'}) %}
  {%- endif -%}

{{ kind }}-{{ name }}:
  postgres_{{ kind }}.{{ ensure|default('present') }}:
    {{- kwargs_list(kw) }}
    - port: 5432
{%- endmacro %}
`,
	})
	src := "{%- from 'pg/macros.jinja' import state %}\n{%- for n, kw in {'app': {'ensure': 'absent', 'enc': 'UTF8'}, 'web': {}}|dictsort %}\n{{ state(n, 'database', kw) }}\n{%- endfor %}\n"
	node, err := SLS(ec, "pg", "pg/init.sls", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(node)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"database-app": map[string]any{"postgres_database.absent": []any{
			map[string]any{"enc": "UTF8"}, map[string]any{"name": "app"}, map[string]any{"owner": "postgres"}, map[string]any{"port": 5432}}},
		"database-web": map[string]any{"postgres_database.present": []any{
			map[string]any{"name": "web"}, map[string]any{"owner": "postgres"}, map[string]any{"port": 5432}}},
	}
	assertEqual(t, got, want)
}
