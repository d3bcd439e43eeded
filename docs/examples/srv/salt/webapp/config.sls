{%- from "webapp/map.jinja" import webapp with context %}
{%- set root = pillar['demo_root'] %}
webapp-config:
  file.managed:
    - name: {{ root }}/{{ webapp.conf_dir }}/app.ini
    - source: salt://webapp/files/app.ini.jinja
    - template: jinja
    - makedirs: True
    - context:
        webapp: {{ webapp | json }}
