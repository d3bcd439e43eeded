package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/brine-cm/brine/pkg/keys"
	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// hostileBroker models the worst case for invariant 3: the attacker
// controls the NATS server itself (no authorisation at all) and can
// publish anything to a minion's job subject. Only the master's signature,
// the expiry and the replay cache stand between it and the host. It plays
// the master's key exchange with a key the test holds, so the minion pins
// that key exactly as it would pin a real master's.
type hostileBroker struct {
	t      *testing.T
	srv    *server.Server
	nc     *nats.Conn
	url    string
	master atomic.Pointer[nkeys.KeyPair]

	mu      sync.Mutex
	returns map[string]proto.Return // jid -> return
}

func newHostileBroker(t *testing.T) *hostileBroker {
	t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true, AlwaysEnableNonce: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("test broker not ready")
	}
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	hb := &hostileBroker{t: t, srv: srv, nc: nc, url: srv.ClientURL(), returns: map[string]proto.Return{}}
	mk, _ := nkeys.CreateServer()
	hb.master.Store(&mk)
	_, _ = nc.Subscribe(proto.KeyRequestPrefix+"*", func(m *nats.Msg) {
		var req proto.KeyRequest
		if json.Unmarshal(m.Data, &req) != nil {
			return
		}
		kp := *hb.master.Load()
		st := proto.KeyStatus{V: proto.Version, ID: req.ID, Nkey: req.Nkey, State: proto.KeyAccepted, MasterKey: keys.Public(kp), IssuedAt: time.Now()}
		out := nats.NewMsg(proto.KeyStatusSubject(req.Nkey))
		out.Data, _ = json.Marshal(st)
		_ = proto.Sign(kp, out.Data, out.Header)
		_ = nc.PublishMsg(out)
	})
	_, _ = nc.Subscribe(proto.RequestPrefix+"*.hello", func(m *nats.Msg) { _ = m.Respond([]byte(`{"v":1}`)) })
	// It serves no pillar: a job runs with the pillar error, as under a
	// master whose pillar does not compile.
	_, _ = nc.Subscribe(proto.RequestPrefix+"*.pillar", func(m *nats.Msg) {
		r := nats.NewMsg(m.Reply)
		r.Header.Set(proto.HeaderError, "1")
		r.Data, _ = json.Marshal(proto.ErrorReply{V: proto.Version, Error: "no pillar here"})
		_ = m.RespondMsg(r)
	})
	_, _ = nc.Subscribe(proto.ReturnPrefix+"*.*", func(m *nats.Msg) {
		var r proto.Return
		if json.Unmarshal(m.Data, &r) == nil {
			hb.mu.Lock()
			hb.returns[r.JID] = r
			hb.mu.Unlock()
		}
	})
	_ = nc.Flush()
	return hb
}

func (hb *hostileBroker) key() nkeys.KeyPair { return *hb.master.Load() }

func (hb *hostileBroker) returned(jid string) bool {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	_, ok := hb.returns[jid]
	return ok
}

// startMinion runs a real minion against the broker with the master's
// fingerprint configured.
func (hb *hostileBroker) startMinion(id, dir string) *minionProc {
	hb.t.Helper()
	p := start(hb.t, "brine-minion", "--config", "/dev/null", "--id", id, "--master", hb.url, "--data-dir", dir,
		"--master-finger", keys.Fingerprint(keys.Public(hb.key())), "--log-level", "debug")
	return &minionProc{proc: p, id: id, dir: dir}
}

var jidSeq atomic.Int64

func freshJob(id, fun string, args ...any) proto.Job {
	now := time.Now().UTC()
	return proto.Job{V: proto.Version, JID: proto.FormatJID(now.Add(time.Duration(jidSeq.Add(1)) * time.Microsecond)), Master: "master", MinionID: id,
		Target: proto.Target{Expr: id, Type: "glob"}, Fun: fun, Args: args, User: "root", IssuedAt: now, NotAfter: now.Add(time.Minute)}
}

