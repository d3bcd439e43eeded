module github.com/brine-cm/brine

go 1.26.8
