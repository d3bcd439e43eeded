package e2e

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/brine-cm/brine/proto"
)

// The master dispatches every request from a static table: an unknown
// verb, malformed JSON, a bad jid or a payload naming someone else is
// answered with an error or dropped, and the master keeps serving.
func TestMalformedRequestsDoNotStopMaster(t *testing.T) {
	m := newMaster(t)
	a := acceptMinion(t, m, "noisy")
	b := acceptMinion(t, m, "quiet")
	akp := a.key(t)
	a.stop(syscall.SIGTERM)
	att := dialAs(t, m, akp, a.id, proto.Inbox(a.id))

	errorReply := func(subject string, data []byte) string {
		t.Helper()
		msg, err := att.nc.Request(subject, data, 5*time.Second)
		if err != nil {
			t.Fatalf("%s: no reply: %v", subject, err)
		}
		if msg.Header.Get(proto.HeaderError) == "" {
			t.Fatalf("%s: not an error reply: %s", subject, msg.Data)
		}
		var e proto.ErrorReply
		_ = json.Unmarshal(msg.Data, &e)
		return e.Error
	}
	if e := errorReply(proto.RequestSubject(a.id, "rm-rf"), []byte(`{}`)); !strings.Contains(e, "unknown") {
		t.Fatalf("unknown verb: %q", e)
	}
	if e := errorReply(proto.RequestSubject(a.id, "hello"), []byte(`{"v":1,`)); !strings.Contains(e, "malformed") {
		t.Fatalf("malformed hello: %q", e)
	}
	// Dropped without an answer: returns with a bad jid or garbage, a key
	// request whose payload names another key, events that are not JSON.
	for subj, data := range map[string]string{
		proto.ReturnPrefix + proto.Token(a.id) + ".not-a-jid":            `{"v":1}`,
		proto.ReturnSubject(a.id, "20260101000000000000"):                `{{{{`,
		proto.EventSubject(a.id, "beacon"):                               "\x00\xff",
		proto.KeyRequestSubject(mustPub(t)):                              `{}`,
		proto.KeyRequestSubject(keysPublic(akp)):                         `{"v":1,"id":"quiet","nkey":"UOTHER"}`,
		proto.RequestSubject(a.id, "hello") + ".extra.tokens.here.x.y.z": `{}`,
	} {
		_ = att.nc.Publish(subj, []byte(data))
	}
	_ = att.nc.Flush()
	// Oversized: refused by the server, which closes that connection only.
	big := make([]byte, 2<<20)
	_ = att.nc.Publish(proto.EventSubject(a.id, "big"), big)
	_ = att.nc.Flush()

	res, err := m.runJSON(t, b.id, "test.ping")
	if err != nil || res[b.id] != true {
		t.Fatalf("master stopped serving: %v %v", res, err)
	}
	if !m.running() {
		t.Fatal("master exited")
	}
}

func mustPub(t *testing.T) string { return keysPublic(newUserKey(t)) }

func keysPublic(kp interface{ PublicKey() (string, error) }) string {
	p, _ := kp.PublicKey()
	return p
}
