package keys

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadOrCreatePersistsWith0600(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", "minion.nk")
	kp, created, err := LoadOrCreate(p, User)
	if err != nil || !created {
		t.Fatalf("create: %v created=%v", err, created)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v err %v", fi.Mode(), err)
	}
	again, created, err := LoadOrCreate(p, User)
	if err != nil || created || Public(again) != Public(kp) {
		t.Fatalf("reload: %v created=%v", err, created)
	}
	if !strings.HasPrefix(Public(kp), "U") {
		t.Fatalf("user key %q", Public(kp))
	}
	m, _, err := LoadOrCreate(filepath.Join(t.TempDir(), "master.nk"), Master)
	if err != nil || !strings.HasPrefix(Public(m), "N") {
		t.Fatalf("master key %v %v", err, Public(m))
	}
}

func TestLoadRefusesOpenSeed(t *testing.T) {
	p := filepath.Join(t.TempDir(), "k.nk")
	if _, _, err := LoadOrCreate(p, User); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "too open") {
		t.Fatalf("open seed loaded: %v", err)
	}
}

func TestFingerprint(t *testing.T) {
	kp, _, err := LoadOrCreate(filepath.Join(t.TempDir(), "k"), User)
	if err != nil {
		t.Fatal(err)
	}
	f := Fingerprint(Public(kp))
	if len(f) != 32*3-1 || strings.Count(f, ":") != 31 {
		t.Fatalf("fingerprint %q", f)
	}
	if Fingerprint("not a key") != "" {
		t.Fatal("fingerprint of garbage")
	}
	v, err := Verifier(Public(kp))
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := kp.Sign([]byte("x"))
	if v.Verify([]byte("x"), sig) != nil || v.Verify([]byte("y"), sig) == nil {
		t.Fatal("verifier disagrees")
	}
}
