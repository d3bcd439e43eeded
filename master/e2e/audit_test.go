package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/brine-cm/brine/pkg/audit"
	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nkeys"
)

// tryStartMaster starts a master on a fixed dir and port; unlike
// startMaster it returns the output instead of failing when the master
// exits before it is ready (the audit log refused to open).
func tryStartMaster(t *testing.T, dir string, port int, extra ...string) (*master, string) {
	t.Helper()
	_ = os.Remove(filepath.Join(dir, "master.url"))
	args := append([]string{"serve", "--config", os.DevNull, "--data-dir", dir, "--listen", "127.0.0.1:" + strconv.Itoa(port), "--log-level", "debug"}, extra...)
	p := start(t, "brine-master", args...)
	m := &master{proc: p, dir: dir, port: port}
	var exited bool
	waitFor(t, 30*time.Second, "master.url or exit", func() bool {
		if b, err := os.ReadFile(filepath.Join(dir, "master.url")); err == nil {
			m.url = strings.TrimSpace(string(b))
			return true
		}
		exited = !p.running()
		return exited
	})
	if exited {
		return nil, p.out.String()
	}
	return m, ""
}

func auditDir(dataDir string) string { return filepath.Join(dataDir, "audit") }

// masterEntries reads the master's log from its files.
func masterEntries(t *testing.T, dataDir string, f audit.Filter) []audit.Entry {
	t.Helper()
	es, err := audit.Query(auditDir(dataDir), f)
	if err != nil {
		t.Fatalf("read master audit log: %v", err)
	}
	return es
}

// minionForwarded returns the entries of id's log as the master stores
// them, through the CLI (--out json prints the stored lines).
func (m *master) minionForwarded(t *testing.T, id string) ([]audit.Entry, error) {
	t.Helper()
	out, err := m.cli(t, "audit", "show", "--minion", id, "--out", "json")
	if err != nil {
		return nil, err
	}
	return decodeLines(t, out), nil
}

func decodeLines(t *testing.T, out string) []audit.Entry {
	t.Helper()
	var es []audit.Entry
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var e audit.Entry
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		es = append(es, e)
	}
	return es
}

// minionLocal reads a minion's own log with `brine-minion audit show`.
func minionLocal(t *testing.T, dataDir string) []audit.Entry {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "brine-minion"), "audit", "show", "--config", os.DevNull, "--data-dir", dataDir, "--out", "json")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("brine-minion audit show: %v: %s", err, errb.String())
	}
	return decodeLines(t, out.String())
}

