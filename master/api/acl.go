package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/brine-cm/brine/master/jobs"
	"github.com/brine-cm/brine/pkg/audit"
	"github.com/brine-cm/brine/proto"
)

// ErrDenied is wrapped by every ACL refusal.
var ErrDenied = errors.New("denied by the operator ACL")

// ACLRule lets an operator run the listed functions (globs, as Salt's
// publisher_acl: "test.*", "cmd.run") on minions whose id matches Target
// (a glob).
type ACLRule struct {
	Target    string   `yaml:"target" json:"target"`
	Functions []string `yaml:"functions" json:"functions"`
}

// ACL limits what each operator may do, in the spirit of Salt's
// publisher_acl: a restricted operator may run a function only when every
// minion the target RESOLVED to is allowed by some rule that also lists
// the function, so a grain or compound target cannot reach a host the
// rules do not name. Unrestricted operators (the one created at serve
// init, and any operator when no ACL is configured) may do anything.
type ACL struct {
	rules        map[string][]ACLRule
	unrestricted map[string]bool
}

// NewACL builds the ACL from the config's `acl:` map. With no rules at
// all, every operator is unrestricted, as before ACLs existed; with
// rules, an operator not in the map and not named unrestricted may run
// nothing.
func NewACL(rules map[string][]ACLRule, unrestricted ...string) (*ACL, error) {
	a := &ACL{rules: map[string][]ACLRule{}, unrestricted: map[string]bool{}}
	for _, u := range unrestricted {
		a.unrestricted[u] = true
	}
	for op, rs := range rules {
		for i, r := range rs {
			if r.Target == "" {
				return nil, fmt.Errorf("acl %s rule %d: no target", op, i+1)
			}
			if _, err := path.Match(r.Target, ""); err != nil {
				return nil, fmt.Errorf("acl %s rule %d: target %q: %w", op, i+1, r.Target, err)
			}
			if len(r.Functions) == 0 {
				return nil, fmt.Errorf("acl %s rule %d: no functions", op, i+1)
			}
			for _, f := range r.Functions {
				if _, err := path.Match(f, ""); err != nil {
					return nil, fmt.Errorf("acl %s rule %d: function %q: %w", op, i+1, f, err)
				}
			}
		}
		a.rules[op] = rs
	}
	return a, nil
}

// Restricted reports whether op is limited by rules.
func (a *ACL) Restricted(op string) bool {
	if a == nil || len(a.rules) == 0 {
		return false
	}
	return !a.unrestricted[op]
}

// Allow checks that op may run fun on every one of ids. An empty set is
// denied: nothing resolved means nothing is proven allowed.
func (a *ACL) Allow(op, fun string, ids []string) error {
	if !a.Restricted(op) {
		return nil
	}
	rules, ok := a.rules[op]
	if !ok {
		return fmt.Errorf("%w: operator %s has no rules", ErrDenied, op)
	}
	if len(ids) == 0 {
		return fmt.Errorf("%w: the target matched no minion", ErrDenied)
	}
	var refused []string
	for _, id := range ids {
		if !ruleAllows(rules, fun, id) {
			refused = append(refused, id)
		}
	}
	if len(refused) > 0 {
		sort.Strings(refused)
		if len(refused) > 10 {
			refused = append(refused[:10], fmt.Sprintf("and %d more", len(refused)-10))
		}
		return fmt.Errorf("%w: %s may not run %s on %s", ErrDenied, op, fun, strings.Join(refused, ", "))
	}
	return nil
}

func ruleAllows(rules []ACLRule, fun, id string) bool {
	for _, r := range rules {
		if ok, _ := path.Match(r.Target, id); !ok {
			continue
		}
		for _, f := range r.Functions {
			if ok, _ := path.Match(f, fun); ok {
				return true
			}
		}
	}
	return false
}

// aclReadOnly are the verbs a restricted operator may use without a
// function check: they show state and change nothing.
var aclReadOnly = map[string]bool{
	proto.VerbKeyList:   true,
	proto.VerbKeyFinger: true,
	jobs.VerbList:       true,
	jobs.VerbShow:       true,
	jobs.VerbActive:     true,
}

// authorize applies the ACL to one operator call before it is served,
// and returns the context to serve it in. Run verbs are checked on the
// minion list the job is published to, by the check the returned context
// carries (jobs.WithAuthorize), so the list authorised is the list
// published to; preview is checked on its resolved target; read-only
// verbs pass; any other verb (key changes, job kill, the audit log,
// anything added later) is refused to a restricted operator. Refusals
// are audited.
func (s *Server) authorize(ctx context.Context, op, verb string, data []byte) (context.Context, error) {
	acl := s.cfg.ACL
	if !acl.Restricted(op) || aclReadOnly[verb] {
		return ctx, nil
	}
	var err error
	var fun string
	var ids []string
	switch verb {
	case proto.VerbRun, jobs.VerbRun:
		var req jobs.RunRequest
		if derr := json.Unmarshal(data, &req); derr != nil {
			return ctx, fmt.Errorf("%w: %v", proto.ErrMalformed, derr)
		}
		return jobs.WithAuthorize(ctx, func(fun string, ids []string) error {
			if err := acl.Allow(op, fun, ids); err != nil {
				return s.refused(ctx, op, verb, fun, ids, err)
			}
			return nil
		}), nil
	case jobs.VerbPreview:
		var req jobs.RunRequest
		if derr := json.Unmarshal(data, &req); derr != nil {
			return ctx, fmt.Errorf("%w: %v", proto.ErrMalformed, derr)
		}
		fun = req.Fun
		targets, rerr := s.cfg.Jobs.Resolve(ctx, req.Target)
		if rerr != nil {
			// A target that does not parse or resolve is refused as
			// such; there is nothing to authorise.
			err = fmt.Errorf("%w: target: %v", ErrDenied, rerr)
			break
		}
		for _, t := range targets {
			ids = append(ids, t.ID)
		}
		err = acl.Allow(op, fun, ids)
	default:
		err = fmt.Errorf("%w: %s may not use %s", ErrDenied, op, verb)
	}
	if err == nil {
		return ctx, nil
	}
	return ctx, s.refused(ctx, op, verb, fun, ids, err)
}

// refused audits and logs an ACL refusal and returns err.
func (s *Server) refused(ctx context.Context, op, verb, fun string, ids []string, err error) error {
	ids = append([]string(nil), ids...)
	sort.Strings(ids)
	if aerr := s.audit(ctx, audit.Entry{Actor: "op:" + op, Action: "acl.denied", Target: strings.Join(ids, ","), Outcome: "denied",
		Detail: map[string]any{"verb": verb, "fun": fun, "reason": err.Error()}}); aerr != nil {
		s.log.Error("acl refusal not audited", "operator", op, "err", aerr)
	}
	s.log.Warn("operator call denied by acl", "operator", op, "verb", verb, "fun", fun, "err", err)
	return err
}
