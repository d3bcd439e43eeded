{%- from "nginx/map.jinja" import nginx with context %}
include:
  - nginx.config

nginx-service:
  service.running:
    - name: {{ nginx.service }}
    - enable: True
    - watch:
      - file: nginx-config
