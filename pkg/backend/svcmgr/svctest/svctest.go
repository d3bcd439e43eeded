// Package svctest installs a real LSB init script for tests of the
// sysvinit backend and of the service modules: a small daemon (a shell
// sleep loop) that writes its pid file and counts reloads under a temp
// directory, so tests can watch it start, stop, restart and reload.
package svctest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Daemon is one installed test service.
type Daemon struct {
	Name   string // service name, brinetest-<random>
	Script string // /etc/init.d/<Name>
	Dir    string // holds the pid file and the reload log
}

// RequireRoot skips the test when not root: writing /etc/init.d and
// running update-rc.d needs it. CI runs the tests as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: writes /etc/init.d and runs update-rc.d (CI runs as root)")
	}
}

// RequireTools fails the test (not skips) when the sysvinit tools are
// missing, so CI cannot silently lose the live tier.
func RequireTools(t testing.TB) {
	t.Helper()
	for _, bin := range []string{"service", "update-rc.d", "setsid"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not found: install init-system-helpers and util-linux", bin)
		}
	}
}

const script = `#!/bin/sh
### BEGIN INIT INFO
# Provides:          %[1]s
# Required-Start:
# Required-Stop:
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: brine test daemon
### END INIT INFO
PIDFILE=%[2]s/pid
RELOADS=%[2]s/reloads

running() {
	[ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

case "$1" in
start)
	running && exit 0
	setsid sh -c 'trap "echo reload >> $1" HUP; echo $$ > "$2.tmp"; mv "$2.tmp" "$2"; while :; do sleep 1 & wait $!; done' daemon "$RELOADS" "$PIDFILE" </dev/null >/dev/null 2>&1 &
	i=0
	while [ ! -f "$PIDFILE" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
	running
	;;
stop)
	if running; then
		kill "$(cat "$PIDFILE")"
		i=0
		while kill -0 "$(cat "$PIDFILE")" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
	fi
	rm -f "$PIDFILE"
	;;
restart|force-reload)
	"$0" stop && "$0" start
	;;
reload)
	running || exit 7
	kill -HUP "$(cat "$PIDFILE")"
	;;
status)
	running && exit 0
	[ -f "$PIDFILE" ] && exit 1
	exit 3
	;;
*)
	echo "Usage: $0 {start|stop|restart|reload|force-reload|status}" >&2
	exit 2
	;;
esac
`

// Install writes the init script to /etc/init.d/brinetest-<random> and
// registers a cleanup that stops the daemon and removes the script and
// its rc links.
func Install(t testing.TB) *Daemon {
	t.Helper()
	RequireRoot(t)
	RequireTools(t)
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	d := &Daemon{Name: "brinetest-" + hex.EncodeToString(b[:]), Dir: t.TempDir()}
	d.Script = filepath.Join("/etc/init.d", d.Name)
	if err := os.WriteFile(d.Script, []byte(fmt.Sprintf(script, d.Name, d.Dir)), 0o755); err != nil {
		t.Fatalf("write init script: %v", err)
	}
	t.Cleanup(func() {
		if pid, ok := d.Pid(); ok {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if out, err := exec.Command("update-rc.d", "-f", d.Name, "remove").CombinedOutput(); err != nil {
			t.Errorf("update-rc.d remove %s: %v: %s", d.Name, err, out)
		}
		if err := os.Remove(d.Script); err != nil {
			t.Errorf("remove init script: %v", err)
		}
		if l := d.Links(); len(l) > 0 {
			t.Errorf("rc links left behind: %v", l)
		}
	})
	return d
}

// Pid returns the daemon's pid when it is running.
func (d *Daemon) Pid() (int, bool) {
	b, err := os.ReadFile(filepath.Join(d.Dir, "pid"))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	if syscall.Kill(pid, 0) != nil {
		return 0, false
	}
	return pid, true
}

// Reloads counts the SIGHUPs the daemon has handled.
func (d *Daemon) Reloads() int {
	b, err := os.ReadFile(filepath.Join(d.Dir, "reloads"))
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "reload")
}

// Links lists the daemon's rc links, start (S) and kill (K), in every
// runlevel directory.
func (d *Daemon) Links() []string {
	m, _ := filepath.Glob(filepath.Join("/etc", "rc[0-6S].d", "[SK][0-9][0-9]"+d.Name))
	return m
}

// StartLinks lists the start links in one runlevel directory ("2").
func (d *Daemon) StartLinks(runlevel string) []string {
	m, _ := filepath.Glob(filepath.Join("/etc", "rc"+runlevel+".d", "S[0-9][0-9]"+d.Name))
	return m
}

// WaitFor polls cond until it holds or the timeout passes, failing the
// test with what was awaited.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
