package api

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/brine-cm/brine/master/keyreg"
	"github.com/brine-cm/brine/pkg/audit"
	"github.com/brine-cm/brine/pkg/keys"
	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// A known id offering another key raises salt/key with act=denied, the id
// and the offered key's fingerprint, on the master's event subject; the
// denied table and the audit log name the same key. Master events are only
// readable on the master's internal connection, so this is where the event
// is observed: a real JetStream server, registry and audit log, and a
// plain subscriber on that server.
func TestDenyPublishesSaltKeyEvent(t *testing.T) {
	e := newAPIEnv(t, nil, nil)
	ctx := context.Background()
	accepted, _ := nkeys.CreateUser()
	acceptedPK, _ := accepted.PublicKey()
	if err := e.reg.Put(ctx, keyreg.Minion{ID: "web1", Nkey: acceptedPK, State: proto.KeyAccepted, Updated: time.Now()}); err != nil {
		t.Fatal(err)
	}
	offered, _ := nkeys.CreateUser()
	offeredPK, _ := offered.PublicKey()

	sub, err := nats.Connect(e.srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Close)
	evs, err := sub.SubscribeSync(proto.MasterEventPrefix + "key")
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}

	for want := 1; want <= 2; want++ {
		e.api.Deny(ctx, "web1", offeredPK, "127.0.0.1:4222")
		msg, err := evs.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("attempt %d: no salt/key event: %v", want, err)
		}
		var ev proto.Event
		if err := json.Unmarshal(msg.Data, &ev); err != nil {
			t.Fatalf("event %s: %v", msg.Data, err)
		}
		if ev.Tag != "salt/key" || ev.Data["id"] != "web1" || ev.Data["act"] != proto.KeyDenied ||
			ev.Data["finger"] != keys.Fingerprint(offeredPK) || ev.Data["count"] != float64(want) {
			t.Fatalf("attempt %d: event %s", want, msg.Data)
		}
	}

	denied := e.reg.DeniedList()
	if len(denied) != 1 || denied[0].ID != "web1" || denied[0].Nkey != offeredPK || denied[0].Count != 2 {
		t.Fatalf("denied table: %+v", denied)
	}
	if m, ok := e.reg.Get("web1"); !ok || m.Nkey != acceptedPK || m.State != proto.KeyAccepted {
		t.Fatalf("web1 after the denied key: %+v %v", m, ok)
	}
	es := e.entries(audit.Filter{Action: "key.denied"})
	if len(es) != 2 {
		t.Fatalf("key.denied entries: %+v", es)
	}
	for _, a := range es {
		if a.Target != "web1" || a.Outcome != "denied" || a.Detail["nkey"] != offeredPK || a.Detail["finger"] != keys.Fingerprint(offeredPK) {
			t.Fatalf("key.denied entry: %+v", a)
		}
	}
}
