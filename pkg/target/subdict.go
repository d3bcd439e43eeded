package target

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// dataNode matches grains or pillar with Salt's subdict_match rules:
//   - "a:b:c" is tried as key "a:b" value "c" first, then key "a" value
//     "b:c" (deeper keys win, and values may contain the delimiter);
//   - values are compared case-insensitively (Salt lower-cases both sides),
//     with fnmatch for globs and re.match (anchored at the start) for regexes;
//   - a list value matches when any element matches;
//   - a dict value matches when the pattern names one of its keys, "*" (the
//     key exists), or a nested key:value below it;
//   - a leading "*:" searches every top-level key.
type dataNode struct {
	k             Kind
	expr          string
	delim         string
	explicitDelim bool
	segs          []string
	// pats[j] matches the suffix segs[j:] joined by delim; nil when that
	// suffix is not a valid regex (it then never matches, as in Salt).
	pats []matcher
	// suffix[j] is the text segs[j:] joined by delim.
	suffix []string
}

func (p *parser) parseData(kind Kind, s string, off int, delim string, explicitDelim bool) (Expr, error) {
	segs := strings.Split(s, delim)
	what := "grain"
	if kind == Pillar || kind == PillarPCRE {
		what = "pillar"
	}
	if len(segs) < 2 {
		return nil, p.errAt(off, "%s target %q needs a key and a value separated by %q", what, s, delim)
	}
	if segs[0] == "" {
		return nil, p.errAt(off, "%s target %q has an empty key", what, s)
	}
	n := &dataNode{k: kind, expr: s, delim: delim, explicitDelim: explicitDelim, segs: segs}
	n.suffix = make([]string, len(segs))
	n.pats = make([]matcher, len(segs))
	regex := kind == GrainPCRE || kind == PillarPCRE
	var lastErr error
	for j := range segs {
		n.suffix[j] = strings.Join(segs[j:], delim)
		if !regex {
			n.pats[j] = compileGlob(n.suffix[j], true)
			continue
		}
		re, err := compileRegexp(n.suffix[j], true)
		if err != nil {
			if j == len(segs)-1 {
				lastErr = err
			}
			continue
		}
		n.pats[j] = re
	}
	if regex {
		anyValid := false
		for j := 1; j < len(segs); j++ {
			if n.pats[j] != nil {
				anyValid = true
			}
		}
		if !anyValid {
			last := len(segs) - 1
			valOff := off + len(s) - len(n.suffix[last])
			return nil, p.regexpErr(n.suffix[last], valOff, lastErr)
		}
	}
	return n, nil
}

func (g *glob) MatchString(s string) bool { return g.match(s) }

func (n *dataNode) kind() Kind { return n.k }

func (n *dataNode) String() string {
	prefix := map[Kind]string{Grain: "G", GrainPCRE: "P", Pillar: "I", PillarPCRE: "J"}[n.k]
	if n.explicitDelim {
		prefix += n.delim
	}
	return prefix + "@" + n.expr
}

func (n *dataNode) Match(m *Minion) bool {
	if m == nil {
		return false
	}
	data := m.Grains
	if n.k == Pillar || n.k == PillarPCRE {
		data = m.Pillar
	}
	if data == nil {
		return false
	}
	return n.subdict(data, 0)
}

// subdict is Salt's subdict_match for the pattern segs[j0:].
func (n *dataNode) subdict(data any, j0 int) bool {
	segs := n.segs[j0:]
	if len(segs) < 2 {
		return false
	}
	for idx := len(segs) - 1; idx >= 1; idx-- {
		var (
			val any
			pat int
		)
		if idx == 1 && segs[0] == "*" {
			val, pat = data, j0
		} else {
			var ok bool
			val, ok = traverse(data, segs[:idx])
			if !ok {
				continue
			}
			pat = j0 + idx
		}
		if d, ok := asMap(val); ok {
			if len(d) == 0 {
				continue
			}
			if n.dictMatch(d, pat) {
				return true
			}
			continue
		}
		if l, ok := asList(val); ok {
			for _, member := range l {
				if d, ok := asMap(member); ok && n.dictMatch(d, pat) {
					return true
				}
				if n.valueMatch(member, pat) {
					return true
				}
			}
			continue
		}
		if n.valueMatch(val, pat) {
			return true
		}
	}
	return false
}

