// Package testkit holds the test helpers that the tests of several brine
// packages need alike (real test accounts, an audit sink that keeps what
// was recorded), so each package does not grow its own copy. Only _test.go
// files import it; it imports no brine package, so internal tests of any
// package may use it without an import cycle.
package testkit

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// AccountName returns a fresh name for a real user or group a test
// creates, so runs never collide with each other or with real accounts.
func AccountName(t testing.TB) string {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	return "brinetest_" + hex.EncodeToString(b)
}

// NeedAccounts skips a test that creates real users and groups where it
// cannot: without root or without the passwd tools.
func NeedAccounts(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("creates real users and groups: needs root (CI runs as root)")
	}
	if _, err := exec.LookPath("useradd"); err != nil {
		t.Skip("useradd not installed (CI installs passwd)")
	}
}

// Audit is an audit sink for execution contexts in tests: each Record
// call is turned into one line by Format (which may also drop it), so a
// test can compare what a module recorded against the lines it expects.
// It is safe for concurrent use, as modules may record from goroutines.
type Audit struct {
	// Format makes the line kept for one record; keep false drops it.
	Format func(action string, d map[string]any) (line string, keep bool)

	mu    sync.Mutex
	lines []string
}

// Record keeps the formatted line for one audited action.
func (a *Audit) Record(action string, d map[string]any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if line, keep := a.Format(action, d); keep {
		a.lines = append(a.lines, line)
	}
}

// Lines returns the lines kept so far.
func (a *Audit) Lines() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.lines...)
}

// Take returns the lines kept so far and forgets them, so a test can
// check each step's records on their own.
func (a *Audit) Take() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.lines
	a.lines = nil
	return r
}

// Recorder is an audit sink that keeps every record as given, for tests
// that check the exact details a module recorded. Read Actions and
// Details once the calls under test have returned, or hold the lock
// while work that may still record is running.
type Recorder struct {
	sync.Mutex
	// Actions holds each record's action, in order.
	Actions []string
	// Details holds each record's details, in the same order.
	Details []map[string]any
}

// Record keeps one audited action and its details.
func (r *Recorder) Record(action string, d map[string]any) {
	r.Lock()
	defer r.Unlock()
	r.Actions = append(r.Actions, action)
	r.Details = append(r.Details, d)
}

// WaitFor polls cond until it holds and fails the test once timeout has
// passed without it, naming what was awaited. Tests wait on the event
// itself with a deadline instead of sleeping for a guessed time; this is
// the one poll loop they share.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	WaitSeen(t, timeout, what, func() (bool, string) { return cond(), "" })
}

// WaitSeen is WaitFor for a condition that can say what it saw: on
// timeout the failure prints the last thing check reported (the log so
// far, the verify report), which is what explains a wait that failed.
func WaitSeen(t testing.TB, timeout time.Duration, what string, check func() (ok bool, seen string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, seen := check()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			if seen == "" {
				t.Fatalf("timed out after %s waiting for %s", timeout, what)
			}
			t.Fatalf("timed out after %s waiting for %s; last seen:\n%s", timeout, what, seen)
		}
		<-tick.C
	}
}
