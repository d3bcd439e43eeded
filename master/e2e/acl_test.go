package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brine-cm/brine/proto"
)

// TestOperatorACL runs a restricted operator, created with `brine-master
// operator add`, against the ACL in the master's config: a run is allowed
// only when every minion the target resolves to is covered by a rule
// listing the function; an empty set, another function, a key change or
// a target reaching one host too many are refused, nothing is published,
// and every refusal is in the audit log. The root operator stays
// unrestricted.
func TestOperatorACL(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "master")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	m0 := &master{dir: dir}
	out, err := m0.cli(t, "operator", "add", "alice")
	if err != nil {
		t.Fatalf("operator add: %v", err)
	}
	seed := filepath.Join(dir, "operators", "alice.nk")
	if fi, err := os.Stat(seed); err != nil || fi.Mode().Perm() != 0o600 || !strings.Contains(out, seed) {
		t.Fatalf("operator add: %q, %v %v", out, fi, err)
	}
	if _, err := m0.cli(t, "operator", "add", "alice"); err == nil {
		t.Fatal("operator add accepted an existing name")
	}
	cfg := filepath.Join(t.TempDir(), "master.yaml")
	if err := os.WriteFile(cfg, []byte("acl:\n  alice:\n    - target: 'web*'\n      functions: ['test.*', 'cmd.run']\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := startMasterArgs(t, dir, "--config", cfg)
	acceptMinion(t, m, "web1")
	db := acceptMinion(t, m, "db1")

	alice := func(args ...string) (string, error) {
		return m.cli(t, append([]string{"--operator", "alice", "--operator-key", seed}, args...)...)
	}
	if out, err := alice("run", "--out", "json", "web*", "test.ping"); err != nil || !strings.Contains(out, `"web1": true`) {
		t.Fatalf("alice test.ping on web*: %q %v", out, err)
	}
	if out, err := alice("run", "--out", "json", "-L", "web1", "cmd.run", "echo allowed"); err != nil || !strings.Contains(out, "allowed") {
		t.Fatalf("alice cmd.run on web1: %q %v", out, err)
	}
	dbJobs := db.out.Count("running job")
	denied := []struct {
		args []string
		want string
	}{
		{[]string{"run", "*", "test.ping"}, "may not run test.ping on db1"},
		{[]string{"run", "-L", "web1,db1", "test.ping"}, "may not run test.ping on db1"},
		{[]string{"run", "web1", "pkg.install", "vim"}, "may not run pkg.install on web1"},
		{[]string{"run", "-E", "db.*", "cmd.run", "id"}, "may not run cmd.run on db1"},
		{[]string{"run", "nothing*", "test.ping"}, "matched no minion"},
		{[]string{"key", "delete", "db1", "-y"}, "may not use key.delete"},
	}
	for _, d := range denied {
		out, err := alice(d.args...)
		if err == nil || !strings.Contains(err.Error(), "denied by the operator ACL") || !strings.Contains(err.Error(), d.want) {
			t.Fatalf("alice %v: want refusal %q, got %q %v", d.args, d.want, out, err)
		}
	}
	// The raw API refuses the same way (no CLI in between).
	_, msg := m.apiRun(t, "alice", seed, proto.Target{Type: "compound", Expr: "web1 or db1"}, "test.ping", nil, nil)
	if !strings.Contains(msg, "denied by the operator ACL") {
		t.Fatalf("alice job.run on a compound target: %q", msg)
	}
	if n := db.out.Count("running job"); n != dbJobs {
		t.Fatalf("db1 ran %d jobs after refusals", n-dbJobs)
	}
	if !contains(m.keyLists(t)["minions"], "db1") {
		t.Fatal("db1 key was deleted by a restricted operator")
	}
	// Root is unrestricted.
	if out, err := m.cli(t, "run", "--out", "json", "*", "test.ping"); err != nil || !strings.Contains(out, `"db1": true`) {
		t.Fatalf("root test.ping on *: %q %v", out, err)
	}
	// Every refusal is audited with the operator's identity.
	out, err = m.cli(t, "audit", "show", "--action", "acl.denied", "--out", "json")
	if err != nil {
		t.Fatalf("audit show: %v", err)
	}
	if c := strings.Count(out, `"op:alice"`); c < len(denied)+1 {
		t.Fatalf("audit holds %d acl.denied entries for alice, want %d:\n%s", c, len(denied)+1, out)
	}
}
