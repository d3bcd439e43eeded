package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/brine-cm/brine/pkg/testkit"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nkeys"
)

func waitFor(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	testkit.WaitFor(t, timeout, "the condition", cond)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, nil))
}

func mustOpen(t *testing.T, dir string, opts Options) *Log {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

func appendN(t *testing.T, l *Log, n int, actor string) []uint64 {
	t.Helper()
	var seqs []uint64
	for i := 0; i < n; i++ {
		seq, err := l.Append(Entry{Actor: actor, Action: "cmd.run", Target: fmt.Sprintf("host%d", i),
			Args: map[string]any{"cmd": fmt.Sprintf("echo %d", i)}, Outcome: "ok", Detail: map[string]any{"retcode": 0}})
		if err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		seqs = append(seqs, seq)
	}
	return seqs
}

func mustVerify(t *testing.T, dir string, trusted func(string) bool) Report {
	t.Helper()
	rep, err := Verify(dir, trusted)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return rep
}

func segLines(t *testing.T, dir string, n int) [][]byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, SegmentName(n)))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.SplitAfter(data, []byte("\n"))
}

func writeLines(t *testing.T, dir string, n int, lines [][]byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, SegmentName(n)), bytes.Join(lines, nil), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestAppendReopenContinue(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{})
	seqs := appendN(t, l, 10, "alice")
	if seqs[0] != 1 || seqs[9] != 10 {
		t.Fatalf("seqs = %v", seqs)
	}
	if l.LastSeq() != 10 {
		t.Fatalf("LastSeq = %d", l.LastSeq())
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(Entry{Actor: "a", Action: "b"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	l = mustOpen(t, dir, Options{})
	seqs = appendN(t, l, 5, "bob")
	if seqs[0] != 11 || seqs[4] != 15 {
		t.Fatalf("after reopen seqs = %v", seqs)
	}
	l.Close()
	rep := mustVerify(t, dir, nil)
	if rep.Entries != 15 || rep.LastSeq != 15 || rep.Files != 1 || rep.Unsigned != 15 {
		t.Fatalf("report = %+v", rep)
	}
	lines := segLines(t, dir, 1)
	if !bytes.Contains(lines[0], []byte(`"prev":"`+ZeroHash+`"`)) || !bytes.HasPrefix(lines[0], []byte(`{"seq":1,"time":"`)) {
		t.Fatalf("first line = %s", lines[0])
	}
	sum := sha256.Sum256(bytes.TrimSuffix(lines[0], []byte("\n")))
	if !bytes.Contains(lines[1], fmt.Appendf(nil, `"prev":"%x"`, sum)) {
		t.Fatalf("second line does not chain to the first: %s", lines[1])
	}
}

func TestAppendValidates(t *testing.T) {
	l := mustOpen(t, t.TempDir(), Options{})
	defer l.Close()
	if _, err := l.Append(Entry{Action: "x"}); err == nil {
		t.Fatal("entry without actor accepted")
	}
	if _, err := l.Append(Entry{Actor: "a", Action: "x", Args: map[string]any{"f": func() {}}}); err == nil {
		t.Fatal("unencodable args accepted")
	}
	if seq, err := l.Append(Entry{Actor: "a", Action: "x"}); err != nil || seq != 1 {
		t.Fatalf("valid entry after refused ones: seq %d, %v", seq, err)
	}
}

func TestOpenTwiceRefused(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{})
	defer l.Close()
	if _, err := Open(dir, Options{}); err == nil {
		t.Fatal("second Open of the same dir succeeded")
	}
}

func TestConcurrentAppends(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{SegmentSize: 64 << 10, Signer: NewEd25519Signer(newKey(t))})
	const writers, per = 8, 150
	var mu sync.Mutex
	var all []uint64
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				seq, err := l.Append(Entry{Actor: fmt.Sprintf("op%d", w), Action: "job.publish", Target: "web*", JID: fmt.Sprint(w*1000 + i)})
				if err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				mu.Lock()
				all = append(all, seq)
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	for i, s := range all {
		if s != uint64(i+1) {
			t.Fatalf("seqs not 1..%d without gaps: position %d has %d", writers*per, i, s)
		}
	}
	rep := mustVerify(t, dir, nil)
	if rep.Entries != writers*per {
		t.Fatalf("verified %d entries, want %d", rep.Entries, writers*per)
	}
	if rep.Files < 2 || rep.Checkpoints != rep.Files-1 {
		t.Fatalf("expected rotation with one checkpoint per sealed segment: %+v", rep)
	}
	got, err := Query(dir, Filter{Actor: "op3"})
	if err != nil || len(got) != per {
		t.Fatalf("Query op3 = %d entries, %v", len(got), err)
	}
}

