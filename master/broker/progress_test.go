package broker

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brine-cm/brine/master/keyreg"
	"github.com/brine-cm/brine/pkg/keys"
	"github.com/brine-cm/brine/pkg/testkit"
	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// TestMinionCannotPublishAnothersProgress proves, on the embedded broker
// with the real policy, that an accepted minion may stream its own live
// output but not output in another minion's name: the master takes the
// minion id of a chunk from its subject, so this is what makes that id
// trustworthy.
func TestMinionCannotPublishAnothersProgress(t *testing.T) {
	reg := newRegistry(t)
	web1, web2 := mk(t), mk(t)
	for id, kp := range map[string]nkeys.KeyPair{"web1": web1, "web2": web2} {
		if err := reg.Put(context.Background(), keyreg.Minion{ID: id, Nkey: keys.Public(kp), State: proto.KeyAccepted, FirstSeen: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	b, err := New(Config{Listen: "127.0.0.1:0", StoreDir: t.TempDir()}, NewPolicy(&regDir{reg: reg, ops: map[string]string{}}, Limits{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Shutdown(context.Background()) })

	master, err := b.Connect("test-master")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(master.Close)
	seen, err := master.SubscribeSync(proto.EventPrefix + "*.progress.*")
	if err != nil {
		t.Fatal(err)
	}
	if err := master.Flush(); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var errs []string
	url := fmt.Sprintf("nats://%s", b.Addr())
	nc, err := nats.Connect(url, nats.Nkey(keys.Public(web2), web2.Sign), nats.Name("web2"), nats.CustomInboxPrefix(proto.Inbox("web2")),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			mu.Lock()
			errs = append(errs, err.Error())
			mu.Unlock()
		}))
	if err != nil {
		t.Fatalf("web2 refused: %v", err)
	}
	t.Cleanup(nc.Close)

	jid := "20261126001500123456"
	forged, own := proto.ProgressSubject("web1", jid), proto.ProgressSubject("web2", jid)
	if err := nc.Publish(forged, []byte("forged\n")); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish(own, []byte("own\n")); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// One connection's messages arrive in order: had the forged chunk
	// passed, it would be delivered before web2's own.
	m, err := seen.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("web2's own progress did not arrive: %v", err)
	}
	if m.Subject != own || string(m.Data) != "own\n" {
		t.Fatalf("first chunk on %s: %q, want web2's own on %s", m.Subject, m.Data, own)
	}
	testkit.WaitSeen(t, 10*time.Second, "a permission violation for "+forged, func() (bool, string) {
		mu.Lock()
		got := strings.Join(errs, "\n")
		mu.Unlock()
		return strings.Contains(got, "Permissions Violation for Publish to \""+forged+"\""), got
	})
}
