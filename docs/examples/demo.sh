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
trap 'rm -rf "$tmp"' EXIT
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

main() {
	MINION=$(minion_bin)
	echo "brine demo in $tmp"
	step_show_top
	step_dry_run
	step_apply
	step_reapply
	step_drift
	step_result
}

main "$@"