func newKey(t testing.TB) ed25519.PrivateKey {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

// buildLog makes a one-segment log of n entries and returns its dir.
func buildLog(t *testing.T, n int) string {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{})
	appendN(t, l, n, "alice")
	l.Close()
	mustVerify(t, dir, nil)
	return dir
}

func TestVerifyNamesTamperedEntry(t *testing.T) {
	cases := []struct {
		name   string
		tamper func(lines [][]byte) [][]byte
		line   int
		seq    uint64
		reason string
	}{
		{"edit", func(ls [][]byte) [][]byte {
			ls[4] = bytes.Replace(ls[4], []byte(`"actor":"alice"`), []byte(`"actor":"mallory"`), 1)
			return ls
		}, 5, 5, "does not match the hash recorded by the next line"},
		{"edit-prev-recomputed", func(ls [][]byte) [][]byte {
			ls[4] = bytes.Replace(ls[4], []byte(`echo 4`), []byte(`rm -rf`), 1)
			return ls
		}, 5, 5, "edited"},
		{"delete", func(ls [][]byte) [][]byte {
			return append(ls[:4:4], ls[5:]...)
		}, 5, 5, "expected seq 5, found 6"},
		{"reorder", func(ls [][]byte) [][]byte {
			ls[4], ls[5] = ls[5], ls[4]
			return ls
		}, 5, 5, "expected seq 5, found 6"},
		{"truncate", func(ls [][]byte) [][]byte {
			ls[4] = append(ls[4][:30:30], '\n')
			return ls
		}, 5, 5, "unreadable line"},
		{"truncate-join", func(ls [][]byte) [][]byte {
			ls[4] = ls[4][:30]
			return ls
		}, 5, 5, "unreadable line"},
		{"duplicate", func(ls [][]byte) [][]byte {
			return append(ls[:5:5], append([][]byte{ls[4]}, ls[5:]...)...)
		}, 6, 6, "expected seq 6, found 5"},
		{"drop-last-newline", func(ls [][]byte) [][]byte {
			ls[9] = bytes.TrimSuffix(ls[9], []byte("\n"))
			return ls
		}, 10, 10, "torn line"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := buildLog(t, 10)
			writeLines(t, dir, 1, tc.tamper(segLines(t, dir, 1)))
			rep, err := Verify(dir, nil)
			var p *Problem
			if !errors.As(err, &p) {
				t.Fatalf("Verify error = %v, want *Problem", err)
			}
			if rep.Problem != p {
				t.Fatal("Report.Problem differs from the returned error")
			}
			if p.File != SegmentName(1) || p.Line != tc.line || p.Seq != tc.seq || !strings.Contains(p.Reason, tc.reason) {
				t.Fatalf("problem = %+v, want %s line %d seq %d reason ~%q", p, SegmentName(1), tc.line, tc.seq, tc.reason)
			}
		})
	}
}

