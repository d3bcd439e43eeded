# brine — build, test, benchmark and demo. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin
PKGS := ./...

.PHONY: help build test test-short bench bench-fleet demo fuzz vet clean tidy-check

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/brine-master, bin/brine-minion, bin/brine-bench
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/brine-master ./master/cmd/brine-master
	$(GO) build -o $(BIN)/brine-minion ./minion/cmd/brine-minion
	@if [ -d master/cmd/brine-bench ]; then $(GO) build -o $(BIN)/brine-bench ./master/cmd/brine-bench; fi

vet: ## go vet
	$(GO) vet $(PKGS)

test: vet ## go vet + go test -race over every package (end-to-end included)
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

test-short: ## quick tests, no race detector, skips slow end-to-end cases
	$(GO) test -short -count=1 $(PKGS)

bench: build ## benchmarks: state engine, audit, fleet at 1,000 minions
	@bash docs/examples/bench.sh

bench-fleet: build ## fleet simulator at 1,000, 5,000 and 10,000 minions
	@for n in 1000 5000 10000; do echo "== $$n minions, $$(uptime | sed 's/.*load/load/')"; $(BIN)/brine-bench --minions $$n || exit 1; done

demo: build ## a master with embedded NATS and local minions in a temp dir, real jobs, a state apply
	@bash docs/examples/demo.sh

fuzz: ## run each fuzz target for a short while
	@for t in $$(grep -rl 'func Fuzz' --include='*_test.go' . | xargs -n1 dirname | sort -u); do \
	  for f in $$(grep -ho 'func Fuzz[A-Za-z0-9_]*' $$t/*_test.go | sed 's/func //'); do \
	    $(GO) test -run=NONE -fuzz="^$$f$$" -fuzztime=20s $$t || exit 1; done; done

tidy-check: ## fail if go.mod/go.sum are not tidy
	$(GO) mod tidy && git diff --exit-code go.mod go.sum

clean: ## remove build output
	rm -rf $(BIN)