// dictMatch is Salt's _dict_match for the pattern suffix[j].
func (n *dataNode) dictMatch(d map[string]any, j int) bool {
	wildcard := false
	// "*:" is literal in Salt, whatever the delimiter; it can only be
	// honoured here when it is also a segment boundary.
	if n.delim == ":" && j < len(n.segs)-1 && n.segs[j] == "*" {
		wildcard = true
		j++
	}
	pattern := n.suffix[j]
	if pattern == "*" {
		return true
	}
	if _, ok := d[pattern]; ok {
		return true
	}
	if n.subdict(d, j) {
		return true
	}
	if wildcard {
		for _, v := range d {
			if sub, ok := asMap(v); ok {
				if n.dictMatch(sub, j) {
					return true
				}
			} else if l, ok := asList(v); ok {
				for _, item := range l {
					if n.valueMatch(item, j) {
						return true
					}
				}
			} else if n.valueMatch(v, j) {
				return true
			}
		}
	}
	return false
}

func (n *dataNode) valueMatch(v any, j int) bool {
	m := n.pats[j]
	if m == nil {
		return false
	}
	return m.MatchString(pyStr(v))
}

// traverse is Salt's traverse_dict_and_list: dict keys by name, list
// elements by index or by the key of an embedded dict.
func traverse(data any, keys []string) (any, bool) {
	ptr := data
	for _, k := range keys {
		if l, ok := asList(ptr); ok {
			found := false
			for _, e := range l {
				if d, ok := asMap(e); ok {
					if v, ok := d[k]; ok {
						ptr, found = v, true
						break
					}
				}
			}
			if found {
				continue
			}
			idx, err := strconv.Atoi(k)
			if err != nil {
				return nil, false
			}
			if idx < 0 {
				idx += len(l)
			}
			if idx < 0 || idx >= len(l) {
				return nil, false
			}
			ptr = l[idx]
			continue
		}
		d, ok := asMap(ptr)
		if !ok {
			return nil, false
		}
		v, ok := d[k]
		if !ok {
			return nil, false
		}
		ptr = v
	}
	return ptr, true
}

func asMap(v any) (map[string]any, bool) {
	switch t := v.(type) {
	case map[string]any:
		return t, true
	case map[string]string:
		out := make(map[string]any, len(t))
		for k, s := range t {
			out[k] = s
		}
		return out, true
	}
	return nil, false
}

func asList(v any) ([]any, bool) {
	switch t := v.(type) {
	case []any:
		return t, true
	case []string:
		out := make([]any, len(t))
		for i, s := range t {
			out[i] = s
		}
		return out, true
	}
	return nil, false
}

// pyStr renders a value as Python's str() would, since Salt compares the
// str() of grain and pillar values: True, None, 1.0.
func pyStr(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case nil:
		return "None"
	case bool:
		if t {
			return "True"
		}
		return "False"
	case int:
		return strconv.Itoa(t)
	case int64:
		return strconv.FormatInt(t, 10)
	case uint64:
		return strconv.FormatUint(t, 10)
	case float64:
		if math.IsInf(t, 1) {
			return "inf"
		}
		if math.IsInf(t, -1) {
			return "-inf"
		}
		if math.IsNaN(t) {
			return "nan"
		}
		if t == math.Trunc(t) && math.Abs(t) < 1e16 {
			return strconv.FormatFloat(t, 'f', 1, 64)
		}
		return strconv.FormatFloat(t, 'g', -1, 64)
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = pyRepr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = pyRepr(k) + ": " + pyRepr(t[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v)
}

func pyRepr(v any) string {
	if s, ok := v.(string); ok {
		return "'" + strings.ReplaceAll(s, "'", "\\'") + "'"
	}
	return pyStr(v)
}
