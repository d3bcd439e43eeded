chrony:
  servers:
    - ntp.example.com
