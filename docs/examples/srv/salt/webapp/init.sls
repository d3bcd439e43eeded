{%- from "webapp/map.jinja" import webapp with context %}
{%- set root = pillar['demo_root'] %}
include:
  - webapp.config

webapp-dirs:
  file.directory:
    - names:
      - {{ root }}/srv/{{ webapp.name }}
      - {{ root }}/var/log/{{ webapp.name }}
    - makedirs: True

webapp-build:
  cmd.run:
    - name: echo "built {{ webapp.name }}" > {{ root }}/srv/{{ webapp.name }}/BUILD
    - creates: {{ root }}/srv/{{ webapp.name }}/BUILD
    - require:
      - file: webapp-dirs

webapp-current:
  file.symlink:
    - name: {{ root }}/srv/current
    - target: {{ root }}/srv/{{ webapp.name }}
    - require:
      - cmd: webapp-build

webapp-reload:
  cmd.run:
    - name: date +%s > {{ root }}/var/log/{{ webapp.name }}/reloaded
    - onchanges:
      - file: webapp-config
