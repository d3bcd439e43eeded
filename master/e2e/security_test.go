package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/brine-cm/brine/pkg/keys"
	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats.go"
)

// Invariant 1: nothing reaches the server without authenticating.
func TestNoCredentialsRefused(t *testing.T) {
	m := newMaster(t)
	if a, err := dial(t, m.url, tlsOption(t, m)); err == nil {
		a.nc.Close()
		t.Fatal("connected without credentials")
	} else if !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Fatalf("unexpected error: %v", err)
	}
	if _, err := dial(t, m.url, tlsOption(t, m), nats.UserInfo("root", "root")); err == nil {
		t.Fatal("connected with a made-up user/password")
	}
}

// Invariant 1: the nonce signature must come from the presented key.
func TestWrongNkeySignatureRefused(t *testing.T) {
	m := newMaster(t)
	claimed, signer := newUserKey(t), newUserKey(t)
	_, err := dial(t, m.url, tlsOption(t, m), nats.Nkey(keys.Public(claimed), signer.Sign))
	if err == nil {
		t.Fatal("connected with a signature from another key")
	}
	// The operator's public key with a forged signature is refused too.
	opKey, err2 := keys.Load(filepath.Join(m.dir, "operator.nk"))
	if err2 != nil {
		t.Fatal(err2)
	}
	if _, err := dial(t, m.url, tlsOption(t, m), nats.Nkey(keys.Public(opKey), signer.Sign)); err == nil {
		t.Fatal("connected as the operator without its key")
	}
}

// Invariant 2: a pending key may only ask for acceptance and read its own
// status.
func TestPendingMinionConfined(t *testing.T) {
	m := newMaster(t)
	victim := acceptMinion(t, m, "victim.example.com")
	kp := newUserKey(t)
	a := dialAs(t, m, kp, "squatter", "")
	cases := []struct{ kind, subject string }{
		{"Subscription", ">"},
		{"Subscription", proto.JobSubject(victim.id)},
		{"Subscription", proto.KeyStatusSubject(keys.Public(victim.key(t)))},
		{"Subscription", proto.KeyRequestPrefix + "*"},
		{"Publish", proto.KeyRequestSubject(keys.Public(victim.key(t)))},
		{"Publish", proto.ReturnSubject(victim.id, "20260101000000000000")},
		{"Publish", proto.APISubject("root", proto.VerbKeyAccept)},
	}
	for _, c := range cases {
		if c.kind == "Subscription" {
			if _, err := a.nc.SubscribeSync(c.subject); err != nil {
				t.Fatal(err)
			}
		} else if err := a.nc.Publish(c.subject, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		_ = a.nc.Flush()
		a.expectViolation(t, c.kind, c.subject)
	}
	// What it may do: ask, and read its own answer.
	st, err := a.nc.SubscribeSync(proto.KeyStatusSubject(keys.Public(kp)))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := json.Marshal(proto.KeyRequest{V: proto.Version, ID: "squatter", Nkey: keys.Public(kp)})
	if err := a.nc.Publish(proto.KeyRequestSubject(keys.Public(kp)), req); err != nil {
		t.Fatal(err)
	}
	msg, err := st.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("no key status: %v (errors: %s)", err, a.errors())
	}
	var status proto.KeyStatus
	if err := json.Unmarshal(msg.Data, &status); err != nil || status.State != proto.KeyPending {
		t.Fatalf("status %s: %v", msg.Data, err)
	}
}

