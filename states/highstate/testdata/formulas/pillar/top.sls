base:
  '*':
    - nginx
    - users
    - chrony
  'os_family:Debian':
    - match: grain
    - openssh.debian
  'web*':
    - sysctl
  'db*':
    - nothing_here
