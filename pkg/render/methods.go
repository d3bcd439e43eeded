package render

import (
	"errors"
	"fmt"
	"sort"

	"github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/exec"
)

// Python's dict and list methods, mutating the live value the template
// holds: formulas build their settings with `{% do x.update(...) %}` and
// `{% do l.append(...) %}` and expect every alias to see the change.

type dictMethod = exec.Method[map[string]any]
type listMethod = exec.Method[[]any]

func argCount(va *exec.VarArgs, name string, lo, hi int) error {
	if n := len(va.Args); n < lo || n > hi {
		if lo == hi {
			return exec.ErrInvalidCall(fmt.Errorf("%s() takes %d positional arguments but %d were given", name, lo, n))
		}
		return exec.ErrInvalidCall(fmt.Errorf("%s() takes %d to %d positional arguments but %d were given", name, lo, hi, n))
	}
	return nil
}

func liveMap(self map[string]any, sv *exec.Value) map[string]any {
	if m, ok := valueMap(sv); ok {
		return m
	}
	return self
}

func dictItems[M ~map[string]any](m M) *pyList {
	out := make([]any, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, listPtr([]any{k, m[k]}))
	}
	return listPtr(out)
}

var (
	dictMethodTable = dictMethodMap()
	listMethodTable = listMethodMap()
)

func dictMethods() *exec.MethodSet[map[string]any] { return exec.NewMethodSet(dictMethodMap()) }
func listMethods() *exec.MethodSet[[]any]          { return exec.NewMethodSet(listMethodMap()) }

func dictMethodMap() map[string]dictMethod {
	keys := func(self map[string]any, sv *exec.Value, va *exec.VarArgs) (any, error) {
		m := liveMap(self, sv)
		out := make([]any, 0, len(m))
		for _, k := range sortedKeys(m) {
			out = append(out, k)
		}
		return listPtr(out), nil
	}
	values := func(self map[string]any, sv *exec.Value, va *exec.VarArgs) (any, error) {
		m := liveMap(self, sv)
		out := make([]any, 0, len(m))
		for _, k := range sortedKeys(m) {
			out = append(out, m[k])
		}
		return listPtr(out), nil
	}
	items := func(self map[string]any, sv *exec.Value, va *exec.VarArgs) (any, error) {
		return dictItems(liveMap(self, sv)), nil
	}
	get := func(self map[string]any, sv *exec.Value, va *exec.VarArgs) (any, error) {
		if err := argCount(va, "get", 1, 2); err != nil {
			return nil, err
		}
		m := liveMap(self, sv)
		if v, ok := m[keyString(va.Args[0].Interface())]; ok {
			return v, nil
		}
		if len(va.Args) == 2 {
			return toJinja(va.Args[1].Interface()), nil
		}
		return nil, nil
	}
	return map[string]dictMethod{
		"keys":       keys,
		"iterkeys":   keys,
		"values":     values,
		"itervalues": values,
		"items":      items,
		"iteritems":  items,
		"get":        get,
		"has_key": func(self map[string]any, sv *exec.Value, va *exec.VarArgs) (any, error) {
			if err := argCount(va, "has_key", 1, 1); err != nil {
				return nil, err
			}
			_, ok := liveMap(self, sv)[keyString(va.Args[0].Interface())]
			return ok, nil
		},
		"update": func(self map[string]any, sv *exec.Value, va *exec.VarArgs) (any, error) {
			if err := argCount(va, "update", 0, 1); err != nil {
				return nil, err
			}
			m := liveMap(self, sv)
			if len(va.Args) == 1 {
				src := toJinja(va.Args[0].Interface())
				switch t := src.(type) {
				case pyDict:
					for k, v := range t {
						m[k] = v
					}
				case *pyList:
					for _, e := range *t {
						pair, ok := e.(*pyList)
						if !ok || len(*pair) != 2 {
							return nil, errors.New("dictionary update sequence element is not a pair")
						}
						m[keyString((*pair)[0])] = (*pair)[1]
					}
				case nil:
					return nil, errors.New("'NoneType' object is not iterable")
				default:
					return nil, fmt.Errorf("cannot update a dict from %T", t)
				}
			}
			for k, v := range va.KwArgs {
				m[k] = toJinja(v.Interface())
			}
			return nil, nil
		},
		"setdefault": func(self map[string]any, sv *exec.Value, va *exec.VarArgs) (any, error) {
			if err := argCount(va, "setdefault", 1, 2); err != nil {
				return nil, err
			}
			m := liveMap(self, sv)
			k := keyString(va.Args[0].Interface())
			if v, ok := m[k]; ok {
				return v, nil
			}
			var def any
			if len(va.Args) == 2 {
				def = toJinja(va.Args[1].Interface())
			}
			m[k] = def
			return def, nil
		},
		"pop": func(self map[string]any, sv *exec.Value, va *exec.VarArgs) (any, error) {
			if err := argCount(va, "pop", 1, 2); err != nil {
				return nil, err
			}
			m := liveMap(self, sv)
			k := keyString(va.Args[0].Interface())
			if v, ok := m[k]; ok {
				delete(m, k)
				return v, nil
			}
			if len(va.Args) == 2 {
				return toJinja(va.Args[1].Interface()), nil
			}
			return nil, fmt.Errorf("KeyError: %q", k)
		},
		"copy": func(self map[string]any, sv *exec.Value, va *exec.VarArgs) (any, error) {
			m := liveMap(self, sv)
			out := make(pyDict, len(m))
			for k, v := range m {
				out[k] = v
			}
			return out, nil
		},
		"clear": func(self map[string]any, sv *exec.Value, va *exec.VarArgs) (any, error) {
			m := liveMap(self, sv)
			for k := range m {
				delete(m, k)
			}
			return nil, nil
		},
	}
}

