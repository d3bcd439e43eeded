package auditlog

import (
	"context"
	"testing"
	"time"

	"github.com/brine-cm/brine/pkg/audit"
	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nkeys"
)

// The dispatcher hands JobReturn the returns it replays at every start:
// a return recorded before a restart is not recorded again, one that was
// not is.
func TestJobReturnOnceAcrossRestart(t *testing.T) {
	kp, err := nkeys.CreateOperator()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx := context.Background()
	ret := func(jid, id string) proto.Return {
		return proto.Return{V: proto.Version, JID: jid, ID: id, Fun: "test.ping", Return: true, Success: true}
	}
	now := proto.FormatJID(time.Now())
	old := proto.FormatJID(time.Now().Add(-3 * time.Hour))

	s, err := Open(dir, kp, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.JobReturn(ctx, ret(now, "web1")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(dir, kp, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, r := range []proto.Return{ret(now, "web1"), ret(now, "web2"), ret(now, "web2"), ret(old, "web1"), ret(old, "web1"), ret(now, "web1")} {
		if err := s.JobReturn(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	es, err := audit.Query(dir, audit.Filter{Action: "job.return"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, e := range es {
		got[e.JID+" "+e.Target]++
	}
	want := map[string]int{now + " web1": 1, now + " web2": 1, old + " web1": 1}
	if len(got) != len(want) {
		t.Fatalf("job.return entries %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Fatalf("job.return entries %v, want %v", got, want)
		}
	}
}
