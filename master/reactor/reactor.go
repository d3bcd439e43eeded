// Package reactor maps the master's events to jobs, as Salt's reactor
// does: a rule names a tag glob and the function to run, by default on
// the minion the event is about (its data's id), so "apply the
// highstate to a minion when it starts" is three lines of master
// config. Jobs it starts belong to the user "reactor"; events of those
// jobs never trigger a rule, so no rule can feed itself.
package reactor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"

	"github.com/brine-cm/brine/proto"
)

// User is the job user of everything the reactor runs.
const User = "reactor"

// Rule maps matching events to one job.
type Rule struct {
	// Tag is a glob on the event tag; * also matches "/".
	Tag string `yaml:"tag"`
	// Fun and Args are the function to run and its arguments.
	Fun  string `yaml:"fun"`
	Args []any  `yaml:"args"`
	// Tgt and TgtType select the minions; with no Tgt the job goes to
	// the minion named by the event's data.id.
	Tgt     string `yaml:"tgt"`
	TgtType string `yaml:"tgt_type"`
}

// Config wires a Reactor.
type Config struct {
	Rules []Rule
	// Run publishes one job as the reactor user; it is called on its
	// own goroutine and may wait for the returns.
	Run func(ctx context.Context, req proto.RunRequest) error
	Log *slog.Logger
}

// Reactor matches events against its rules.
type Reactor struct {
	cfg   Config
	match []*regexp.Regexp
	life  context.Context
	wg    sync.WaitGroup
}

// New checks the rules: each needs a tag and a module.function.
func New(ctx context.Context, cfg Config) (*Reactor, error) {
	if cfg.Run == nil {
		return nil, errors.New("reactor: no Run")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	r := &Reactor{cfg: cfg, life: ctx}
	for i, rule := range cfg.Rules {
		if rule.Tag == "" {
			return nil, fmt.Errorf("reactor: rule %d: no tag", i+1)
		}
		if mod, fn, ok := strings.Cut(rule.Fun, "."); !ok || mod == "" || fn == "" {
			return nil, fmt.Errorf("reactor: rule %d (%s): fun %q is not module.function", i+1, rule.Tag, rule.Fun)
		}
		re, err := proto.TagPattern(rule.Tag)
		if err != nil {
			return nil, fmt.Errorf("reactor: rule %d: tag %q: %w", i+1, rule.Tag, err)
		}
		r.match = append(r.match, re)
	}
	return r, nil
}

// React starts the jobs of every rule matching the event. It does not
// block. Events of the reactor's own jobs are ignored.
func (r *Reactor) React(tag string, data map[string]any) {
	if u, _ := data["user"].(string); u == User {
		return
	}
	for i, rule := range r.cfg.Rules {
		if !r.match[i].MatchString(tag) {
			continue
		}
		tgt := proto.Target{Expr: rule.Tgt, Type: rule.TgtType}
		if tgt.Expr == "" {
			id, _ := data["id"].(string)
			if id == "" {
				r.cfg.Log.Warn("reactor: event names no minion and the rule no target", "tag", tag, "rule", rule.Tag)
				continue
			}
			tgt = proto.Target{Expr: id, Type: "list"}
		}
		if tgt.Type == "" {
			tgt.Type = "glob"
		}
		req := proto.RunRequest{V: proto.Version, Target: tgt, Fun: rule.Fun, Args: rule.Args}
		if req.Args == nil {
			req.Args = []any{}
		}
		r.cfg.Log.Info("reactor: event matched", "tag", tag, "rule", rule.Tag, "fun", rule.Fun, "tgt", tgt.Expr)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			if err := r.cfg.Run(r.life, req); err != nil {
				r.cfg.Log.Error("reactor: job not run", "tag", tag, "fun", req.Fun, "tgt", req.Target.Expr, "err", err)
			}
		}()
	}
}

// Wait waits for the jobs started so far.
func (r *Reactor) Wait() { r.wg.Wait() }
