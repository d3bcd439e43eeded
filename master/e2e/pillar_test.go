package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brine-cm/brine/master/jobs"
	"github.com/brine-cm/brine/pkg/keys"
	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nkeys"
)

// apiRun sends job.run straight to the operator API as operator name
// holding the seed in keyFile, so a test can pass structured keyword
// arguments (pillar={...}) and read refusals word for word.
func (m *master) apiRun(t *testing.T, name, keyFile string, tgt proto.Target, fun string, args []any, kwargs map[string]any) (jobs.RunReply, string) {
	t.Helper()
	kp, err := keys.Load(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	a := dialAs(t, m, kp, "operator:"+name, proto.OperatorInbox(name))
	defer a.nc.Close()
	req := jobs.RunRequest{RunRequest: proto.RunRequest{V: proto.Version, Target: tgt, Fun: fun, Args: args, Kwargs: kwargs, TimeoutSec: 60}}
	b, _ := json.Marshal(req)
	msg, err := a.nc.Request(proto.APISubject(name, jobs.VerbRun), b, 90*time.Second)
	if err != nil {
		t.Fatalf("job.run as %s: %v", name, err)
	}
	if msg.Header.Get(proto.HeaderError) != "" {
		var e proto.ErrorReply
		_ = json.Unmarshal(msg.Data, &e)
		return jobs.RunReply{}, e.Error
	}
	var rep jobs.RunReply
	if err := json.Unmarshal(msg.Data, &rep); err != nil {
		t.Fatalf("job.run reply %q: %v", msg.Data, err)
	}
	return rep, ""
}

const (
	secret1 = "S3CRET-only-for-web1"
	secret2 = "S3CRET-only-for-web2"
)

func pillarMaster(t *testing.T, dest string) *master {
	t.Helper()
	proot, sroot := t.TempDir(), t.TempDir()
	writeTree(t, proot, map[string]string{
		"top.sls":    "base:\n  '*':\n    - common\n  web1:\n    - web1\n  web2:\n    - web2\n",
		"common.sls": "motd: hello {{ grains['id'] }}\n",
		"web1.sls":   "db_password: " + secret1 + "\n",
		"web2.sls":   "db_password: " + secret2 + "\n",
	})
	writeTree(t, sroot, map[string]string{
		"top.sls":  "base:\n  '*':\n    - motd\n",
		"motd.sls": fmt.Sprintf("motd:\n  file.managed:\n    - name: %s/{{ grains['id'] }}.motd\n    - contents: \"{{ pillar['motd'] }} {{ pillar.get('db_password', '') }}\"\n", dest),
	})
	return startMasterArgs(t, filepath.Join(t.TempDir(), "master"), "--file-root", sroot, "--pillar-root", proot)
}

// TestPillarEncryptedPerMinion proves DESIGN invariant 4 with real
// processes: each minion gets only its own pillar, state runs use it
// (with test=True and pillar= overrides), a second accepted minion can
// neither request nor receive the first one's pillar, and what travels
// on the wire is ciphertext that only the requesting key opens.
func TestPillarEncryptedPerMinion(t *testing.T) {
	dest := t.TempDir()
	m := pillarMaster(t, dest)
	w1 := acceptMinion(t, m, "web1")
	w2 := acceptMinion(t, m, "web2")

	if r := m.runOne(t, "web1", "pillar.get", "db_password"); r != secret1 {
		t.Fatalf("web1 pillar.get db_password = %v", r)
	}
	if r := m.runOne(t, "web2", "pillar.get", "db_password"); r != secret2 {
		t.Fatalf("web2 pillar.get db_password = %v", r)
	}

	// state.apply renders with the master's pillar.
	m.runOne(t, "web1", "state.apply")
	if b, err := os.ReadFile(filepath.Join(dest, "web1.motd")); err != nil || string(b) != "hello web1 "+secret1+"\n" {
		t.Fatalf("web1.motd = %q, %v", b, err)
	}
	// test=True with a pillar override changes nothing and reports the
	// override would be written.
	root := filepath.Join(m.dir, "operator.nk")
	rep, errMsg := m.apiRun(t, "root", root, proto.Target{Type: "glob", Expr: "web1"}, "state.apply", nil,
		map[string]any{"test": true, "pillar": map[string]any{"motd": "overridden"}})
	if errMsg != "" {
		t.Fatal(errMsg)
	}
	ret, _ := json.Marshal(rep.Returns["web1"].Return)
	if !strings.Contains(string(ret), `"result":null`) || !strings.Contains(string(ret), "overridden") {
		t.Fatalf("state.apply test=True pillar=... returned %s", ret)
	}
	if b, _ := os.ReadFile(filepath.Join(dest, "web1.motd")); string(b) != "hello web1 "+secret1+"\n" {
		t.Fatalf("test=True changed the file: %q", b)
	}

	// web2, accepted and holding its own key, cannot ask for web1's
	// pillar nor listen where web1's replies go.
	a := dialAs(t, m, w2.key(t), "web2", proto.Inbox("web2"))
	_ = a.nc.Publish(proto.RequestSubject("web1", "pillar"), []byte(`{"v":1}`))
	a.expectViolation(t, "Publish", proto.RequestSubject("web1", "pillar"))
	_, _ = a.nc.SubscribeSync(proto.Inbox("web1") + ".>")
	a.expectViolation(t, "Subscription", proto.Inbox("web1")+".>")
	_, _ = a.nc.SubscribeSync(proto.PillarSubject("web1"))
	a.expectViolation(t, "Subscription", proto.PillarSubject("web1"))

	// web2 asking on its own subject with a curve key it did not sign
	// (say, one it wants web1's pillar sealed to) is refused.
	xk, _ := nkeys.CreateCurveKeys()
	xpub, _ := xk.PublicKey()
	other, _ := nkeys.CreateUser()
	sig, _ := other.Sign([]byte("brine pillar xkey v1\nweb2\n" + xpub))
	b, _ := json.Marshal(map[string]any{"v": 1, "xkey": xpub, "xkey_sig": base64.RawURLEncoding.EncodeToString(sig)})
	msg, err := a.nc.Request(proto.RequestSubject("web2", "pillar"), b, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(msg.Data), "not signed by the accepted minion key") {
		t.Fatalf("pillar request with a foreign binding: %s", msg.Data)
	}

	// On the wire: web1's own credentials ask with a fresh curve key;
	// the reply the broker delivers holds no secret in clear, is signed
	// by the master, and opens only with that key.
	k1 := w1.key(t)
	a1 := dialAs(t, m, k1, "web1", proto.Inbox("web1"))
	sig, _ = k1.Sign([]byte("brine pillar xkey v1\nweb1\n" + xpub))
	b, _ = json.Marshal(map[string]any{"v": 1, "xkey": xpub, "xkey_sig": base64.RawURLEncoding.EncodeToString(sig)})
	msg, err = a1.nc.Request(proto.RequestSubject("web1", "pillar"), b, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(msg.Data), "S3CRET") || strings.Contains(string(msg.Data), "db_password") {
		t.Fatalf("pillar travels in clear: %s", msg.Data)
	}
	if msg.Header.Get(proto.HeaderSig) == "" {
		t.Fatalf("pillar reply is not signed: %v", msg.Header)
	}
	var rp struct {
		MasterXKey string `json:"master_xkey"`
		Sealed     []byte `json:"sealed"`
	}
	if err := json.Unmarshal(msg.Data, &rp); err != nil || len(rp.Sealed) == 0 {
		t.Fatalf("pillar reply %s: %v", msg.Data, err)
	}
	for _, enc := range []string{base64.StdEncoding.EncodeToString([]byte(secret1)), fmt.Sprintf("%x", secret1)} {
		if strings.Contains(string(msg.Data), enc) {
			t.Fatalf("pillar reply holds the secret encoded: %s", msg.Data)
		}
	}
	wrong, _ := nkeys.CreateCurveKeys()
	if _, err := wrong.Open(rp.Sealed, rp.MasterXKey); err == nil {
		t.Fatal("another curve key opened the pillar")
	}
	plain, err := xk.Open(rp.Sealed, rp.MasterXKey)
	if err != nil {
		t.Fatalf("open with the requesting key: %v", err)
	}
	var sp struct {
		MinionID string         `json:"minion_id"`
		Revision uint64         `json:"revision"`
		IssuedAt time.Time      `json:"issued_at"`
		Pillar   map[string]any `json:"pillar"`
	}
	if err := json.Unmarshal(plain, &sp); err != nil {
		t.Fatal(err)
	}
	if sp.MinionID != "web1" || sp.Revision == 0 || time.Since(sp.IssuedAt) > time.Minute || sp.Pillar["db_password"] != secret1 {
		t.Fatalf("sealed pillar = %+v", sp)
	}
	if _, ok := sp.Pillar["db_password"]; !ok || strings.Contains(string(plain), secret2) {
		t.Fatalf("web1's pillar holds another minion's data: %s", plain)
	}
	// The pillar key files are private.
	for _, f := range []string{filepath.Join(m.dir, "pillar.xk"), filepath.Join(w1.dir, "minion.xk")} {
		fi, err := os.Stat(f)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, fi, err)
		}
	}
}

