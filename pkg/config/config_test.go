package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadMinionSaltKeys(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "minion.yaml")
	src := `id: web1
master: [m1, m2]
grains:
  roles: [web]
file_roots:
  base: [/srv/a, /srv/b]
pillar_roots:
  base: [/srv/p]
failhard: True
state_output: terse
log_level: debug
root_dir: ` + dir + `
master_finger: "ab:cd"
master_tls_finger: "ef:01"
master_ca: /etc/brine/ca.pem
custom_key: 42
`
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := LoadMinion(p, true)
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != "web1" || len(m.Master) != 2 || !m.Failhard || m.StateOutput != "terse" || m.MasterFinger != "ab:cd" || m.MasterTLSFinger != "ef:01" || m.MasterCA != "/etc/brine/ca.pem" {
		t.Fatalf("typed fields wrong: %+v", m)
	}
	if got := m.FileRoots["base"]; len(got) != 2 || got[1] != "/srv/b" {
		t.Fatalf("file_roots %v", got)
	}
	if !strings.HasPrefix(m.DataDir, dir) || !strings.HasPrefix(m.PKIDir, dir) {
		t.Fatalf("root_dir not applied: %s %s", m.DataDir, m.PKIDir)
	}
	opts := m.Opts()
	if opts["custom_key"] != 42 || opts["id"] != "web1" || opts["failhard"] != true {
		t.Fatalf("opts %v", opts)
	}
	if r := m.Grains["roles"].([]any); r[0] != "web" {
		t.Fatalf("grains %v", m.Grains)
	}
}

func TestMissingFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "none.yaml")
	m, err := LoadMinion(p, false)
	if err != nil || m.FileRoots["base"][0] != "/srv/salt" || m.DataDir != "/var/lib/brine" {
		t.Fatalf("defaults: %v %+v", err, m)
	}
	if _, err := LoadMinion(p, true); err == nil {
		t.Fatal("explicit missing config accepted")
	}
}

func TestErrorsHaveLocation(t *testing.T) {
	_, err := ParseMinion("m.yaml", []byte("id: a\nfile_roots: [x]\n"))
	var ce *Error
	if !errors.As(err, &ce) || ce.Line != 2 || ce.Key != "file_roots" {
		t.Fatalf("want error at line 2 for file_roots, got %v", err)
	}
	_, err = ParseMinion("m.yaml", []byte("id: a\n  bad: [\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "m.yaml:") {
		t.Fatalf("syntax error not located: %v", err)
	}
	_, err = ParseMinion("m.yaml", []byte("failhard: maybe\n"))
	if err == nil || !strings.Contains(err.Error(), "m.yaml:1:") {
		t.Fatalf("type error not located: %v", err)
	}
}

// FuzzParseMinion checks that no config file content panics the loader
// and that every failure is a located *Error.
func FuzzParseMinion(f *testing.F) {
	for _, s := range []string{"id: a\n", "master: [a, b]\n", "file_roots: {base: [/srv]}\n", "failhard: maybe\n", "- x\n", "a: [\n", "grains: 3\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMinion("m.yaml", []byte(s))
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || ce.File != "m.yaml" {
				t.Fatalf("unlocated error %v", err)
			}
			return
		}
		if m.Raw == nil || m.FileRoots == nil {
			t.Fatal("defaults lost")
		}
	})
}
