package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/brine-cm/brine/pkg/testkit"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/brine-cm/brine/master/keyreg"
	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
)

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testkit.WaitFor(t, timeout, what, cond)
}

// env is a real JetStream server on a data dir, the key registry and a
// dispatcher, as the master wires them.
type env struct {
	t      *testing.T
	srv    *server.Server
	nc     *nats.Conn
	reg    *keyreg.Registry
	d      *Dispatcher
	signer nkeys.KeyPair
}

func newEnv(t *testing.T, dir string, signer nkeys.KeyPair) *env {
	t.Helper()
	return startEnv(t, envOptions{dir: dir, signer: signer, nodegroups: map[string]string{"dbs": "L@db1,db2"}})
}

// envOptions varies the test master: the JetStream dir, the signing key,
// the server's max payload, the nodegroups and the return hook wired
// before Open (as the master wires its audit log).
type envOptions struct {
	dir        string
	signer     nkeys.KeyPair
	maxPayload int32
	nodegroups map[string]string
	onReturn   func(context.Context, proto.Return) error
}

// startEnv starts a real embedded server with JetStream and a dispatcher
// opened on it; everything is stopped when the test ends.
func startEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	if o.dir == "" {
		o.dir = t.TempDir()
	}
	if o.signer == nil {
		o.signer, _ = nkeys.CreateServer()
	}
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: o.dir,
		NoLog: true, NoSigs: true, MaxPayload: o.maxPayload})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	reg, err := keyreg.Open(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	d := New(nc, o.signer, "master", time.Minute, nil)
	d.OnReturn = o.onReturn
	if err := d.Open(ctx, Options{JS: js, Reg: reg, KeepJobs: time.Hour, DefaultTimeout: 5 * time.Second,
		Nodegroups: o.nodegroups}); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, srv: s, nc: nc, reg: reg, d: d, signer: o.signer}
	t.Cleanup(e.stop)
	return e
}

func (e *env) stop() {
	if e.srv == nil {
		return
	}
	e.d.Close()
	e.nc.Close()
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
	e.srv = nil
}

func (e *env) accept(id string, grains map[string]any) {
	e.t.Helper()
	kp, _ := nkeys.CreateUser()
	pk, _ := kp.PublicKey()
	if err := e.reg.Put(context.Background(), keyreg.Minion{ID: id, Nkey: pk, State: proto.KeyAccepted, Grains: grains}); err != nil {
		e.t.Fatal(err)
	}
}

// fakeMinion answers every job on id's subject with a stored return,
// counting runs per jid; it checks the master's signature first.
type fakeMinion struct {
	mu   sync.Mutex
	runs map[string]int
	sub  *nats.Subscription
}

func (e *env) minion(id string) *fakeMinion {
	e.t.Helper()
	pk, _ := e.signer.PublicKey()
	v, _ := nkeys.FromPublicKey(pk)
	fm := &fakeMinion{runs: map[string]int{}}
	nc, err := nats.Connect(e.srv.ClientURL())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(nc.Close)
	fm.sub, err = nc.Subscribe(proto.JobSubject(id), func(m *nats.Msg) {
		if proto.VerifySigned(v, pk, m.Data, m.Header) != nil {
			return
		}
		j, err := proto.DecodeJob(m.Data, proto.DefaultJobLimits)
		if err != nil || j.Check(id, time.Now(), proto.DefaultJobLimits) != nil {
			return
		}
		fm.mu.Lock()
		fm.runs[j.JID]++
		first := fm.runs[j.JID] == 1
		fm.mu.Unlock()
		if !first {
			return // the replay cache of a real minion
		}
		b, _ := json.Marshal(proto.Return{V: proto.Version, JID: j.JID, ID: id, Fun: j.Fun, Return: true, Success: true})
		_, _ = nc.Request(proto.ReturnSubject(id, j.JID), b, 5*time.Second)
	})
	if err != nil {
		e.t.Fatal(err)
	}
	_ = nc.Flush()
	return fm
}

