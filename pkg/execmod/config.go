package execmod

import "fmt"

// registerConfig adds Salt's config module: one lookup that spans the
// minion options, grains and pillar, so formulas read settings without
// caring where an operator put them.
func registerConfig(r *Registry) {
	r.Register("config.get", "Return the first value of a ':'-path found in the minion options, grains, pillar, then pillar['master']; merge=recurse|overwrite merges them.\nCLI Example: brine-master run '*' config.get pkg:apache", configGet)
	r.Register("config.option", "Return a top-level option from the minion options, grains, pillar or pillar['master'], or default.\nCLI Example: brine-master run '*' config.option file_roots", configOption)
	r.Register("config.items", "Return the minion's options.\nCLI Example: brine-master run '*' config.items", configItems)
}

func optsOf(c *Context) map[string]any {
	if c == nil || c.Opts == nil {
		return map[string]any{}
	}
	return c.Opts
}

// ConfigSources returns the maps config.get searches, in Salt's order,
// with the flags that omit each: options, grains, pillar, then the master
// options copied into pillar["master"].
func configSources(c *Context, omit map[string]bool) []map[string]any {
	var out []map[string]any
	if !omit["opts"] {
		out = append(out, optsOf(c))
	}
	if !omit["grains"] {
		out = append(out, grainsOf(c))
	}
	if !omit["pillar"] {
		out = append(out, pillarOf(c))
	}
	if !omit["master"] {
		if m, ok := pillarOf(c)["master"].(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func omitFlags(kw map[string]any) (map[string]bool, error) {
	omit := map[string]bool{}
	for _, k := range []string{"opts", "grains", "pillar", "master"} {
		b, err := Bool(kw, "omit_"+k, false)
		if err != nil {
			return nil, err
		}
		omit[k] = b
	}
	if all, err := Bool(kw, "omit_all", false); err != nil {
		return nil, err
	} else if all {
		for k := range omit {
			omit[k] = true
		}
	}
	return omit, nil
}

func configGet(c *Context, args []any, kwargs map[string]any) (any, error) {
	kw, err := Bind("config.get", args, kwargs, "key", "default", "delimiter", "merge", "omit_opts", "omit_pillar", "omit_master", "omit_grains")
	if err != nil {
		return nil, err
	}
	if err := Require("config.get", kw, "key"); err != nil {
		return nil, err
	}
	key, err := Str(kw, "key", "")
	if err != nil {
		return nil, err
	}
	delim, err := Str(kw, "delimiter", DefaultDelimiter)
	if err != nil {
		return nil, err
	}
	merge, err := Str(kw, "merge", "")
	if err != nil {
		return nil, err
	}
	omit, err := omitFlags(kw)
	if err != nil {
		return nil, err
	}
	def := kw["default"]
	if def == nil {
		def = ""
	}
	sources := configSources(c, omit)
	if merge == "" {
		for _, src := range sources {
			if v, ok := Traverse(src, key, delim); ok {
				return v, nil
			}
		}
		return def, nil
	}
	if merge != "recurse" && merge != "overwrite" {
		c.Logger().Warn(fmt.Sprintf("Unsupported merge strategy '%s'. Falling back to 'recurse'.", merge))
		merge = "recurse"
	}
	// Lowest priority first, so the options win.
	data := map[string]any{}
	for i := len(sources) - 1; i >= 0; i-- {
		if data, err = Merge(data, sources[i], merge, "yaml", false); err != nil {
			return nil, err
		}
	}
	if v, ok := Traverse(data, key, delim); ok {
		return v, nil
	}
	return def, nil
}

func configOption(c *Context, args []any, kwargs map[string]any) (any, error) {
	kw, err := Bind("config.option", args, kwargs, "value", "default", "omit_opts", "omit_grains", "omit_pillar", "omit_master", "omit_all")
	if err != nil {
		return nil, err
	}
	if err := Require("config.option", kw, "value"); err != nil {
		return nil, err
	}
	key, err := Str(kw, "value", "")
	if err != nil {
		return nil, err
	}
	omit, err := omitFlags(kw)
	if err != nil {
		return nil, err
	}
	for _, src := range configSources(c, omit) {
		if v, ok := src[key]; ok {
			return v, nil
		}
	}
	if d := kw["default"]; d != nil {
		return d, nil
	}
	return "", nil
}

func configItems(c *Context, _ []any, _ map[string]any) (any, error) {
	return optsOf(c), nil
}