// signed builds the message as the master would; signer may be any key.
func signed(t *testing.T, signer nkeys.KeyPair, job proto.Job) *nats.Msg {
	t.Helper()
	m := nats.NewMsg(proto.JobSubject(job.MinionID))
	m.Data, _ = json.Marshal(job)
	if err := proto.Sign(signer, m.Data, m.Header); err != nil {
		t.Fatal(err)
	}
	return m
}

func (hb *hostileBroker) send(m *nats.Msg) {
	hb.t.Helper()
	if err := hb.nc.PublishMsg(m); err != nil {
		hb.t.Fatal(err)
	}
	_ = hb.nc.Flush()
}

// sendValid sends a correctly signed job and waits for its return, which
// also proves every message sent before it has been judged.
func (hb *hostileBroker) sendValid(id string) {
	hb.t.Helper()
	job := freshJob(id, "test.ping")
	hb.send(signed(hb.t, hb.key(), job))
	waitFor(hb.t, 10*time.Second, "return of a valid job", func() bool { return hb.returned(job.JID) })
}

func (hb *hostileBroker) readyMinion(id string) *minionProc {
	hb.t.Helper()
	mp := hb.startMinion(id, filepath.Join(hb.t.TempDir(), id))
	waitFor(hb.t, 20*time.Second, id+" receiving jobs", func() bool { return mp.out.Count("receiving jobs") > 0 })
	return mp
}

// Invariant 3: a job signed by any key but the pinned master key never runs.
func TestForgedJobRefused(t *testing.T) {
	hb := newHostileBroker(t)
	mp := hb.readyMinion("victim")
	marker := filepath.Join(t.TempDir(), "pwned")
	forger, _ := nkeys.CreateServer()

	// Signed by a random key that names itself.
	own := freshJob("victim", "cmd.run", "touch "+marker)
	hb.send(signed(t, forger, own))
	// Signed by a random key while claiming to be the master.
	claim := freshJob("victim", "cmd.run", "touch "+marker)
	m := signed(t, forger, claim)
	m.Header.Set(proto.HeaderKid, keys.Public(hb.key()))
	hb.send(m)
	// The master's real signature over different bytes.
	good := freshJob("victim", "test.ping")
	swapped := signed(t, hb.key(), good)
	tampered := claim
	tampered.JID = good.JID
	swapped.Data, _ = json.Marshal(tampered)
	hb.send(swapped)
	// No signature at all.
	bare := nats.NewMsg(proto.JobSubject("victim"))
	bare.Data, _ = json.Marshal(freshJob("victim", "cmd.run", "touch "+marker))
	hb.send(bare)

	hb.sendValid("victim")
	waitFor(t, 20*time.Second, "four refusals", func() bool { return mp.out.Count(`check="job signature"`) == 4 })
	for _, jid := range []string{own.JID, claim.JID, good.JID} {
		if hb.returned(jid) {
			t.Fatalf("forged job %s returned", jid)
		}
	}
	if _, err := filepathStat(marker); err == nil {
		t.Fatal("forged command ran")
	}
}

// Invariant 3: an expired job, a job from the future, one for another
// minion and one living longer than allowed never run.
func TestExpiredJobRefused(t *testing.T) {
	hb := newHostileBroker(t)
	mp := hb.readyMinion("web1")
	now := time.Now().UTC()
	expired := freshJob("web1", "test.ping")
	expired.IssuedAt, expired.NotAfter = now.Add(-2*time.Minute), now.Add(-time.Minute)
	future := freshJob("web1", "test.ping")
	future.IssuedAt, future.NotAfter = now.Add(time.Hour), now.Add(time.Hour+time.Minute)
	other := freshJob("web2", "test.ping")
	other.Target = proto.Target{Expr: "*", Type: "glob"}
	long := freshJob("web1", "test.ping")
	long.NotAfter = now.Add(30 * 24 * time.Hour)
	for _, j := range []proto.Job{expired, future, long} {
		hb.send(signed(t, hb.key(), j))
	}
	// Addressed to web2 but published on web1's subject.
	m := signed(t, hb.key(), other)
	m.Subject = proto.JobSubject("web1")
	hb.send(m)
	hb.sendValid("web1")
	waitFor(t, 20*time.Second, "four refusals", func() bool { return mp.out.Count(`check="job check"`) == 4 })
	for _, j := range []proto.Job{expired, future, other, long} {
		if hb.returned(j.JID) {
			t.Fatalf("job %s returned", j.JID)
		}
	}
	for _, want := range []string{"job expired", "job issued in the future", "minion is not in the job's target", "job lifetime too long"} {
		if !strings.Contains(mp.out.String(), want) {
			t.Errorf("no refusal mentioning %q", want)
		}
	}
}