func TestTornTail(t *testing.T) {
	for _, tail := range []string{`{"seq":6,"time":"2026`, "{\"seq\":6,\x00\x00\x00\n", "\x00\x00\x00\x00"} {
		t.Run(fmt.Sprintf("%q", tail), func(t *testing.T) {
			dir := buildLog(t, 5)
			p := filepath.Join(dir, SegmentName(1))
			good, _ := os.ReadFile(p)
			f, _ := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			f.WriteString(tail)
			f.Close()
			before, _ := os.ReadFile(p)

			_, err := Open(dir, Options{Logger: testLogger(t)})
			if !errors.Is(err, ErrTornTail) {
				t.Fatalf("Open = %v, want ErrTornTail", err)
			}
			if want := fmt.Sprintf("offset %d", len(good)); !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), SegmentName(1)) {
				t.Fatalf("error %q does not name the file and %s", err, want)
			}
			if _, err := Verify(dir, nil); err == nil {
				t.Fatal("Verify accepted a torn tail")
			}

			l := mustOpen(t, dir, Options{AllowTornTail: true})
			seq, err := l.Append(Entry{Actor: "alice", Action: "key.accept", Target: "web1"})
			if err != nil {
				t.Fatal(err)
			}
			if seq != 7 { // 6 is the recovery entry
				t.Fatalf("seq after recovery = %d, want 7", seq)
			}
			l.Close()
			after, _ := os.ReadFile(p)
			if !bytes.Equal(before, after) {
				t.Fatal("the torn segment was modified")
			}
			rep := mustVerify(t, dir, nil)
			if rep.Entries != 7 || len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], fmt.Sprintf("offset %d", len(good))) {
				t.Fatalf("report = %+v", rep)
			}
			es, _ := Query(dir, Filter{Action: ActionTornTail})
			if len(es) != 1 || es[0].Seq != 6 || es[0].Target != SegmentName(1) {
				t.Fatalf("recovery entry = %+v", es)
			}
			// Reopening again is clean: the recovery is on record.
			l = mustOpen(t, dir, Options{})
			appendN(t, l, 1, "bob")
			l.Close()
			mustVerify(t, dir, nil)
		})
	}
}

func TestRotationAndSignedCheckpoints(t *testing.T) {
	kp, err := nkeys.CreateServer()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := NKeySigner(kp)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{SegmentSize: 2048, Signer: signer})
	appendN(t, l, 40, "alice")
	l.Close()
	l = mustOpen(t, dir, Options{SegmentSize: 2048, Signer: signer})
	appendN(t, l, 20, "bob")
	if err := l.Seal(); err != nil {
		t.Fatal(err)
	}
	l.Close()
	trusted := func(pub string) bool { return pub == signer.PublicKey() }
	rep := mustVerify(t, dir, trusted)
	if rep.Entries != 60 || rep.Files < 4 || rep.Checkpoints != rep.Files-1 || rep.Signed != rep.Checkpoints || rep.Unsigned != 0 {
		t.Fatalf("report = %+v", rep)
	}
	// The first line of segment 2 chains to segment 1's checkpoint line.
	l1 := segLines(t, dir, 1)
	cp := bytes.TrimSuffix(l1[len(l1)-2], []byte("\n"))
	if !bytes.Contains(cp, []byte(`"type":"checkpoint"`)) {
		t.Fatalf("segment 1 does not end with a checkpoint: %s", cp)
	}
	if first := segLines(t, dir, 2)[0]; !bytes.Contains(first, []byte(`"prev":"`+hashLine(cp)+`"`)) {
		t.Fatalf("segment 2 does not chain to the checkpoint: %s", first)
	}

	other, _ := nkeys.CreateServer()
	otherPub, _ := other.PublicKey()
	if _, err := Verify(dir, func(pub string) bool { return pub == otherPub }); err == nil || !strings.Contains(err.Error(), "untrusted key") {
		t.Fatalf("untrusted signer accepted: %v", err)
	}

	t.Run("unsigned rejected when trust is required", func(t *testing.T) {
		d := t.TempDir()
		l := mustOpen(t, d, Options{SegmentSize: 512})
		appendN(t, l, 10, "alice")
		l.Close()
		mustVerify(t, d, nil)
		if _, err := Verify(d, trusted); err == nil || !strings.Contains(err.Error(), "not signed") {
			t.Fatalf("unsigned checkpoint accepted: %v", err)
		}
	})

	t.Run("dropped checkpoint", func(t *testing.T) {
		d := t.TempDir()
		copyDir(t, dir, d)
		ls := segLines(t, d, 2)
		n := len(ls) - 1 // last element is the empty remainder
		writeLines(t, d, 2, append(ls[:n-1:n-1], ls[n:]...))
		_, err := Verify(d, trusted)
		var p *Problem
		if !errors.As(err, &p) || p.File != SegmentName(2) || !strings.Contains(p.Reason, "without a checkpoint") {
			t.Fatalf("dropped checkpoint: %v", err)
		}
	})

	t.Run("missing segment", func(t *testing.T) {
		d := t.TempDir()
		copyDir(t, dir, d)
		os.Remove(filepath.Join(d, SegmentName(2)))
		_, err := Verify(d, trusted)
		var p *Problem
		if !errors.As(err, &p) || p.File != SegmentName(2) || !strings.Contains(p.Reason, "missing") {
			t.Fatalf("missing segment: %v", err)
		}
	})
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	ents, _ := os.ReadDir(from)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".jsonl") {
			data, _ := os.ReadFile(filepath.Join(from, e.Name()))
			os.WriteFile(filepath.Join(to, e.Name()), data, 0o600)
		}
	}
}