func (fm *fakeMinion) ran(jid string) int {
	fm.mu.Lock()
	defer fm.mu.Unlock()
	return fm.runs[jid]
}

func call[T any](t *testing.T, h func(context.Context, string, []byte) (any, error), req any) T {
	t.Helper()
	b, _ := json.Marshal(req)
	out, err := h(context.Background(), "root", b)
	if err != nil {
		t.Fatal(err)
	}
	rep, ok := out.(T)
	if !ok {
		t.Fatalf("reply %T", out)
	}
	return rep
}

func runReq(expr, typ, fun string) RunRequest {
	return RunRequest{RunRequest: proto.RunRequest{V: proto.Version, Target: proto.Target{Expr: expr, Type: typ}, Fun: fun, TimeoutSec: 5}}
}

func TestRunResolvesStoresAndSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	signer, _ := nkeys.CreateServer()
	e := newEnv(t, dir, signer)
	for _, id := range []string{"web1", "web2", "db1", "db2"} {
		e.accept(id, map[string]any{"os": map[bool]string{true: "Debian", false: "CentOS"}[id[0] == 'w'], "ipv4": []any{"10.0.0." + id[len(id)-1:]}})
	}
	_ = e.reg.Put(context.Background(), keyreg.Minion{ID: "pending", Nkey: "UPENDING", State: proto.KeyPending})
	ms := map[string]*fakeMinion{}
	for _, id := range []string{"web1", "web2", "db1"} { // db2 is offline
		ms[id] = e.minion(id)
	}

	prev := call[RunReply](t, e.d.previewVerb, runReq("N@dbs or G@os:Debian", "compound", ""))
	if want := []string{"db1", "db2", "web1", "web2"}; !reflect.DeepEqual(prev.Minions, want) {
		t.Fatalf("preview %v, want %v", prev.Minions, want)
	}
	bad := call[RunReply](t, e.d.runVerb, runReq("web1 and ( db1", "compound", "test.ping"))
	if bad.TargetError == nil || bad.TargetError.Col != 10 || bad.JID != "" {
		t.Fatalf("bad target: %+v", bad)
	}

	// db2 is offline, so the run waits out its whole timeout; the other
	// three must answer within it even on a loaded runner under -race.
	req := runReq("*", "glob", "test.ping")
	req.TimeoutSec = 10
	rep := call[RunReply](t, e.d.runVerb, req)
	if len(rep.Returns) != 3 || !reflect.DeepEqual(rep.Missing, []string{"db2"}) {
		t.Fatalf("run: returns %v missing %v", rep.Returns, rep.Missing)
	}
	for id, fm := range ms {
		if fm.ran(rep.JID) != 1 {
			t.Fatalf("%s ran %s %d times", id, rep.JID, fm.ran(rep.JID))
		}
	}

	// db2 comes online: hello forwards its queued job, once.
	db2 := e.minion("db2")
	e.d.Hello("db2")
	waitFor(t, 20*time.Second, "db2's return", func() bool {
		s := call[ShowReply](t, e.d.showVerb, JIDRequest{JID: rep.JID})
		return len(s.Returns) == 4 && len(s.Missing) == 0
	})
	e.d.Hello("db2")
	waitFor(t, 20*time.Second, "queue emptied", func() bool { return waiting(e, "db2") == 0 })
	if db2.ran(rep.JID) != 1 {
		t.Fatalf("db2 ran %d times", db2.ran(rep.JID))
	}

	// Restart on the same store: the index is rebuilt from the streams.
	e.stop()
	e2 := newEnv(t, dir, signer)
	s := call[ShowReply](t, e2.d.showVerb, JIDRequest{JID: rep.JID})
	if len(s.Returns) != 4 || s.Job.Function != "test.ping" || s.Job.User != "root" {
		t.Fatalf("after restart: %+v", s)
	}
	l := call[ListReply](t, e2.d.listVerb, ListRequest{Function: "test.ping"})
	if len(l.Jobs) != 1 || l.Jobs[0].JID != rep.JID || l.Jobs[0].Returned != 4 {
		t.Fatalf("list after restart: %+v", l)
	}
	if l := call[ListReply](t, e2.d.listVerb, ListRequest{Function: "cmd.run"}); len(l.Jobs) != 0 {
		t.Fatalf("list --function cmd.run: %+v", l)
	}
}

