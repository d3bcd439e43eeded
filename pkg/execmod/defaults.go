package execmod

import (
	"errors"
	"fmt"

	"gopkg.in/yaml.v3"
)

// registerDefaults adds Salt's defaults module, which formulas use to
// keep their default settings in defaults.yaml and merge pillar over them.
func registerDefaults(r *Registry) {
	r.Register("defaults.get", "Return a value from salt://<formula>/defaults.json or defaults.yaml; the key is formula:path.\nCLI Example: brine-master run '*' defaults.get core:users:root", defaultsGet)
	r.Register("defaults.merge", "Deep-merge src into dest (in place unless in_place=False); merge_lists extends lists.\nCLI Example: brine-master run '*' defaults.merge '{a: b}' '{d: e}'", defaultsMerge)
	r.Register("defaults.update", "Merge defaults under every entry of dest (merge_lists=True by default).\nCLI Example: brine-master run '*' defaults.update '{host1: {port: 80}}' '{port: 8080, ssl: false}'", defaultsUpdate)
	r.Register("defaults.deepcopy", "Return a deep copy of the given value.\nCLI Example: brine-master run '*' defaults.deepcopy '{a: [1, 2]}'", defaultsDeepcopy)
}

func defaultsGet(c *Context, args []any, kwargs map[string]any) (any, error) {
	kw, err := Bind("defaults.get", args, kwargs, "key", "default")
	if err != nil {
		return nil, err
	}
	if err := Require("defaults.get", kw, "key"); err != nil {
		return nil, err
	}
	key, err := Str(kw, "key", "")
	if err != nil {
		return nil, err
	}
	def := kw["default"]
	if def == nil {
		def = ""
	}
	formula, rest := key, ""
	for i := 0; i < len(key); i++ {
		if key[i] == ':' {
			formula, rest = key[:i], key[i+1:]
			break
		}
	}
	data, err := loadDefaults(c, formula)
	if err != nil {
		return nil, err
	}
	if rest == "" {
		return data, nil
	}
	if v, ok := Traverse(data, rest, DefaultDelimiter); ok {
		return v, nil
	}
	return def, nil
}

// loadDefaults reads salt://<formula>/defaults.json, else defaults.yaml,
// as Salt's defaults module does; neither existing gives an empty map.
func loadDefaults(c *Context, formula string) (map[string]any, error) {
	if c == nil || c.Files == nil {
		return nil, errors.New("defaults.get: no file client configured")
	}
	for _, name := range []string{"defaults.json", "defaults.yaml"} {
		url := "salt://" + formula + "/" + name
		b, err := c.Files.Read(c.Context(), url)
		if err != nil {
			continue
		}
		var out map[string]any
		// JSON is YAML, so one decoder reads both.
		if err := yaml.Unmarshal(b, &out); err != nil {
			return nil, fmt.Errorf("defaults.get: parse %s: %w", url, err)
		}
		if out == nil {
			out = map[string]any{}
		}
		return out, nil
	}
	return map[string]any{}, nil
}

func defaultsMerge(c *Context, args []any, kwargs map[string]any) (any, error) {
	kw, err := Bind("defaults.merge", args, kwargs, "dest", "src", "merge_lists", "in_place", "convert_none")
	if err != nil {
		return nil, err
	}
	dest, err := mapArg("defaults.merge", kw, "dest", false)
	if err != nil {
		return nil, err
	}
	src, err := mapArg("defaults.merge", kw, "src", false)
	if err != nil {
		return nil, err
	}
	ml, err := Bool(kw, "merge_lists", false)
	if err != nil {
		return nil, err
	}
	inPlace, err := Bool(kw, "in_place", true)
	if err != nil {
		return nil, err
	}
	if !inPlace {
		dest = DeepCopy(dest).(map[string]any)
	}
	return Update(dest, src, true, ml), nil
}

func defaultsUpdate(c *Context, args []any, kwargs map[string]any) (any, error) {
	kw, err := Bind("defaults.update", args, kwargs, "dest", "defaults", "merge_lists", "in_place", "convert_none")
	if err != nil {
		return nil, err
	}
	dest, err := mapArg("defaults.update", kw, "dest", true)
	if err != nil {
		return nil, err
	}
	defs, err := mapArg("defaults.update", kw, "defaults", false)
	if err != nil {
		return nil, err
	}
	ml, err := Bool(kw, "merge_lists", true)
	if err != nil {
		return nil, err
	}
	inPlace, err := Bool(kw, "in_place", true)
	if err != nil {
		return nil, err
	}
	nodes := dest
	if !inPlace {
		nodes = DeepCopy(dest).(map[string]any)
	}
	for name, v := range nodes {
		vars, err := ToMap("dest["+name+"]", v)
		if err != nil {
			if v != nil {
				return nil, fmt.Errorf("defaults.update: %w", err)
			}
			vars = map[string]any{}
		}
		nodes[name] = Update(DeepCopy(defs).(map[string]any), vars, true, ml)
	}
	return nodes, nil
}

func defaultsDeepcopy(_ *Context, args []any, kwargs map[string]any) (any, error) {
	kw, err := Bind("defaults.deepcopy", args, kwargs, "source")
	if err != nil {
		return nil, err
	}
	return DeepCopy(kw["source"]), nil
}