func TestWrongSignatureDetected(t *testing.T) {
	key := newKey(t)
	signer := NewEd25519Signer(key)
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{SegmentSize: 1024, Signer: signer})
	appendN(t, l, 12, "alice")
	l.Close()
	trusted := func(pub string) bool { return pub == signer.PublicKey() }
	mustVerify(t, dir, trusted)
	ls := segLines(t, dir, 1)
	cpLine := len(ls) - 1 // 1-based number of the checkpoint line
	cp := string(ls[cpLine-1])

	forge := func(t *testing.T, newLine string) *Problem {
		d := t.TempDir()
		copyDir(t, dir, d)
		ls := segLines(t, d, 1)
		ls[cpLine-1] = []byte(newLine)
		writeLines(t, d, 1, ls)
		_, err := Verify(d, trusted)
		var p *Problem
		if !errors.As(err, &p) {
			t.Fatalf("forged checkpoint accepted: %v", err)
		}
		return p
	}
	t.Run("flipped signature", func(t *testing.T) {
		i := strings.Index(cp, `"sig":"`) + len(`"sig":"`)
		c := byte('A')
		if cp[i] == 'A' {
			c = 'B'
		}
		p := forge(t, cp[:i]+string(c)+cp[i+1:])
		if p.Line != cpLine || !strings.Contains(p.Reason, "bad checkpoint signature") {
			t.Fatalf("problem = %+v", p)
		}
	})
	t.Run("signed by another key", func(t *testing.T) {
		// Re-sign the same checkpoint with a different key and claim it.
		other := NewEd25519Signer(newKey(t))
		r, _ := parseLine([]byte(strings.TrimSpace(cp)))
		sig, _ := other.Sign(checkpointMessage(r.File, r.LastSeq, r.LastHash, r.Time))
		line, _ := marshal(checkpoint{Type: "checkpoint", Time: r.Time, File: r.File, LastSeq: r.LastSeq, LastHash: r.LastHash,
			Signer: other.PublicKey(), Sig: b64(sig), Prev: *r.Prev})
		p := forge(t, string(line)+"\n")
		// The key could still be vouched for by a later key.rotated entry, so
		// the line is blamed by the chain break its replacement causes.
		if p.Line != cpLine || !(strings.Contains(p.Reason, "untrusted key") || strings.Contains(p.Reason, "edited or replaced")) {
			t.Fatalf("problem = %+v", p)
		}
	})
	t.Run("claimed signer", func(t *testing.T) {
		other := NewEd25519Signer(newKey(t))
		p := forge(t, strings.Replace(cp, signer.PublicKey(), other.PublicKey(), 1))
		if !strings.Contains(p.Reason, "bad checkpoint signature") {
			t.Fatalf("problem = %+v", p)
		}
	})
}

