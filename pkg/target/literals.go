package target

import "sort"

// Literals returns the exact set of minion ids e can match when e names ids
// outright (a list, a glob without wildcards, or and/or of those), so the
// master can look them up instead of scanning every minion. ok is false when
// the expression needs a scan. The ids are sorted and unique.
func Literals(e Expr) (ids []string, ok bool) {
	set, ok := literals(e, false)
	if !ok {
		return nil, false
	}
	return sorted(set), true
}

// Candidates returns a superset of the minion ids e can match when one can
// be derived from ids named in the expression ("L@a,b and G@os:Debian" can
// only match a or b), so the master need only run Match on those. ok is
// false when every minion is a candidate.
func Candidates(e Expr) (ids []string, ok bool) {
	set, ok := literals(e, true)
	if !ok {
		return nil, false
	}
	return sorted(set), true
}

func sorted(set map[string]struct{}) []string {
	out := make([]string, 0, len(set))
	for id := range set {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// literals computes the id set; with superset, an "and" with one literal
// side is bounded by that side.
func literals(e Expr, superset bool) (map[string]struct{}, bool) {
	switch n := e.(type) {
	case *listNode:
		out := make(map[string]struct{}, len(n.ids))
		for _, id := range n.ids {
			out[id] = struct{}{}
		}
		return out, true
	case *globNode:
		if n.lit {
			return map[string]struct{}{n.pat: {}}, true
		}
	case *groupNode:
		return literals(n.x, superset)
	case *groupRef:
		return literals(n.x, superset)
	case *orNode:
		l, ok := literals(n.l, superset)
		if !ok {
			return nil, false
		}
		r, ok := literals(n.r, superset)
		if !ok {
			return nil, false
		}
		for id := range r {
			l[id] = struct{}{}
		}
		return l, true
	case *andNode:
		l, lok := literals(n.l, superset)
		r, rok := literals(n.r, superset)
		switch {
		case lok && rok:
			out := map[string]struct{}{}
			for id := range l {
				if _, ok := r[id]; ok {
					out[id] = struct{}{}
				}
			}
			return out, true
		case superset && lok:
			return l, true
		case superset && rok:
			return r, true
		}
	}
	return nil, false
}
