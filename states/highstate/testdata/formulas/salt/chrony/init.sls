{%- from "chrony/map.jinja" import chrony with context %}
chrony:
  pkg.installed:
    - name: {{ chrony.package }}
  file.managed:
    - name: {{ chrony.config }}
    - contents: |
{%- for s in chrony.servers %}
        server {{ s }} iburst
{%- endfor %}
{%- for k, v in chrony.options | dictsort %}
        {{ k }} {{ v }}
{%- endfor %}
    - require:
      - pkg: chrony
  service.running:
    - name: {{ chrony.service }}
    - enable: True
    - watch:
      - file: chrony
