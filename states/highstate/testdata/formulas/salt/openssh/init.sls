{%- from "openssh/map.jinja" import openssh with context %}
{%- set cfg = salt['pillar.get']('openssh:sshd_config', {'PermitRootLogin': 'prohibit-password'}, merge=True) %}
openssh:
  pkg.installed:
    - pkgs:
      - {{ openssh.server }}
      - {{ openssh.client }}
  service.running:
    - name: {{ openssh.service }}
    - enable: True
    - require:
      - pkg: openssh

sshd_config:
  file.managed:
    - name: {{ openssh.sshd_config }}
    - contents: |
{%- for k, v in cfg | dictsort %}
        {{ k }} {{ v }}
{%- endfor %}
{%- if openssh.banner is defined %}
        Banner {{ openssh.banner }}
{%- endif %}
    - require:
      - pkg: openssh
