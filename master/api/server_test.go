package api

import (
	"context"
	"encoding/json"
	"github.com/brine-cm/brine/pkg/testkit"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brine-cm/brine/master/auditlog"
	"github.com/brine-cm/brine/master/jobs"
	"github.com/brine-cm/brine/master/keyreg"
	"github.com/brine-cm/brine/pkg/audit"
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

// Operator subject tokens of the test operators.
var rootTok, aliceTok = proto.Token("op:root"), proto.Token("op:alice")

// noKicks stands in for the broker, which this package's tests do not
// start: nobody is connected with a key that could be kicked.
type noKicks struct{}

func (noKicks) Kick(string) int { return 0 }

// apiEnv is a real JetStream server, key registry, dispatcher, audit log
// and API server wired as the master wires them.
type apiEnv struct {
	t      *testing.T
	srv    *server.Server
	nc     *nats.Conn
	reg    *keyreg.Registry
	disp   *jobs.Dispatcher
	api    *Server
	sink   *auditlog.Sink
	audit  string
	signer nkeys.KeyPair
}

func newAPIEnv(t *testing.T, acl *ACL, pillar func(ctx context.Context, id string, grains map[string]any) (map[string]any, error)) *apiEnv {
	t.Helper()
	dir := t.TempDir()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	nc, err := nats.Connect(s.ClientURL(), nats.Name("master"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	reg, err := keyreg.Open(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := nkeys.CreateAccount()
	e := &apiEnv{t: t, srv: s, nc: nc, reg: reg, signer: signer, audit: t.TempDir()}
	e.sink, err = auditlog.Open(e.audit, signer, auditlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.sink.Close() })
	e.disp = jobs.New(nc, signer, "master", time.Minute, nil)
	e.disp.BeforePublish = e.sink.JobPublish
	e.disp.OnReturn = e.sink.JobReturn
	if err := e.disp.Open(ctx, jobs.Options{JS: js, Reg: reg, KeepJobs: time.Hour, DefaultTimeout: 5 * time.Second, Pillar: pillar}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.disp.Close)
	e.api, err = New(Config{NC: nc, Reg: reg, Jobs: e.disp, Kicker: noKicks{}, Signer: signer, Audit: e.sink,
		Operators: map[string]string{rootTok: "root", aliceTok: "alice"}, ACL: acl})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.api.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.api.Stop)
	return e
}

func (e *apiEnv) accept(id string, grains map[string]any) {
	e.t.Helper()
	kp, _ := nkeys.CreateUser()
	pk, _ := kp.PublicKey()
	if err := e.reg.Put(context.Background(), keyreg.Minion{ID: id, Nkey: pk, State: proto.KeyAccepted, Grains: grains, Updated: time.Now()}); err != nil {
		e.t.Fatal(err)
	}
}

// minion answers every job sent to id with a return stored in the
// return stream, and counts the jobs it got.
func (e *apiEnv) minion(id string) *sync.Map {
	e.t.Helper()
	nc, err := nats.Connect(e.srv.ClientURL())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(nc.Close)
	got := &sync.Map{}
	if _, err := nc.Subscribe(proto.JobSubject(id), func(m *nats.Msg) {
		var j proto.Job
		if json.Unmarshal(m.Data, &j) != nil {
			return
		}
		if _, dup := got.LoadOrStore(j.JID, true); dup {
			return
		}
		b, _ := json.Marshal(proto.Return{V: proto.Version, JID: j.JID, ID: id, Fun: j.Fun, Return: true, Success: true})
		_, _ = nc.Request(proto.ReturnSubject(id, j.JID), b, 5*time.Second)
	}); err != nil {
		e.t.Fatal(err)
	}
	_ = nc.Flush()
	return got
}

// call sends one operator request and decodes the reply; a refusal is
// returned as an error string.
func (e *apiEnv) call(optok, verb string, req, out any) string {
	e.t.Helper()
	b, _ := json.Marshal(req)
	m, err := e.nc.Request(proto.APIPrefix+optok+"."+verb, b, 20*time.Second)
	if err != nil {
		e.t.Fatalf("%s: %v", verb, err)
	}
	if m.Header.Get(proto.HeaderError) != "" {
		var er proto.ErrorReply
		_ = json.Unmarshal(m.Data, &er)
		return er.Error
	}
	if err := json.Unmarshal(m.Data, out); err != nil {
		e.t.Fatalf("%s reply %s: %v", verb, m.Data, err)
	}
	return ""
}

func (e *apiEnv) entries(f audit.Filter) []audit.Entry {
	e.t.Helper()
	es, err := audit.Query(e.audit, f)
	if err != nil {
		e.t.Fatal(err)
	}
	return es
}

// Returns reach the master once, through the one subscription of its
// return writer (no stream captures them besides), and each is recorded
// once, whichever verb started the job.
func TestEachReturnRecordedOnce(t *testing.T) {
	e := newAPIEnv(t, nil, nil)
	e.accept("web1", nil)
	e.accept("web2", nil)
	e.minion("web1")
	e.minion("web2")

	cz, err := e.srv.Connz(&server.ConnzOptions{Subscriptions: true})
	if err != nil {
		t.Fatal(err)
	}
	subs := 0
	for _, c := range cz.Conns {
		if c.Name != "master" {
			continue
		}
		for _, sub := range c.Subs {
			if strings.HasPrefix(sub, proto.ReturnPrefix) {
				subs++
			}
		}
	}
	if subs != 1 {
		t.Errorf("the master holds %d subscriptions on %s>, want its return writer's only", subs, proto.ReturnPrefix)
	}
	jsz, err := e.srv.Jsz(&server.JSzOptions{Streams: true, Config: true, Accounts: true})
	if err != nil {
		t.Fatal(err)
	}
	streams := 0
	for _, acc := range jsz.AccountDetails {
		for _, st := range acc.Streams {
			streams++
			for _, subj := range st.Config.Subjects {
				if strings.HasPrefix(subj, proto.ReturnPrefix) {
					t.Errorf("stream %s captures %s: every return would be stored twice", st.Name, subj)
				}
			}
		}
	}
	if streams == 0 {
		t.Error("no stream listed")
	}

	var old proto.RunReply
	if msg := e.call(rootTok, proto.VerbRun, proto.RunRequest{V: proto.Version, Target: proto.Target{Expr: "web*"}, Fun: "test.ping", TimeoutSec: 10}, &old); msg != "" {
		t.Fatal(msg)
	}
	var rep jobs.RunReply
	if msg := e.call(rootTok, jobs.VerbRun, jobs.RunRequest{RunRequest: proto.RunRequest{V: proto.Version, Target: proto.Target{Expr: "web*"},
		Fun: "test.ping", TimeoutSec: 10}}, &rep); msg != "" {
		t.Fatal(msg)
	}
	for _, jid := range []string{old.JID, rep.JID} {
		if jid == "" {
			t.Fatal("no jid")
		}
		es := e.entries(audit.Filter{Action: "job.return", JID: jid})
		per := map[string]int{}
		for _, x := range es {
			per[x.Actor]++
		}
		if len(es) != 2 || per["web1"] != 1 || per["web2"] != 1 {
			t.Fatalf("job %s: job.return entries %v, want one for each of web1 and web2", jid, per)
		}
	}
}

// A minion that starts matching a target while it is being resolved must
// not receive a job its operator may not run: the ACL sees the very list
// the job is published to.
func TestACLAuthorisesThePublishedList(t *testing.T) {
	acl, err := NewACL(map[string][]ACLRule{"alice": {{Target: "web*", Functions: []string{"test.*"}}}}, "root")
	if err != nil {
		t.Fatal(err)
	}
	var e *apiEnv
	var once sync.Once
	// Compiling a pillar is the moment db1's grains change to role:web
	// (as a minion's key request with new grains would do): whatever
	// resolution is under way has already listed db1 with its old grains,
	// any later one sees the new ones.
	pillar := func(ctx context.Context, id string, grains map[string]any) (map[string]any, error) {
		once.Do(func() {
			rec, _ := e.reg.Get("db1")
			rec.Grains, rec.Updated = map[string]any{"role": "web"}, time.Now()
			if err := e.reg.Put(ctx, rec); err != nil {
				t.Error(err)
			}
			waitFor(t, 20*time.Second, "db1's new grains", func() bool {
				r, _ := e.reg.Get("db1")
				return r.Grains["role"] == "web"
			})
		})
		return map[string]any{}, nil
	}
	e = newAPIEnv(t, acl, pillar)
	e.accept("web1", map[string]any{"role": "web"})
	e.accept("db1", map[string]any{"role": "db"})
	web1, db1 := e.minion("web1"), e.minion("db1")

	var rep jobs.RunReply
	msg := e.call(aliceTok, jobs.VerbRun, jobs.RunRequest{RunRequest: proto.RunRequest{V: proto.Version,
		Target: proto.Target{Type: "compound", Expr: "G@role:web or I@never:set"}, Fun: "test.ping", TimeoutSec: 5}}, &rep)
	if msg != "" && !strings.Contains(msg, "denied by the operator ACL") {
		t.Fatalf("refused for another reason: %s", msg)
	}
	if msg == "" && (len(rep.Minions) != 1 || rep.Minions[0] != "web1") {
		t.Fatalf("published to %v, which alice may not reach", rep.Minions)
	}
	if msg == "" {
		waitFor(t, 20*time.Second, "web1's job", func() bool { _, ok := web1.Load(rep.JID); return ok })
	}
	// A later job to db1 from root proves db1 listens; it got nothing
	// before.
	n := 0
	db1.Range(func(_, _ any) bool { n++; return true })
	if n != 0 {
		t.Fatalf("db1 received %d job(s) alice may not run there", n)
	}
	var root jobs.RunReply
	if msg := e.call(rootTok, jobs.VerbRun, jobs.RunRequest{RunRequest: proto.RunRequest{V: proto.Version,
		Target: proto.Target{Expr: "db1"}, Fun: "test.ping", TimeoutSec: 5}}, &root); msg != "" {
		t.Fatal(msg)
	}
	if _, ok := root.Returns["db1"]; !ok {
		t.Fatalf("db1 did not answer root: %+v", root)
	}

	// A target alice may not reach at all is refused, audited, and sent
	// to nobody.
	msg = e.call(aliceTok, jobs.VerbRun, jobs.RunRequest{RunRequest: proto.RunRequest{V: proto.Version,
		Target: proto.Target{Expr: "*"}, Fun: "test.ping", TimeoutSec: 5}}, &rep)
	if !strings.Contains(msg, "may not run test.ping on db1") {
		t.Fatalf("alice on *: %q", msg)
	}
	if es := e.entries(audit.Filter{Action: "acl.denied", Actor: "op:alice"}); len(es) == 0 {
		t.Fatal("refusal not audited")
	}
	msg = e.call(aliceTok, proto.VerbRun, proto.RunRequest{V: proto.Version, Target: proto.Target{Expr: "nothing*"}, Fun: "test.ping"}, &rep)
	if !strings.Contains(msg, "matched no minion") {
		t.Fatalf("alice on nothing*: %q", msg)
	}
}
