package jobs

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// TestFastSignerMatchesNkeys checks that the cached signer makes exactly
// the signatures of the nkeys key pair, which minions verify.
func TestFastSignerMatchesNkeys(t *testing.T) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	fs := fastSigner(kp)
	if _, same := fs.(nkeys.KeyPair); same {
		t.Fatal("fastSigner returned the key pair itself")
	}
	msg := []byte(`{"v":1,"jid":"20261125235959123456"}`)
	a, _ := kp.Sign(msg)
	b, _ := fs.Sign(msg)
	if !bytes.Equal(a, b) {
		t.Fatal("signatures differ")
	}
	pa, _ := kp.PublicKey()
	pb, _ := fs.PublicKey()
	if pa != pb {
		t.Fatalf("public keys differ: %s %s", pa, pb)
	}
	pub, _ := nkeys.FromPublicKey(pa)
	h := nats.Header{}
	if err := proto.Sign(fs, msg, h); err != nil {
		t.Fatal(err)
	}
	if err := proto.VerifySigned(pub, pa, msg, h); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if err := proto.VerifySigned(pub, pa, append(msg, ' '), h); err == nil {
		t.Fatal("a changed payload verified")
	}
}

// TestSignAllEnvelopes checks every minion gets its own envelope, signed,
// on its own subject, with the compound marker when the glob does not
// name it.
func TestSignAllEnvelopes(t *testing.T) {
	kp, _ := nkeys.CreateUser()
	d := New(nil, kp, "master", time.Minute, nil)
	now := time.Now().UTC()
	base := proto.Job{V: proto.Version, JID: d.jids.Next(now), Master: "master", Target: proto.Target{Expr: "web*", Type: "glob"},
		Fun: "test.ping", IssuedAt: now, NotAfter: now.Add(time.Minute)}
	ids := []string{"web1", "web2", "db1", "web3", "web4", "web5", "web6", "web7", "web8"}
	var mu sync.Mutex
	got := map[string]*nats.Msg{}
	if err := d.signAll(context.Background(), base, ids, func(j *proto.Job, m *nats.Msg) error {
		mu.Lock()
		defer mu.Unlock()
		got[j.MinionID] = m
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	msgs := make([]*nats.Msg, len(ids))
	for i, id := range ids {
		if msgs[i] = got[id]; msgs[i] == nil {
			t.Fatalf("no envelope for %s", id)
		}
	}
	pa, _ := kp.PublicKey()
	pub, _ := nkeys.FromPublicKey(pa)
	for i, id := range ids {
		if msgs[i].Subject != proto.JobSubject(id) {
			t.Errorf("%s: subject %s", id, msgs[i].Subject)
		}
		if err := proto.VerifySigned(pub, pa, msgs[i].Data, msgs[i].Header); err != nil {
			t.Errorf("%s: %v", id, err)
		}
		j, err := proto.DecodeJob(msgs[i].Data, proto.DefaultJobLimits)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if err := j.Check(id, time.Now(), proto.DefaultJobLimits); err != nil {
			t.Errorf("%s: %v", id, err)
		}
		if (id == "db1") != (j.Target.Type == "compound") {
			t.Errorf("%s: target %+v", id, j.Target)
		}
	}
}
