openssh:
  lookup:
    service: ssh
    banner: /etc/issue.net
  sshd_config:
    PermitRootLogin: 'no'
    PasswordAuthentication: 'no'
    Port: 22