// Invariant 3: a job is run at most once, even when it is replayed after
// the minion restarted.
func TestReplayedJobAfterRestartRefused(t *testing.T) {
	hb := newHostileBroker(t)
	dir := filepath.Join(t.TempDir(), "web1")
	mp := hb.startMinion("web1", dir)
	waitFor(t, 20*time.Second, "receiving jobs", func() bool { return mp.out.Count("receiving jobs") > 0 })
	marker := filepath.Join(t.TempDir(), "count")
	job := freshJob("web1", "cmd.run", "echo x >> "+marker)
	msg := signed(t, hb.key(), job)
	hb.send(msg)
	waitFor(t, 10*time.Second, "first run", func() bool { return hb.returned(job.JID) })
	// Same bytes again while running: refused.
	again := nats.NewMsg(msg.Subject)
	again.Data, again.Header = msg.Data, msg.Header
	hb.send(again)
	hb.sendValid("web1")
	waitFor(t, 20*time.Second, "replay refused", func() bool { return mp.out.Count(`check="job replay"`) == 1 })

	mp.stop(syscall.SIGTERM)
	mp2 := hb.startMinion("web1", dir)
	waitFor(t, 20*time.Second, "receiving jobs after restart", func() bool { return mp2.out.Count("receiving jobs") > 0 })
	hb.mu.Lock()
	delete(hb.returns, job.JID)
	hb.mu.Unlock()
	hb.send(again)
	hb.sendValid("web1")
	waitFor(t, 20*time.Second, "replay after restart refused", func() bool { return mp2.out.Count(`check="job replay"`) == 1 })
	if hb.returned(job.JID) {
		t.Fatal("replayed job returned after restart")
	}
	b, err := readFile(marker)
	if err != nil || strings.Count(string(b), "x") != 1 {
		t.Fatalf("command ran %d times (%v)", strings.Count(string(b), "x"), err)
	}
}

