package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// autosign_file and autosign_grains accept new keys without an operator,
// as Salt does; anything else stays pending, and a known id with another
// key is never auto-accepted.
func TestAutosign(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "master")
	if err := os.MkdirAll(filepath.Join(dir, "autosign_grains"), 0o700); err != nil {
		t.Fatal(err)
	}
	globs := filepath.Join(dir, "autosign.conf")
	if err := os.WriteFile(globs, []byte("# trusted build hosts\nbuild-*\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "autosign_grains", "rack"), []byte("r42\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "master.yaml")
	yaml := "autosign_file: " + strconv.Quote(globs) + "\nautosign_grains: [rack]\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(filepath.Join(dir, "master.url"))
	p := start(t, "brine-master", "serve", "--config", cfg, "--data-dir", dir, "--listen", "127.0.0.1:0")
	m := &master{proc: p, dir: dir}
	waitFor(t, 20*time.Second, "master.url", func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "master.url"))
		m.url = string(trimNL(b))
		return err == nil
	})

	mcfg := filepath.Join(t.TempDir(), "minion.yaml")
	if err := os.WriteFile(mcfg, []byte("grains:\n  rack: r42\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	build := startMinion(t, m, "build-7", filepath.Join(t.TempDir(), "b7"))
	rack := start(t, "brine-minion", "--config", mcfg, "--id", "db-3", "--master", m.url, "--data-dir", filepath.Join(t.TempDir(), "d3"), "--log-level", "debug")
	startMinion(t, m, "web-1", filepath.Join(t.TempDir(), "w1"))
	waitFor(t, 20*time.Second, "autosigned keys", func() bool {
		l := m.keyLists(t)
		return contains(l["minions"], "build-7") && contains(l["minions"], "db-3") && contains(l["minions_pre"], "web-1")
	})
	waitFor(t, 20*time.Second, "autosigned minions receiving jobs", func() bool {
		return rack.out.Count("receiving jobs") > 0 && build.out.Count("receiving jobs") > 0
	})
	res, err := m.runJSON(t, "-t", "5", "*", "test.ping")
	if err != nil || res["build-7"] != true || res["db-3"] != true {
		t.Fatalf("autosigned minions: %v %v", res, err)
	}
	if _, ok := res["web-1"]; ok {
		t.Fatal("pending minion was targeted")
	}
	// A build-* id already known with another key is denied, not signed.
	impostor := startMinion(t, m, "build-7", filepath.Join(t.TempDir(), "b7-impostor"))
	waitFor(t, 20*time.Second, "impostor denied", func() bool { return contains(m.keyLists(t)["minions_denied"], "build-7") })
	if impostor.out.Count("receiving jobs") > 0 {
		t.Fatal("impostor autosigned")
	}
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
