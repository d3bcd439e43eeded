package pillar

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// WatchRule names one pillar value to watch and what a change to it
// calls for on each minion whose compiled value changed.
type WatchRule struct {
	// Key is a colon-delimited path into the compiled pillar, as
	// pillar.get takes it ("nginx:workers").
	Key string `yaml:"key" json:"key"`
	// SLS is applied (state.apply SLS) on those minions; empty only
	// tells them to fetch their pillar again (saltutil.refresh_pillar).
	SLS string `yaml:"sls,omitempty" json:"sls,omitempty"`
}

// WatchConfig wires a Watcher to the master.
type WatchConfig struct {
	Rules []WatchRule
	// Roots are the pillar roots; a change to any file under them makes
	// the watcher compile every minion's pillar again.
	Roots []string
	// Interval is how often the roots are checked (default 10 s).
	Interval time.Duration
	// Minions lists the accepted minion ids.
	Minions func() []string
	// Compile compiles one minion's pillar, as minions receive it.
	Compile func(ctx context.Context, id string) (map[string]any, error)
	// Changed is called once per rule with the minions whose value of
	// rule.Key changed; it starts their refresh and must not block for
	// long.
	Changed func(ctx context.Context, rule WatchRule, ids []string)
	Log     *slog.Logger
}

// Watcher turns an edit of the pillar tree into a refresh of exactly the
// minions it affects. Salt leaves that to a reactor an operator writes;
// here a rule names the pillar value and the states that depend on it,
// and only the minions whose compiled value changed (the tree's top file
// and Jinja decide that per minion) are refreshed.
type Watcher struct {
	cfg  WatchConfig
	mu   sync.Mutex          // guards last for baselined
	last map[string][]string // id -> hash of each rule's value
}

// baselined counts the minions whose values are recorded.
func (w *Watcher) baselined() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.last)
}

// NewWatcher checks the rules.
func NewWatcher(cfg WatchConfig) (*Watcher, error) {
	if len(cfg.Rules) == 0 {
		return nil, errors.New("pillar watch: no rules")
	}
	for i, r := range cfg.Rules {
		if strings.TrimSpace(r.Key) == "" {
			return nil, fmt.Errorf("pillar watch: rule %d: no key", i+1)
		}
	}
	if cfg.Minions == nil || cfg.Compile == nil || cfg.Changed == nil {
		return nil, errors.New("pillar watch: Minions, Compile and Changed are required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 10 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Watcher{cfg: cfg, last: map[string][]string{}}, nil
}

// Run watches until ctx ends. Each interval it records the values of
// minions it has not seen yet (so a newly accepted minion has a baseline
// before the tree next changes) and, when the tree changed, compiles
// every minion's pillar again and reports the changed values.
func (w *Watcher) Run(ctx context.Context) {
	fp, err := fingerprint(w.cfg.Roots)
	if err != nil {
		w.cfg.Log.Warn("pillar watch: read pillar roots", "err", err)
	}
	t := time.NewTicker(w.cfg.Interval)
	defer t.Stop()
	for {
		now, err := fingerprint(w.cfg.Roots)
		if err != nil {
			w.cfg.Log.Warn("pillar watch: read pillar roots", "err", err)
		} else {
			w.check(ctx, now != fp)
			fp = now
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// check compiles the pillar of new minions, or of all of them when the
// tree changed, and hands each rule's changed minions to Changed.
func (w *Watcher) check(ctx context.Context, treeChanged bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ids := w.cfg.Minions()
	sort.Strings(ids)
	changed := make([][]string, len(w.cfg.Rules))
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		seen[id] = true
		old, known := w.last[id]
		if known && !treeChanged {
			continue
		}
		p, err := w.cfg.Compile(ctx, id)
		if err != nil {
			w.cfg.Log.Warn("pillar watch: compile", "id", id, "err", err)
			continue
		}
		now := make([]string, len(w.cfg.Rules))
		for i, r := range w.cfg.Rules {
			now[i] = valueHash(lookup(p, r.Key))
			if known && old[i] != now[i] {
				changed[i] = append(changed[i], id)
			}
		}
		w.last[id] = now
		if !known {
			w.cfg.Log.Debug("pillar watch baseline", "id", id)
		}
	}
	for id := range w.last {
		if !seen[id] {
			delete(w.last, id) // key deleted or rejected
		}
	}
	for i, r := range w.cfg.Rules {
		if len(changed[i]) > 0 {
			w.cfg.Log.Info("pillar watch: value changed", "key", r.Key, "sls", r.SLS, "minions", len(changed[i]), "ids", strings.Join(changed[i], ","))
			w.cfg.Changed(ctx, r, changed[i])
		}
	}
}

// lookup follows a colon path through maps (and list indexes); nil when
// the path does not exist.
func lookup(p map[string]any, key string) any {
	var cur any = p
	for _, part := range strings.Split(key, ":") {
		switch v := cur.(type) {
		case map[string]any:
			next, ok := v[part]
			if !ok {
				return nil
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(v) {
				return nil
			}
			cur = v[i]
		default:
			return nil
		}
	}
	return cur
}

// valueHash is a digest of a value's canonical JSON (map keys sorted).
func valueHash(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(fmt.Sprintf("%#v", v))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// fingerprint digests every file's path and content under roots: pillar
// trees are small, and a digest of the content is not fooled by a copy
// that keeps the modification time.
func fingerprint(roots []string) (string, error) {
	h := sha256.New()
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if !d.Type().IsRegular() {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "%s\x00%d\x00", p, len(b))
			h.Write(b)
			return nil
		})
		if err != nil {
			return "", fmt.Errorf("pillar root %s: %w", root, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