// Invariant 3: once pinned, a different master key is refused loudly.
func TestChangedMasterKeyRefused(t *testing.T) {
	hb := newHostileBroker(t)
	dir := filepath.Join(t.TempDir(), "web1")
	mp := hb.startMinion("web1", dir)
	waitFor(t, 20*time.Second, "receiving jobs", func() bool { return mp.out.Count("receiving jobs") > 0 })
	mp.stop(syscall.SIGTERM)
	impostor, _ := nkeys.CreateServer()
	hb.master.Store(&impostor)
	// Started without --master-finger: only the pin in the data dir guards it.
	p := start(t, "brine-minion", "--config", "/dev/null", "--id", "web1", "--master", hb.url, "--data-dir", dir, "--log-level", "debug")
	waitFor(t, 20*time.Second, "loud refusal", func() bool { return strings.Contains(p.out.String(), "MASTER KEY CHANGED") })
	// It does not even listen for jobs: no subscription on its job subject.
	cz, err := hb.srv.Connz(&server.ConnzOptions{Subscriptions: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cz.Conns {
		for _, sub := range c.Subs {
			if sub == proto.JobSubject("web1") {
				t.Fatalf("minion subscribed to jobs under an impostor master (conn %s)", c.Name)
			}
		}
	}
	if strings.Contains(p.out.String(), "receiving jobs") || !p.running() {
		t.Fatalf("minion accepted the impostor or exited:\n%s", p.out.String())
	}
}

// jidFrom reads the jid `run -v` or `run --async` printed.
func jidFrom(t *testing.T, text string) string {
	t.Helper()
	for _, prefix := range []string{"Executing job with jid ", "Executed command with job ID: "} {
		if i := strings.Index(text, prefix); i >= 0 {
			rest := text[i+len(prefix):]
			if len(rest) >= proto.JIDLen {
				return rest[:proto.JIDLen]
			}
		}
	}
	t.Fatalf("no jid in %q", text)
	return ""
}

// jobShow is `jobs show JID --out json`.
type jobShow struct {
	Minions []string                  `json:"Minions"`
	Missing []string                  `json:"Missing"`
	Returns map[string]map[string]any `json:"Returns"`
}

func (m *master) show(t *testing.T, jid string) jobShow {
	t.Helper()
	out, errs, code := m.cliCode(t, "jobs", "show", jid, "--out", "json")
	if code != 0 {
		t.Fatalf("jobs show %s: exit %d: %s", jid, code, errs)
	}
	var doc map[string]jobShow
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("jobs show output %q: %v", out, err)
	}
	return doc[jid]
}

func lines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

// A minion stopped before a job is published receives it when it starts
// again and runs it exactly once, across further restarts.
func TestOfflineMinionRunsQueuedJobOnce(t *testing.T) {
	f := newFleet(t, "", []fleetMinion{{"alpha", ""}, {"beta", ""}})
	m := f.m
	marker := filepath.Join(f.root, "beta-ran")
	first := f.minions["beta"]
	first.stop(syscall.SIGTERM)

	out, errs, code := m.cliCode(t, "run", "-v", "-t", "2", "--out", "json", "-L", "beta", "cmd.shell", "echo ran >> "+marker)
	if code == 0 {
		t.Fatalf("run on an offline minion exited 0: %s", out)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("run output %q: %v", out, err)
	}
	if res["beta"] != "Minion did not return. [Not connected]" {
		t.Fatalf("offline minion shown as %v", res["beta"])
	}
	jid := jidFrom(t, errs)
	if s := m.show(t, jid); len(s.Returns) != 0 || !reflect.DeepEqual(s.Missing, []string{"beta"}) {
		t.Fatalf("before reconnect: %+v", s)
	}
	if len(lines(t, marker)) != 0 {
		t.Fatal("job ran while its minion was stopped")
	}

	second := f.startReady("beta")
	waitFor(t, 30*time.Second, "queued job's return", func() bool { return len(m.show(t, jid).Returns) == 1 })
	if got := lines(t, marker); len(got) != 1 {
		t.Fatalf("marker after reconnect: %q, want one run", got)
	}

	// Another restart, then a fresh job proves the hello was served: the
	// stored return keeps the job from running again.
	second.stop(syscall.SIGTERM)
	third := f.startReady("beta")
	if got := m.ping(t, "beta"); !reflect.DeepEqual(got, []string{"beta"}) {
		t.Fatalf("ping after restart: %v", got)
	}
	if got := lines(t, marker); len(got) != 1 {
		t.Fatalf("marker after second restart: %q, want one run", got)
	}
	runs := 0
	for _, p := range []*minionProc{first, second, third} {
		runs += strings.Count(p.out.String(), `msg="running job"`+" component=minion id=beta jid="+jid)
	}
	if runs != 1 {
		t.Fatalf("job %s started %d times across restarts", jid, runs)
	}
	// The hellos of one (re)connection forward a queued job once: the
	// minion never had to refuse a duplicate.
	for _, p := range []*minionProc{second, third} {
		if n := p.out.Count(`check="job replay"`); n != 0 {
			t.Errorf("minion refused %d duplicate deliveries", n)
		}
	}
	s := m.show(t, jid)
	if len(s.Returns) != 1 || s.Returns["beta"]["retcode"] != float64(0) || len(s.Missing) != 0 {
		t.Fatalf("after restarts: %+v", s)
	}
}

// A job that expires while its minion is away is never run.
func TestExpiredQueuedJobNotRun(t *testing.T) {
	f := newFleet(t, "", []fleetMinion{{"beta", ""}})
	m := f.m
	marker := filepath.Join(f.root, "expired-ran")
	f.minions["beta"].stop(syscall.SIGTERM)
	_, errs, code := m.cliCode(t, "run", "-v", "-t", "1", "--out", "json", "--expire", "2s", "beta", "cmd.shell", "touch "+marker)
	if code == 0 {
		t.Fatal("run on an offline minion exited 0")
	}
	jid := jidFrom(t, errs)
	issued, err := proto.ParseJID(jid)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the job to expire", func() bool { return time.Now().After(issued.Add(3 * time.Second)) })
	mp := f.startReady("beta")
	if got := m.ping(t, "beta"); !reflect.DeepEqual(got, []string{"beta"}) {
		t.Fatalf("ping after restart: %v", got)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("expired job ran")
	}
	if strings.Contains(mp.out.String(), "jid="+jid) && strings.Contains(mp.out.String(), `msg="running job" component=minion id=beta jid=`+jid) {
		t.Fatal("expired job started on the minion")
	}
	if s := m.show(t, jid); len(s.Returns) != 0 {
		t.Fatalf("expired job returned: %+v", s)
	}
}

// Batch mode never runs more than N at once: every job records how many
// jobs were in progress when it started (its own mark included), and no
// record exceeds N.
func TestBatchNeverExceedsN(t *testing.T) {
	var ms []fleetMinion
	for i := 1; i <= 5; i++ {
		ms = append(ms, fleetMinion{id: fmt.Sprintf("b%d", i)})
	}
	f := newFleet(t, "", ms)
	dir := filepath.Join(f.root, "batch")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(f.root, "concurrency")
	script := fmt.Sprintf(`d=$(mktemp -d %[1]s/run.XXXXXX) && ls -d %[1]s/run.* | wc -l >> %[2]s && sleep 1 && rmdir "$d"`, dir, log)
	outFile := filepath.Join(f.root, "batch.json")
	stdout, errs, code := f.m.cliCode(t, "run", "-b", "40%", "-t", "30", "--progress", "--out", "json", "--out-file", outFile,
		"b*", "cmd.shell", "cmd="+script)
	if code != 0 || stdout != "" {
		t.Fatalf("batch run: exit %d: stdout %q, stderr %s", code, stdout, errs)
	}
	if !strings.Contains(errs, "minions returned]") {
		t.Errorf("no progress on stderr: %q", errs)
	}
	b, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatal(err)
	}
	out := string(b)
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res) != 5 {
		t.Fatalf("batch run output %q: %v", out, err)
	}
	counts := lines(t, log)
	if len(counts) != 5 {
		t.Fatalf("%d jobs recorded a start, want 5: %q", len(counts), counts)
	}
	for _, c := range counts {
		n, err := strconv.Atoi(c)
		if err != nil || n < 1 || n > 2 {
			t.Fatalf("a job started while %s were running (batch of 2): %q", c, counts)
		}
	}
}