func TestExpiredBacklogNotForwarded(t *testing.T) {
	signer, _ := nkeys.CreateServer()
	e := newEnv(t, t.TempDir(), signer)
	e.accept("away", nil)
	req := runReq("away", "glob", "test.ping")
	req.Async, req.ExpireSec = true, 1
	rep := call[RunReply](t, e.d.runVerb, req)
	if rep.JID == "" {
		t.Fatal("no jid")
	}
	issued, _ := proto.ParseJID(rep.JID)
	waitFor(t, 10*time.Second, "expiry", func() bool { return time.Now().After(issued.Add(2 * time.Second)) })
	fm := e.minion("away")
	before := e.d.Forwarded.Load()
	e.d.Hello("away")
	waitFor(t, 20*time.Second, "queue emptied", func() bool { return waiting(e, "away") == 0 })
	if e.d.Forwarded.Load() != before || fm.ran(rep.JID) != 0 {
		t.Fatalf("expired job forwarded (%d) or run (%d)", e.d.Forwarded.Load()-before, fm.ran(rep.JID))
	}
}

func TestBatchSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want int
		bad  bool
	}{{"3", 10, 3, false}, {"10%", 10, 1, false}, {"25%", 10, 3, false}, {"100%", 7, 7, false}, {"1%", 1000, 10, false},
		{"0", 5, 0, true}, {"-1", 5, 0, true}, {"x", 5, 0, true}, {"150%", 5, 0, true}, {"", 5, 0, false}} {
		got, err := BatchSize(c.in, c.n)
		if (err != nil) != c.bad || got != c.want {
			t.Errorf("BatchSize(%q, %d) = %d, %v; want %d (error %v)", c.in, c.n, got, err, c.want, c.bad)
		}
	}
}

func TestJIDBound(t *testing.T) {
	jid := "20260102030405123456"
	for _, c := range []struct {
		in, want string
		upper    bool
	}{{jid, jid, false}, {"2026-01-02", "20260102000000000000", false}, {"2026-01-02", "20260102235959999999", true},
		{"2026-01-02T03:04:05Z", "20260102030405000000", false}} {
		got, err := jidBound(c.in, c.upper)
		if err != nil || got != c.want {
			t.Errorf("jidBound(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	if _, err := jidBound("yesterday", false); err == nil {
		t.Error("jidBound accepted nonsense")
	}
}

func BenchmarkResolveGrain10k(b *testing.B) {
	dir := b.TempDir()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		b.Fatal(err)
	}
	s.Start()
	defer s.Shutdown()
	s.ReadyForConnections(10 * time.Second)
	nc, _ := nats.Connect(s.ClientURL())
	defer nc.Close()
	js, _ := jetstream.New(nc)
	reg, err := keyreg.Open(context.Background(), js)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 10000; i++ {
		_ = reg.Put(context.Background(), keyreg.Minion{ID: fmt.Sprintf("web%05d", i), Nkey: fmt.Sprintf("U%055d", i), State: proto.KeyAccepted,
			Grains: map[string]any{"os": []string{"Debian", "Ubuntu"}[i%2], "roles": []any{"web"}}})
	}
	r := &Resolver{Reg: reg}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ids, err := r.Resolve(context.Background(), proto.Target{Expr: "G@os:Debian and web0*", Type: "compound"})
		if err != nil || len(ids) != 5000 {
			b.Fatalf("%d %v", len(ids), err)
		}
	}
}

