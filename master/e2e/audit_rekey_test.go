package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"crypto/sha256"
	"encoding/hex"

	"github.com/brine-cm/brine/pkg/audit"
	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nkeys"
)

// minionVerify runs `brine-minion audit verify` on a data dir.
func minionVerify(t *testing.T, dataDir string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "brine-minion"), "audit", "verify", "--config", os.DevNull, "--data-dir", dataDir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// TestAuditMinionRekey re-keys a minion that has run jobs, the way an
// operator does: the key is deleted on the master, the minion restarts
// with a new nkey (its data dir kept, or rebuilt from scratch), the new key
// is accepted, and more jobs run. Both the minion's own log and the
// master's copy must still verify; the master holds one epoch per key,
// each without gap or duplicate; a batch forged to extend the old epoch is
// refused.
func TestAuditMinionRekey(t *testing.T) {
	for _, rebuilt := range []bool{false, true} {
		name := "data dir kept"
		if rebuilt {
			name = "data dir rebuilt"
		}
		t.Run(name, func(t *testing.T) { testRekey(t, rebuilt) })
	}
}

func testRekey(t *testing.T, rebuilt bool) {
	m := newMaster(t)
	const id = "rk1"
	mp := acceptMinion(t, m, id)
	for _, s := range []string{"one", "two"} {
		if res, err := m.runJSON(t, id, "cmd.run", "echo "+s); err != nil || res[id] != s {
			t.Fatalf("cmd.run before the re-key: %v %v", res, err)
		}
	}
	waitFor(t, 20*time.Second, "first jobs forwarded", func() bool {
		es, err := m.minionForwarded(t, id)
		return err == nil && len(es) > 0 && es[len(es)-1].Action == "job.return"
	})
	oldKey := mp.key(t)
	oldPub, _ := oldKey.PublicKey()

	if _, err := m.cli(t, "key", "delete", id, "-y"); err != nil {
		t.Fatalf("key delete: %v", err)
	}
	mp.stop(syscall.SIGTERM)
	if rebuilt {
		if err := os.Rename(mp.dir, mp.dir+".old"); err != nil {
			t.Fatal(err)
		}
	} else if err := os.Remove(filepath.Join(mp.dir, "minion.nk")); err != nil {
		t.Fatal(err)
	}
	mp = startMinion(t, m, id, mp.dir)
	newKey := mp.key(t)
	newPub, _ := newKey.PublicKey()
	if newPub == oldPub {
		t.Fatal("the minion kept its key")
	}
	waitFor(t, 20*time.Second, id+" pending again", func() bool { return contains(m.keyLists(t)["minions_pre"], id) })
	if _, err := m.cli(t, "key", "accept", id, "-y"); err != nil {
		t.Fatalf("key accept: %v", err)
	}
	waitFor(t, 20*time.Second, id+" receiving jobs", func() bool { return mp.out.Count("receiving jobs") > 0 })
	var lastJID string
	for _, s := range []string{"three", "four"} {
		res, err := m.runJSON(t, id, "cmd.run", "echo "+s)
		if err != nil || res[id] != s {
			t.Fatalf("cmd.run after the re-key: %v %v", res, err)
		}
	}
	jobs := masterEntries(t, m.dir, audit.Filter{Action: "job.publish"})
	lastJID = jobs[len(jobs)-1].JID

	// The minion's own log verifies with its new key alone.
	local := minionLocal(t, mp.dir)
	if out, err := minionVerify(t, mp.dir); err != nil || !strings.HasPrefix(out, "ok ") {
		t.Fatalf("brine-minion audit verify: %v\n%s", err, out)
	} else {
		t.Logf("brine-minion audit verify:\n%s", out)
	}
	rotations := 0
	for _, e := range local {
		if e.Action == audit.ActionKeyRotated {
			rotations++
			if e.Detail["old_key"] != oldPub || e.Detail["new_key"] != newPub {
				t.Fatalf("key.rotated names %v", e.Detail)
			}
		}
	}
	if want := map[bool]int{false: 1, true: 0}[rebuilt]; rotations != want {
		t.Fatalf("local log has %d key.rotated entries, want %d", rotations, want)
	}

	// Everything reaches the master, in a second epoch.
	var fwd []audit.Entry
	waitFor(t, 60*time.Second, "jobs after the re-key forwarded", func() bool {
		es, err := m.minionForwarded(t, id)
		fwd = es
		return err == nil && len(es) > 0 && es[len(es)-1].JID == lastJID && es[len(es)-1].Action == "job.return"
	})
	out, err := m.cli(t, "audit", "verify")
	if err != nil {
		t.Fatalf("audit verify: %v\n%s", err, out)
	}
	want2 := "ok minion " + id + " epoch 2 (continues epoch 1):"
	if rebuilt {
		want2 = "ok minion " + id + " epoch 2 (a new log):"
	}
	if !strings.Contains(out, "ok minion "+id+" epoch 1:") || !strings.Contains(out, want2) {
		t.Fatalf("audit verify output:\n%s", out)
	}
	t.Logf("brine-master audit verify:\n%s", out)
	// Each epoch is gapless and without duplicates: seqs run 1..n across
	// both when the log was kept, and restart at 1 in a rebuilt one.
	epochs := splitEpochs(fwd)
	if rebuilt && len(epochs) != 2 || !rebuilt && len(epochs) != 1 {
		t.Fatalf("forwarded copy has %d runs of seqs", len(epochs))
	}
	for i, ep := range epochs {
		for j, e := range ep {
			if e.Seq != uint64(j+1) {
				t.Fatalf("run %d: entry %d has seq %d (gap or duplicate)", i+1, j+1, e.Seq)
			}
		}
	}
	// The master's newest run matches the minion's current log exactly.
	last := epochs[len(epochs)-1]
	if len(last) < len(local) {
		t.Fatalf("master holds %d entries of the current log, the minion %d", len(last), len(local))
	}
	for i, e := range local {
		if last[i].Action != e.Action || !last[i].Time.Equal(e.Time) {
			t.Fatalf("seq %d: master has %s, minion %s", e.Seq, last[i].Action, e.Action)
		}
	}

	// A batch forged to extend the old epoch, signed with the old key, is
	// refused, even sent on the minion's own (new) credentials.
	oldDir := mp.dir
	if rebuilt {
		oldDir = mp.dir + ".old"
	}
	a := dialAs(t, m, newKey, id, proto.Inbox(id))
	for _, end := range epochEnd(t, m, id, oldDir) {
		msg, err := a.nc.Request(proto.RequestSubject(id, proto.OpAudit), forgedBatch(t, oldKey, end), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if msg.Header.Get(proto.HeaderError) == "" || !strings.Contains(string(msg.Data), "refused") {
			t.Fatalf("forged batch answered %q", msg.Data)
		}
	}
	after, err := m.minionForwarded(t, id)
	if err != nil || len(after) != len(fwd) {
		t.Fatalf("forwarded copy changed after the forged batch: %d entries, was %d (%v)", len(after), len(fwd), err)
	}
	if out, err := m.cli(t, "audit", "verify"); err != nil {
		t.Fatalf("audit verify after the forged batch: %v\n%s", err, out)
	}
}

// splitEpochs cuts the forwarded entries where seq starts again at 1.
func splitEpochs(es []audit.Entry) [][]audit.Entry {
	var out [][]audit.Entry
	for _, e := range es {
		if e.Seq == 1 || len(out) == 0 {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], e)
	}
	return out
}

