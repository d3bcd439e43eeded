package auditlog

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brine-cm/brine/pkg/audit"
	"github.com/nats-io/nkeys"
)

func nkeySigner(t *testing.T) (audit.Signer, string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	s, err := audit.NKeySigner(kp)
	if err != nil {
		t.Fatal(err)
	}
	return s, s.PublicKey()
}

// forwardAll sends everything after the store's position, as the minion's
// forwarder does, in batches of n lines.
func forwardAll(t *testing.T, st *Store, id, nkey string, l *audit.Log, n int) Ack {
	t.Helper()
	ctx := context.Background()
	ack, err := st.AppendEpoch(ctx, id, nkey, nil)
	if err != nil {
		t.Fatal(err)
	}
	pos := ack.Position
	if ok, err := l.Holds(pos); err != nil || !ok {
		if !ack.NewEpoch {
			t.Fatalf("log does not hold %+v and no new epoch", pos)
		}
		pos = audit.Position{}
	}
	for {
		lines, err := l.ReadAfter(pos, n)
		if err != nil {
			t.Fatal(err)
		}
		if len(lines) == 0 {
			return ack
		}
		if ack, err = st.AppendEpoch(ctx, id, nkey, batch(lines)); err != nil {
			t.Fatalf("forward after %+v: %v", pos, err)
		}
		pos = ack.Position
	}
}

