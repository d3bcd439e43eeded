package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPillarWatchReappliesChangedMinions edits a watched pillar value for
// one minion of two, with real processes: the master notices the edit,
// records it in its audit log and applies the rule's SLS on that minion
// only, whose state then reflects the new value.
func TestPillarWatchReappliesChangedMinions(t *testing.T) {
	dest := t.TempDir()
	proot, sroot := motdTrees(t, dest, map[string]string{
		"top.sls":    "base:\n  '*':\n    - common\n  web1:\n    - web1\n",
		"common.sls": "motd: hello {{ grains['id'] }}\n",
		"web1.sls":   "role: web\n",
	})
	cfg := filepath.Join(t.TempDir(), "master.yaml")
	if err := os.WriteFile(cfg, []byte("pillar_watch:\n  interval: 200ms\n  rules:\n    - key: motd\n      sls: motd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "master")
	m := startMasterArgs(t, dir, "--config", cfg, "--file-root", sroot, "--pillar-root", proot)
	acceptMinion(t, m, "web1")
	acceptMinion(t, m, "web2")
	waitFor(t, 30*time.Second, "both minions' baselines", func() bool {
		return logLine(m, `msg="pillar watch baseline"`, "id=web1") != "" && logLine(m, `msg="pillar watch baseline"`, "id=web2") != ""
	})

	writeTree(t, proot, map[string]string{"web1.sls": "role: web\nmotd: changed for web1\n"})
	waitFor(t, 60*time.Second, "web1's motd from the new pillar", func() bool {
		b, err := os.ReadFile(filepath.Join(dest, "web1.motd"))
		return err == nil && strings.TrimSpace(string(b)) == "changed for web1"
	})
	waitFor(t, 30*time.Second, "the refresh job's returns", func() bool {
		return logLine(m, `msg="pillar watch: refresh done"`) != ""
	})
	if l := logLine(m, `msg="pillar watch: refresh done"`); !strings.Contains(l, " key=motd ") || !strings.Contains(l, "fun=state.apply returned=1 failed=0 missing=0") {
		t.Fatalf("refresh summary not as expected: %s", l)
	}
	if _, err := os.Stat(filepath.Join(dest, "web2.motd")); !os.IsNotExist(err) {
		t.Fatalf("web2, whose motd did not change, was applied too (%v)", err)
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "audit", "*.jsonl"))
	found := false
	for _, p := range logs {
		b, _ := os.ReadFile(p)
		found = found || strings.Contains(string(b), `"pillar.changed"`) && strings.Contains(string(b), `"target":"web1"`)
	}
	if !found {
		t.Fatalf("no pillar.changed audit entry for web1 in %v", logs)
	}
}

// logLine is the first line of the master's log holding every part.
func logLine(m *master, parts ...string) string {
	for _, l := range strings.Split(m.proc.out.String(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			return l
		}
	}
	return ""
}

// motdTrees writes the pillar tree files and a state tree whose motd SLS
// writes pillar['motd'] to dest/<id>.motd, and returns both roots.
func motdTrees(t *testing.T, dest string, pillarFiles map[string]string) (proot, sroot string) {
	t.Helper()
	proot, sroot = t.TempDir(), t.TempDir()
	writeTree(t, proot, pillarFiles)
	writeTree(t, sroot, map[string]string{
		"motd.sls": fmt.Sprintf("motd:\n  file.managed:\n    - name: %s/{{ grains['id'] }}.motd\n    - contents: \"{{ pillar['motd'] }}\"\n", dest),
	})
	return proot, sroot
}