// epochEnd returns the points where the first epoch of id's forwarded
// copy may end (its last entry, or the checkpoint after it), read from the
// old log's files in oldDir.
func epochEnd(t *testing.T, m *master, id, oldDir string) []audit.Position {
	t.Helper()
	out, err := m.cli(t, "audit", "verify", "--out", "json")
	if err != nil {
		t.Fatalf("audit verify: %v", err)
	}
	var seq uint64
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var r struct {
			Log     string `json:"log"`
			LastSeq uint64 `json:"last_seq"`
		}
		if json.Unmarshal([]byte(l), &r) == nil && strings.HasPrefix(r.Log, "minion "+id+" epoch 1") {
			seq = r.LastSeq
		}
	}
	if seq == 0 {
		t.Fatalf("no epoch 1 in:\n%s", out)
	}
	var lines []string
	for n := 1; ; n++ {
		data, err := os.ReadFile(filepath.Join(auditDir(oldDir), audit.SegmentName(n)))
		if err != nil {
			break
		}
		lines = append(lines, strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")...)
	}
	hash := func(l string) string { sum := sha256.Sum256([]byte(l)); return hex.EncodeToString(sum[:]) }
	for i, l := range lines {
		var r struct {
			Seq  uint64 `json:"seq"`
			Type string `json:"type"`
		}
		if json.Unmarshal([]byte(l), &r) != nil || r.Type != "" || r.Seq != seq {
			continue
		}
		ps := []audit.Position{{Seq: seq, Hash: hash(l)}}
		if i+1 < len(lines) && strings.Contains(lines[i+1], `"type":"checkpoint"`) {
			ps = append(ps, audit.Position{Seq: seq, Hash: hash(lines[i+1])})
		}
		return ps
	}
	t.Fatalf("seq %d not in the old log", seq)
	return nil
}