func readEpoch(t *testing.T, st *Store, id string, e int) ([]byte, string) {
	t.Helper()
	data, _, _, key, err := st.ReadEpoch(context.Background(), id, e, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return data, key
}

func TestStoreEpochRekeyKeptLog(t *testing.T) {
	ctx := context.Background()
	st, err := OpenStore(ctx, jetStream(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "audit")
	s1, k1 := nkeySigner(t)
	l, err := audit.Open(dir, audit.Options{Signer: s1})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 4)
	if err := l.Seal(); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 2)
	if a := forwardAll(t, st, "web1", k1, l, 3); a.Epoch != 1 || a.Seq != 6 {
		t.Fatalf("epoch 1 ack %+v", a)
	}
	appendN(t, l, 3) // written under the old key, not yet forwarded
	if err := l.Seal(); err != nil {
		t.Fatal(err)
	}
	l.Close()
	// Re-keyed: the same log opened with a new key records the change.
	s2, k2 := nkeySigner(t)
	if l, err = audit.Open(dir, audit.Options{Signer: s2}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	appendN(t, l, 2)
	if ack, _ := st.AppendEpoch(ctx, "web1", k2, nil); !ack.NewEpoch || ack.Seq != 6 {
		t.Fatalf("position under the new key %+v", ack)
	}
	// Small batches: the old key's checkpoint arrives before the rotation.
	a := forwardAll(t, st, "web1", k2, l, 2)
	if a.Epoch != 2 || a.Seq != l.LastSeq() {
		t.Fatalf("epoch 2 ack %+v, log at %d", a, l.LastSeq())
	}
	e1, key1 := readEpoch(t, st, "web1", 1)
	e2, key2 := readEpoch(t, st, "web1", 2)
	if key1 != k1 || key2 != k2 {
		t.Fatalf("epoch keys %s %s", key1, key2)
	}
	r1, err := audit.VerifyEntries(bytes.NewReader(e1), audit.Position{}, func(pk string) bool { return pk == k1 })
	if err != nil {
		t.Fatalf("epoch 1: %v", err)
	}
	r2, err := audit.VerifyEntriesFrom(bytes.NewReader(e2), r1.End, r1.Key, func(pk string) bool { return pk == k1 || pk == k2 })
	if err != nil || r2.Rotations != 1 || r2.Key != k2 || r2.FirstSeq != 7 || r2.End.Seq != l.LastSeq() {
		t.Fatalf("epoch 2: %+v %v", r2, err)
	}
	// The whole copy is exactly the local log.
	var local bytes.Buffer
	all, _ := l.ReadAfter(audit.Position{}, 0)
	local.Write(batch(all))
	if !bytes.Equal(append(e1, e2...), local.Bytes()) {
		t.Fatal("stored epochs differ from the local log")
	}
	// The old key can no longer add to its epoch: its batches go nowhere.
	forged := []byte(strings.Replace(string(e1[:bytes.IndexByte(e1, '\n')+1]), `"seq":1`, `"seq":99`, 1))
	if _, err := st.AppendEpoch(ctx, "web1", k1, forged); !errors.Is(err, ErrChain) {
		t.Fatalf("batch under the old key: %v", err)
	}
	if _, err := st.AppendEpoch(ctx, "web1", k2, e1); !errors.Is(err, ErrChain) {
		t.Fatalf("old epoch resent under the new key: %v", err)
	}
}

func TestStoreEpochRebuiltLog(t *testing.T) {
	ctx := context.Background()
	js := jetStream(t)
	st, err := OpenStore(ctx, js, 1)
	if err != nil {
		t.Fatal(err)
	}
	l1, k1 := minionLog(t)
	appendN(t, l1, 5)
	if err := l1.Seal(); err != nil {
		t.Fatal(err)
	}
	forwardAll(t, st, "web1", k1, l1, 0)
	l2, k2 := minionLog(t) // data dir rebuilt: a new key and a new log
	appendN(t, l2, 3)
	if err := l2.Seal(); err != nil {
		t.Fatal(err)
	}
	// Under the old key a log from seq 1 is refused: epochs are not reset.
	lines, _ := l2.ReadAfter(audit.Position{}, 0)
	if _, err := st.AppendEpoch(ctx, "web1", k1, batch(lines)); !errors.Is(err, ErrChain) {
		t.Fatalf("restart of the chain under the same key: %v", err)
	}
	a := forwardAll(t, st, "web1", k2, l2, 0)
	if a.Epoch != 2 || a.Seq != 3 {
		t.Fatalf("ack %+v", a)
	}
	ms, err := st.Minions(ctx)
	if err != nil || len(ms) != 1 || ms[0].Epoch != 2 || ms[0].LastSeq != 3 {
		t.Fatalf("minions %+v %v", ms, err)
	}
	e2, _ := readEpoch(t, st, "web1", 2)
	if !bytes.Equal(e2, batch(lines)) {
		t.Fatal("epoch 2 is not the new log")
	}
	// A fresh Store (a master restart) continues epoch 2.
	st2, err := OpenStore(ctx, js, 1)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l2, 1)
	if a := forwardAll(t, st2, "web1", k2, l2, 0); a.Epoch != 2 || a.Seq != 4 || a.NewEpoch {
		t.Fatalf("after more entries %+v", a)
	}
}

func TestKeyHistory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "audit")
	kp1, _ := nkeys.CreateUser()
	kp2, _ := nkeys.CreateUser()
	p1, _ := kp1.PublicKey()
	p2, _ := kp2.PublicKey()
	for _, kp := range []nkeys.KeyPair{kp1, kp1, kp2} {
		s, err := Open(dir, kp, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Record(context.Background(), audit.Entry{Actor: "op:root", Action: "key.accept", Outcome: "ok"}); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	known, err := TrustedKeys(dir)
	if err != nil || len(known) != 2 || !known[p1] || !known[p2] {
		t.Fatalf("history %v %v", known, err)
	}
	fi, err := os.Stat(KeyHistoryFile(dir))
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("history file mode %v %v", fi, err)
	}
	// The log verifies against the current key alone (its key.rotated
	// entry) and against the history.
	if _, err := audit.Verify(dir, func(pk string) bool { return pk == p2 }); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.Verify(dir, func(pk string) bool { return known[pk] }); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(KeyHistoryFile(dir), []byte(" x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := TrustedKeys(dir); err == nil || !strings.Contains(err.Error(), "trusted-keys:1") {
		t.Fatalf("bad history line: %v", err)
	}
}
