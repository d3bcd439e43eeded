package compile

import (
	"fmt"
	"slices"

	"github.com/brine-cm/brine/states"
)

// finish applies extend, the requisite_in family, use and exclude, then
// checks every module.function against the registry.
func (b *builder) finish() {
	for _, ext := range b.extends {
		b.reconcile(ext, ext.ID, ext.Pos)
	}
	b.requisiteIn()
	b.applyExclude()
	b.markIncludedFrom()
	if b.opts.States == nil {
		return
	}
	for _, id := range b.high.IDs {
		d := b.high.Decls[id]
		for _, s := range d.States {
			if s.Fun == "" {
				b.errf(s.Pos, "No function declared in state '%s' in SLS '%s'", s.Module, d.SLS)
				continue
			}
			if _, _, ok := b.opts.States.Lookup(s.Module, s.Fun); !ok {
				b.errf(s.Pos, "State '%s.%s' was not found in SLS '%s' (ID '%s')", s.Module, s.Fun, d.SLS, id)
			}
		}
	}
}

func cannotExtend(name, env, sls string) string {
	return fmt.Sprintf("Cannot extend ID '%[1]s' in '%[2]s:%[3]s'. It is not part of the high state.\n"+
		"This is likely due to a missing include statement or an incorrectly typed ID.\n"+
		"Ensure that a state with an ID of '%[1]s' is available\nin environment '%[2]s' and to SLS '%[3]s'", name, env, sls)
}

// findName finds the IDs a requisite-style reference (module, ID or name)
// points at: the ID itself, or every ID whose module declaration has that
// name (or lists it in names).
func (b *builder) findName(name, module string) []string {
	if _, ok := b.high.Decls[name]; ok {
		return []string{name}
	}
	var out []string
	for _, id := range b.high.IDs {
		s := b.high.Decls[id].State(module)
		if s == nil {
			continue
		}
		if v, ok := s.Arg("name"); ok && v == name {
			out = append(out, id)
			continue
		}
		if v, ok := s.Arg("names"); ok {
			if l, ok := v.([]any); ok {
				for _, e := range l {
					if e == name {
						out = append(out, id)
						break
					}
					if m, ok := e.(map[string]any); ok {
						if _, ok := m[name]; ok {
							out = append(out, id)
							break
						}
					}
				}
			}
		}
	}
	return out
}

// reconcile merges an extension (from `extend:` or from an `_in`
// requisite) into the high data as Salt's reconcile_extend does:
// requisite lists are appended, other arguments replaced, a bare function
// replaces the function, and an unknown target is an error.
func (b *builder) reconcile(ext *Decl, name string, at states.Pos) {
	if len(ext.States) == 0 {
		return
	}
	first := ext.States[0].Module
	target, ok := b.high.Decls[name]
	if !ok || target.State(first) == nil {
		ids := b.findName(name, first)
		if len(ids) != 1 {
			b.errf(at, "%s", cannotExtend(name, ext.Env, ext.SLS))
			return
		}
		target = b.high.Decls[ids[0]]
	}
	for _, es := range ext.States {
		ts := target.State(es.Module)
		if ts == nil {
			cp := &StateDecl{Module: es.Module, Fun: es.Fun, Pos: es.Pos, Args: append([]Arg(nil), es.Args...)}
			if cp.Fun == "" {
				// Salt keeps such a declaration but it yields no chunk:
				// the requisite has nothing to attach to.
				continue
			}
			cp.AutoOrder = 0
			if b.autoOrder && cp.argIndex("order") < 0 {
				cp.AutoOrder = b.iorder
				b.iorder++
			}
			target.States = append(target.States, cp)
			continue
		}
		if es.Fun != "" {
			ts.Fun = es.Fun
		}
		for _, a := range es.Args {
			i := ts.argIndex(a.Key)
			switch {
			case i >= 0 && mergedByExtend[a.Key]:
				ts.Args[i].Value = appendList(ts.Args[i].Value, a.Value)
			case i >= 0:
				ts.Args[i] = a
			case a.Key == "name" && ts.argIndex("names") >= 0:
				ts.Args[ts.argIndex("names")] = a
			default:
				ts.Args = append(ts.Args, a)
			}
			if a.Key == "order" {
				ts.AutoOrder = 0
			}
		}
	}
}

func appendList(old, add any) any {
	var out []any
	switch o := old.(type) {
	case []any:
		out = append(out, o...)
	case nil:
	default:
		out = append(out, o)
	}
	switch a := add.(type) {
	case []any:
		out = append(out, a...)
	case nil:
	default:
		out = append(out, a)
	}
	return out
}