// fullDisk simulates a device with a byte budget shared by every file the
// log opens; writes beyond it write what fits and fail with ENOSPC.
type fullDisk struct {
	budget   atomic.Int64
	failSync atomic.Bool
}

// options opens every log file on the simulated device.
func (d *fullDisk) options(t *testing.T) Options {
	return Options{Logger: testLogger(t), OpenFile: func(name string, flag int, perm os.FileMode) (File, error) {
		f, err := os.OpenFile(name, flag, perm)
		if err != nil {
			return nil, err
		}
		return &budgetFile{f: f, disk: d}, nil
	}}
}

type budgetFile struct {
	f    *os.File
	disk *fullDisk
}

func (b *budgetFile) Write(p []byte) (int, error) {
	left := b.disk.budget.Add(-int64(len(p)))
	if left >= 0 {
		return b.f.Write(p)
	}
	fit := int64(len(p)) + left
	if fit < 0 {
		fit = 0
	}
	b.disk.budget.Add(int64(len(p)) - fit)
	n, _ := b.f.Write(p[:fit])
	b.disk.budget.Store(0)
	return n, &os.PathError{Op: "write", Path: b.f.Name(), Err: syscall.ENOSPC}
}
func (b *budgetFile) Sync() error {
	if b.disk.failSync.Load() {
		return &os.PathError{Op: "fsync", Path: b.f.Name(), Err: syscall.EIO}
	}
	return b.f.Sync()
}
func (b *budgetFile) Close() error { return b.f.Close() }

func TestDiskFull(t *testing.T) {
	dir := t.TempDir()
	disk := &fullDisk{}
	disk.budget.Store(2000)
	opts := disk.options(t)
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	var acked []uint64
	var firstErr error
	for i := 0; i < 100 && firstErr == nil; i++ {
		seq, err := l.Append(Entry{Actor: "alice", Action: "cmd.run", Target: "web1", Args: map[string]any{"cmd": strings.Repeat("x", 50)}})
		if err != nil {
			firstErr = err
			break
		}
		acked = append(acked, seq)
	}
	if firstErr == nil || !errors.Is(firstErr, syscall.ENOSPC) {
		t.Fatalf("no ENOSPC from Append on a full disk: %v", firstErr)
	}
	// Still full: every append keeps failing loudly.
	for i := 0; i < 3; i++ {
		if _, err := l.Append(Entry{Actor: "alice", Action: "cmd.run"}); err == nil {
			t.Fatal("Append succeeded on a full disk")
		}
	}
	// A little space: the recovery entry itself is torn, in its new segment.
	disk.budget.Store(30)
	if _, err := l.Append(Entry{Actor: "alice", Action: "cmd.run"}); err == nil {
		t.Fatal("Append succeeded with 30 bytes free")
	}
	if got, err := l.ReadFrom(1, 0); err != nil || len(got) != len(acked) {
		t.Fatalf("ReadFrom during the outage = %d lines, %v; want the %d acknowledged", len(got), err, len(acked))
	}
	// Space frees up: appends resume, in a new segment.
	disk.budget.Store(1 << 20)
	seq, err := l.Append(Entry{Actor: "alice", Action: "cmd.run", Target: "after"})
	if err != nil {
		t.Fatalf("Append after space freed: %v", err)
	}
	if seq != acked[len(acked)-1]+2 { // +1 is the recovery entry
		t.Fatalf("seq after recovery = %d, last acked %d", seq, acked[len(acked)-1])
	}
	l.Close()
	rep := mustVerify(t, dir, nil)
	if len(rep.Warnings) < 2 {
		t.Fatalf("want warnings about both torn segments: %+v", rep)
	}
	if rep.Files != 3 {
		t.Fatalf("want the full segment, the torn recovery segment and the new one: %+v", rep)
	}
	es, err := Query(dir, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(es)) != seq {
		t.Fatalf("log has %d entries, want %d", len(es), seq)
	}
	for i, s := range acked {
		if es[i].Seq != s || es[i].Action != "cmd.run" {
			t.Fatalf("acknowledged entry %d lost: %+v", s, es[i])
		}
	}
	if es[len(acked)].Action != ActionTornTail || !strings.Contains(fmt.Sprint(es[len(acked)].Detail), "no space left") {
		t.Fatalf("recovery entry = %+v", es[len(acked)])
	}
	// Reopen cleanly and continue.
	l = mustOpen(t, dir, Options{})
	appendN(t, l, 2, "bob")
	l.Close()
	mustVerify(t, dir, nil)
}