// Every return acknowledged before the master is killed is still shown
// after it restarts, for waited-for and asynchronous jobs alike.
func TestJobsSurviveMasterKill(t *testing.T) {
	f := newFleet(t, "", []fleetMinion{{"k1", ""}, {"k2", ""}})
	m := f.m
	_, errs, code := m.cliCode(t, "run", "-v", "--out", "json", "k*", "cmd.shell", "echo synced")
	if code != 0 {
		t.Fatalf("run: exit %d: %s", code, errs)
	}
	syncJID := jidFrom(t, errs)
	out, errs, code := m.cliCode(t, "run", "--async", "-L", "k1,k2", "test.arg", "a", "b=1")
	if code != 0 {
		t.Fatalf("async run: exit %d: %s", code, errs)
	}
	asyncJID := jidFrom(t, out)
	waitFor(t, 20*time.Second, "async returns", func() bool { return len(m.show(t, asyncJID).Returns) == 2 })

	// A CLI waiting on a long run gives up as soon as the master is gone.
	waiting := exec.Command(filepath.Join(binDir, "brine-master"), "--data-dir", m.dir, "run", "-t", "120", "k1", "cmd.shell", "sleep 30")
	var waitOut logBuf
	waiting.Stdout, waiting.Stderr = &waitOut, &waitOut
	if err := waiting.Start(); err != nil {
		t.Fatal(err)
	}
	waitDone := make(chan error, 1)
	go func() { waitDone <- waiting.Wait() }()
	waitFor(t, 20*time.Second, "the long job running", func() bool {
		return strings.Contains(f.minions["k1"].out.String(), "fun=cmd.shell user=root") &&
			strings.Count(f.minions["k1"].out.String(), `msg="running job"`) >= 3
	})

	m.stop(syscall.SIGKILL)
	select {
	case err := <-waitDone:
		if err == nil || !strings.Contains(waitOut.String(), "connection to the master lost") {
			t.Fatalf("waiting CLI after master kill: %v: %s", err, waitOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the waiting CLI did not notice the master was gone")
	}
	m2 := startMasterCfg(t, m.dir, m.port, fmt.Sprintf("autosign_file: %s\n", filepath.Join(f.root, "autosign.conf")))
	for _, jid := range []string{syncJID, asyncJID} {
		s := m2.show(t, jid)
		if len(s.Returns) != 2 || len(s.Missing) != 0 {
			t.Fatalf("job %s after master kill: %+v", jid, s)
		}
	}
	if r := m2.show(t, syncJID).Returns["k2"]["return"]; r != "synced" {
		t.Fatalf("sync return after restart: %v", r)
	}
	out, _, _ = m2.cliCode(t, "jobs", "list", "--function", "test.arg", "--out", "json")
	if !strings.Contains(out, asyncJID) || strings.Contains(out, syncJID) {
		t.Fatalf("jobs list --function test.arg: %s", out)
	}
	out, _, _ = m2.cliCode(t, "jobs", "list", "--until", syncJID, "--out", "json")
	if !strings.Contains(out, syncJID) || strings.Contains(out, asyncJID) {
		t.Fatalf("jobs list --until: %s", out)
	}
	out, _, _ = m2.cliCode(t, "jobs", "list", "--since", asyncJID, "--target", "k2", "--user", "root", "--out", "json")
	if !strings.Contains(out, asyncJID) || strings.Contains(out, syncJID) {
		t.Fatalf("jobs list --since --target --user: %s", out)
	}
	if out, _, _ = m2.cliCode(t, "jobs", "list", "--user", "nobody", "--out", "json"); strings.Contains(out, syncJID) || strings.Contains(out, asyncJID) {
		t.Fatalf("jobs list --user nobody: %s", out)
	}
	// The minions come back to the restarted master and run new jobs.
	waitFor(t, 30*time.Second, "minions back", func() bool {
		_, _, code := m2.cliCode(t, "run", "-t", "2", "k*", "test.ping")
		return code == 0
	})
}

// jobs kill cancels a running job on its minion.
func TestJobKill(t *testing.T) {
	f := newFleet(t, "", []fleetMinion{{"slow", ""}})
	m := f.m
	out, errs, code := m.cliCode(t, "run", "--async", "slow", "cmd.shell", "sleep 120")
	if code != 0 {
		t.Fatalf("async run: exit %d: %s", code, errs)
	}
	jid := jidFrom(t, out)
	mp := f.minions["slow"]
	waitFor(t, 20*time.Second, "job running", func() bool { return strings.Contains(mp.out.String(), "jid="+jid) })
	out, _, _ = m.cliCode(t, "jobs", "active", "--out", "json")
	if !strings.Contains(out, jid) {
		t.Fatalf("jobs active lacks %s: %s", jid, out)
	}
	out, errs, code = m.cliCode(t, "jobs", "kill", jid)
	if code != 0 || !strings.Contains(out, "slow") {
		t.Fatalf("jobs kill: exit %d: %s%s", code, out, errs)
	}
	waitFor(t, 20*time.Second, "killed job's return", func() bool { return len(m.show(t, jid).Returns) == 1 })
	r := m.show(t, jid).Returns["slow"]
	if r["success"] != false || !strings.Contains(fmt.Sprint(r["return"]), "cancelled") {
		t.Fatalf("killed job returned %v", r)
	}
	out, _, _ = m.cliCode(t, "jobs", "active", "--out", "json")
	if strings.Contains(out, jid) {
		t.Fatalf("killed job still active: %s", out)
	}
}