// Invariant 2: an accepted minion's permissions name only itself.
func TestAcceptedMinionConfined(t *testing.T) {
	m := newMaster(t)
	a := acceptMinion(t, m, "a.example.com")
	b := acceptMinion(t, m, "b.example.com")
	akp := a.key(t)
	a.stop(syscall.SIGTERM) // the attacker takes over A's identity
	att := dialAs(t, m, akp, a.id, proto.Inbox(a.id))
	subs := map[string]string{
		"everything":      ">",
		"B jobs":          proto.JobSubject(b.id),
		"B pillar":        proto.PillarSubject(b.id),
		"B pillar req":    proto.RequestSubject(b.id, "pillar"),
		"B inbox":         proto.Inbox(b.id) + ".>",
		"all jobs":        proto.JobPrefix + "*",
		"all returns":     proto.ReturnPrefix + ">",
		"B key status":    proto.KeyStatusSubject(keys.Public(b.key(t))),
		"JetStream API":   "$JS.API.>",
		"operator inbox":  proto.OperatorInbox("root") + ".>",
		"key requests":    proto.KeyRequestPrefix + ">",
		"master requests": proto.RequestPrefix + "*.*",
	}
	for name, subj := range subs {
		t.Run("subscribe "+name, func(t *testing.T) {
			if _, err := att.nc.SubscribeSync(subj); err != nil {
				t.Fatal(err)
			}
			_ = att.nc.Flush()
			att.expectViolation(t, "Subscription", subj)
		})
	}
	pubs := map[string]string{
		"B returns":     proto.ReturnSubject(b.id, "20260101000000000000"),
		"B events":      proto.EventSubject(b.id, "beacon"),
		"B requests":    proto.RequestSubject(b.id, "hello"),
		"a job to B":    proto.JobSubject(b.id),
		"a job to self": proto.JobSubject(a.id),
		"master API":    proto.APISubject("root", proto.VerbRun),
		"master event":  proto.MasterEventPrefix + "key",
		"JetStream API": "$JS.API.STREAM.LIST",
		"KV bucket":     "$KV.brine_keys.m." + proto.Token(a.id),
	}
	for name, subj := range pubs {
		t.Run("publish "+name, func(t *testing.T) {
			if err := att.nc.Publish(subj, []byte(`{"v":1}`)); err != nil {
				t.Fatal(err)
			}
			_ = att.nc.Flush()
			att.expectViolation(t, "Publish", subj)
		})
	}
	// Its own subjects work: a hello answered on its own inbox.
	hello, _ := json.Marshal(proto.Hello{V: proto.Version, ID: a.id})
	if _, err := att.nc.Request(proto.RequestSubject(a.id, "hello"), hello, 5*time.Second); err != nil {
		t.Fatalf("own hello: %v", err)
	}
	// B still answers, and an unknown request verb gets an error, not a crash.
	if _, err := att.nc.Request(proto.RequestSubject(a.id, "nosuchverb"), hello, 5*time.Second); err != nil {
		t.Fatalf("unknown verb got no error reply: %v", err)
	}
	res, err := m.runJSON(t, b.id, "test.ping")
	if err != nil || res[b.id] != true {
		t.Fatalf("B after the attack: %v %v", res, err)
	}
}

// Invariant 2: a rejected key cannot connect, and the minion keeps trying
// without exiting.
func TestRejectedKeyCannotReconnect(t *testing.T) {
	m := newMaster(t)
	mp := startMinion(t, m, "rejected-1", filepath.Join(t.TempDir(), "r1"))
	waitFor(t, 20*time.Second, "pending", func() bool { return contains(m.keyLists(t)["minions_pre"], "rejected-1") })
	if _, err := m.cli(t, "key", "reject", "rejected-1", "-y"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "rejected", func() bool { return contains(m.keyLists(t)["minions_rejected"], "rejected-1") })
	kp := mp.key(t)
	if _, err := dial(t, m.url, tlsOption(t, m), nats.Nkey(keys.Public(kp), kp.Sign), nats.Name("rejected-1")); err == nil {
		t.Fatal("rejected key connected")
	}
	waitFor(t, 15*time.Second, "minion auth failures", func() bool {
		return strings.Contains(strings.ToLower(mp.out.String()), "authorization violation")
	})
	if !mp.running() {
		t.Fatalf("minion exited after rejection:\n%s", mp.out.String())
	}
}

