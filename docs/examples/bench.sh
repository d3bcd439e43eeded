#!/usr/bin/env bash
# make bench: prints every figure docs/PERFORMANCE.md records.
# Each section is a function so it can be run alone: bench.sh state_engine
set -euo pipefail
cd "$(dirname "$0")/../.."

say() { printf '\n== %s\n' "$*"; }

machine() {
	say "machine"
	echo "cores: $(nproc)  memory: $(free -m | awk '/Mem:/ {print $2}') MiB  go: $(go version | awk '{print $3}')"
	grep -m1 'model name' /proc/cpuinfo || true
}

# state_engine applies a generated tree (300 file.managed of 1 KB, 50
# file.directory, 20 cmd.run guarded by creates, 20 file.symlink; and a
# 3,000-file tree) with the real `brine-minion call --local` process, into
# an empty dir and again with nothing to change, reporting wall time and
# peak RSS of the whole process.
state_engine() {
	say "state engine: brine-minion call --local state.apply (whole process)"
	go test -run=NONE -bench=BenchmarkCallLocal -benchtime=5x ./states/highstate/
}

# packages runs every other Go benchmark in the module.
packages() {
	say "package benchmarks"
	go test -run=NONE -bench=. -benchmem $(go list ./... | grep -v /states/highstate)
}

main() {
	if [[ $# -gt 0 ]]; then
		for f in "$@"; do "$f"; done
		return
	fi
	machine
	state_engine
	packages
}

main "$@"

# ---- fleet: bin/brine-bench (master/fleetsim) --------------------------
# Runs after the sections above when bench.sh is called without
# arguments; run them alone with bin/brine-bench directly:
#   bin/brine-bench --idle
#   bin/brine-bench --minions 1000
# The master runs as a child `bin/brine-master serve`, so its RSS and CPU
# are its own; the simulated minions share the machine with it.

# fleet_idle: resident memory of a real idle brine-master serve and of a
# real brine-minion daemon connected to it and accepted.
fleet_idle() {
	say "idle RSS: real brine-master serve and brine-minion (bin/brine-bench --idle)"
	bin/brine-bench --idle
}

# fleet_1000: 1,000 simulated minions against a real master.
fleet_1000() {
	say "fleet: 1,000 simulated minions (bin/brine-bench --minions 1000)"
	echo "load before: $(uptime | sed 's/.*load average/load average/')"
	bin/brine-bench --minions 1000
}

if [[ $# -eq 0 ]]; then
	fleet_idle
	fleet_1000
fi
# ---- end fleet ---------------------------------------------------------
