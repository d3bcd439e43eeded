package highstate

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/brine-cm/brine/pkg/execmod"
	"github.com/brine-cm/brine/pkg/render"
	"github.com/brine-cm/brine/pkg/target"
)

// Top is a rendered top file: for each saltenv, in file order, the
// targets with their match type and SLS names.
type Top struct {
	Envs []TopEnv
}

// TopEnv is one saltenv section of a top file.
type TopEnv struct {
	Name    string
	Targets []TopTarget
}

// TopTarget is one "'web*': [- match: glob, - web]" entry.
type TopTarget struct {
	Expr  string
	Match string // glob unless a "- match:" item says otherwise
	SLS   []string
	Line  int
}

// renderTop renders and parses a top file (Jinja then YAML, as any SLS)
// keeping the order of environments and targets, which decides the
// order states and pillar merge in.
func renderTop(ec *execmod.Context, name string, src []byte) (*Top, error) {
	node, err := render.SLS(ec, "top", name, src)
	if err != nil {
		return nil, err
	}
	top := &Top{}
	if node == nil {
		return top, nil
	}
	if node.Kind == yaml.DocumentNode && len(node.Content) > 0 {
		node = node.Content[0]
	}
	if node.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d:%d: top file must be a mapping of saltenv to targets", name, node.Line, node.Column)
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		envNode, body := node.Content[i], node.Content[i+1]
		env := TopEnv{Name: envNode.Value}
		if body.Kind == yaml.ScalarNode && body.Tag == "!!null" {
			top.Envs = append(top.Envs, env)
			continue
		}
		if body.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s:%d:%d: saltenv %q must map targets to lists of SLS", name, body.Line, body.Column, env.Name)
		}
		for j := 0; j+1 < len(body.Content); j += 2 {
			tn, items := body.Content[j], body.Content[j+1]
			t := TopTarget{Expr: tn.Value, Match: "glob", Line: tn.Line}
			if items.Kind == yaml.ScalarNode && items.Tag == "!!null" {
				env.Targets = append(env.Targets, t)
				continue
			}
			if items.Kind != yaml.SequenceNode {
				return nil, fmt.Errorf("%s:%d:%d: target %q in saltenv %q must be a list", name, items.Line, items.Column, t.Expr, env.Name)
			}
			for _, it := range items.Content {
				v, err := render.Decode(it)
				if err != nil {
					return nil, fmt.Errorf("%s:%d:%d: %w", name, it.Line, it.Column, err)
				}
				switch x := v.(type) {
				case string:
					t.SLS = append(t.SLS, x)
				case map[string]any:
					for k, mv := range x {
						if k == "match" {
							if s := fmt.Sprint(mv); mv != nil && s != "" {
								t.Match = s
							}
						}
						// Other per-target options (order, ...) are
						// accepted and ignored, as is any SLS given as a
						// mapping with options.
						if k != "match" && k != "order" {
							t.SLS = append(t.SLS, k)
						}
					}
				default:
					t.SLS = append(t.SLS, fmt.Sprint(x))
				}
			}
			env.Targets = append(env.Targets, t)
		}
		top.Envs = append(top.Envs, env)
	}
	return top, nil
}

// matcher decides whether a top file target applies to this minion.
type matcher struct {
	minion     *target.Minion
	nodegroups map[string]string
}

func newMatcher(ec *execmod.Context, pillar map[string]any) *matcher {
	id, _ := ec.Opts["id"].(string)
	if id == "" {
		id, _ = ec.Grains["id"].(string)
	}
	m := &matcher{minion: &target.Minion{ID: id, Grains: ec.Grains, Pillar: pillar}}
	for _, key := range []string{"ipv4", "ipv6"} {
		if l, ok := ec.Grains[key].([]any); ok {
			for _, a := range l {
				if s, ok := a.(string); ok {
					if ip, err := netip.ParseAddr(s); err == nil {
						m.minion.IPs = append(m.minion.IPs, ip)
					}
				}
			}
		}
		if l, ok := ec.Grains[key].([]string); ok {
			for _, s := range l {
				if ip, err := netip.ParseAddr(s); err == nil {
					m.minion.IPs = append(m.minion.IPs, ip)
				}
			}
		}
	}
	if ng, ok := ec.Opts["nodegroups"].(map[string]any); ok {
		m.nodegroups = map[string]string{}
		for k, v := range ng {
			switch x := v.(type) {
			case string:
				m.nodegroups[k] = x
			case []any:
				parts := make([]string, len(x))
				for i, p := range x {
					parts[i] = fmt.Sprint(p)
				}
				m.nodegroups[k] = "L@" + strings.Join(parts, ",")
			}
		}
	}
	return m
}

func (m *matcher) match(t TopTarget) (bool, error) {
	kind, err := target.ParseKind(t.Match)
	if err != nil {
		return false, fmt.Errorf("top file target %q (line %d): %w", t.Expr, t.Line, err)
	}
	expr, err := target.Parse(kind, t.Expr, target.Options{Nodegroups: m.nodegroups})
	if err != nil {
		return false, fmt.Errorf("top file target %q (line %d): %w", t.Expr, t.Line, err)
	}
	return expr.Match(m.minion), nil
}

// matches returns, per saltenv in top-file order, the SLS names whose
// targets match, each name once, in the order they first appear.
func (top *Top) matches(m *matcher, onlyEnv string) (envs []string, mods map[string][]string, err error) {
	mods = map[string][]string{}
	seen := map[string]map[string]bool{}
	for _, env := range top.Envs {
		if onlyEnv != "" && env.Name != onlyEnv {
			continue
		}
		for _, t := range env.Targets {
			ok, err := m.match(t)
			if err != nil {
				return nil, nil, err
			}
			if !ok {
				continue
			}
			if seen[env.Name] == nil {
				seen[env.Name] = map[string]bool{}
				envs = append(envs, env.Name)
			}
			for _, s := range t.SLS {
				if !seen[env.Name][s] {
					seen[env.Name][s] = true
					mods[env.Name] = append(mods[env.Name], s)
				}
			}
		}
	}
	return envs, mods, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
