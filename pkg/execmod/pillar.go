package execmod

import (
	"fmt"
	"log/slog"
)

// registerPillar adds Salt's pillar module, the read side of the
// per-minion secrets and configuration data.
func registerPillar(r *Registry) {
	r.Register("pillar.get", "Return a pillar value by a ':'-delimited path, or default (''); merge=True merges a map/list default.\nCLI Example: brine-master run '*' pillar.get pkg:apache", pillarGet)
	r.Register("pillar.item", "Return the named pillar values as a map (default=, delimiter=).\nCLI Example: brine-master run '*' pillar.item foo bar", pillarItem)
	r.Register("pillar.items", "Return all of the minion's pillar data.\nCLI Example: brine-master run '*' pillar.items", pillarItems)
	r.Register("pillar.data", "Alias of pillar.items.\nCLI Example: brine-master run '*' pillar.data", pillarItems)
	r.Register("pillar.raw", "Return the pillar as held by the minion, or one top-level key of it.\nCLI Example: brine-master run '*' pillar.raw key=roles", pillarRaw)
	r.Register("pillar.ls", "Return the sorted top-level pillar keys.\nCLI Example: brine-master run '*' pillar.ls", pillarLs)
	r.Register("pillar.keys", "Return the sorted keys of the map at a pillar path.\nCLI Example: brine-master run '*' pillar.keys web:sites", pillarKeys)
	r.Register("pillar.has_value", "Return True if the pillar path exists.\nCLI Example: brine-master run '*' pillar.has_value web:port", pillarHasValue)
	r.Register("pillar.filter_by", "Pick the entry of lookup_dict whose key matches the pillar value at pillar (a path).\nCLI Example: brine-master run '*' pillar.filter_by '{web: Serve, db: Store}' pillar=role", pillarFilterBy)
}

func pillarOf(c *Context) map[string]any {
	if c == nil || c.Pillar == nil {
		return map[string]any{}
	}
	return c.Pillar
}

func pillarGet(c *Context, args []any, kwargs map[string]any) (any, error) {
	kw, err := Bind("pillar.get", args, kwargs, "key", "default", "merge", "merge_nested_lists", "delimiter", "pillarenv", "saltenv")
	if err != nil {
		return nil, err
	}
	key, delim, err := keyAndDelimiter("pillar.get", kw)
	if err != nil {
		return nil, err
	}
	merge, err := Bool(kw, "merge", false)
	if err != nil {
		return nil, err
	}
	mergeLists, err := Bool(kw, "merge_nested_lists", false)
	if err != nil {
		return nil, err
	}
	def, hasDef := kw["default"]
	if !hasDef {
		def = ""
	}
	return PillarGet(c.Logger(), pillarOf(c), key, def, delim, merge, mergeLists), nil
}

// PillarGet is pillar.get's lookup, exported for the Jinja
// `salt['pillar.get']` fast path and config.get: with merge, a map
// default is deep-merged under a map value and a list default is extended
// with a list value's new items; a type mismatch logs Salt's complaint
// and falls back to the plain lookup.
func PillarGet(log *slog.Logger, data map[string]any, key string, def any, delim string, merge, mergeLists bool) any {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if merge {
		v, ok := Traverse(data, key, delim)
		switch d := def.(type) {
		case map[string]any:
			if vm, isMap := v.(map[string]any); ok && isMap {
				return Update(DeepCopy(d).(map[string]any), vm, true, mergeLists)
			}
			if ok {
				log.Error(fmt.Sprintf("pillar.get: Default (%v) is a dict, but the returned pillar value (%v) is of type '%s'. Merge will be skipped.", d, v, typeName(v)))
			}
		case []any:
			if vl, isList := v.([]any); ok && isList {
				out := DeepCopy(d).([]any)
				for _, x := range vl {
					if !containsValue(out, x) {
						out = append(out, x)
					}
				}
				return out
			}
			if ok {
				log.Error(fmt.Sprintf("pillar.get: Default (%v) is a list, but the returned pillar value (%v) is of type '%s'. Merge will be skipped.", d, v, typeName(v)))
			}
		default:
			log.Error(fmt.Sprintf("pillar.get: Default (%v) is of type '%s', must be a dict or list to merge. Merge will be skipped.", def, typeName(def)))
		}
	}
	if v, ok := Traverse(data, key, delim); ok {
		return v
	}
	return def
}

func pillarItem(c *Context, args []any, kwargs map[string]any) (any, error) {
	return itemLookup("pillar.item", pillarOf(c), args, kwargs)
}

func pillarItems(c *Context, args []any, kwargs map[string]any) (any, error) {
	if len(args) > 0 {
		return itemLookup("pillar.items", pillarOf(c), args, kwargs)
	}
	return pillarOf(c), nil
}

func pillarRaw(c *Context, args []any, kwargs map[string]any) (any, error) {
	kw, err := Bind("pillar.raw", args, kwargs, "key")
	if err != nil {
		return nil, err
	}
	if Has(kw, "key") {
		key, err := Str(kw, "key", "")
		if err != nil {
			return nil, err
		}
		v, ok := pillarOf(c)[key]
		if !ok {
			return map[string]any{}, nil
		}
		return v, nil
	}
	return pillarOf(c), nil
}

func pillarLs(c *Context, _ []any, _ map[string]any) (any, error) {
	return sortedKeys(pillarOf(c)), nil
}

func pillarKeys(c *Context, args []any, kwargs map[string]any) (any, error) {
	kw, err := Bind("pillar.keys", args, kwargs, "key", "delimiter")
	if err != nil {
		return nil, err
	}
	key, delim, err := keyAndDelimiter("pillar.keys", kw)
	if err != nil {
		return nil, err
	}
	v, ok := Traverse(pillarOf(c), key, delim)
	if !ok {
		return nil, fmt.Errorf("Pillar key not found: %s", key)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("Pillar value in key %s is not a dict", key)
	}
	return sortedKeys(m), nil
}

func pillarHasValue(c *Context, args []any, kwargs map[string]any) (any, error) {
	return hasValue("pillar.has_value", pillarOf(c), args, kwargs)
}

func pillarFilterBy(c *Context, args []any, kwargs map[string]any) (any, error) {
	return filterByCall("pillar.filter_by", "pillar", "", pillarOf(c), args, kwargs)
}