// liveList returns a pointer to the list behind v and, for a plain slice,
// a commit function that writes the result back into v (gonja then
// stores it back under the variable's name).
func liveList(self []any, sv *exec.Value) (*pyList, func()) {
	if p, ok := sv.Interface().(*pyList); ok && p != nil {
		return p, func() {}
	}
	cp := make(pyList, len(self))
	copy(cp, self)
	p := &cp
	return p, func() { *sv = *exec.AsValue(p) }
}

func listMethodMap() map[string]listMethod {
	return map[string]listMethod{
		"append": func(self []any, sv *exec.Value, va *exec.VarArgs) (any, error) {
			if err := argCount(va, "append", 1, 1); err != nil {
				return nil, err
			}
			p, commit := liveList(self, sv)
			*p = append(*p, toJinja(va.Args[0].Interface()))
			commit()
			return nil, nil
		},
		"extend": func(self []any, sv *exec.Value, va *exec.VarArgs) (any, error) {
			if err := argCount(va, "extend", 1, 1); err != nil {
				return nil, err
			}
			p, commit := liveList(self, sv)
			*p = append(*p, iterList(va.Args[0])...)
			commit()
			return nil, nil
		},
		"insert": func(self []any, sv *exec.Value, va *exec.VarArgs) (any, error) {
			if err := argCount(va, "insert", 2, 2); err != nil {
				return nil, err
			}
			p, commit := liveList(self, sv)
			i := pyIndex(va.Args[0].Integer(), len(*p), true)
			*p = append(*p, nil)
			copy((*p)[i+1:], (*p)[i:])
			(*p)[i] = toJinja(va.Args[1].Interface())
			commit()
			return nil, nil
		},
		"pop": func(self []any, sv *exec.Value, va *exec.VarArgs) (any, error) {
			if err := argCount(va, "pop", 0, 1); err != nil {
				return nil, err
			}
			p, commit := liveList(self, sv)
			if len(*p) == 0 {
				return nil, errors.New("pop from empty list")
			}
			i := len(*p) - 1
			if len(va.Args) == 1 {
				i = va.Args[0].Integer()
				if i < 0 {
					i += len(*p)
				}
				if i < 0 || i >= len(*p) {
					return nil, errors.New("pop index out of range")
				}
			}
			v := (*p)[i]
			*p = append((*p)[:i], (*p)[i+1:]...)
			commit()
			return v, nil
		},
		"remove": func(self []any, sv *exec.Value, va *exec.VarArgs) (any, error) {
			if err := argCount(va, "remove", 1, 1); err != nil {
				return nil, err
			}
			p, commit := liveList(self, sv)
			for i, e := range *p {
				if exec.ToValue(e).EqualValueTo(va.Args[0]) {
					*p = append((*p)[:i], (*p)[i+1:]...)
					commit()
					return nil, nil
				}
			}
			return nil, errors.New("list.remove(x): x not in list")
		},
		"index": func(self []any, sv *exec.Value, va *exec.VarArgs) (any, error) {
			if err := argCount(va, "index", 1, 1); err != nil {
				return nil, err
			}
			for i, e := range self {
				if exec.ToValue(e).EqualValueTo(va.Args[0]) {
					return i, nil
				}
			}
			return nil, errors.New("x not in list")
		},
		"count": func(self []any, sv *exec.Value, va *exec.VarArgs) (any, error) {
			if err := argCount(va, "count", 1, 1); err != nil {
				return nil, err
			}
			n := 0
			for _, e := range self {
				if exec.ToValue(e).EqualValueTo(va.Args[0]) {
					n++
				}
			}
			return n, nil
		},
		"reverse": func(self []any, sv *exec.Value, va *exec.VarArgs) (any, error) {
			p, commit := liveList(self, sv)
			s := *p
			for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
				s[i], s[j] = s[j], s[i]
			}
			commit()
			return nil, nil
		},
		"sort": func(self []any, sv *exec.Value, va *exec.VarArgs) (any, error) {
			p, commit := liveList(self, sv)
			rev := va.GetKeywordArgument("reverse", false).IsTrue()
			sort.SliceStable(*p, func(i, j int) bool {
				if rev {
					return lessValue((*p)[j], (*p)[i])
				}
				return lessValue((*p)[i], (*p)[j])
			})
			commit()
			return nil, nil
		},
		"copy": func(self []any, sv *exec.Value, va *exec.VarArgs) (any, error) {
			cp := make([]any, len(self))
			copy(cp, self)
			return listPtr(cp), nil
		},
	}
}

func pyIndex(i, n int, clamp bool) int {
	if i < 0 {
		i += n
	}
	if clamp {
		if i < 0 {
			i = 0
		}
		if i > n {
			i = n
		}
	}
	return i
}

func lessValue(a, b any) bool {
	va, vb := exec.ToValue(a), exec.ToValue(b)
	switch {
	case va.IsNumber() && vb.IsNumber():
		return va.Float() < vb.Float()
	default:
		return va.String() < vb.String()
	}
}

func newMethods() exec.Methods {
	return exec.Methods{
		Bool:  builtins.Methods.Bool,
		Int:   builtins.Methods.Int,
		Float: builtins.Methods.Float,
		Str:   guardedStrMethods(),
		Dict:  dictMethods(),
		List:  listMethods(),
	}
}