func TestRedaction(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{Redact: []string{"dsn"}})
	args := map[string]any{
		"name":     "deploy",
		"password": "hunter2",
		"opts":     map[string]any{"API_Token": "tok-123", "shell": "/bin/sh"},
		"list":     []any{map[string]any{"ssh_private": "-----BEGIN"}},
		"dsn":      "postgres://u:pw@db",
		"cmd":      "mysql -psecretpw",
	}
	if _, err := l.Append(Entry{Actor: "alice", Action: "user.present", Args: args, Redact: []string{"CMD"}}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	data, _ := os.ReadFile(filepath.Join(dir, SegmentName(1)))
	for _, secret := range []string{"hunter2", "tok-123", "BEGIN", "pw@db", "secretpw"} {
		if bytes.Contains(data, []byte(secret)) {
			t.Errorf("secret %q stored: %s", secret, data)
		}
	}
	for _, kept := range []string{`"name":"deploy"`, `"shell":"/bin/sh"`, `"password":"**REDACTED**"`} {
		if !bytes.Contains(data, []byte(kept)) {
			t.Errorf("%s missing from %s", kept, data)
		}
	}
	if args["password"] != "hunter2" || args["opts"].(map[string]any)["API_Token"] != "tok-123" {
		t.Error("caller's args were modified")
	}
}

