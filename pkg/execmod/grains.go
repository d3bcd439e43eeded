package execmod

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// registerGrains adds Salt's grains module, the read side of the host
// facts: templates and operators query grains through it.
func registerGrains(r *Registry) {
	r.Register("grains.items", "Return all of the minion's grains.\nCLI Example: brine-master run '*' grains.items", grainsItems)
	r.Register("grains.item", "Return the named grains as a map; nested keys use ':' (default=, delimiter=).\nCLI Example: brine-master run '*' grains.item os osrelease", grainsItem)
	r.Register("grains.get", "Return one grain by a ':'-delimited path, or default ('') when missing.\nCLI Example: brine-master run '*' grains.get pkg:apache", grainsGet)
	r.Register("grains.fetch", "Alias of grains.get.\nCLI Example: brine-master run '*' grains.fetch pkg:apache", grainsGet)
	r.Register("grains.ls", "Return the sorted names of all grains.\nCLI Example: brine-master run '*' grains.ls", grainsLs)
	r.Register("grains.has_value", "Return True if the grain path exists (whatever its value).\nCLI Example: brine-master run '*' grains.has_value pkg:apache", grainsHasValue)
	r.Register("grains.filter_by", "Pick the entry of lookup_dict whose key (a glob) matches the grain (os_family by default); merge, base and default as Salt.\nCLI Example: brine-master run '*' grains.filter_by '{Debian: Debheads rule, RedHat: I love my hat}'", grainsFilterBy)
}

func grainsOf(c *Context) map[string]any {
	if c == nil || c.Grains == nil {
		return map[string]any{}
	}
	return c.Grains
}

func grainsItems(c *Context, _ []any, _ map[string]any) (any, error) {
	return grainsOf(c), nil
}

func grainsItem(c *Context, args []any, kwargs map[string]any) (any, error) {
	return itemLookup("grains.item", grainsOf(c), args, kwargs)
}

// itemLookup implements grains.item and pillar.item: every positional
// argument is a path, answered with its value or the default.
func itemLookup(fn string, data map[string]any, args []any, kwargs map[string]any) (any, error) {
	delim, err := Str(kwargs, "delimiter", DefaultDelimiter)
	if err != nil {
		return nil, err
	}
	def, hasDef := kwargs["default"]
	if !hasDef {
		def = ""
	}
	keys, err := strArgs(fn, args)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	for _, k := range keys {
		if v, ok := Traverse(data, k, delim); ok {
			out[k] = v
		} else {
			out[k] = def
		}
	}
	return out, nil
}

func grainsGet(c *Context, args []any, kwargs map[string]any) (any, error) {
	kw, err := Bind("grains.get", args, kwargs, "key", "default", "delimiter", "ordered")
	if err != nil {
		return nil, err
	}
	key, delim, err := keyAndDelimiter("grains.get", kw)
	if err != nil {
		return nil, err
	}
	if v, ok := Traverse(grainsOf(c), key, delim); ok {
		return v, nil
	}
	if d, ok := kw["default"]; ok {
		return d, nil
	}
	return "", nil
}

// keyAndDelimiter reads the required key= path and its delimiter=
// (':' by default), which grains.get, pillar.get and pillar.keys take
// alike.
func keyAndDelimiter(fn string, kw map[string]any) (key, delim string, err error) {
	if err := Require(fn, kw, "key"); err != nil {
		return "", "", err
	}
	if key, err = Str(kw, "key", ""); err != nil {
		return "", "", err
	}
	if delim, err = Str(kw, "delimiter", DefaultDelimiter); err != nil {
		return "", "", err
	}
	return key, delim, nil
}

func grainsLs(c *Context, _ []any, _ map[string]any) (any, error) {
	return sortedKeys(grainsOf(c)), nil
}

// sortedKeys lists a map's keys in order, the answer of grains.ls,
// pillar.ls and pillar.keys.
func sortedKeys(m map[string]any) []any {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return toAnyList(keys)
}

func grainsHasValue(c *Context, args []any, kwargs map[string]any) (any, error) {
	return hasValue("grains.has_value", grainsOf(c), args, kwargs)
}

// hasValue implements grains.has_value and pillar.has_value: whether the
// ':'-path key exists in data, whatever its value.
func hasValue(fn string, data map[string]any, args []any, kwargs map[string]any) (any, error) {
	key, err := bindOneStr(fn, "key", args, kwargs)
	if err != nil {
		return nil, err
	}
	_, ok := Traverse(data, key, DefaultDelimiter)
	return ok, nil
}

func grainsFilterBy(c *Context, args []any, kwargs map[string]any) (any, error) {
	return filterByCall("grains.filter_by", "grain", "os_family", grainsOf(c), args, kwargs)
}

