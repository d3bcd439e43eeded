#!/usr/bin/env bash
# make demo: a masterless state run of docs/examples/srv, the way
# `salt-call --local` is used. Everything it writes lives in a temp dir
# that is removed at the end; the state tree writes only below the
# demo_root pillar value, which points into that dir.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$(pwd)
SRV="$REPO/docs/examples/srv"

tmp=$(mktemp -d -t brine-demo.XXXXXX)
# PIDS holds the daemons the networked part starts; cleanup stops them
# before the temp dir goes away, whatever way the script ends.
PIDS=()
cleanup() {
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
ROOT="$tmp/root"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# minion_bin finds bin/brine-minion (built by `make build`) or builds one
# into the temp dir.
minion_bin() {
	if [[ -x "$REPO/bin/brine-minion" ]]; then
		echo "$REPO/bin/brine-minion"
	else
		go build -o "$tmp/brine-minion" ./minion/cmd/brine-minion
		echo "$tmp/brine-minion"
	fi
}

# local_call runs one masterless call against the demo tree; the pillar
# override points every state at $ROOT.
local_call() {
	"$MINION" call --local --config /dev/null --id demo-minion \
		--file-root "$SRV/salt" --pillar-root "$SRV/pillar" \
		"$@" "pillar={\"demo_root\": \"$ROOT\"}"
}

step_show_top() {
	say "state.show_top: which SLS the top file gives this minion"
	local_call state.show_top
}

step_dry_run() {
	say "state.apply test=True: what would change (nothing is written)"
	local_call --out highstate state.apply test=True || true
	[[ ! -e "$ROOT" ]] && echo "(confirmed: $ROOT does not exist yet)"
}

step_apply() {
	say "state.apply: converge the tree into $ROOT"
	local_call --out highstate state.apply
}

step_reapply() {
	say "state.apply again: nothing left to change"
	local_call --out highstate state.apply
}

step_drift() {
	say "local drift: edit a managed file, re-apply, brine puts it back"
	echo "hand edit" >>"$ROOT/etc/webapp/app.ini"
	local_call --out highstate state.sls webapp.config
}

step_result() {
	say "result on disk"
	(cd "$ROOT" && find . | sort)
	echo
	cat "$ROOT/etc/motd"
}

# master_bin finds bin/brine-master or builds one into the temp dir.
master_bin() {
	if [[ -x "$REPO/bin/brine-master" ]]; then
		echo "$REPO/bin/brine-master"
	else
		go build -o "$tmp/brine-master" ./master/cmd/brine-master
		echo "$tmp/brine-master"
	fi
}

NET="$tmp/net"
IDS=(web1.demo web2.demo db1.demo)

# bm runs the operator CLI against the demo master's data dir.
bm() { "$MASTER" --data-dir "$NET/master" "$@"; }

# wait_until retries a command for up to $1 seconds.
wait_until() {
	local secs=$1; shift
	local end=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS >= end)); then echo "timed out: $*" >&2; return 1; fi
		sleep 0.2
	done
}

pending_count() { [[ $(bm key list --out json | grep -c '"[a-z0-9]*\.demo"') -ge $1 ]]; }
all_answer() { [[ $(bm run -t 2 --out json '*' test.ping | grep -c ': true') -eq ${#IDS[@]} ]]; }

step_net_start() {
	say "networked: a master with embedded NATS (TLS, JetStream) and three minions in $NET"
	mkdir -p "$NET"
	"$MASTER" serve --config /dev/null --data-dir "$NET/master" --listen 127.0.0.1:0 \
		--file-root "$SRV/salt" --pillar-root "$SRV/pillar" --log-level warn 2>"$NET/master.log" &
	PIDS+=($!)
	wait_until 20 test -s "$NET/master/master.url"
	echo "master listening on $(cat "$NET/master/master.url")"
	for id in "${IDS[@]}"; do
		"$MINION" --config /dev/null --id "$id" --master "$(cat "$NET/master/master.url")" \
			--data-dir "$NET/$id" --log-level warning 2>"$NET/$id.log" &
		PIDS+=($!)
	done
	wait_until 30 pending_count ${#IDS[@]}
}

step_net_keys() {
	say "brine-master key list: the new minions wait for an operator"
	bm key list
	say "brine-master key finger: fingerprints to compare out of band"
	bm key finger
	say "brine-master key accept -A -y"
	bm key accept -A -y
	wait_until 30 all_answer
	bm key list
}

step_net_run() {
	say "brine-master run '*' test.ping"
	bm run '*' test.ping
	say "brine-master run '*' grains.item os cpuarch"
	bm run '*' grains.item os cpuarch
	say "brine-master run --out json -L web1.demo,db1.demo cmd.run 'echo hello from \$(hostname)'"
	bm run --out json -L web1.demo,db1.demo cmd.run 'echo hello from $(hostname)'
}

step_net_state() {
	say "brine-master run web1.demo state.apply: files from the master's file server, signed job"
	bm run web1.demo state.apply "pillar={\"demo_root\": \"$NET/root-web1\"}"
	echo
	(cd "$NET/root-web1" && find . -type f | sort)
}

step_net_stop() {
	say "stopping the master and the minions"
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	PIDS=()
	echo "stopped"
}

main() {
	MASTER=$(master_bin)
	MINION=$(minion_bin)
	echo "brine demo in $tmp"
	step_show_top
	step_dry_run
	step_apply
	step_reapply
	step_drift
	step_result
	step_net_start
	step_net_keys
	step_net_run
	step_net_state
	step_net_stop
}

main "$@"
