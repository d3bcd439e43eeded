package broker

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brine-cm/brine/master/keyreg"
	"github.com/brine-cm/brine/pkg/keys"
	"github.com/brine-cm/brine/pkg/testkit"
	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
)

// regDir is the policy's directory over a real key registry.
type regDir struct {
	reg    *keyreg.Registry
	ops    map[string]string
	mu     sync.Mutex
	denied []string
}

func (d *regDir) MinionByNkey(nk string) (string, string, bool) {
	m, ok := d.reg.ByNkey(nk)
	return m.ID, m.State, ok
}
func (d *regDir) MinionByID(id string) (string, string, bool) {
	m, ok := d.reg.Get(id)
	return m.Nkey, m.State, ok
}
func (d *regDir) Operator(nk string) (string, bool) { n, ok := d.ops[nk]; return n, ok }
func (d *regDir) Denied(id, nk, _ string) {
	d.mu.Lock()
	d.denied = append(d.denied, id+" "+nk)
	d.mu.Unlock()
}

// newRegistry opens a key registry on a real JetStream server.
func newRegistry(t *testing.T) *keyreg.Registry {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("not ready")
	}
	t.Cleanup(s.Shutdown)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	reg, err := keyreg.Open(context.Background(), js)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func signNonce(kp nkeys.KeyPair, nonce []byte) string {
	sig, _ := kp.Sign(nonce)
	return base64.RawURLEncoding.EncodeToString(sig)
}

