package keyreg

import (
	"context"
	"testing"

	"github.com/brine-cm/brine/proto"
)

// TestCountFollowsWrites checks Count against List through puts, state
// changes, deletes and a reopen from the KV bucket.
func TestCountFollowsWrites(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	r, stop := open(t, dir)
	check := func(r *Registry) {
		t.Helper()
		for _, st := range []string{proto.KeyPending, proto.KeyAccepted, proto.KeyRejected} {
			if got, want := r.Count(st), len(r.List(st)); got != want {
				t.Errorf("Count(%s) = %d, List has %d", st, got, want)
			}
		}
	}
	for _, m := range []Minion{{ID: "a", Nkey: "UA", State: proto.KeyPending}, {ID: "b", Nkey: "UB", State: proto.KeyPending},
		{ID: "c", Nkey: "UC", State: proto.KeyPending}} {
		if err := r.Put(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if r.Count(proto.KeyPending) != 3 {
		t.Fatalf("pending %d, want 3", r.Count(proto.KeyPending))
	}
	if err := r.Put(ctx, Minion{ID: "a", Nkey: "UA", State: proto.KeyAccepted}); err != nil {
		t.Fatal(err)
	}
	if err := r.Put(ctx, Minion{ID: "b", Nkey: "UB", State: proto.KeyRejected}); err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	check(r)
	if r.Count(proto.KeyPending) != 0 || r.Count(proto.KeyAccepted) != 1 {
		t.Fatalf("after changes: pending %d accepted %d", r.Count(proto.KeyPending), r.Count(proto.KeyAccepted))
	}
	stop()
	r2, stop2 := open(t, dir)
	defer stop2()
	check(r2)
	if r2.Count(proto.KeyAccepted) != 1 || r2.Count(proto.KeyRejected) != 1 {
		t.Fatalf("after reopen: accepted %d rejected %d", r2.Count(proto.KeyAccepted), r2.Count(proto.KeyRejected))
	}
}
