base:
  '*':
    - nginx
    - users
  'os_family:Debian':
    - match: grain
    - openssh.debian
  'web*':
    - sysctl
  'db*':
    - nothing_here
