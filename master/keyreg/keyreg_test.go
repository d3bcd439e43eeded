package keyreg

import (
	"context"
	"testing"
	"time"

	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// open starts a real JetStream server on dir and opens the registry.
func open(t *testing.T, dir string) (*Registry, func()) {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("not ready")
	}
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	r, err := Open(context.Background(), js)
	if err != nil {
		t.Fatal(err)
	}
	return r, func() { nc.Close(); s.Shutdown(); s.WaitForShutdown() }
}

func TestRegistrySurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	r, stop := open(t, dir)
	now := time.Now().UTC().Truncate(time.Second)
	recs := []Minion{
		{ID: "web1.example.com", Nkey: "UAAA", State: proto.KeyAccepted, OS: "Debian", Arch: "x86_64", FirstSeen: now},
		{ID: "web2", Nkey: "UBBB", State: proto.KeyPending, OS: "Debian", FirstSeen: now},
		{ID: "db1", Nkey: "UCCC", State: proto.KeyRejected, OS: "Ubuntu", FirstSeen: now},
	}
	for _, m := range recs {
		if err := r.Put(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.PutDenied(ctx, "web1.example.com", "UEVIL", "10.0.0.9:1", now); err != nil {
		t.Fatal(err)
	}
	if d, err := r.PutDenied(ctx, "web1.example.com", "UEVIL", "10.0.0.9:1", now); err != nil || d.Count != 2 {
		t.Fatalf("denied count %d %v", d.Count, err)
	}
	if err := r.Delete(ctx, "db1"); err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx, "db1"); err == nil {
		t.Fatal("deleted a missing key")
	}
	stop()

	r2, stop2 := open(t, dir)
	defer stop2()
	if got := r2.List(); len(got) != 2 {
		t.Fatalf("after restart: %+v", got)
	}
	m, ok := r2.ByNkey("UAAA")
	if !ok || m.ID != "web1.example.com" || m.State != proto.KeyAccepted {
		t.Fatalf("ByNkey: %+v %v", m, ok)
	}
	if m, ok := r2.ByToken(proto.Token("web2")); !ok || m.ID != "web2" {
		t.Fatalf("ByToken: %+v %v", m, ok)
	}
	if l := r2.List(proto.KeyPending); len(l) != 1 || l[0].ID != "web2" {
		t.Fatalf("pending: %+v", l)
	}
	if l := r2.ByGrain("os", "Debian"); len(l) != 2 {
		t.Fatalf("by os: %+v", l)
	}
	if l := r2.Match("web*", proto.KeyAccepted); len(l) != 1 {
		t.Fatalf("match: %+v", l)
	}
	if d := r2.DeniedList(); len(d) != 1 || d[0].Count != 2 {
		t.Fatalf("denied after restart: %+v", d)
	}
	if err := r2.Put(ctx, Minion{ID: "bad id", Nkey: "UX"}); err == nil {
		t.Fatal("bad id stored")
	}
}
