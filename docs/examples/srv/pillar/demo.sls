motd: Welcome to a brine-managed host
webapp:
  name: brine-demo
  port: 8080
  users:
    - alice
    - bob
