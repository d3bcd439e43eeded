{%- from "nginx/map.jinja" import nginx with context %}
include:
  - nginx.install

nginx-config:
  file.managed:
    - name: {{ nginx.config_file }}
    - source: salt://nginx/files/nginx.conf.jinja
    - template: jinja
    - user: root
    - mode: '0644'
    - context:
        user: {{ nginx.user }}
        workers: {{ nginx.worker_processes }}
    - require:
      - pkg: nginx-pkg
{%- if nginx.sites_enabled %}
{%- for site, cfg in nginx.get('sites', {}) | dictsort %}

nginx-site-{{ site }}:
  file.managed:
    - name: /etc/nginx/sites-available/{{ site }}.conf
    - contents: |
        server { listen {{ cfg.listen }}; root {{ cfg.root }}; }
{%- endfor %}
{%- endif %}
