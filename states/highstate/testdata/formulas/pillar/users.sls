users:
  alice:
    uid: 2001
    groups: [sudo, www-data]
  bob:
    shell: /bin/zsh
  carol:
    absent: True
