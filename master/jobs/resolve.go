package jobs

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/brine-cm/brine/master/keyreg"
	"github.com/brine-cm/brine/pkg/target"
	"github.com/brine-cm/brine/proto"
)

// Resolver turns a target expression into the accepted minions it names,
// from the master's in-memory view: the key registry (ids and the grains
// each minion last reported, kept in its KV bucket so they survive a
// restart), the pillar the master compiles for -I/-J, IPs from the ipv4
// and ipv6 grains for -S, and the nodegroups of the master config for -N.
type Resolver struct {
	Reg        *keyreg.Registry
	Nodegroups map[string]string
	// Pillar compiles one minion's pillar; nil makes pillar targets match
	// nothing.
	Pillar func(ctx context.Context, id string, grains map[string]any) (map[string]any, error)

	mu    sync.Mutex
	cache map[string]cachedPillar
}

// kindOf maps the wire's tgt_type (Salt's names, plus the short ones the
// old CLI sent) to a target kind.
func kindOf(t string) (target.Kind, error) {
	switch t {
	case "":
		return target.Glob, nil
	case "grain_pcre", "grain-pcre":
		return target.GrainPCRE, nil
	case "pillar_pcre", "pillar-pcre":
		return target.PillarPCRE, nil
	case "ipcidr", "subnet":
		return target.IPCIDR, nil
	case "E":
		return target.PCRE, nil
	}
	return target.ParseKind(t)
}

// Parse parses t once; a bad expression is a *target.Error naming the
// expression and the column.
func (r *Resolver) Parse(t proto.Target) (target.Expr, error) {
	k, err := kindOf(t.Type)
	if err != nil {
		return nil, err
	}
	return target.Parse(k, t.Expr, target.Options{Nodegroups: r.Nodegroups})
}

// Resolve returns the sorted ids of the accepted minions t matches.
func (r *Resolver) Resolve(ctx context.Context, t proto.Target) ([]string, error) {
	e, err := r.Parse(t)
	if err != nil {
		return nil, err
	}
	var cands []keyreg.Minion
	if ids, ok := target.Candidates(e); ok {
		for _, id := range ids {
			if m, ok := r.Reg.Get(id); ok && m.State == proto.KeyAccepted {
				cands = append(cands, m)
			}
		}
	} else {
		cands = r.Reg.List(proto.KeyAccepted)
	}
	var pillars []map[string]any
	if r.needsPillar(t, e) && r.Pillar != nil {
		pillars = r.pillars(ctx, cands)
	}
	var out []string
	for i, m := range cands {
		tm := &target.Minion{ID: m.ID, Grains: m.Grains, IPs: ipsOf(m.Grains)}
		if tm.Grains == nil {
			tm.Grains = map[string]any{}
		}
		if pillars != nil {
			tm.Pillar = pillars[i]
		}
		if e.Match(tm) {
			out = append(out, m.ID)
		}
	}
	sort.Strings(out)
	return out, nil
}

// pillarTTL is how long a compiled pillar is reused for targeting (a
// preview then a run, or the ACL check then the run, compile once).
const pillarTTL = 10 * time.Second

type cachedPillar struct {
	p       map[string]any
	at      time.Time
	updated time.Time // the key record's Updated: grains changed since
}

// pillars compiles the candidates' pillars on every CPU, reusing those
// compiled in the last pillarTTL for unchanged grains. A pillar that does
// not compile is nil and matches nothing, as on a minion.
func (r *Resolver) pillars(ctx context.Context, cands []keyreg.Minion) []map[string]any {
	out := make([]map[string]any, len(cands))
	now := time.Now()
	var todo []int
	r.mu.Lock()
	if r.cache == nil || len(r.cache) > 100000 {
		r.cache = map[string]cachedPillar{}
	}
	for i, m := range cands {
		if c, ok := r.cache[m.ID]; ok && now.Sub(c.at) < pillarTTL && c.updated.Equal(m.Updated) {
			out[i] = c.p
			continue
		}
		todo = append(todo, i)
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < min(runtime.GOMAXPROCS(0), len(todo)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				m := cands[i]
				p, err := r.Pillar(ctx, m.ID, withID(m.ID, m.Grains))
				if err != nil {
					p = nil
				}
				out[i] = p
				r.mu.Lock()
				r.cache[m.ID] = cachedPillar{p: p, at: now, updated: m.Updated}
				r.mu.Unlock()
			}
		}()
	}
	for _, i := range todo {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

// needsPillar reports whether matching t may look at pillar, so pillar is
// compiled only for -I, -J and compound or nodegroup targets naming I@/J@.
func (r *Resolver) needsPillar(t proto.Target, e target.Expr) bool {
	switch target.KindOf(e) {
	case target.Pillar, target.PillarPCRE:
		return true
	}
	text := e.String()
	if strings.Contains(text, "N@") || t.Type == "nodegroup" {
		for _, def := range r.Nodegroups {
			text += " " + def
		}
	}
	return strings.Contains(text, "I@") || strings.Contains(text, "J@")
}

func withID(id string, g map[string]any) map[string]any {
	out := make(map[string]any, len(g)+1)
	for k, v := range g {
		out[k] = v
	}
	out["id"] = id
	return out
}

// ipsOf reads the ipv4 and ipv6 grains.
func ipsOf(g map[string]any) []netip.Addr {
	var out []netip.Addr
	for _, k := range []string{"ipv4", "ipv6"} {
		switch v := g[k].(type) {
		case []any:
			for _, a := range v {
				if s, ok := a.(string); ok {
					if ip, err := netip.ParseAddr(s); err == nil {
						out = append(out, ip)
					}
				}
			}
		case []string:
			for _, s := range v {
				if ip, err := netip.ParseAddr(s); err == nil {
					out = append(out, ip)
				}
			}
		case string:
			if ip, err := netip.ParseAddr(v); err == nil {
				out = append(out, ip)
			}
		}
	}
	return out
}

// asTargetError converts a parse failure for the wire.
func asTargetError(err error) *TargetError {
	var te *target.Error
	if errors.As(err, &te) {
		return &TargetError{Expr: te.Expr, Col: te.Col, Msg: te.Msg}
	}
	return &TargetError{Msg: fmt.Sprint(err)}
}