// TestAuditSurvivesMasterKills kills the master with SIGKILL while an
// operator keeps running jobs, 20 times. Every run the CLI saw return
// must be in the log (published with its minion list, and its return),
// and `audit verify` must pass afterwards. A torn tail, if a kill ever
// lands in the middle of a write, must stop the master from starting
// until --audit-recover is given, and is then reported as a warning.
func TestAuditSurvivesMasterKills(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "master")
	port := freePort(t)
	m := startMaster(t, dir, port)
	acceptMinion(t, m, "web1")

	var mu sync.Mutex
	acked := map[string]bool{} // echo tokens whose run returned to the operator
	recovered := 0
	const rounds = 20
	began := time.Now()
	for round := 0; round < rounds; round++ {
		waitFor(t, 30*time.Second, "web1 answering", func() bool {
			res, _ := m.runJSON(t, "-t", "2", "web1", "test.ping")
			return res["web1"] == true
		})
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; ctx.Err() == nil; i++ {
				tok := fmt.Sprintf("r%d-%d", round, i)
				// The CLI is killed with the master, so a round does not
				// wait for a request that can no longer be answered.
				cmd := exec.CommandContext(ctx, filepath.Join(binDir, "brine-master"), "--data-dir", dir, "run", "--out", "json", "-t", "3", "web1", "test.echo", tok)
				out, err := cmd.Output()
				var res map[string]any
				if err == nil && json.Unmarshal(out, &res) == nil && res["web1"] == tok {
					mu.Lock()
					acked[tok] = true
					mu.Unlock()
				}
			}
		}()
		// Let some runs complete, then kill at a random point of the next.
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		waitFor(t, 30*time.Second, "a run acknowledged in this round", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(acked) > n
		})
		time.Sleep(time.Duration(rand.IntN(40)) * time.Millisecond) // a random kill point, not synchronisation
		m.stop(syscall.SIGKILL)
		stop()
		<-done
		m2, out := tryStartMaster(t, dir, port)
		if m2 == nil {
			if !strings.Contains(out, "torn") || !strings.Contains(out, "--audit-recover") {
				t.Fatalf("round %d: master did not start, and not because of a torn audit tail:\n%s", round, out)
			}
			recovered++
			m2, out = tryStartMaster(t, dir, port, "--audit-recover")
			if m2 == nil {
				t.Fatalf("round %d: master did not start with --audit-recover:\n%s", round, out)
			}
		}
		m = m2
		t.Logf("round %d done after %s", round, time.Since(began).Round(time.Millisecond))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(acked) < rounds {
		t.Fatalf("only %d runs acknowledged in %d rounds", len(acked), rounds)
	}

	pubs := masterEntries(t, dir, audit.Filter{Action: "job.publish"})
	rets := masterEntries(t, dir, audit.Filter{Action: "job.return", Actor: "web1"})
	returned := map[string]bool{}
	for _, e := range rets {
		if e.Outcome == "success" {
			returned[e.JID] = true
		}
	}
	found := map[string]bool{}
	for _, e := range pubs {
		arg, _ := e.Args["arg"].([]any)
		if len(arg) != 1 {
			continue
		}
		tok, _ := arg[0].(string)
		ms, _ := e.Detail["minions"].([]any)
		if acked[tok] && returned[e.JID] && len(ms) == 1 && ms[0] == "web1" && e.Actor == "op:root" {
			found[tok] = true
		}
	}
	for tok := range acked {
		if !found[tok] {
			t.Errorf("run %s was acknowledged to the operator but its publish or return is not in the audit log", tok)
		}
	}
	starts := masterEntries(t, dir, audit.Filter{Action: "master.start"})
	if len(starts) != rounds+1 {
		t.Errorf("master.start entries: %d, want %d", len(starts), rounds+1)
	}

	out, err := m.cli(t, "audit", "verify")
	if err != nil {
		t.Fatalf("audit verify after %d kills: %v\n%s", rounds, err, out)
	}
	if !strings.Contains(out, "ok master:") || !strings.Contains(out, "ok minion web1:") {
		t.Fatalf("audit verify output:\n%s", out)
	}
	if recovered > 0 && !strings.Contains(out, "WARNING master") {
		t.Fatalf("%d torn tails were recovered but verify reports no damage:\n%s", recovered, out)
	}
	t.Logf("%d runs acknowledged across %d kills, %d torn tails recovered", len(acked), rounds, recovered)
}

// tamperCase changes the lines of a sealed segment.
type tamperCase struct {
	name string
	edit func(lines []string) []string
	// line is the 1-based line verify must name.
	line int
}

// TestAuditVerifyFindsTampering edits, deletes, reorders and truncates an
// entry in the middle of the master's log; verify must fail and name it.
func TestAuditVerifyFindsTampering(t *testing.T) {
	m := newMaster(t)
	acceptMinion(t, m, "t1")
	for i := 0; i < 4; i++ {
		if _, err := m.runJSON(t, "t1", "test.ping"); err != nil {
			t.Fatal(err)
		}
	}
	m.stop(syscall.SIGTERM)
	seg := filepath.Join(auditDir(m.dir), audit.SegmentName(1))
	orig, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(orig), "\n")
	lines = lines[:len(lines)-1] // the empty string after the last newline
	if len(lines) < 12 {
		t.Fatalf("only %d lines in the log", len(lines))
	}
	const mid = 7
	cases := []tamperCase{
		{"edit", func(l []string) []string {
			l[mid-1] = strings.Replace(l[mid-1], `"actor":"`, `"actor":"x`, 1)
			return l
		}, mid},
		{"delete", func(l []string) []string { return append(l[:mid-1:mid-1], l[mid:]...) }, mid},
		{"reorder", func(l []string) []string {
			l[mid-1], l[mid] = l[mid], l[mid-1]
			return l
		}, mid},
		{"truncate", func(l []string) []string {
			l[mid-1] = l[mid-1][:len(l[mid-1])/2] + "\n"
			return l
		}, mid},
	}
	// The untouched log passes.
	if out, err := verifyCopy(t, m.dir, string(orig)); err != nil {
		t.Fatalf("untouched copy fails verify: %v\n%s", err, out)
	}
	for _, c := range cases {
		l := append([]string(nil), lines...)
		out, err := verifyCopy(t, m.dir, strings.Join(c.edit(l), ""))
		if err == nil {
			t.Errorf("%s: verify passed a tampered log:\n%s", c.name, out)
			continue
		}
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Errorf("%s: want exit status 1, got %v", c.name, err)
		}
		want := fmt.Sprintf("%s:%d:", audit.SegmentName(1), c.line)
		if !strings.Contains(out, "FAIL master") || !strings.Contains(out, want) {
			t.Errorf("%s: verify does not name %s:\n%s", c.name, want, out)
		}
	}
}

