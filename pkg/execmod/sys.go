package execmod

import (
	"fmt"
	"path"
	"sort"
	"strings"
)

// registerSys adds Salt's sys module: introspection of the registry so an
// operator can discover what a minion can run without reading code.
func registerSys(r *Registry) {
	r.Register("sys.list_functions", "List the functions of the named modules (all without arguments); globs are accepted.\nCLI Example: brine-master run '*' sys.list_functions sys", sysListFunctions)
	r.Register("sys.list_modules", "List the loaded execution modules, optionally filtered by globs.\nCLI Example: brine-master run '*' sys.list_modules 'c*'", sysListModules)
	r.Register("sys.doc", "Return the docs of the named functions or modules (all without arguments).\nCLI Example: brine-master run '*' sys.doc cmd.run", sysDoc)
}

func registry(c *Context) *Registry {
	if c == nil || c.Registry == nil {
		return NewRegistry()
	}
	return c.Registry
}

// matchFunctions applies Salt's sys.list_functions selection: a name with
// "*" or "." is a glob over full names; a bare name is a module, matched
// with its dot so "sys" does not also pick "sysctl".
func matchFunctions(all []string, sels []string) []string {
	if len(sels) == 0 {
		return all
	}
	set := map[string]bool{}
	for _, sel := range sels {
		for _, fn := range all {
			if strings.ContainsAny(sel, "*.?[") {
				if ok, _ := path.Match(sel, fn); ok {
					set[fn] = true
				}
			} else if strings.HasPrefix(fn, sel+".") {
				set[fn] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func strArgs(fn string, args []any) ([]string, error) {
	out := make([]string, 0, len(args))
	for i, a := range args {
		s, ok := ToString(a)
		if !ok {
			return nil, &ArgError{Arg: fmt.Sprintf("%s #%d", fn, i+1), Want: "a string", Got: a}
		}
		out = append(out, s)
	}
	return out, nil
}

func sysListFunctions(c *Context, args []any, _ map[string]any) (any, error) {
	sels, err := strArgs("sys.list_functions", args)
	if err != nil {
		return nil, err
	}
	return toAnyList(matchFunctions(registry(c).Names(), sels)), nil
}

func sysListModules(c *Context, args []any, _ map[string]any) (any, error) {
	sels, err := strArgs("sys.list_modules", args)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, fn := range registry(c).Names() {
		mod, _, _ := strings.Cut(fn, ".")
		if len(sels) == 0 {
			set[mod] = true
			continue
		}
		for _, sel := range sels {
			if ok, _ := path.Match(sel, mod); ok {
				set[mod] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return toAnyList(out), nil
}

func sysDoc(c *Context, args []any, _ map[string]any) (any, error) {
	sels, err := strArgs("sys.doc", args)
	if err != nil {
		return nil, err
	}
	reg := registry(c)
	out := map[string]any{}
	for _, fn := range matchFunctions(reg.Names(), sels) {
		e, _ := reg.Lookup(fn)
		out[fn] = e.Doc
	}
	// An exact function name that is also a prefix of nothing still counts.
	for _, sel := range sels {
		if e, ok := reg.Lookup(sel); ok {
			out[sel] = e.Doc
		}
	}
	return out, nil
}

func toAnyList(l []string) []any {
	out := make([]any, len(l))
	for i, s := range l {
		out[i] = s
	}
	return out
}
