package e2e

import (
	"bufio"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brine-cm/brine/pkg/audit"
	"github.com/brine-cm/brine/pkg/keys"
)

// A second brine-minion started with a known id but its own fresh key is
// refused: the id shows under minions_denied and the master's audit log
// names the key it offered. The salt/key event Deny publishes travels on
// the master's internal subjects, which no operator may subscribe to; it
// is asserted in master/api (TestDenyPublishesSaltKeyEvent).
func TestDeniedMinionListedAndAudited(t *testing.T) {
	m := newMaster(t)
	orig := acceptMinion(t, m, "web1")
	origKey := keys.Public(orig.key(t))

	dup := startMinion(t, m, "web1", filepath.Join(t.TempDir(), "web1-again"))
	offered := keys.Public(dup.key(t))
	if offered == origKey {
		t.Fatal("the fresh data dir reused the accepted key")
	}

	waitFor(t, 20*time.Second, "web1 under minions_denied", func() bool {
		return contains(m.keyLists(t)["minions_denied"], "web1")
	})
	lists := m.keyLists(t)
	if !contains(lists["minions"], "web1") {
		t.Fatalf("web1 no longer accepted after the denied attempt: %v", lists)
	}

	var denied []audit.Entry
	waitFor(t, 10*time.Second, "key.denied audit entry for the offered key", func() bool {
		denied = deniedEntries(t, m)
		for _, e := range denied {
			if e.Target == "web1" && e.Detail["nkey"] == offered {
				return true
			}
		}
		return false
	})
	for _, e := range denied {
		if e.Action != "key.denied" || e.Target != "web1" || e.Outcome != "denied" || e.Actor != "master" {
			t.Fatalf("unexpected entry under --action key.denied: %+v", e)
		}
		if e.Detail["nkey"] == origKey {
			t.Fatalf("the accepted key was recorded as denied: %+v", e)
		}
		if e.Detail["finger"] != keys.Fingerprint(offered) {
			t.Fatalf("key.denied finger %v, want the offered key's %s", e.Detail["finger"], keys.Fingerprint(offered))
		}
	}

	// The real web1 keeps its key and still answers.
	out, err := m.cli(t, "key", "finger", "web1", "--out", "json")
	if err != nil {
		t.Fatal(err)
	}
	var fp map[string]map[string]string
	if err := json.Unmarshal([]byte(out), &fp); err != nil {
		t.Fatalf("key finger json %q: %v", out, err)
	}
	if fp["minions"]["web1"] != keys.Fingerprint(origKey) {
		t.Fatalf("web1's accepted key changed: %v", fp)
	}
	res, err := m.runJSON(t, "web1", "test.ping")
	if err != nil || res["web1"] != true {
		t.Fatalf("real web1 after the attempt: %v %v", res, err)
	}
}

// deniedEntries reads the key.denied entries through `audit show`, one
// JSON line each.
func deniedEntries(t *testing.T, m *master) []audit.Entry {
	t.Helper()
	out, err := m.cli(t, "audit", "show", "--action", "key.denied", "--out", "json")
	if err != nil {
		t.Fatalf("audit show: %v", err)
	}
	var es []audit.Entry
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var e audit.Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("audit show line %q: %v", line, err)
		}
		es = append(es, e)
	}
	return es
}
