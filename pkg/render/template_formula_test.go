package render

import (
	"testing"

	"github.com/brine-cm/brine/pkg/execmod"
)

// The map.jinja of saltstack-formulas/template-formula (v3 layout):
// tplroot from tpldir, parameters/*.yaml imported by computed names and a
// nest of grains.filter_by calls spread over several lines.
func TestTemplateFormulaMap(t *testing.T) {
	ec := tree(t, map[string]string{
		"TEMPLATE/parameters/defaults.yaml":    "TEMPLATE:\n  pkg:\n    name: bash\n  config: /etc/template.conf\n  service:\n    name: systemd-journald\n",
		"TEMPLATE/parameters/osarchmap.yaml":   "amd64:\n  arch: x86_64\n",
		"TEMPLATE/parameters/osfamilymap.yaml": "Debian:\n  config: /etc/template-debian.conf\n",
		"TEMPLATE/map.jinja": `{%- set tplroot = tpldir.split('/')[0] %}
{%- import_yaml tplroot ~ "/parameters/defaults.yaml" as default_settings %}
{%- import_yaml tplroot ~ "/parameters/osarchmap.yaml" as osarchmap %}
{%- import_yaml tplroot ~ "/parameters/osfamilymap.yaml" as osfamilymap %}
{%- set _config = salt['config.get'](tplroot, default={}) %}
{%- set defaults = salt['grains.filter_by'](
      default_settings,
      default=tplroot,
      merge=salt['grains.filter_by'](
        osarchmap,
        grain='osarch',
        merge=salt['grains.filter_by'](
          osfamilymap,
          grain='os_family',
          merge=salt['grains.filter_by'](_config, default='lookup')
        )
      )
    )
%}
{%- set config = salt['grains.filter_by'](
      {'defaults': defaults},
      default='defaults',
      merge=_config
    )
%}
{%- set TEMPLATE = config %}
`,
		"TEMPLATE/package/install.sls": `{#- Get the tplroot from tpldir #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import TEMPLATE with context %}

TEMPLATE-package-install-pkg-installed:
  pkg.installed:
    - name: {{ TEMPLATE.pkg.name }}

TEMPLATE-config-file-file-managed:
  file.managed:
    - name: {{ TEMPLATE.config }}
    - mode: 644
    - context:
        arch: {{ TEMPLATE.arch | default('unknown') }}
        tplroot: {{ tplroot }}
`,
	})
	ec.Grains["osarch"] = "amd64"
	ec.Pillar["TEMPLATE"] = map[string]any{"pkg": map[string]any{"name": "bash-from-pillar"}}
	ec.Registry.Register("config.get", "pillar/opts lookup", func(c *execmod.Context, args []any, kw map[string]any) (any, error) {
		key, _ := args[0].(string)
		if v, ok := c.Pillar[key]; ok {
			return v, nil
		}
		return kw["default"], nil
	})
	src, err := ec.Files.Read(ec.Context(), "salt://TEMPLATE/package/install.sls")
	if err != nil {
		t.Fatal(err)
	}
	node, err := SLS(ec, "TEMPLATE.package.install", "TEMPLATE/package/install.sls", src)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(node)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"TEMPLATE-package-install-pkg-installed": map[string]any{"pkg.installed": []any{map[string]any{"name": "bash-from-pillar"}}},
		"TEMPLATE-config-file-file-managed": map[string]any{"file.managed": []any{
			map[string]any{"name": "/etc/template-debian.conf"},
			map[string]any{"mode": 644},
			map[string]any{"context": map[string]any{"arch": "x86_64", "tplroot": "TEMPLATE"}},
		}},
	}
	assertEqual(t, got, want)
}