func TestForgetDropsQueue(t *testing.T) {
	signer, _ := nkeys.CreateServer()
	e := newEnv(t, t.TempDir(), signer)
	e.accept("gone", nil)
	e.accept("kept", nil)
	for _, id := range []string{"gone", "kept"} {
		req := runReq(id, "glob", "test.ping")
		req.Async = true
		call[RunReply](t, e.d.runVerb, req)
	}
	ctx := context.Background()
	if err := e.d.Forget(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if n := waiting(e, "gone"); n != 0 {
		t.Fatalf("forgotten minion still has %d queued", n)
	}
	if n := waiting(e, "kept"); n != 1 {
		t.Fatalf("other minion has %d queued", n)
	}
}

// waiting counts the envelopes waiting for id, in QueueStream and held
// in memory.
func waiting(e *env, id string) int {
	st := e.d.store()
	msgs, _ := st.backlog(context.Background(), id)
	return len(msgs) + len(st.waitingFor(id))
}

// A minion's hellos while it (re)connects forward each queued job once;
// a hello after a forward (a new connection) forwards it again.
func TestHellosForwardOncePerConnection(t *testing.T) {
	signer, _ := nkeys.CreateServer()
	e := newEnv(t, t.TempDir(), signer)
	e.accept("quiet", nil)
	req := runReq("quiet", "glob", "test.ping")
	req.Async = true
	rep := call[RunReply](t, e.d.runVerb, req)
	// The run's own publish may still sit in the dispatcher connection's
	// write buffer when runVerb returns; flushed, the server has routed it
	// (to nobody) before the subscription below exists, so only forwards
	// are counted.
	if err := e.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(e.srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var mu sync.Mutex
	got := 0
	if _, err := nc.Subscribe(proto.JobSubject("quiet"), func(m *nats.Msg) {
		var j proto.Job
		if json.Unmarshal(m.Data, &j) == nil && j.JID == rep.JID {
			mu.Lock()
			got++
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	deliveries := func() int { mu.Lock(); defer mu.Unlock(); return got }
	for i := 0; i < 3; i++ {
		e.d.Hello("quiet")
	}
	waitFor(t, 20*time.Second, "first forward", func() bool { return e.d.Forwarded.Load() == 1 && deliveries() == 1 })
	e.d.Hello("quiet")
	waitFor(t, 20*time.Second, "second forward", func() bool { return e.d.Forwarded.Load() == 2 && deliveries() == 2 })
}

// A job published after a minion's hello went over the connection that
// said it: the hello's walk forwards only what was queued before, even
// when the later job's return is not stored yet.
func TestHelloWalkSkipsJobsPublishedAfterIt(t *testing.T) {
	signer, _ := nkeys.CreateServer()
	e := newEnv(t, t.TempDir(), signer)
	e.accept("busy", nil)
	nc, err := nats.Connect(e.srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var mu sync.Mutex
	got := map[string]int{}
	if _, err := nc.Subscribe(proto.JobSubject("busy"), func(m *nats.Msg) {
		var j proto.Job
		if json.Unmarshal(m.Data, &j) == nil {
			mu.Lock()
			got[j.JID]++
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	deliveries := func(jid string) int { mu.Lock(); defer mu.Unlock(); return got[jid] }
	req := runReq("busy", "glob", "test.ping")
	req.Async = true
	before := call[RunReply](t, e.d.runVerb, req)
	e.d.Hello("busy")
	after := call[RunReply](t, e.d.runVerb, req) // well within the hello's debounce
	waitFor(t, 20*time.Second, "the queued job forwarded", func() bool {
		return e.d.Forwarded.Load() >= 1 && deliveries(before.JID) == 2
	})
	e.d.Close() // waits for the walk to finish
	if err := e.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := e.d.Forwarded.Load(); n != 1 {
		t.Fatalf("the walk forwarded %d jobs, want only the one queued before the hello", n)
	}
	waitFor(t, 20*time.Second, "the later job's own publish", func() bool { return deliveries(after.JID) >= 1 })
	if n := deliveries(after.JID); n != 1 {
		t.Fatalf("the job published after the hello was delivered %d times", n)
	}
}

// Pillar targets compile each candidate's pillar once for back-to-back
// resolutions, and again when its grains change.
func TestPillarTargetsCompileOnce(t *testing.T) {
	signer, _ := nkeys.CreateServer()
	e := newEnv(t, t.TempDir(), signer)
	ctx := context.Background()
	for i, id := range []string{"a1", "a2", "b1"} {
		_ = e.reg.Put(ctx, keyreg.Minion{ID: id, Nkey: fmt.Sprintf("U%055d", i), State: proto.KeyAccepted,
			Grains: map[string]any{"role": id[:1]}, Updated: time.Now()})
	}
	var mu sync.Mutex
	compiles := 0
	r := &Resolver{Reg: e.reg, Pillar: func(_ context.Context, id string, g map[string]any) (map[string]any, error) {
		mu.Lock()
		compiles++
		mu.Unlock()
		if id == "b1" {
			return nil, fmt.Errorf("broken pillar")
		}
		return map[string]any{"tier": map[string]any{"a": "front", "b": "back"}[fmt.Sprint(g["role"])]}, nil
	}}
	for i := 0; i < 2; i++ {
		ids, err := r.Resolve(ctx, proto.Target{Expr: "tier:front", Type: "pillar"})
		if err != nil || !reflect.DeepEqual(ids, []string{"a1", "a2"}) {
			t.Fatalf("resolve %d: %v %v", i, ids, err)
		}
	}
	if compiles != 3 {
		t.Fatalf("%d compiles for two resolutions of 3 minions, want 3", compiles)
	}
	if ids, _ := r.Resolve(ctx, proto.Target{Expr: "a1", Type: "glob"}); len(ids) != 1 || compiles != 3 {
		t.Fatalf("a glob target compiled pillar (%d) or resolved %v", compiles, ids)
	}
	m, _ := e.reg.Get("a2")
	m.Grains, m.Updated = map[string]any{"role": "b"}, time.Now().Add(time.Second)
	_ = e.reg.Put(ctx, m)
	ids, _ := r.Resolve(ctx, proto.Target{Expr: "tier:front", Type: "pillar"})
	if !reflect.DeepEqual(ids, []string{"a1"}) || compiles != 4 {
		t.Fatalf("after a2's grains changed: %v, %d compiles", ids, compiles)
	}
}

// An envelope pushed to an offline minion is held in memory only; a
// master restart rebuilds it from the job record, and the minion gets it
// at its next hello, once. A job killed before the restart is not
// rebuilt.
func TestWaitingJobSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	signer, _ := nkeys.CreateServer()
	e := newEnv(t, dir, signer)
	e.accept("late", nil)
	req := runReq("late", "glob", "test.ping")
	req.Async = true
	kept := call[RunReply](t, e.d.runVerb, req)
	killed := call[RunReply](t, e.d.runVerb, req)
	kr := call[KillReply](t, e.d.killVerb, JIDRequest{JID: killed.JID})
	if len(kr.Minions) != 1 || kr.KillJID == "" {
		t.Fatalf("kill: %+v", kr)
	}
	if n := waiting(e, "late"); n != 2 { // kept and the kill_job itself
		t.Fatalf("%d envelopes waiting before the restart, want 2", n)
	}
	e.stop()

	e2 := newEnv(t, dir, signer)
	if n := waiting(e2, "late"); n != 2 {
		t.Fatalf("%d envelopes waiting after the restart, want 2", n)
	}
	fm := e2.minion("late")
	e2.d.Hello("late")
	waitFor(t, 20*time.Second, "the waiting job's return", func() bool {
		s := call[ShowReply](t, e2.d.showVerb, JIDRequest{JID: kept.JID})
		return len(s.Returns) == 1
	})
	waitFor(t, 20*time.Second, "nothing left waiting", func() bool { return waiting(e2, "late") == 0 })
	if fm.ran(kept.JID) != 1 || fm.ran(killed.JID) != 0 || fm.ran(kr.KillJID) != 1 {
		t.Fatalf("runs: kept %d, killed %d, kill_job %d; want 1, 0, 1", fm.ran(kept.JID), fm.ran(killed.JID), fm.ran(kr.KillJID))
	}
}
