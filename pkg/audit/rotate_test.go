package audit

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func trust(keys ...string) func(string) bool {
	return func(pk string) bool {
		for _, k := range keys {
			if pk == k {
				return true
			}
		}
		return false
	}
}

// allLines reads every segment of dir in order.
func allLines(t *testing.T, dir string) []byte {
	t.Helper()
	var out []byte
	for n := 1; ; n++ {
		data, err := os.ReadFile(filepath.Join(dir, SegmentName(n)))
		if errors.Is(err, os.ErrNotExist) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, data...)
	}
}

// rotatedLog writes entries signed by a, then by b (a re-keyed owner), and
// returns the directory.
func rotatedLog(t *testing.T, a, b Signer) string {
	t.Helper()
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{SegmentSize: 1024, Signer: a})
	appendN(t, l, 10, "alice")
	if err := l.Seal(); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 2, "alice") // left unsealed by the old key
	l.Close()
	l = mustOpen(t, dir, Options{SegmentSize: 1024, Signer: b})
	appendN(t, l, 5, "bob")
	if err := l.Seal(); err != nil {
		t.Fatal(err)
	}
	l.Close()
	return dir
}

func TestKeyRotationRecordedAndVerified(t *testing.T) {
	a, b := NewEd25519Signer(newKey(t)), NewEd25519Signer(newKey(t))
	dir := rotatedLog(t, a, b)
	ents, err := Query(dir, Filter{Action: ActionKeyRotated})
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Detail["old_key"] != a.PublicKey() || ents[0].Detail["new_key"] != b.PublicKey() {
		t.Fatalf("rotation entries = %+v", ents)
	}
	// Only the current key is trusted: the rotation vouches for the old one.
	rep := mustVerify(t, dir, trust(b.PublicKey()))
	if rep.Rotations != 1 || rep.Key != b.PublicKey() || rep.Entries != 18 || rep.Unsigned != 0 {
		t.Fatalf("report = %+v", rep)
	}
	// The old key alone is not enough: the newest checkpoints are by b.
	if _, err := Verify(dir, trust(a.PublicKey())); err == nil || !strings.Contains(err.Error(), "untrusted key "+b.PublicKey()) {
		t.Fatalf("verify trusting only the old key: %v", err)
	}
	// A forwarded copy verifies the same way, whole or in two batches.
	all := allLines(t, dir)
	if _, err := VerifyEntries(bytes.NewReader(all), Position{}, trust(b.PublicKey())); err != nil {
		t.Fatalf("VerifyEntries: %v", err)
	}
	cut := bytes.Index(all, []byte(`"action":"key.rotated"`))
	cut = bytes.LastIndexByte(all[:cut], '\n') + 1
	r1, err := VerifyEntries(bytes.NewReader(all[:cut]), Position{}, trust(a.PublicKey()))
	if err != nil || r1.Key != a.PublicKey() {
		t.Fatalf("first batch: %v key %s", err, r1.Key)
	}
	if _, err := VerifyEntriesFrom(bytes.NewReader(all[cut:]), r1.End, r1.Key, trust(a.PublicKey(), b.PublicKey())); err != nil {
		t.Fatalf("second batch: %v", err)
	}
	// Reopening with the same key records nothing more.
	l := mustOpen(t, dir, Options{Signer: b})
	l.Close()
	if ents, _ := Query(dir, Filter{Action: ActionKeyRotated}); len(ents) != 1 {
		t.Fatalf("rotations after a reopen with the same key: %d", len(ents))
	}
}

func TestKeyRotationTamperDetected(t *testing.T) {
	a, b := NewEd25519Signer(newKey(t)), NewEd25519Signer(newKey(t))
	dir := rotatedLog(t, a, b)
	data := allLines(t, dir)
	t.Run("old entry edited", func(t *testing.T) {
		d := t.TempDir()
		copyDir(t, dir, d)
		ls := segLines(t, d, 1)
		ls[2] = bytes.Replace(ls[2], []byte("echo 2"), []byte("echo X"), 1)
		writeLines(t, d, 1, ls)
		if _, err := Verify(d, trust(b.PublicKey())); err == nil {
			t.Fatal("edited entry before the rotation accepted")
		}
	})
	t.Run("rotation names another old key", func(t *testing.T) {
		c := NewEd25519Signer(newKey(t))
		forged := bytes.Replace(data, []byte(`"old_key":"`+a.PublicKey()), []byte(`"old_key":"`+c.PublicKey()), 1)
		_, err := VerifyEntries(bytes.NewReader(forged), Position{}, trust(b.PublicKey()))
		if err == nil || !strings.Contains(err.Error(), "names old key") {
			t.Fatalf("forged rotation: %v", err)
		}
	})
	t.Run("old key signs after the rotation", func(t *testing.T) {
		// Someone holding the old key appends a checkpoint of their own.
		var last []byte
		for _, ln := range bytes.SplitAfter(data, []byte("\n")) {
			if len(ln) > 0 {
				last = ln
			}
		}
		r, _ := parseLine(bytes.TrimSpace(last))
		h := hashLine(bytes.TrimSpace(last))
		sig, _ := a.Sign(checkpointMessage("x", r.LastSeq, h, r.Time))
		cp, _ := marshal(checkpoint{Type: "checkpoint", Time: r.Time, File: "x", LastSeq: r.LastSeq, LastHash: h, Signer: a.PublicKey(), Sig: b64(sig), Prev: h})
		forged := append(append([]byte(nil), data...), append(cp, '\n')...)
		_, err := VerifyEntries(bytes.NewReader(forged), Position{}, trust(a.PublicKey(), b.PublicKey()))
		if err == nil || !strings.Contains(err.Error(), "a key change needs a key.rotated entry") {
			t.Fatalf("old key's checkpoint after the rotation: %v", err)
		}
	})
	t.Run("rotation only in the unsigned tail", func(t *testing.T) {
		// Without the new key's checkpoint nothing vouches for a.
		cut := bytes.Index(data, []byte(`"action":"key.rotated"`))
		cut = bytes.IndexByte(data[cut:], '\n') + cut + 1
		_, err := VerifyEntries(bytes.NewReader(data[:cut]), Position{}, trust(b.PublicKey()))
		if err == nil || !strings.Contains(err.Error(), "untrusted key "+a.PublicKey()) {
			t.Fatalf("uncovered rotation: %v", err)
		}
	})
}