// forgedBatch continues pos with an entry and a checkpoint signed by kp.
func forgedBatch(t *testing.T, kp nkeys.KeyPair, pos audit.Position) []byte {
	t.Helper()
	line := fmt.Sprintf(`{"seq":%d,"time":"2026-01-01T00:00:00Z","actor":"op:root","action":"cmd.run","target":"rm -rf /","outcome":"retcode=0","prev":"%s"}`,
		pos.Seq+1, pos.Hash)
	sum := sha256.Sum256([]byte(line))
	h := hex.EncodeToString(sum[:])
	ts := "2026-01-01T00:00:01Z"
	msg := fmt.Sprintf("brine-audit-checkpoint-v1\nfile=%s\nlast_seq=%d\nlast_hash=%s\ntime=%s\n", "audit-000009.jsonl", pos.Seq+1, h, ts)
	sig, err := kp.Sign([]byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	cp := fmt.Sprintf(`{"type":"checkpoint","time":"%s","file":"audit-000009.jsonl","last_seq":%d,"last_hash":"%s","signer":"%s","sig":"%s","prev":"%s"}`,
		ts, pos.Seq+1, h, pub, base64.StdEncoding.EncodeToString(sig), h)
	return []byte(line + "\n" + cp + "\n")
}

// TestAuditMasterKeyReplaced replaces the master's signing key between two
// runs: `audit verify --local` still trusts the old checkpoints (the key
// is in DATA_DIR/audit/trusted-keys and the log records the change), and
// still finds an edited entry.
func TestAuditMasterKeyReplaced(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "master")
	port := freePort(t)
	m := startMaster(t, dir, port)
	if _, err := m.cli(t, "key", "list"); err != nil {
		t.Fatal(err)
	}
	m.stop(syscall.SIGTERM)
	oldKey, err := os.ReadFile(filepath.Join(dir, "master.nk"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "master.nk")); err != nil {
		t.Fatal(err)
	}
	m = startMaster(t, dir, port)
	if _, err := m.cli(t, "key", "list"); err != nil {
		t.Fatal(err)
	}
	m.stop(syscall.SIGTERM)
	newKey, err := os.ReadFile(filepath.Join(dir, "master.nk"))
	if err != nil || bytes.Equal(newKey, oldKey) {
		t.Fatalf("master key not replaced: %v", err)
	}
	hist := filepath.Join(auditDir(dir), "trusted-keys")
	fi, err := os.Stat(hist)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("key history: %v %v", fi, err)
	}
	data, _ := os.ReadFile(hist)
	if n := len(strings.Split(strings.TrimSpace(string(data)), "\n")); n != 2 {
		t.Fatalf("key history has %d keys:\n%s", n, data)
	}
	out, err := m.cli(t, "audit", "verify", "--local")
	if err != nil || !strings.HasPrefix(out, "ok master:") {
		t.Fatalf("verify --local after the key change: %v\n%s", err, out)
	}
	if es := masterEntries(t, dir, audit.Filter{Action: audit.ActionKeyRotated}); len(es) != 1 {
		t.Fatalf("%d key.rotated entries", len(es))
	}
	// Edit an entry signed by the old key: still caught.
	seg := filepath.Join(auditDir(dir), audit.SegmentName(1))
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	edited := bytes.Replace(b, []byte(`"actor":"op:root"`), []byte(`"actor":"op:eve"`), 1)
	if bytes.Equal(edited, b) {
		t.Fatal("nothing to edit")
	}
	if err := os.WriteFile(seg, edited, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := m.cli(t, "audit", "verify", "--local"); err == nil || !strings.Contains(out, "FAIL master") {
		t.Fatalf("edited entry not found: %v\n%s", err, out)
	}
}