// Invariant 2: a known id presenting a different key goes to denied and
// is never accepted, not even by `key accept --all`.
func TestKnownIDWithNewKeyDenied(t *testing.T) {
	m := newMaster(t)
	web := acceptMinion(t, m, "web1")
	orig := keys.Public(web.key(t))
	impostor := newUserKey(t)
	// Connecting under the known name with another key is refused.
	if _, err := dial(t, m.url, tlsOption(t, m), nats.Nkey(keys.Public(impostor), impostor.Sign), nats.Name("web1")); err == nil {
		t.Fatal("impostor connected under a known id")
	}
	waitFor(t, 10*time.Second, "denied entry", func() bool { return contains(m.keyLists(t)["minions_denied"], "web1") })
	// Claiming the id in a key request from an anonymous name is denied too.
	other := newUserKey(t)
	a := dialAs(t, m, other, "innocent", "")
	st, _ := a.nc.SubscribeSync(proto.KeyStatusSubject(keys.Public(other)))
	req, _ := json.Marshal(proto.KeyRequest{V: proto.Version, ID: "web1", Nkey: keys.Public(other)})
	_ = a.nc.Publish(proto.KeyRequestSubject(keys.Public(other)), req)
	msg, err := st.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var status proto.KeyStatus
	if err := json.Unmarshal(msg.Data, &status); err != nil || status.State != proto.KeyDenied {
		t.Fatalf("status %s: %v", msg.Data, err)
	}
	if _, err := m.cli(t, "key", "accept", "--all", "--include-denied", "-y"); err != nil {
		t.Fatal(err)
	}
	out, err := m.cli(t, "key", "finger", "web1", "--out", "json")
	if err != nil {
		t.Fatal(err)
	}
	var fp map[string]map[string]string
	if err := json.Unmarshal([]byte(out), &fp); err != nil {
		t.Fatal(err)
	}
	if fp["minions"]["web1"] != keys.Fingerprint(orig) {
		t.Fatalf("web1's accepted key changed: %v", fp)
	}
	if !strings.Contains(m.out.String(), "action=key.denied") {
		t.Fatal("no audit record for the denied key")
	}
	res, err := m.runJSON(t, "web1", "test.ping")
	if err != nil || res["web1"] != true {
		t.Fatalf("real web1 after the attempt: %v %v", res, err)
	}
}

// Jobs end to end: test.ping and cmd.run, output keyed by minion id.
func TestRunJobs(t *testing.T) {
	m := newMaster(t)
	for _, id := range []string{"m1", "m2"} {
		acceptMinion(t, m, id)
	}
	res, err := m.runJSON(t, "*", "test.ping")
	if err != nil || res["m1"] != true || res["m2"] != true {
		t.Fatalf("test.ping: %v %v", res, err)
	}
	res, err = m.runJSON(t, "m2", "cmd.run", "echo hi")
	if err != nil || res["m2"] != "hi" || res["m1"] != nil {
		t.Fatalf("cmd.run: %v %v", res, err)
	}
	out, err := m.cli(t, "run", "-L", "m1,m2", "test.ping")
	if err != nil || !strings.Contains(out, "m1:\n    True") {
		t.Fatalf("nested output %q: %v", out, err)
	}
	if _, err := m.cli(t, "run", "*", "no-dot"); err == nil {
		t.Fatal("bad function name accepted")
	}
}

// Durability: keys survive a master restart; minions reconnect and jobs work.
func TestMasterRestartKeepsKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "master")
	port := freePort(t)
	m := startMaster(t, dir, port)
	mp := acceptMinion(t, m, "survivor")
	pend := startMinion(t, m, "waiting", filepath.Join(t.TempDir(), "waiting"))
	waitFor(t, 20*time.Second, "pending", func() bool { return contains(m.keyLists(t)["minions_pre"], pend.id) })
	m.stop(syscall.SIGTERM)
	if m.running() {
		t.Fatal("master did not stop on SIGTERM")
	}
	m2 := startMaster(t, dir, port)
	lists := m2.keyLists(t)
	if !contains(lists["minions"], "survivor") || !contains(lists["minions_pre"], "waiting") {
		t.Fatalf("keys after restart: %v", lists)
	}
	waitFor(t, 30*time.Second, "survivor answers", func() bool {
		res, err := m2.runJSON(t, "-t", "2", "survivor", "test.ping")
		return err == nil && res["survivor"] == true
	})
	if !mp.running() {
		t.Fatal("minion exited while the master was down")
	}
}

// Availability: accepted minions reconnect within 10 s after the master
// is killed with SIGKILL and restarted.
func TestMinionsReconnectAfterMasterKill(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "master")
	port := freePort(t)
	m := startMaster(t, dir, port)
	ids := []string{"k1", "k2", "k3"}
	for _, id := range ids {
		acceptMinion(t, m, id)
	}
	m.stop(syscall.SIGKILL)
	m2 := startMaster(t, dir, port)
	restarted := time.Now()
	waitFor(t, 10*time.Second, "all minions answering after restart", func() bool {
		res, err := m2.runJSON(t, "-t", "1", "k*", "test.ping")
		_ = err
		for _, id := range ids {
			if res[id] != true {
				return false
			}
		}
		return true
	})
	t.Logf("all minions answered %s after the master restarted", time.Since(restarted).Round(100*time.Millisecond))
}
