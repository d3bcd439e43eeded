package compile

import (
	"fmt"
	"math"
	"sort"

	"github.com/brine-cm/brine/states"
)

// IncludedFromArg is the chunk argument listing the SLS files that
// include the chunk's SLS, so an `sls:` requisite covers included files.
const IncludedFromArg = "__sls_included_from__"

// Low compiles high data into low chunks, one per module function and
// name (names expanded), ordered as Salt orders them.
func Low(high HighData) ([]states.Chunk, error) {
	var chunks []states.Chunk
	var errs []string
	for _, id := range high.IDs {
		d := high.Decls[id]
		if d == nil {
			continue
		}
		for _, s := range d.States {
			if s.Fun == "" {
				errs = append(errs, fmt.Sprintf("%s: No function declared in state '%s' in SLS '%s'", s.Pos, s.Module, d.SLS))
				continue
			}
			base := map[string]any{}
			if len(d.IncludedFrom) > 0 {
				base[IncludedFromArg] = toAny(d.IncludedFrom)
			}
			var names []any
			seenNames := map[string]bool{}
			var order any
			if s.AutoOrder > 0 {
				order = s.AutoOrder
			}
			name := id
			for _, a := range s.Args {
				switch a.Key {
				case "names":
					if l, ok := a.Value.([]any); ok {
						for _, n := range l {
							if str, ok := n.(string); ok {
								if seenNames[str] {
									continue
								}
								seenNames[str] = true
							}
							names = append(names, n)
						}
					}
				case "state":
				case "name":
					if str, ok := a.Value.(string); ok {
						name = str
					} else if a.Value != nil {
						name = scalarName(a.Value)
					}
				case "order":
					order = a.Value
				default:
					base[a.Key] = a.Value
				}
			}
			mk := func(n string, extra map[string]any, nameOrder int) {
				args := make(map[string]any, len(base)+len(extra))
				for k, v := range base {
					args[k] = v
				}
				o := order
				for k, v := range extra {
					switch k {
					case "order":
						o = v
					case "name", "names", "state":
					default:
						args[k] = v
					}
				}
				if nameOrder > 0 {
					args["__name_order__"] = nameOrder
				}
				chunks = append(chunks, states.Chunk{
					State: s.Module, Fun: s.Fun, ID: id, Name: n, SLS: d.SLS, Env: d.Env,
					Order: o, Args: args, Pos: s.Pos, Index: len(chunks),
				})
			}
			if len(names) == 0 {
				mk(name, nil, 0)
				continue
			}
			for i, n := range names {
				switch t := n.(type) {
				case map[string]any:
					for _, k := range sortedKeys(t) {
						extra := map[string]any{}
						switch v := t[k].(type) {
						case []any:
							for _, e := range v {
								if m, ok := e.(map[string]any); ok {
									for mk, mv := range m {
										extra[mk] = mv
									}
								}
							}
						case map[string]any:
							extra = v
						}
						mk(k, extra, i+1)
					}
				case nil:
				default:
					mk(scalarName(t), nil, i+1)
				}
			}
		}
	}
	if len(errs) > 0 {
		return nil, &Errors{List: errs}
	}
	SortChunks(chunks)
	return chunks, nil
}

// scalarName prints a non-string scalar name as Salt's str() would, so
// `name: yes` is "True" as in Salt, not Go's "true".
func scalarName(v any) string {
	if b, ok := v.(bool); ok {
		if b {
			return "True"
		}
		return "False"
	}
	return fmt.Sprint(v)
}

// SortChunks orders chunks as Salt's order_chunks does and rewrites each
// Order to the resolved number: explicit int orders first, "first" is 0,
// chunks without an order get the cap (highest int order + 100), "last"
// and negative orders go after everything else, names expansions keep
// their list order, ties break on state+name+function.
func SortChunks(chunks []states.Chunk) {
	cap := 1
	for _, c := range chunks {
		if o, ok := c.Order.(int); ok && o > cap-1 && o > 0 {
			cap = o + 100
		}
	}
	keys := make([]float64, len(chunks))
	for i := range chunks {
		c := &chunks[i]
		var o float64
		switch v := c.Order.(type) {
		case int:
			o = float64(v)
		case int64:
			o = float64(v)
		case float64:
			o = v
		case string:
			switch v {
			case "last":
				o = float64(cap + 1000000)
			case "first":
				o = 0
			default:
				o = float64(cap)
			}
		default:
			o = float64(cap)
		}
		if no, ok := c.Args["__name_order__"].(int); ok {
			o += float64(no) / 10000.0
			delete(c.Args, "__name_order__")
		}
		if o < 0 {
			o = float64(cap+1000000) + o
		}
		if o == math.Trunc(o) && math.Abs(o) < 1<<52 {
			c.Order = int(o)
		} else {
			c.Order = o
		}
		keys[i] = o
	}
	idx := make([]int, len(chunks))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		ka, kb := keys[idx[a]], keys[idx[b]]
		if ka != kb {
			return ka < kb
		}
		ca, cb := &chunks[idx[a]], &chunks[idx[b]]
		return ca.State+ca.Name+ca.Fun < cb.State+cb.Name+cb.Fun
	})
	sorted := make([]states.Chunk, len(chunks))
	for i, j := range idx {
		sorted[i] = chunks[j]
	}
	copy(chunks, sorted)
}
