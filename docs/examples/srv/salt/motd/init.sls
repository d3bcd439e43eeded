{{ pillar['demo_root'] }}/etc/motd:
  file.managed:
    - source: salt://motd/motd.jinja
    - template: jinja
    - makedirs: True
    - mode: '0644'