func TestQueryFilters(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{SegmentSize: 1024})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	add := func(min int, actor, action, target, jid string) {
		if _, err := l.Append(Entry{Time: t0.Add(time.Duration(min) * time.Minute), Actor: actor, Action: action, Target: target, JID: jid, Outcome: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	add(0, "alice", "key.accept", "web1", "")
	add(1, "alice", "job.publish", "web*", "20260101000100")
	add(2, "web1", "cmd.run", "ls", "20260101000100")
	add(3, "reactor:disk", "job.publish", "db1", "20260101000300")
	add(4, "bob", "key.reject", "db9", "")
	l.Close()
	count := func(f Filter) int {
		es, err := Query(dir, f)
		if err != nil {
			t.Fatal(err)
		}
		return len(es)
	}
	checks := []struct {
		f    Filter
		want int
	}{
		{Filter{}, 5},
		{Filter{Actor: "alice"}, 2},
		{Filter{Action: "key.*"}, 2},
		{Filter{Actor: "reactor:*"}, 1},
		{Filter{Target: "web*"}, 2},
		{Filter{JID: "20260101000100"}, 2},
		{Filter{Since: t0.Add(2 * time.Minute)}, 3},
		{Filter{Until: t0.Add(2 * time.Minute)}, 2},
		{Filter{Since: t0.Add(time.Minute), Until: t0.Add(4 * time.Minute), Action: "job.publish"}, 2},
	}
	for _, c := range checks {
		if got := count(c.f); got != c.want {
			t.Errorf("Query(%+v) = %d entries, want %d", c.f, got, c.want)
		}
	}
	if _, err := Query(dir, Filter{Actor: "["}); err == nil {
		t.Error("bad pattern accepted")
	}
}

func TestForwardWithReadAfter(t *testing.T) {
	dir := t.TempDir()
	signer := NewEd25519Signer(newKey(t))
	trusted := func(pub string) bool { return pub == signer.PublicKey() }
	l := mustOpen(t, dir, Options{SegmentSize: 700, Signer: signer})
	defer l.Close()
	appendN(t, l, 37, "web1")

	// Whole log as one stream.
	all, err := l.ReadFrom(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := VerifyEntries(bytes.NewReader(joinLines(all)), Position{}, trusted)
	if err != nil || rep.Entries != 37 || rep.Checkpoints == 0 {
		t.Fatalf("VerifyEntries whole = %+v, %v", rep, err)
	}

	// Forward in small batches, as a minion does, verifying each at the master.
	var pos Position
	var received uint64
	for i := 0; i < 100; i++ {
		if i == 5 {
			appendN(t, l, 9, "web1") // more entries arrive while forwarding
		}
		batch, err := l.ReadAfter(pos, 4)
		if err != nil {
			t.Fatal(err)
		}
		if len(batch) == 0 {
			if pos.Seq == 46 {
				break
			}
			continue
		}
		rep, err := VerifyEntries(bytes.NewReader(joinLines(batch)), pos, trusted)
		if err != nil {
			t.Fatalf("batch %d from %+v: %v", i, pos, err)
		}
		received += rep.Entries
		pos = rep.End
	}
	if pos.Seq != 46 || received != 46 {
		t.Fatalf("forwarded up to %d (%d entries), want 46", pos.Seq, received)
	}

	// A tampered stream is refused.
	bad := joinLines(all)
	bad = bytes.Replace(bad, []byte(`"target":"host3"`), []byte(`"target":"hostX"`), 1)
	if _, err := VerifyEntries(bytes.NewReader(bad), Position{}, trusted); err == nil {
		t.Fatal("tampered stream accepted")
	}
	// A stream that does not continue from the receiver's position is refused.
	if _, err := VerifyEntries(bytes.NewReader(joinLines(all[5:])), Position{}, trusted); err == nil {
		t.Fatal("stream with a gap accepted")
	}
}

func joinLines(es []RawEntry) []byte {
	var b bytes.Buffer
	for _, e := range es {
		b.Write(e.Line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func TestTailFollows(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{SegmentSize: 600})
	defer l.Close()
	appendN(t, l, 3, "alice")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var seen []uint64
	done := make(chan error, 1)
	go func() {
		done <- Tail(ctx, dir, 2, 10*time.Millisecond, func(e RawEntry) error {
			if !e.Checkpoint {
				mu.Lock()
				seen = append(seen, e.Seq)
				mu.Unlock()
			}
			return nil
		})
	}()
	appendN(t, l, 20, "bob") // crosses several segments
	waitFor(t, 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		select {
		case err := <-done:
			t.Fatalf("Tail returned early: %v", err)
		default:
		}
		return len(seen) == 22
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i, s := range seen {
		if s != uint64(i+2) {
			t.Fatalf("tail saw %v", seen)
		}
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func BenchmarkAppend8Writers(b *testing.B) { benchAppend(b, 8) }

// BenchmarkAppend1Writer is the baseline without group commit: one fsync
// per entry.
func BenchmarkAppend1Writer(b *testing.B) { benchAppend(b, 1) }

func benchAppend(b *testing.B, writers int) {
	dir := b.TempDir()
	l, err := Open(dir, Options{Signer: NewEd25519Signer(newKey(b))})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	args := map[string]any{"cmd": "systemctl restart nginx", "cwd": "/"}
	var next atomic.Int64
	next.Store(int64(b.N))
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(-1) >= 0 {
				if _, err := l.Append(Entry{Actor: "web1.example.com", Action: "cmd.run", Target: "nginx", Args: args, Outcome: "retcode=0"}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "entries/s")
	st := l.Stats()
	b.ReportMetric(float64(st.Entries)/float64(max(st.Syncs, 1)), "entries/fsync")
}

func TestFsyncFailureDisownsWrittenBytes(t *testing.T) {
	dir := t.TempDir()
	disk := &fullDisk{}
	disk.budget.Store(1 << 30)
	opts := disk.options(t)
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 3, "alice")
	disk.failSync.Store(true)
	if _, err := l.Append(Entry{Actor: "alice", Action: "cmd.run", Target: "lost"}); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Append with failing fsync = %v, want EIO", err)
	}
	// The failed entry's bytes did reach the file, complete.
	if data, _ := os.ReadFile(filepath.Join(dir, SegmentName(1))); !bytes.Contains(data, []byte(`"target":"lost"`)) {
		t.Fatal("test setup: the failed write did not reach the file")
	}
	if got, _ := l.ReadFrom(1, 0); len(got) != 3 {
		t.Fatalf("ReadFrom shows %d lines, want the 3 durable ones", len(got))
	}
	if _, err := l.Append(Entry{Actor: "alice", Action: "cmd.run"}); err == nil {
		t.Fatal("Append succeeded while fsync fails")
	}
	disk.failSync.Store(false)
	seq, err := l.Append(Entry{Actor: "alice", Action: "cmd.run", Target: "kept"})
	if err != nil || seq != 5 {
		t.Fatalf("Append after recovery = %d, %v; want 5", seq, err)
	}
	l.Close()
	rep := mustVerify(t, dir, nil)
	if rep.Entries != 5 || len(rep.Warnings) == 0 {
		t.Fatalf("report = %+v", rep)
	}
	es, _ := Query(dir, Filter{Target: "lost"})
	if len(es) != 0 {
		t.Fatalf("an entry that was never acknowledged is in the log: %+v", es)
	}
}

func TestResumeAfterCrashBetweenSegments(t *testing.T) {
	// An unsealed segment followed by an empty one (a crash while starting
	// a recovery segment) is explained by a recovery entry on Open.
	dir := buildLog(t, 4)
	if err := os.WriteFile(filepath.Join(dir, SegmentName(2)), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	l := mustOpen(t, dir, Options{})
	seq, err := l.Append(Entry{Actor: "bob", Action: "key.accept"})
	if err != nil || seq != 6 {
		t.Fatalf("Append = %d, %v; want 6 after the recovery entry", seq, err)
	}
	l.Close()
	rep := mustVerify(t, dir, nil)
	if rep.Entries != 6 || rep.Files != 2 {
		t.Fatalf("report = %+v", rep)
	}
	if first := segLines(t, dir, 2)[0]; !bytes.Contains(first, []byte(ActionTornTail)) {
		t.Fatalf("segment 2 starts with %s", first)
	}
}

func TestAuditAdapter(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, Options{})
	// The master API's Auditor interface, restated so the test proves the fit.
	var a interface {
		Audit(ctx context.Context, action, actor string, detail map[string]any) error
	} = l
	if err := a.Audit(context.Background(), "key.accept", "op:alice", map[string]any{"id": "web1", "nkey": "UABC"}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if err := a.Audit(context.Background(), "key.accept", "op:alice", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Audit after Close = %v", err)
	}
	es, err := Query(dir, Filter{Action: "key.accept", Target: "web1"})
	if err != nil || len(es) != 1 || es[0].Actor != "op:alice" || es[0].Detail["nkey"] != "UABC" {
		t.Fatalf("entries = %+v, %v", es, err)
	}
}
