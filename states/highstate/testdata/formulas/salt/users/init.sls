{%- macro user_state(name, u) -%}
user_{{ name }}:
  user.present:
    - name: {{ name }}
    - shell: {{ u.get('shell', '/bin/bash') }}
    - home: {{ u.get('home', '/home/' ~ name) }}
{%- if u.groups is defined %}
    - groups: {{ u.groups | json }}
{%- endif %}
{%- if u.get('uid') %}
    - uid: {{ u.uid }}
{%- endif %}
{%- endmacro %}
{%- for name, u in salt['pillar.get']('users', {}) | dictsort %}
{%- if not u.get('absent', False) %}
{{ user_state(name, u) }}
{%- else %}
user_{{ name }}_absent:
  user.absent:
    - name: {{ name }}
{%- endif %}
{%- endfor %}
