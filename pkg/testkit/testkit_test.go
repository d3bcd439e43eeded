package testkit

import (
	"reflect"
	"strings"
	"sync"
	"testing"
)

func TestAuditKeepsFormattedLinesAndTakeForgets(t *testing.T) {
	a := &Audit{Format: func(action string, d map[string]any) (string, bool) {
		return action + " " + d["name"].(string), strings.HasPrefix(action, "pkg.")
	}}
	var wg sync.WaitGroup
	for _, act := range []string{"pkg.installed", "file.managed", "pkg.removed"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.Record(act, map[string]any{"name": "hello"})
		}()
	}
	wg.Wait()
	got := a.Lines()
	if len(got) != 2 || !strings.HasPrefix(got[0], "pkg.") || !strings.HasPrefix(got[1], "pkg.") {
		t.Fatalf("lines = %q, want the two pkg.* records only", got)
	}
	if taken := a.Take(); !reflect.DeepEqual(taken, got) {
		t.Fatalf("take = %q, want %q", taken, got)
	}
	if rest := a.Lines(); rest != nil {
		t.Fatalf("after take: %q, want nothing", rest)
	}
}

func TestAccountNameIsFreshEachCall(t *testing.T) {
	a, b := AccountName(t), AccountName(t)
	if a == b || !strings.HasPrefix(a, "brinetest_") || len(a) != len("brinetest_")+8 {
		t.Fatalf("names %q and %q: want two distinct brinetest_<8 hex> names", a, b)
	}
}

func TestRecorderKeepsActionsAndDetailsInOrder(t *testing.T) {
	var r Recorder
	r.Record("cmd.run", map[string]any{"cmd": "pwd"})
	r.Record("file.managed", map[string]any{"path": "/x"})
	if !reflect.DeepEqual(r.Actions, []string{"cmd.run", "file.managed"}) || r.Details[1]["path"] != "/x" {
		t.Fatalf("actions %q details %v", r.Actions, r.Details)
	}
}