// verifyCopy writes seg as the first segment of a copy of the master's
// audit dir (with its signing key) and runs `audit verify --local` on it.
func verifyCopy(t *testing.T, dataDir, seg string) (string, error) {
	t.Helper()
	d := t.TempDir()
	if err := os.MkdirAll(auditDir(d), 0o700); err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(filepath.Join(dataDir, "master.nk"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "master.nk"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(auditDir(d), audit.SegmentName(1)), []byte(seg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(binDir, "brine-master"), "--data-dir", d, "audit", "verify", "--local")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestAuditTornTailNeedsRecover: a torn last line (a crash mid-write)
// stops the master from starting and names the file; --audit-recover
// starts it in a new segment that records the damage, and verify passes
// with a warning about the disowned bytes.
func TestAuditTornTailNeedsRecover(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "master")
	port := freePort(t)
	m := startMaster(t, dir, port)
	m.stop(syscall.SIGKILL)
	seg := filepath.Join(auditDir(dir), audit.SegmentName(1))
	f, err := os.OpenFile(seg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"seq":2,"time":"2026-`); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if m2, out := tryStartMaster(t, dir, port); m2 != nil {
		t.Fatal("master started on a torn audit log without --audit-recover")
	} else if !strings.Contains(out, audit.SegmentName(1)) || !strings.Contains(out, "--audit-recover") {
		t.Fatalf("refusal does not name the file and the way out:\n%s", out)
	}
	m2, out := tryStartMaster(t, dir, port, "--audit-recover")
	if m2 == nil {
		t.Fatalf("master did not start with --audit-recover:\n%s", out)
	}
	rec := masterEntries(t, dir, audit.Filter{Action: audit.ActionTornTail})
	if len(rec) != 1 || rec[0].Outcome != "recovered" {
		t.Fatalf("recovery entries: %+v", rec)
	}
	vout, err := m2.cli(t, "audit", "verify", "--local")
	if err != nil {
		t.Fatalf("verify after recovery: %v\n%s", err, vout)
	}
	if !strings.Contains(vout, "WARNING master") || !strings.Contains(vout, "disowned") {
		t.Fatalf("verify does not report the recovered damage:\n%s", vout)
	}
}

// TestAuditUnwritableRefusesActions makes the open segment immutable
// (writes fail as on a full disk): runs and key changes are refused with
// a clear error and nothing reaches the minion; once writable again,
// actions go through and the log verifies.
func TestAuditUnwritableRefusesActions(t *testing.T) {
	if _, err := exec.LookPath("chattr"); err != nil {
		t.Skip("chattr not available")
	}
	m := newMaster(t)
	mp := acceptMinion(t, m, "u1")
	if res, err := m.runJSON(t, "u1", "test.ping"); err != nil || res["u1"] != true {
		t.Fatalf("ping: %v %v", res, err)
	}
	segs, _ := filepath.Glob(filepath.Join(auditDir(m.dir), "audit-*.jsonl"))
	sort.Strings(segs)
	cur := segs[len(segs)-1]
	// The file and the directory: no write and no new segment, as on a
	// full disk.
	adir := auditDir(m.dir)
	if out, err := exec.Command("chattr", "+i", cur, adir).CombinedOutput(); err != nil {
		t.Skipf("chattr +i: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("chattr", "-i", cur, adir).Run() })
	ran := mp.out.Count("running job")
	_, err := m.cli(t, "run", "u1", "test.ping")
	if err == nil || !strings.Contains(err.Error(), "audit log unavailable, action refused") {
		t.Fatalf("run with an unwritable audit log: %v", err)
	}
	_, err = m.cli(t, "key", "reject", "u1", "-y", "--include-accepted")
	if err == nil || !strings.Contains(err.Error(), "audit log unavailable") {
		t.Fatalf("key reject with an unwritable audit log: %v", err)
	}
	if got := mp.out.Count("running job"); got != ran {
		t.Fatalf("the minion ran a job the master could not record")
	}
	if out, err := exec.Command("chattr", "-i", cur, adir).CombinedOutput(); err != nil {
		t.Fatalf("chattr -i: %v %s", err, out)
	}
	res, err := m.runJSON(t, "u1", "test.ping")
	if err != nil || res["u1"] != true {
		t.Fatalf("ping after the log is writable again: %v %v", res, err)
	}
	vout, err := m.cli(t, "audit", "verify")
	if err != nil {
		t.Fatalf("verify: %v\n%s", err, vout)
	}
	if !strings.Contains(vout, "WARNING master") {
		t.Fatalf("verify does not report the failed write:\n%s", vout)
	}
	if len(masterEntries(t, m.dir, audit.Filter{Action: "key.reject"})) != 0 {
		t.Fatal("a refused key change is in the log")
	}
}

// TestAuditMinionBacklogForwarded: while the master is down a minion keeps
// writing its own log (here: it is restarted twice, which it records);
// when the master is back the backlog arrives with no gap and no
// duplicate: the master's copy holds exactly seqs 1..N of the local log.
func TestAuditMinionBacklogForwarded(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "master")
	port := freePort(t)
	m := startMaster(t, dir, port)
	mp := acceptMinion(t, m, "b1")
	if res, err := m.runJSON(t, "b1", "cmd.run", "echo before"); err != nil || res["b1"] != "before" {
		t.Fatalf("cmd.run: %v %v", res, err)
	}
	waitFor(t, 20*time.Second, "first entries forwarded", func() bool {
		es, err := m.minionForwarded(t, "b1")
		return err == nil && len(es) > 0 && es[len(es)-1].Action == "job.return"
	})
	m.stop(syscall.SIGKILL)
	for i := 0; i < 2; i++ {
		mp.stop(syscall.SIGTERM)
		mp = startMinion(t, m, "b1", mp.dir)
		want := i + 2
		waitFor(t, 10*time.Second, "minion restart recorded", func() bool {
			n := 0
			for _, e := range minionLocal(t, mp.dir) {
				if e.Action == "minion.start" {
					n++
				}
			}
			return n == want
		})
	}
	local := minionLocal(t, mp.dir)
	starts := 0
	for _, e := range local {
		if e.Action == "minion.start" {
			starts++
		}
	}
	if starts != 3 {
		t.Fatalf("local log has %d minion.start entries, want 3", starts)
	}
	m = startMaster(t, dir, port)
	var fwd []audit.Entry
	waitFor(t, 60*time.Second, "backlog forwarded", func() bool {
		es, err := m.minionForwarded(t, "b1")
		if err != nil || len(es) < len(local) {
			return false
		}
		fwd = es
		return true
	})
	for i, e := range fwd {
		if e.Seq != uint64(i+1) {
			t.Fatalf("forwarded copy: entry %d has seq %d (gap or duplicate)", i+1, e.Seq)
		}
	}
	for i, e := range local {
		if fwd[i].Action != e.Action || fwd[i].Time != e.Time {
			t.Fatalf("forwarded seq %d is %s, local is %s", e.Seq, fwd[i].Action, e.Action)
		}
	}
	out, err := m.cli(t, "audit", "verify")
	if err != nil || !strings.Contains(out, "ok minion b1:") {
		t.Fatalf("verify: %v\n%s", err, out)
	}
}

// TestAuditMinionVerdicts: a real minion on a hostile broker records every
// job it is sent with its verdict, and the return of the one it ran.
// (What a job changes on the host is checked with a real master in
// TestAuditForwardingConfined.)
func TestAuditMinionVerdicts(t *testing.T) {
	hb := newHostileBroker(t)
	mp := hb.readyMinion("v1")
	forger, _ := nkeys.CreateServer()

	forged := freshJob("v1", "cmd.run", "true")
	hb.send(signed(t, forger, forged))
	expired := freshJob("v1", "test.ping")
	expired.IssuedAt, expired.NotAfter = expired.IssuedAt.Add(-time.Hour), expired.IssuedAt.Add(-30*time.Minute)
	hb.send(signed(t, hb.key(), expired))
	other := freshJob("v2", "test.ping")
	m := signed(t, hb.key(), other)
	m.Subject = proto.JobSubject("v1")
	hb.send(m)
	ran := freshJob("v1", "test.ping")
	hb.send(signed(t, hb.key(), ran))
	waitFor(t, 10*time.Second, "return of the valid job", func() bool { return hb.returned(ran.JID) })
	hb.send(signed(t, hb.key(), ran)) // replayed
	hb.sendValid("v1")

	verdict := map[string]string{}
	var ret *audit.Entry
	waitFor(t, 10*time.Second, "five verdicts", func() bool {
		verdict = map[string]string{}
		for _, e := range minionLocal(t, mp.dir) {
			switch {
			case e.Action == "job.received":
				if e.Outcome == "run" && verdict[e.JID] != "" {
					continue
				}
				if verdict[e.JID] == "" || e.Outcome != "run" {
					verdict[e.JID] = e.Outcome
				}
			case e.Action == "job.return" && e.JID == ran.JID:
				ret = &e
			}
		}
		return len(verdict) >= 5
	})
	want := map[string]string{
		forged.JID:  "refused: bad signature",
		expired.JID: "refused: expired",
		other.JID:   "refused: not targeted",
		ran.JID:     "refused: replay",
	}
	for jid, w := range want {
		if verdict[jid] != w {
			t.Errorf("jid %s: verdict %q, want %q (all: %v)", jid, verdict[jid], w, verdict)
		}
	}
	if ret == nil || ret.Actor != "op:root" || ret.Outcome != "success" {
		t.Fatalf("job.return entry: %+v", ret)
	}
	if _, err := filepathStat(filepath.Join(mp.dir, "audit", audit.SegmentName(1))); err != nil {
		t.Fatal(err)
	}
}

// TestAuditForwardingConfined: a minion's own credentials can neither
// write the master's stored copy directly nor get a forged batch stored;
// what it really did arrives, with the job's jid.
func TestAuditForwardingConfined(t *testing.T) {
	m := newMaster(t)
	mp := acceptMinion(t, m, "f1")
	_, _ = m.runJSON(t, "f1", "cmd.run", "exit 3")
	var fwd []audit.Entry
	waitFor(t, 20*time.Second, "cmd.run forwarded", func() bool {
		es, err := m.minionForwarded(t, "f1")
		fwd = es
		return err == nil && len(es) > 0 && es[len(es)-1].Action == "job.return"
	})
	var cmd *audit.Entry
	for i := range fwd {
		if fwd[i].Action == "cmd.run" {
			cmd = &fwd[i]
		}
	}
	if cmd == nil || cmd.Outcome != "retcode=3" || cmd.JID == "" || cmd.Actor != "op:root" || cmd.Target != "exit 3" {
		t.Fatalf("forwarded cmd.run: %+v", cmd)
	}
	pubs := masterEntries(t, m.dir, audit.Filter{Action: "job.publish", JID: cmd.JID})
	if len(pubs) != 1 {
		t.Fatalf("master has %d publish entries for the jid the minion recorded", len(pubs))
	}

	kp := mp.key(t)
	a := dialAs(t, m, kp, "f1", proto.Inbox("f1"))
	if err := a.nc.Publish(proto.AuditStoreSubject("f1"), []byte("{}\n")); err != nil {
		t.Fatal(err)
	}
	a.expectViolation(t, "Publish", proto.AuditStoreSubject("f1"))
	// A forged entry that claims to continue the chain.
	last := fwd[len(fwd)-1]
	line := fmt.Sprintf(`{"seq":%d,"time":"2026-01-01T00:00:00Z","actor":"op:root","action":"cmd.run","target":"true","outcome":"retcode=0","prev":"%s"}`+"\n",
		last.Seq+1, strings.Repeat("0", 64))
	msg, err := a.nc.Request(proto.RequestSubject("f1", proto.OpAudit), []byte(line), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get(proto.HeaderError) == "" || !strings.Contains(string(msg.Data), "refused") {
		t.Fatalf("forged batch answered %q", msg.Data)
	}
	after, err := m.minionForwarded(t, "f1")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range after {
		if e.Time.Year() == 2026 && e.Time.Month() == 1 && e.Time.Day() == 1 {
			t.Fatal("the forged entry was stored")
		}
	}
	out, err := m.cli(t, "audit", "verify")
	if err != nil || !strings.Contains(out, "ok minion f1:") {
		t.Fatalf("verify: %v\n%s", err, out)
	}
}
