package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReactorAppliesStateOnMinionStart configures Salt's classic
// reactor, a state run when a minion starts, and checks with real
// processes that the minion is converged without an operator's run.
func TestReactorAppliesStateOnMinionStart(t *testing.T) {
	dest := t.TempDir()
	proot, sroot := motdTrees(t, dest, map[string]string{
		"top.sls":    "base:\n  '*':\n    - common\n",
		"common.sls": "motd: hello {{ grains['id'] }}\n",
	})
	cfg := filepath.Join(t.TempDir(), "master.yaml")
	rules := "reactor:\n  - tag: 'salt/minion/*/start'\n    fun: state.apply\n    args: [motd]\n"
	if err := os.WriteFile(cfg, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	m := startMasterArgs(t, filepath.Join(t.TempDir(), "master"), "--config", cfg, "--file-root", sroot, "--pillar-root", proot)
	acceptMinion(t, m, "web1")
	waitFor(t, 60*time.Second, "web1 converged by the reactor", func() bool {
		b, err := os.ReadFile(filepath.Join(dest, "web1.motd"))
		return err == nil && strings.TrimSpace(string(b)) == "hello web1"
	})
	waitFor(t, 30*time.Second, "the reactor's job summary", func() bool { return logLine(m, `msg="reactor: job done"`) != "" })
	for _, l := range strings.Split(m.proc.out.String(), "\n") {
		if strings.Contains(l, `msg="reactor: job done"`) && !strings.Contains(l, "returned=1 failed=0 missing=0") {
			t.Fatalf("reactor job: %s", l)
		}
	}
}