func TestDecide(t *testing.T) {
	reg := newRegistry(t)
	ctx := context.Background()
	acc, pend, rej, op, stranger := mk(t), mk(t), mk(t), mk(t), mk(t)
	now := time.Now()
	for _, m := range []keyreg.Minion{
		{ID: "web1.example.com", Nkey: keys.Public(acc), State: proto.KeyAccepted, FirstSeen: now},
		{ID: "new", Nkey: keys.Public(pend), State: proto.KeyPending, FirstSeen: now},
		{ID: "bad", Nkey: keys.Public(rej), State: proto.KeyRejected, FirstSeen: now},
	} {
		if err := reg.Put(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	dir := &regDir{reg: reg, ops: map[string]string{keys.Public(op): "alice"}}
	p := NewPolicy(dir, Limits{})
	nonce := []byte("nonce-123")
	req := func(kp nkeys.KeyPair, name string) AuthRequest {
		return AuthRequest{Nkey: keys.Public(kp), Sig: signNonce(kp, nonce), Nonce: nonce, Name: name, Addr: "127.0.0.1:1"}
	}
	cases := []struct {
		name  string
		r     AuthRequest
		allow bool
		role  Role
	}{
		{"no credentials", AuthRequest{Nonce: nonce}, false, RoleNone},
		{"wrong signature", AuthRequest{Nkey: keys.Public(acc), Sig: signNonce(stranger, nonce), Nonce: nonce}, false, RoleNone},
		{"garbage signature", AuthRequest{Nkey: keys.Public(acc), Sig: "!!!", Nonce: nonce}, false, RoleNone},
		{"not a user key", AuthRequest{Nkey: "NABC", Sig: "x", Nonce: nonce}, false, RoleNone},
		{"accepted", req(acc, "anything"), true, RoleMinion},
		{"pending", req(pend, "new"), true, RolePending},
		{"rejected", req(rej, "bad"), false, RoleNone},
		{"unknown", req(stranger, "brand-new"), true, RolePending},
		{"known id new key", req(stranger, "web1.example.com"), false, RoleNone},
		{"operator", req(op, ""), true, RoleOperator},
	}
	for _, c := range cases {
		d := p.Decide(c.r)
		if d.Allow != c.allow || d.Role != c.role {
			t.Errorf("%s: allow=%v role=%v (%s), want %v %v", c.name, d.Allow, d.Role, d.Reason, c.allow, c.role)
		}
		if d.Allow && (d.Permissions == nil || d.Permissions.Response == nil || d.Permissions.Response.MaxMsgs != 1 || d.Permissions.Response.Expires <= 0) {
			t.Errorf("%s: response permission not bounded: %+v", c.name, d.Permissions)
		}
	}
	if len(dir.denied) != 1 || !strings.HasPrefix(dir.denied[0], "web1.example.com ") {
		t.Fatalf("denied records %v", dir.denied)
	}
	// A flood of unknown keys from one address is cut off; others still
	// get through, and accepted minions are never limited.
	flood := NewPolicy(dir, Limits{PendingPerIP: 5})
	refused := 0
	for i := 0; i < 10; i++ {
		k := mk(t)
		r := AuthRequest{Nkey: keys.Public(k), Sig: signNonce(k, nonce), Nonce: nonce, Addr: "10.9.9.9:4000"}
		if !flood.Decide(r).Allow {
			refused++
		}
	}
	if refused != 5 {
		t.Fatalf("refused %d of 10 unknown keys from one address, want 5", refused)
	}
	if d := flood.Decide(AuthRequest{Nkey: keys.Public(stranger), Sig: signNonce(stranger, nonce), Nonce: nonce, Name: "x", Addr: "10.1.1.1:1"}); !d.Allow {
		t.Fatalf("other address refused: %s", d.Reason)
	}
	if d := flood.Decide(AuthRequest{Nkey: keys.Public(acc), Sig: signNonce(acc, nonce), Nonce: nonce, Addr: "10.9.9.9:4001"}); !d.Allow {
		t.Fatalf("accepted minion limited: %s", d.Reason)
	}
	// The accepted minion's permissions name its own single token only.
	d := p.Decide(req(acc, ""))
	tok := proto.Token("web1.example.com")
	for _, s := range append(append([]string{}, d.Permissions.Publish.Allow...), d.Permissions.Subscribe.Allow...) {
		if !strings.Contains(s, tok) && !strings.Contains(s, keys.Public(acc)) {
			t.Errorf("permission %q does not name the minion", s)
		}
		if strings.Contains(s, "web1.example") {
			t.Errorf("permission %q carries the dotted id", s)
		}
	}
	// The in-process key only counts over the in-process pipe.
	p.internal = keys.Public(stranger)
	if d := p.Decide(AuthRequest{Nkey: keys.Public(stranger), Sig: signNonce(stranger, nonce), Nonce: nonce, Addr: "127.0.0.1:9"}); d.Role == RoleInternal {
		t.Fatal("internal key honoured over TCP")
	}
	if d := p.Decide(AuthRequest{Nkey: keys.Public(stranger), Sig: signNonce(stranger, nonce), Nonce: nonce, Addr: "pipe"}); d.Role != RoleInternal {
		t.Fatal("internal key refused over the pipe")
	}
}

func mk(t *testing.T) nkeys.KeyPair {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

// TestCalloutOnExternalServer runs the same policy as an auth-callout
// service for a separate nats-server, the way an external cluster uses it.
func TestCalloutOnExternalServer(t *testing.T) {
	reg := newRegistry(t)
	acc, other := mk(t), mk(t)
	if err := reg.Put(context.Background(), keyreg.Minion{ID: "web1", Nkey: keys.Public(acc), State: proto.KeyAccepted, FirstSeen: time.Now()}); err != nil {
		t.Fatal(err)
	}
	p := NewPolicy(&regDir{reg: reg, ops: map[string]string{}}, Limits{})
	issuer, _ := nkeys.CreateAccount()
	svc := mk(t)
	conf := fmt.Sprintf(`
listen: "127.0.0.1:-1"
authorization {
  users: [ { nkey: %q } ]
  auth_callout {
    issuer: %q
    auth_users: [ %q ]
  }
}
`, keys.Public(svc), keys.Public(issuer), keys.Public(svc))
	cf := filepath.Join(t.TempDir(), "ext.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(cf)
	if err != nil {
		t.Fatal(err)
	}
	opts.NoLog, opts.NoSigs = true, true
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("not ready")
	}
	t.Cleanup(s.Shutdown)
	snc, err := nats.Connect(s.ClientURL(), nats.Nkey(keys.Public(svc), svc.Sign))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(snc.Close)
	co := &Callout{Policy: p, Issuer: issuer, Account: "$G", TTL: time.Hour}
	if _, err := snc.Subscribe(CalloutSubject, co.Handler()); err != nil {
		t.Fatal(err)
	}
	_ = snc.Flush()

	errs := make(chan error, 16)
	nc, err := nats.Connect(s.ClientURL(), nats.Nkey(keys.Public(acc), acc.Sign), nats.Name("web1"),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	if err != nil {
		t.Fatalf("accepted minion refused by callout: %v", err)
	}
	t.Cleanup(nc.Close)
	if _, err := nc.SubscribeSync(proto.JobSubject("web1")); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.SubscribeSync(proto.JobSubject("web2")); err != nil {
		t.Fatal(err)
	}
	_ = nc.Flush()
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), proto.JobSubject("web2")) {
			t.Fatalf("unexpected error %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("subscription to another minion's jobs was not refused")
	}
	forged := func(n []byte) ([]byte, error) { return other.Sign(n) }
	if c, err := nats.Connect(s.ClientURL(), nats.Nkey(keys.Public(acc), forged)); err == nil {
		c.Close()
		t.Fatal("forged signature accepted through callout")
	}
}

// BenchmarkDecide is the authorisation cost of one connection attempt by
// an accepted minion (signature check, registry lookup, permissions), the
// work a reconnect storm multiplies.
func BenchmarkDecide(b *testing.B) {
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: b.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		b.Fatal(err)
	}
	s.Start()
	defer s.Shutdown()
	if !s.ReadyForConnections(10 * time.Second) {
		b.Fatal("not ready")
	}
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	reg, err := keyreg.Open(context.Background(), js)
	if err != nil {
		b.Fatal(err)
	}
	kp, _ := nkeys.CreateUser()
	if err := reg.Put(context.Background(), keyreg.Minion{ID: "web1.example.com", Nkey: keys.Public(kp), State: proto.KeyAccepted, FirstSeen: time.Now()}); err != nil {
		b.Fatal(err)
	}
	p := NewPolicy(&regDir{reg: reg}, Limits{})
	nonce := []byte("0123456789abcde")
	r := AuthRequest{Nkey: keys.Public(kp), Sig: signNonce(kp, nonce), Nonce: nonce, Addr: "127.0.0.1:1"}
	b.ReportAllocs()
	for b.Loop() {
		if d := p.Decide(r); !d.Allow {
			b.Fatal(d.Reason)
		}
	}
}

// syncBuf is a log sink safe for the server's goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A refused client is logged once, at info with the policy's reason, not
// also as a server error: rejected minions retry forever.
func TestRefusalLoggedOnce(t *testing.T) {
	reg := newRegistry(t)
	var logs syncBuf
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	b, err := New(Config{Listen: "127.0.0.1:0", StoreDir: t.TempDir(), Log: log}, NewPolicy(&regDir{reg: reg}, Limits{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown(context.Background())
	kp := mk(t)
	if err := reg.Put(context.Background(), keyreg.Minion{ID: "gone", Nkey: keys.Public(kp), State: proto.KeyRejected, FirstSeen: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if nc, err := nats.Connect(fmt.Sprintf("nats://%s", b.Addr()), nats.Nkey(keys.Public(kp), kp.Sign), nats.Name("gone")); err == nil {
			nc.Close()
			t.Fatal("rejected key connected")
		}
	}
	testkit.WaitSeen(t, 5*time.Second, "three refusals logged", func() (bool, string) {
		out := logs.String()
		return strings.Count(out, "connection refused") >= 3, out
	})
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("refusals logged as errors:\n%s", logs.String())
	}
}
