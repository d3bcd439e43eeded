sysctl:
  params:
    net.ipv4.ip_forward: 1
    vm.swappiness: 10