// requisiteIn turns every `_in` requisite into a forward requisite on its
// targets and copies `use`/`use_in` arguments, as Salt's requisite_in.
func (b *builder) requisiteIn() {
	type ref struct {
		id, module string
	}
	for _, id := range append([]string(nil), b.high.IDs...) {
		d := b.high.Decls[id]
		for _, s := range d.States {
			for _, a := range append([]Arg(nil), s.Args...) {
				rkey, isIn := requisiteIn[a.Key]
				if !isIn && a.Key != "use" {
					continue
				}
				var targets []ref
				addTarget := func(module, name string) {
					if module == "sls" {
						for _, tid := range b.high.IDs {
							td := b.high.Decls[tid]
							if Fnmatch(name, td.SLS) {
								for _, ts := range td.States {
									targets = append(targets, ref{tid, ts.Module})
								}
							}
						}
						return
					}
					targets = append(targets, ref{name, module})
				}
				switch items := a.Value.(type) {
				case map[string]any:
					for _, k := range sortedKeys(items) {
						if n, ok := items[k].(string); ok {
							addTarget(trimDot(k), n)
						}
					}
				case []any:
					for _, it := range items {
						switch t := it.(type) {
						case string:
							if td, ok := b.high.Decls[t]; ok && len(td.States) > 0 {
								addTarget(td.States[0].Module, t)
								continue
							}
							for _, tid := range b.high.IDs {
								for _, ts := range b.high.Decls[tid].States {
									if v, ok := ts.Arg("name"); ok && v == t {
										addTarget(ts.Module, tid)
									}
								}
							}
						case map[string]any:
							for k, v := range t {
								if n, ok := v.(string); ok {
									addTarget(trimDot(k), n)
								}
							}
						}
					}
				}
				for _, t := range targets {
					switch {
					case a.Key == "use":
						b.copyArgs(t.id, t.module, d, s)
					case a.Key == "use_in":
						for _, tid := range b.findName(t.id, t.module) {
							if td := b.high.Decls[tid]; td != nil && td.State(t.module) != nil {
								b.copyArgs(id, s.Module, td, td.State(t.module))
							}
						}
					default:
						ext := &Decl{ID: t.id, SLS: d.SLS, Env: d.Env, Pos: a.Pos, States: []*StateDecl{{
							Module: t.module,
							Args:   []Arg{{Key: rkey, Value: []any{map[string]any{s.Module: id}}, Pos: a.Pos}},
						}}}
						b.reconcile(ext, t.id, a.Pos)
					}
				}
			}
		}
	}
}

func trimDot(k string) string {
	if i := indexDot(k); i >= 0 {
		return k[:i]
	}
	return k
}

func indexDot(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return i
		}
	}
	return -1
}

// copyArgs implements `use`: the arguments of the referenced state that
// the using state does not set itself, minus name, names and requisites.
func (b *builder) copyArgs(srcName, srcModule string, dst *Decl, ds *StateDecl) {
	for _, sid := range b.findName(srcName, srcModule) {
		sd := b.high.Decls[sid]
		if sd == nil {
			continue
		}
		ss := sd.State(srcModule)
		if ss == nil {
			continue
		}
		for _, a := range ss.Args {
			if a.Key == "name" || a.Key == "names" || a.Key == "order" || IsRequisite(a.Key) || ds.argIndex(a.Key) >= 0 {
				continue
			}
			ds.Args = append(ds.Args, a)
		}
	}
}

// applyExclude drops excluded IDs and every ID of excluded SLS.
func (b *builder) applyExclude() {
	drop := map[string]bool{}
	for _, ex := range b.excludes {
		if ex.id != "" {
			drop[ex.id] = true
			continue
		}
		for _, id := range b.high.IDs {
			if Fnmatch(ex.sls, b.high.Decls[id].SLS) {
				drop[id] = true
			}
		}
	}
	b.high.remove(drop)
}

// markIncludedFrom records, for every state, the SLS files that include
// its SLS directly or through other includes, so that `- sls: web` also
// covers what web includes (Salt's __sls_included_from__).
func (b *builder) markIncludedFrom() {
	memo := map[string][]string{}
	var ancestors func(sls string) []string
	ancestors = func(sls string) []string {
		if a, ok := memo[sls]; ok {
			return a
		}
		memo[sls] = nil // include loops end here
		var out []string
		for _, p := range b.includedBy[sls] {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
			for _, a := range ancestors(p) {
				if a != sls && !slices.Contains(out, a) {
					out = append(out, a)
				}
			}
		}
		memo[sls] = out
		return out
	}
	for _, id := range b.high.IDs {
		d := b.high.Decls[id]
		d.IncludedFrom = ancestors(d.SLS)
	}
}
