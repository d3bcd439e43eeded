package pillar

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/brine-cm/brine/pkg/testkit"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brine-cm/brine/master/broker"
	"github.com/brine-cm/brine/master/keyreg"
	"github.com/brine-cm/brine/minion/remotefs"
	"github.com/brine-cm/brine/pkg/keys"
	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
)

// dir is the broker policy's directory over the real key registry.
type dir struct{ reg *keyreg.Registry }

func (d dir) MinionByNkey(nk string) (string, string, bool) {
	m, ok := d.reg.ByNkey(nk)
	return m.ID, m.State, ok
}
func (d dir) MinionByID(id string) (string, string, bool) {
	m, ok := d.reg.Get(id)
	return m.Nkey, m.State, ok
}
func (dir) Operator(string) (string, bool) { return "", false }
func (dir) Denied(string, string, string)  {}

type fixture struct {
	b      *broker.Broker
	url    string
	reg    *keyreg.Registry
	master nkeys.KeyPair
	srv    *Server
}

// newFixture runs the real embedded broker with brine's policy, the key
// registry on its JetStream, and the pillar server on an in-process
// connection answering brine.req.*.pillar, as the master wires them.
func newFixture(t *testing.T, pillars map[string]map[string]any) *fixture {
	t.Helper()
	f := &fixture{}
	var d dir
	pol := broker.NewPolicy(&d, broker.Limits{})
	b, err := broker.New(broker.Config{Listen: "127.0.0.1:0", StoreDir: t.TempDir()}, pol)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Shutdown(context.Background()) })
	f.b, f.url = b, "nats://"+b.Addr().String()
	nc, err := b.Connect("master")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	if d.reg, err = keyreg.Open(context.Background(), js); err != nil {
		t.Fatal(err)
	}
	f.reg = d.reg
	f.master, _ = nkeys.CreateServer()
	xk, _, err := LoadOrCreateXKey(t.TempDir() + "/pillar.xk")
	if err != nil {
		t.Fatal(err)
	}
	f.srv, err = New(Config{
		Compile: func(_ context.Context, id string) (map[string]any, error) { return pillars[id], nil },
		NkeyOf: func(id string) (string, bool) {
			m, ok := d.reg.Get(id)
			return m.Nkey, ok && m.State == proto.KeyAccepted
		},
		Signer: f.master, XKey: xk,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Subscribe(proto.RequestPrefix+"*.pillar", func(m *nats.Msg) {
		tok, _, _ := proto.SplitTokenSubject(m.Subject, proto.RequestPrefix)
		rec, ok := d.reg.ByToken(tok)
		if !ok {
			return
		}
		f.srv.Handle(context.Background(), rec.ID, m)
	}); err != nil {
		t.Fatal(err)
	}
	return f
}

// accept registers a new accepted minion and connects it with its own
// key and inbox, as the daemon does.
func (f *fixture) accept(t *testing.T, id string) (nkeys.KeyPair, *nats.Conn, *errRec) {
	t.Helper()
	kp, _ := nkeys.CreateUser()
	if err := f.reg.Put(context.Background(), keyreg.Minion{ID: id, Nkey: keys.Public(kp), State: proto.KeyAccepted}); err != nil {
		t.Fatal(err)
	}
	er := &errRec{}
	nc, err := nats.Connect(f.url, nats.Nkey(keys.Public(kp), kp.Sign), nats.Name(id), nats.CustomInboxPrefix(proto.Inbox(id)),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { er.add(err) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return kp, nc, er
}

type errRec struct {
	mu   sync.Mutex
	errs []string
}

func (e *errRec) add(err error) { e.mu.Lock(); e.errs = append(e.errs, err.Error()); e.mu.Unlock() }
func (e *errRec) has(s string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return strings.Contains(strings.Join(e.errs, "\n"), s)
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	testkit.WaitFor(t, d, what, cond)
}

func (f *fixture) client(t *testing.T, id string, kp nkeys.KeyPair, nc *nats.Conn) *remotefs.Pillar {
	t.Helper()
	xk, err := remotefs.LoadOrCreateXKey(t.TempDir() + "/minion.xk")
	if err != nil {
		t.Fatal(err)
	}
	pub := keys.Public(f.master)
	v, _ := keys.Verifier(pub)
	p, err := remotefs.NewPillar(remotefs.PillarConfig{NC: nc, ID: id, Key: kp, XKey: xk,
		Verify:       func(b []byte, h nats.Header) error { return proto.VerifySigned(v, pub, b, h) },
		RevisionFile: t.TempDir() + "/pillar.rev"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSealedOnTheWire fetches a pillar through the real broker while
// the master's own in-process connection, which may read every subject,
// records every reply inbox: the secret never appears in what it sees,
// and a second accepted minion cannot ask for or listen to the first
// one's pillar.
func TestSealedOnTheWire(t *testing.T) {
	const secret = "hunter2-web1-only"
	f := newFixture(t, map[string]map[string]any{"web1": {"db": map[string]any{"password": secret}}, "web2": {"db": "other"}})
	kp1, nc1, _ := f.accept(t, "web1")
	kp2, nc2, er2 := f.accept(t, "web2")

	sniff, err := f.b.Connect("sniffer")
	if err != nil {
		t.Fatal(err)
	}
	defer sniff.Close()
	var mu sync.Mutex
	var wire [][]byte
	if _, err := sniff.Subscribe(proto.InboxPrefix+">", func(m *nats.Msg) {
		mu.Lock()
		wire = append(wire, append([]byte{}, m.Data...))
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	_ = sniff.Flush()

	p1 := f.client(t, "web1", kp1, nc1)
	got, errs, err := p1.Fetch(context.Background())
	if err != nil || len(errs) != 0 {
		t.Fatal(err, errs)
	}
	if got["db"].(map[string]any)["password"] != secret {
		t.Fatalf("pillar = %v", got)
	}
	waitFor(t, 20*time.Second, "the sniffer to see the reply", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(wire) > 0
	})
	mu.Lock()
	for _, w := range wire {
		if strings.Contains(string(w), secret) || strings.Contains(string(w), "password") {
			t.Fatalf("pillar readable on the wire: %s", w)
		}
	}
	mu.Unlock()

	// web2 may not ask on web1's subject nor listen on web1's inbox.
	_ = nc2.Publish(proto.RequestSubject("web1", "pillar"), []byte(`{"v":1}`))
	_, _ = nc2.SubscribeSync(proto.Inbox("web1") + ".>")
	waitFor(t, 20*time.Second, "permission violations", func() bool {
		return er2.has(`Permissions Violation for Publish to "`+proto.RequestSubject("web1", "pillar")) &&
			er2.has(`Permissions Violation for Subscription to "`+proto.Inbox("web1")+".>")
	})
	// web2's own fetch gives web2's pillar only.
	p2 := f.client(t, "web2", kp2, nc2)
	got2, _, err := p2.Fetch(context.Background())
	if err != nil || got2["db"] != "other" {
		t.Fatalf("web2 pillar = %v, %v", got2, err)
	}
	// A later fetch has a higher revision.
	r1 := p1.Revision()
	if _, _, err := p1.Fetch(context.Background()); err != nil || p1.Revision() <= r1 {
		t.Fatalf("refetch: rev %d -> %d, %v", r1, p1.Revision(), err)
	}
}

// TestMinionRefusesReplays builds replies with the real server code and
// feeds them to the minion's checks: a box for another minion, an older
// revision, a stale one and a reply not signed by the pinned master are
// all refused.
func TestMinionRefusesReplays(t *testing.T) {
	f := newFixture(t, map[string]map[string]any{"web1": {"k": "v"}, "web2": {"k": "w"}})
	kp1, nc1, _ := f.accept(t, "web1")
	p1 := f.client(t, "web1", kp1, nc1)
	// Learn web1's curve key by letting it ask once, recording the
	// request the master received.
	var req []byte
	sniff, _ := f.b.Connect("sniffer")
	defer sniff.Close()
	rs, _ := sniff.SubscribeSync(proto.RequestPrefix + "*.pillar")
	_ = sniff.Flush()
	if _, _, err := p1.Fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	m, err := rs.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	req = m.Data
	now := time.Now()
	sign := func(kp nkeys.KeyPair, b []byte) nats.Header {
		h := nats.Header{}
		if err := proto.Sign(kp, b, h); err != nil {
			t.Fatal(err)
		}
		return h
	}

	fresh, err := f.srv.Build(context.Background(), "web1", req, now)
	if err != nil {
		t.Fatal(err)
	}
	// The minion holds the revision of its fetch; a reply built earlier
	// than a newer accepted one is a rollback.
	newer, _ := f.srv.Build(context.Background(), "web1", req, now)
	if _, _, err := p1.Open(newer, sign(f.master, newer), now); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p1.Open(fresh, sign(f.master, fresh), now); !errors.Is(err, remotefs.ErrPillarRollback) {
		t.Fatalf("older revision: %v", err)
	}
	// web2's request carrying web1's curve key and binding is refused:
	// the binding names the id.
	_, _, _ = f.accept(t, "web2")
	if _, err := f.srv.Build(context.Background(), "web2", req, now); err == nil {
		t.Fatal("master sealed web2's pillar to a key web2 did not sign")
	}
	// A box naming another minion, sealed to web1's key, is refused.
	var r Request
	if err := json.Unmarshal(req, &r); err != nil {
		t.Fatal(err)
	}
	plain, _ := json.Marshal(Sealed{V: Version, MinionID: "web2", Revision: uint64(now.UnixNano()) + 1e9, IssuedAt: now, Pillar: map[string]any{"k": "w"}})
	box, err := f.srv.cfg.XKey.Seal(plain, r.XKey)
	if err != nil {
		t.Fatal(err)
	}
	wrongID, _ := json.Marshal(Reply{V: Version, MasterXKey: f.srv.xpub, Sealed: box})
	if _, _, err := p1.Open(wrongID, sign(f.master, wrongID), now); !errors.Is(err, remotefs.ErrPillarWrongID) {
		t.Fatalf("box for another id: %v", err)
	}
	// Stale.
	stale, _ := f.srv.Build(context.Background(), "web1", req, now.Add(-time.Hour))
	if _, _, err := p1.Open(stale, sign(f.master, stale), now); err == nil {
		t.Fatal("stale pillar accepted")
	}
	// Not signed by the pinned master.
	other, _ := nkeys.CreateServer()
	next, _ := f.srv.Build(context.Background(), "web1", req, now)
	if _, _, err := p1.Open(next, sign(other, next), now); err == nil {
		t.Fatal("pillar signed by another key accepted")
	}
	// Tampered ciphertext.
	bad := strings.Replace(string(next), `"sealed":"`, `"sealed":"AAAA`, 1)
	if _, _, err := p1.Open([]byte(bad), sign(f.master, []byte(bad)), now); err == nil {
		t.Fatal("tampered pillar accepted")
	}
	if _, _, err := p1.Open(next, sign(f.master, next), now); err != nil {
		t.Fatalf("the genuine reply: %v", err)
	}
}

// BenchmarkBuild measures what one minion's pillar costs the master
// besides compiling it: the binding check, sealing and encoding.
func BenchmarkBuild(b *testing.B) {
	mk, _ := nkeys.CreateServer()
	xk, _ := nkeys.CreateCurveKeys()
	id, _ := nkeys.CreateUser()
	mx, _ := nkeys.CreateCurveKeys()
	mxpub, _ := mx.PublicKey()
	pillar := map[string]any{}
	for i := 0; i < 200; i++ {
		pillar[fmt.Sprintf("key%03d", i)] = map[string]any{"value": strings.Repeat("x", 40), "list": []any{1, 2, 3}}
	}
	s, err := New(Config{Compile: func(context.Context, string) (map[string]any, error) { return pillar, nil },
		NkeyOf: func(string) (string, bool) { return keys.Public(id), true }, Signer: mk, XKey: xk})
	if err != nil {
		b.Fatal(err)
	}
	sig, _ := id.Sign(Binding("web1", mxpub))
	req, _ := json.Marshal(Request{V: Version, XKey: mxpub, XKeySig: base64.RawURLEncoding.EncodeToString(sig)})
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Build(context.Background(), "web1", req, now); err != nil {
			b.Fatal(err)
		}
	}
}
