package reactor

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/brine-cm/brine/proto"
)

type runs struct {
	mu  sync.Mutex
	got []proto.RunRequest
}

func (r *runs) run(_ context.Context, req proto.RunRequest) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, req)
	return nil
}

// A matching event starts the rule's job on the minion it names, or on
// the rule's own target; other tags, and events of the reactor's own
// jobs, start nothing.
func TestReactMatchesRules(t *testing.T) {
	rs := &runs{}
	r, err := New(context.Background(), Config{Run: rs.run, Rules: []Rule{
		{Tag: "salt/minion/*/start", Fun: "state.apply", Args: []any{"base"}},
		{Tag: "salt/job/*/ret/*", Fun: "test.ping", Tgt: "mon*"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	r.React("salt/minion/web1/start", map[string]any{"id": "web1"})
	r.React("salt/key", map[string]any{"id": "web1"})
	r.React("salt/job/1/ret/web1", map[string]any{"id": "web1", "user": "root"})
	r.React("salt/job/2/ret/web1", map[string]any{"id": "web1", "user": User})
	r.Wait()
	if len(rs.got) != 2 {
		t.Fatalf("jobs: %+v", rs.got)
	}
	byFun := map[string]proto.RunRequest{}
	for _, q := range rs.got {
		byFun[q.Fun] = q
	}
	if q := byFun["state.apply"]; q.Target != (proto.Target{Expr: "web1", Type: "list"}) || len(q.Args) != 1 || q.Args[0] != "base" {
		t.Fatalf("start rule: %+v", q)
	}
	if q := byFun["test.ping"]; q.Target != (proto.Target{Expr: "mon*", Type: "glob"}) {
		t.Fatalf("return rule: %+v", q)
	}
}

func TestRulesChecked(t *testing.T) {
	run := func(context.Context, proto.RunRequest) error { return nil }
	for _, c := range []struct {
		rule Rule
		want string
	}{{Rule{Fun: "test.ping"}, "no tag"}, {Rule{Tag: "x", Fun: "ping"}, "not module.function"}} {
		if _, err := New(context.Background(), Config{Run: run, Rules: []Rule{c.rule}}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v", c.rule, err)
		}
	}
}
