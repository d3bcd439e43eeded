{%- from "nginx/map.jinja" import nginx with context %}
{%- if nginx.repo is defined %}
nginx-repo:
  pkg.installed:
    - name: {{ nginx.repo }}
{%- endif %}

nginx-pkg:
  pkg.installed:
    - name: {{ nginx.package }}
{%- if nginx.repo is defined %}
    - require:
      - pkg: nginx-repo
{%- endif %}
