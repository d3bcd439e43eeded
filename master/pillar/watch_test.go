package pillar

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/brine-cm/brine/pkg/execmod"
	"github.com/brine-cm/brine/pkg/fileclient"
	"github.com/brine-cm/brine/pkg/testkit"
	"github.com/brine-cm/brine/states/highstate"
)

// changes records what the watcher reported, per rule key.
type changes struct {
	mu  sync.Mutex
	got map[string][][]string
}

func (c *changes) add(_ context.Context, r WatchRule, ids []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got[r.Key] = append(c.got[r.Key], ids)
}

func (c *changes) take() map[string][][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.got
	c.got = map[string][][]string{}
	return out
}

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// watchEnv is a pillar tree compiled by the real pillar compiler for a
// list of minions.
func watchEnv(t *testing.T, rules ...WatchRule) (*Watcher, string, *changes, *[]string) {
	t.Helper()
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"top.sls":    "base:\n  '*':\n    - common\n  web1:\n    - web1\n",
		"common.sls": "motd: hello {{ grains['id'] }}\nntp:\n  servers: [a, b]\nother: 1\n",
		"web1.sls":   "db:\n  password: one\n",
	})
	ids := []string{"web1", "web2"}
	c := &changes{got: map[string][][]string{}}
	w, err := NewWatcher(WatchConfig{Rules: rules, Roots: []string{root}, Interval: 20 * time.Millisecond,
		Minions: func() []string { return append([]string(nil), ids...) },
		Compile: func(ctx context.Context, id string) (map[string]any, error) {
			g := map[string]any{"id": id}
			ec := &execmod.Context{Ctx: ctx, Grains: g, Pillar: map[string]any{}, Opts: map[string]any{"id": id, "grains": g},
				Files: fileclient.NewLocal(), Registry: execmod.Builtin(), Saltenv: "base"}
			return highstate.CompilePillar(ctx, ec, []string{root})
		},
		Changed: c.add})
	if err != nil {
		t.Fatal(err)
	}
	return w, root, c, &ids
}

// Only the minions whose compiled value of a watched key changed are
// reported, per rule; unwatched keys and new minions report nothing.
func TestWatchReportsChangedMinionsOnly(t *testing.T) {
	w, root, c, ids := watchEnv(t, WatchRule{Key: "db:password", SLS: "db"}, WatchRule{Key: "ntp:servers:1", SLS: "ntp"})
	ctx := context.Background()
	w.check(ctx, false)
	if got := c.take(); len(got) != 0 {
		t.Fatalf("baseline reported %v", got)
	}
	writeFiles(t, root, map[string]string{"web1.sls": "db:\n  password: two\n"})
	w.check(ctx, true)
	if got, want := c.take(), map[string][][]string{"db:password": {{"web1"}}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after the password change: %v, want %v", got, want)
	}
	writeFiles(t, root, map[string]string{"common.sls": "motd: changed\nntp:\n  servers: [a, c]\nother: 2\n"})
	w.check(ctx, true)
	if got, want := c.take(), map[string][][]string{"ntp:servers:1": {{"web1", "web2"}}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after the ntp change: %v, want %v", got, want)
	}
	*ids = append(*ids, "web3")
	w.check(ctx, false)
	w.check(ctx, true)
	if got := c.take(); len(got) != 0 {
		t.Fatalf("a new minion reported %v", got)
	}
	if _, ok := w.last["web3"]; !ok {
		t.Fatal("no baseline for the new minion")
	}
}

// Run notices an edit of the tree by itself.
func TestWatchRunNoticesAnEdit(t *testing.T) {
	w, root, c, _ := watchEnv(t, WatchRule{Key: "motd"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	// The first pass records the baseline; an edit after it is a change.
	testkit.WaitFor(t, 10*time.Second, "the baseline", func() bool { return w.baselined() == 2 })
	writeFiles(t, root, map[string]string{"common.sls": "motd: new {{ grains['id'] }}\n"})
	testkit.WaitFor(t, 10*time.Second, "the change", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.got["motd"]) == 1 && len(c.got["motd"][0]) == 2
	})
}

func TestWatchRulesChecked(t *testing.T) {
	ok := func(context.Context, string) (map[string]any, error) { return nil, nil }
	for _, cfg := range []WatchConfig{
		{},
		{Rules: []WatchRule{{Key: " "}}, Minions: func() []string { return nil }, Compile: ok, Changed: func(context.Context, WatchRule, []string) {}},
		{Rules: []WatchRule{{Key: "a"}}},
	} {
		if _, err := NewWatcher(cfg); err == nil {
			t.Errorf("%+v accepted", cfg.Rules)
		}
	}
}