// appendRotation appends the key_rotated entry from one key to another
// without sealing after it, as a process that died right after writing it
// would leave the log.
func appendRotation(t *testing.T, l *Log, from, to Signer) {
	t.Helper()
	if _, err := l.Append(Entry{Actor: "audit", Action: ActionKeyRotated, Target: to.PublicKey(), Outcome: "ok",
		Detail: map[string]any{"old_key": from.PublicKey(), "new_key": to.PublicKey()}}); err != nil {
		t.Fatal(err)
	}
}

func TestKeyRotationCrashBeforeSealIsSealedAtOpen(t *testing.T) {
	a, b := NewEd25519Signer(newKey(t)), NewEd25519Signer(newKey(t))
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{Signer: a})
	appendN(t, l, 3, "alice")
	if err := l.Seal(); err != nil {
		t.Fatal(err)
	}
	// The rotation written by a process that died before sealing.
	appendRotation(t, l, a, b)
	l.Close()
	if _, err := Verify(dir, trust(b.PublicKey())); err == nil {
		t.Fatal("uncovered rotation verified")
	}
	l = mustOpen(t, dir, Options{Signer: b})
	l.Close()
	rep := mustVerify(t, dir, trust(b.PublicKey()))
	if rep.Rotations != 1 || rep.Unsigned != 0 {
		t.Fatalf("report = %+v", rep)
	}
}

// switchSigner changes keys without the log noticing, as a log written
// before key changes were recorded.
type switchSigner struct{ cur Signer }

func (s *switchSigner) Sign(msg []byte) ([]byte, error) { return s.cur.Sign(msg) }
func (s *switchSigner) PublicKey() string               { return s.cur.PublicKey() }

func TestUnrecordedKeySwitchNeedsBothKeysTrusted(t *testing.T) {
	a, b := NewEd25519Signer(newKey(t)), NewEd25519Signer(newKey(t))
	sw := &switchSigner{cur: a}
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{Signer: sw})
	appendN(t, l, 3, "alice")
	if err := l.Seal(); err != nil {
		t.Fatal(err)
	}
	sw.cur = b
	appendN(t, l, 3, "alice")
	if err := l.Seal(); err != nil {
		t.Fatal(err)
	}
	l.Close()
	rep, err := Verify(dir, trust(a.PublicKey(), b.PublicKey()))
	if err != nil || len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "without a key.rotated entry") {
		t.Fatalf("both keys trusted: %v %v", err, rep.Warnings)
	}
	if _, err := Verify(dir, trust(b.PublicKey())); err == nil || !strings.Contains(err.Error(), "a key change needs a key.rotated entry") {
		t.Fatalf("only the new key trusted: %v", err)
	}
	if _, err := Verify(dir, trust(a.PublicKey())); err == nil || !strings.Contains(err.Error(), "a key change needs a key.rotated entry") {
		t.Fatalf("only the old key trusted: %v", err)
	}
}

func TestKeyRotationTwiceWithoutSealBetween(t *testing.T) {
	a, b, c := NewEd25519Signer(newKey(t)), NewEd25519Signer(newKey(t)), NewEd25519Signer(newKey(t))
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{Signer: a})
	appendN(t, l, 3, "alice")
	if err := l.Seal(); err != nil {
		t.Fatal(err)
	}
	// a -> b recorded by a process that died before sealing ...
	appendRotation(t, l, a, b)
	l.Close()
	// ... and the next start already has another key.
	l = mustOpen(t, dir, Options{Signer: c})
	l.Close()
	rep := mustVerify(t, dir, trust(c.PublicKey()))
	if rep.Rotations != 2 || rep.Key != c.PublicKey() {
		t.Fatalf("report = %+v", rep)
	}
}