// TestSaltutilOverTheWire runs the saltutil functions on a connected
// minion: a refreshed pillar replaces the cached one, sync_all answers
// with Salt's shape, find_job finds a running job and nothing else, and
// sys.doc documents what the minion runs.
func TestSaltutilOverTheWire(t *testing.T) {
	proot := t.TempDir()
	writeTree(t, proot, map[string]string{"top.sls": "base:\n  '*':\n    - app\n", "app.sls": "app_version: one\n"})
	m := startMasterArgs(t, filepath.Join(t.TempDir(), "master"), "--file-root", t.TempDir(), "--pillar-root", proot)
	acceptMinion(t, m, "web1")

	if r := m.runOne(t, "web1", "config.get", "app_version"); r != "one" {
		t.Fatalf("config.get app_version = %v", r)
	}
	writeTree(t, proot, map[string]string{"app.sls": "app_version: two\n"})
	// config.get uses the pillar the minion holds until it refreshes.
	if r := m.runOne(t, "web1", "config.get", "app_version"); r != "one" {
		t.Fatalf("config.get before refresh = %v", r)
	}
	if r := m.runOne(t, "web1", "saltutil.refresh_pillar"); r != true {
		t.Fatalf("saltutil.refresh_pillar = %v", r)
	}
	if r := m.runOne(t, "web1", "config.get", "app_version"); r != "two" {
		t.Fatalf("config.get after refresh = %v", r)
	}

	sync, ok := m.runOne(t, "web1", "saltutil.sync_all").(map[string]any)
	if !ok || len(sync) < 15 {
		t.Fatalf("saltutil.sync_all = %v", sync)
	}
	for _, k := range []string{"modules", "states", "grains", "pillar", "renderers", "returners", "utils"} {
		if l, ok := sync[k].([]any); !ok || len(l) != 0 {
			t.Fatalf("saltutil.sync_all[%s] = %v", k, sync[k])
		}
	}
	if r, ok := m.runOne(t, "web1", "saltutil.find_job", "20200101000000000000").(map[string]any); !ok || len(r) != 0 {
		t.Fatalf("find_job of an unknown jid = %v", r)
	}

	// A running job is found by jid.
	kp, err := keys.Load(filepath.Join(m.dir, "operator.nk"))
	if err != nil {
		t.Fatal(err)
	}
	a := dialAs(t, m, kp, "operator:root", proto.OperatorInbox("root"))
	req := jobs.RunRequest{RunRequest: proto.RunRequest{V: proto.Version, Target: proto.Target{Type: "glob", Expr: "web1"},
		Fun: "cmd.run", Args: []any{"sleep 30"}}, Async: true}
	b, _ := json.Marshal(req)
	msg, err := a.nc.Request(proto.APISubject("root", jobs.VerbRun), b, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var rep jobs.RunReply
	if err := json.Unmarshal(msg.Data, &rep); err != nil || rep.JID == "" {
		t.Fatalf("async run: %s %v", msg.Data, err)
	}
	// The jid goes as a string through the API: a 20-digit jid given on
	// the command line is read as a number.
	findJob := func() map[string]any {
		rr, msg := m.apiRun(t, "root", filepath.Join(m.dir, "operator.nk"), proto.Target{Type: "glob", Expr: "web1"}, "saltutil.find_job", []any{rep.JID}, nil)
		if msg != "" {
			t.Fatal(msg)
		}
		r, _ := rr.Returns["web1"].Return.(map[string]any)
		return r
	}
	waitFor(t, 20*time.Second, "find_job to see "+rep.JID, func() bool {
		r := findJob()
		return r["jid"] == rep.JID && r["fun"] == "cmd.run"
	})
	kr, kmsg := m.apiRun(t, "root", filepath.Join(m.dir, "operator.nk"), proto.Target{Type: "glob", Expr: "web1"}, "saltutil.kill_job", []any{rep.JID}, nil)
	if kmsg != "" || !strings.Contains(fmt.Sprint(kr.Returns["web1"].Return), "cancelled") {
		t.Fatalf("kill_job = %v %s", kr.Returns, kmsg)
	}
	waitFor(t, 20*time.Second, "the killed job to end", func() bool { return len(findJob()) == 0 })

	doc, ok := m.runOne(t, "web1", "sys.doc", "cp.get_file").(map[string]any)
	if !ok || !strings.Contains(fmt.Sprint(doc["cp.get_file"]), "salt://") {
		t.Fatalf("sys.doc cp.get_file = %v", doc)
	}
}
