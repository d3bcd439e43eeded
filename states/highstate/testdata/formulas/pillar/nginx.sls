nginx:
  worker_processes: 4
  sites:
    default:
      listen: 80
      root: /var/www/html
    app:
      listen: 8080
      root: /srv/app
