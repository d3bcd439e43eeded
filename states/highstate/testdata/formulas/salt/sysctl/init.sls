{%- import_yaml "sysctl/defaults.yaml" as defaults %}
{%- set osparams = salt['grains.filter_by']({
      'Debian': {'kernel.unprivileged_userns_clone': 0},
      'RedHat': {'kernel.sysrq': 16}
    }, default='Debian') %}
{%- set params = salt['slsutil.merge'](defaults.params, osparams) %}
{%- set params = salt['pillar.get']('sysctl:params', params, merge=True) %}
{%- for key, value in params | dictsort %}
sysctl-{{ key }}:
  sysctl.present:
    - name: {{ key }}
    - value: {{ value }}
{%- endfor %}
