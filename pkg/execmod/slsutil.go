package execmod

import (
	"fmt"
	"reflect"
	"strings"
)

// registerSlsutil adds Salt's slsutil merge helpers, which SLS templates
// use to layer defaults, pillar and per-host overrides.
func registerSlsutil(r *Registry) {
	r.Register("slsutil.merge", "Merge obj_b into a copy of obj_a with a strategy (smart, recurse, overwrite, list, aggregate).\nCLI Example: brine-master run '*' slsutil.merge '{foo: Foo}' '{bar: Bar}'", slsutilMerge)
	r.Register("slsutil.merge_all", "Merge a list of maps in order with one strategy.\nCLI Example: brine-master run '*' slsutil.merge_all '[{foo: Foo}, {foo: Bar}]'", slsutilMergeAll)
	r.Register("slsutil.update", "Merge upd into dest in place, recursively unless recursive_update=False.\nCLI Example: brine-master run '*' slsutil.update '{foo: Foo}' '{bar: Bar}'", slsutilUpdate)
}

// Update merges upd into dest in place, as Salt's dictupdate.update: maps
// merge recursively (when recursive), lists are replaced, or extended
// with the new items when mergeLists is set, anything else is replaced.
// It returns dest (a new map when dest is nil).
func Update(dest, upd map[string]any, recursive, mergeLists bool) map[string]any {
	if dest == nil {
		dest = map[string]any{}
	}
	if !recursive {
		for k, v := range upd {
			dest[k] = v
		}
		return dest
	}
	for k, v := range upd {
		switch cur := dest[k].(type) {
		case map[string]any:
			if vm, ok := v.(map[string]any); ok {
				dest[k] = Update(cur, vm, true, mergeLists)
				continue
			}
		case []any:
			if vl, ok := v.([]any); ok && mergeLists {
				merged := DeepCopy(cur).([]any)
				for _, x := range vl {
					if !containsValue(merged, x) {
						merged = append(merged, x)
					}
				}
				dest[k] = merged
				continue
			}
		}
		dest[k] = v
	}
	return dest
}

func containsValue(l []any, x any) bool {
	for _, e := range l {
		if reflect.DeepEqual(e, x) {
			return true
		}
	}
	return false
}

// Merge combines two maps as Salt's dictupdate.merge does, never
// changing a: "recurse" (and "smart" with a non-yamlex renderer) deep
// merges b over a copy of a; "overwrite" replaces a's top-level values
// with b's before merging; "list" pairs the values of keys present in both
// as [a, b] and keeps only a's keys; "aggregate" and "none" merge as
// recurse does. An unknown strategy is an error.
func Merge(a, b map[string]any, strategy, renderer string, mergeLists bool) (map[string]any, error) {
	if strategy == "" {
		strategy = "smart"
	}
	if renderer == "" {
		renderer = "yaml"
	}
	if strategy == "smart" {
		parts := strings.Split(renderer, "|")
		if parts[len(parts)-1] == "yamlex" || strings.HasPrefix(renderer, "yamlex_") {
			strategy = "aggregate"
		} else {
			strategy = "recurse"
		}
	}
	switch strategy {
	case "list":
		out := map[string]any{}
		for k, v := range a {
			if bv, ok := b[k]; ok {
				out[k] = []any{v, bv}
			} else {
				out[k] = v
			}
		}
		return out, nil
	case "recurse", "aggregate", "none":
		return Update(DeepCopy(a).(map[string]any), b, true, mergeLists), nil
	case "overwrite":
		cp := DeepCopy(a).(map[string]any)
		for k, v := range b {
			if _, ok := cp[k]; ok {
				cp[k] = v
			}
		}
		return Update(cp, b, true, mergeLists), nil
	}
	return nil, fmt.Errorf("unknown merge strategy %q: want smart, recurse, overwrite, list, aggregate or none", strategy)
}

func mapArg(fn string, kw map[string]any, key string, required bool) (map[string]any, error) {
	if required {
		if err := Require(fn, kw, key); err != nil {
			return nil, err
		}
	}
	if kw[key] == "" {
		// Salt's `x or {}`: an empty string (an unset pillar) is no data.
		return map[string]any{}, nil
	}
	m, err := Map(kw, key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

// mergeOptions reads strategy=, renderer= and merge_lists=, which
// slsutil.merge and slsutil.merge_all take alike.
func mergeOptions(kw map[string]any) (strategy, renderer string, mergeLists bool, err error) {
	if strategy, err = Str(kw, "strategy", "smart"); err != nil {
		return "", "", false, err
	}
	if renderer, err = Str(kw, "renderer", "yaml"); err != nil {
		return "", "", false, err
	}
	if mergeLists, err = Bool(kw, "merge_lists", false); err != nil {
		return "", "", false, err
	}
	return strategy, renderer, mergeLists, nil
}

func slsutilMerge(c *Context, args []any, kwargs map[string]any) (any, error) {
	kw, err := Bind("slsutil.merge", args, kwargs, "obj_a", "obj_b", "strategy", "renderer", "merge_lists")
	if err != nil {
		return nil, err
	}
	a, err := mapArg("slsutil.merge", kw, "obj_a", true)
	if err != nil {
		return nil, err
	}
	b, err := mapArg("slsutil.merge", kw, "obj_b", true)
	if err != nil {
		return nil, err
	}
	strategy, renderer, ml, err := mergeOptions(kw)
	if err != nil {
		return nil, err
	}
	return Merge(a, b, strategy, renderer, ml)
}

func slsutilMergeAll(c *Context, args []any, kwargs map[string]any) (any, error) {
	kw, err := Bind("slsutil.merge_all", args, kwargs, "lst", "strategy", "renderer", "merge_lists")
	if err != nil {
		return nil, err
	}
	if err := Require("slsutil.merge_all", kw, "lst"); err != nil {
		return nil, err
	}
	lst, err := List(kw, "lst")
	if err != nil {
		return nil, err
	}
	strategy, renderer, ml, err := mergeOptions(kw)
	if err != nil {
		return nil, err
	}
	ret := map[string]any{}
	for i, o := range lst {
		m, err := ToMap(fmt.Sprintf("lst[%d]", i), o)
		if err != nil {
			return nil, fmt.Errorf("slsutil.merge_all: %w", err)
		}
		if ret, err = Merge(ret, m, strategy, renderer, ml); err != nil {
			return nil, err
		}
	}
	return ret, nil
}

func slsutilUpdate(c *Context, args []any, kwargs map[string]any) (any, error) {
	kw, err := Bind("slsutil.update", args, kwargs, "dest", "upd", "recursive_update", "merge_lists")
	if err != nil {
		return nil, err
	}
	dest, err := mapArg("slsutil.update", kw, "dest", true)
	if err != nil {
		return nil, err
	}
	upd, err := mapArg("slsutil.update", kw, "upd", true)
	if err != nil {
		return nil, err
	}
	rec, err := Bool(kw, "recursive_update", true)
	if err != nil {
		return nil, err
	}
	ml, err := Bool(kw, "merge_lists", false)
	if err != nil {
		return nil, err
	}
	return Update(dest, upd, rec, ml), nil
}