// filterByCall reads the arguments grains.filter_by and pillar.filter_by
// share and runs FilterBy over data; pathArg names the argument holding
// the path (grain= or pillar=), which is required when pathDef is "".
func filterByCall(fn, pathArg, pathDef string, data map[string]any, args []any, kwargs map[string]any) (any, error) {
	kw, err := Bind(fn, args, kwargs, "lookup_dict", pathArg, "merge", "default", "base")
	if err != nil {
		return nil, err
	}
	required := []string{"lookup_dict"}
	if pathDef == "" {
		required = append(required, pathArg)
	}
	if err := Require(fn, kw, required...); err != nil {
		return nil, err
	}
	lookup, err := Map(kw, "lookup_dict")
	if err != nil {
		return nil, err
	}
	path, err := Str(kw, pathArg, pathDef)
	if err != nil {
		return nil, err
	}
	def, err := Str(kw, "default", "default")
	if err != nil {
		return nil, err
	}
	base, err := Str(kw, "base", "")
	if err != nil {
		return nil, err
	}
	merge, err := mergeArg(kw)
	if err != nil {
		return nil, err
	}
	return FilterBy(lookup, path, data, merge, def, base)
}

// mergeArg reads filter_by's merge argument. Like Salt's `if merge:`, a
// falsy value (”, False, None, {}) means no merge, which matters because
// formulas pass salt['pillar.get']('x:lookup') and get ” when unset.
func mergeArg(kw map[string]any) (map[string]any, error) {
	v := kw["merge"]
	if v == nil || v == "" || v == false {
		return nil, nil
	}
	m, err := ToMap("merge", v)
	if err != nil {
		return nil, fmt.Errorf("filter_by merge argument must be a dictionary: %w", err)
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

// FilterBy is Salt's filter_by, shared by grains.filter_by and the
// pillar/config variants: it picks the lookup entry whose key, a
// case-sensitive glob, matches the value at path in data (each element
// when that value is a list), falling back to lookup[def]; lookup[base],
// when present, is deep-merged under the result and merge over it.
// Go maps have no order, so when several keys match, an exact key wins
// and then the first glob in sorted order.
func FilterBy(lookup map[string]any, path string, data map[string]any, merge map[string]any, def, base string) (any, error) {
	var vals []any
	if v, ok := Traverse(data, path, DefaultDelimiter); ok {
		if l, isList := v.([]any); isList {
			vals = l
		} else {
			vals = []any{v}
		}
	}
	keys := make([]string, 0, len(lookup))
	for k := range lookup {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var ret any
	found := false
	for _, each := range vals {
		s, ok := ToString(each)
		if !ok {
			s = fmt.Sprint(each)
		}
		if v, ok := lookup[s]; ok {
			ret, found = v, true
			break
		}
		for _, k := range keys {
			if fnmatchCase(s, k) {
				ret, found = lookup[k], true
				break
			}
		}
		if found {
			break
		}
	}
	if !found || ret == nil {
		ret = lookup[def]
	}
	if base != "" {
		if bv, ok := lookup[base]; ok {
			if ret == nil {
				ret = bv
			} else if bm, ok := bv.(map[string]any); ok {
				rm, ok := ret.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("filter_by default and look-up values must both be dictionaries")
				}
				ret = Update(DeepCopy(bm).(map[string]any), rm, true, false)
			}
		}
	}
	if merge != nil {
		if ret == nil {
			ret = merge
		} else {
			rm, ok := ret.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("filter_by merge argument must be a dictionary")
			}
			ret = Update(DeepCopy(rm).(map[string]any), DeepCopy(merge).(map[string]any), true, false)
		}
	}
	return ret, nil
}

var (
	fnmatchMu    sync.Mutex
	fnmatchCache = map[string]*regexp.Regexp{}
)

// fnmatchCase matches name against a shell glob the way Python's
// fnmatch.fnmatchcase does: * and ? match any character including "/",
// [seq] and [!seq] are character classes.
func fnmatchCase(name, pat string) bool {
	if !strings.ContainsAny(pat, "*?[") {
		return name == pat
	}
	fnmatchMu.Lock()
	re, ok := fnmatchCache[pat]
	if !ok {
		var err error
		if re, err = regexp.Compile(globToRegexp(pat)); err != nil {
			// A class Go's regexp refuses ([z-a]) matches only itself.
			re = regexp.MustCompile(`\A` + regexp.QuoteMeta(pat) + `\z`)
		}
		if len(fnmatchCache) < 4096 {
			fnmatchCache[pat] = re
		}
	}
	fnmatchMu.Unlock()
	return re.MatchString(name)
}

func globToRegexp(pat string) string {
	var b strings.Builder
	b.WriteString(`(?s)\A`)
	for i := 0; i < len(pat); i++ {
		c := pat[i]
		switch c {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		case '[':
			j := i + 1
			if j < len(pat) && pat[j] == '!' {
				j++
			}
			if j < len(pat) && pat[j] == ']' {
				j++
			}
			for j < len(pat) && pat[j] != ']' {
				j++
			}
			if j >= len(pat) {
				b.WriteString(`\[`)
				continue
			}
			class := pat[i+1 : j]
			i = j
			neg := strings.HasPrefix(class, "!")
			if neg {
				class = class[1:]
			}
			class = strings.ReplaceAll(class, `\`, `\\`)
			class = strings.ReplaceAll(class, `[`, `\[`)
			if neg {
				b.WriteString("[^" + class + "]")
			} else if strings.HasPrefix(class, "^") {
				b.WriteString(`[\` + class + "]")
			} else {
				b.WriteString("[" + class + "]")
			}
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString(`\z`)
	return b.String()
}
