package compile

import (
	"sort"

	"github.com/brine-cm/brine/states"
)

// HighData is Salt's high data: every state ID of the compiled SLS tree,
// each with its module declarations and their arguments, in definition
// order. It is kept as ordered slices (not maps) so that argument order,
// which Salt preserves, survives to the low chunks and to show_sls.
type HighData struct {
	// IDs lists the state IDs in definition order (included SLS first).
	IDs []string
	// Decls maps a state ID to its declaration.
	Decls map[string]*Decl
}

// Decl is one state ID with its module declarations.
type Decl struct {
	ID     string
	SLS    string
	Env    string
	Pos    states.Pos
	States []*StateDecl
	// IncludedFrom lists the SLS files that include SLS, directly or not.
	IncludedFrom []string
}

// StateDecl is one `module.function` under an ID with its arguments.
type StateDecl struct {
	Module string
	Fun    string
	Args   []Arg
	Pos    states.Pos
	// AutoOrder is Salt's state_auto_order position (10000 upwards), or
	// 0 when the declaration carries an explicit order argument.
	AutoOrder int
}

// Arg is one `- key: value` argument; Value is decoded with Salt's
// scalar rules.
type Arg struct {
	Key   string
	Value any
	Pos   states.Pos
}

// State returns the declaration of module under the ID, or nil.
func (d *Decl) State(module string) *StateDecl {
	for _, s := range d.States {
		if s.Module == module {
			return s
		}
	}
	return nil
}

// Arg returns the value of the last argument named key and whether it exists.
func (s *StateDecl) Arg(key string) (any, bool) {
	for i := len(s.Args) - 1; i >= 0; i-- {
		if s.Args[i].Key == key {
			return s.Args[i].Value, true
		}
	}
	return nil, false
}

func (s *StateDecl) argIndex(key string) int {
	for i, a := range s.Args {
		if a.Key == key {
			return i
		}
	}
	return -1
}

// Map renders the high data in the shape Salt's state.show_sls prints:
// ID -> {"__sls__", "__env__", module: [{arg: value}..., "function",
// {"order": n}]}.
func (h HighData) Map() map[string]any {
	out := make(map[string]any, len(h.IDs))
	for _, id := range h.IDs {
		d := h.Decls[id]
		body := map[string]any{"__sls__": d.SLS, "__env__": d.Env}
		for _, s := range d.States {
			var list []any
			for _, a := range s.Args {
				list = append(list, map[string]any{a.Key: a.Value})
			}
			if s.Fun != "" {
				list = append(list, s.Fun)
			}
			if s.AutoOrder > 0 {
				list = append(list, map[string]any{"order": s.AutoOrder})
			}
			body[s.Module] = list
		}
		out[id] = body
	}
	return out
}

func (h *HighData) add(d *Decl) {
	if h.Decls == nil {
		h.Decls = map[string]*Decl{}
	}
	h.IDs = append(h.IDs, d.ID)
	h.Decls[d.ID] = d
}

func (h *HighData) remove(ids map[string]bool) {
	if len(ids) == 0 {
		return
	}
	keep := h.IDs[:0]
	for _, id := range h.IDs {
		if ids[id] {
			delete(h.Decls, id)
			continue
		}
		keep = append(keep, id)
	}
	h.IDs = keep
}

// sortedKeys is used where Go map order would otherwise leak into output.
func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func toAny(l []string) []any {
	out := make([]any, len(l))
	for i, s := range l {
		out[i] = s
	}
	return out
}
