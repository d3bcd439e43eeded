package render

import (
	"fmt"
	"reflect"
	"sort"

	"github.com/nikolalohinski/gonja/v2/exec"
)

// Values cross two worlds: plain Go data (what YAML, pillar and execution
// modules speak) and the template world, where Python semantics expect
// lists and dicts to be shared references that `.append()`, `.update()` and
// `{% do %}` mutate in place. In the template world a dict is a
// map[string]any (already a reference) and a list is a *[]any, so a nested
// list appended to through any path is the list everybody sees.

// toJinja deep-converts plain data into the template representation.
func toJinja(v any) any {
	switch t := v.(type) {
	case nil, bool, string, int, float64:
		return t
	case *exec.Value:
		if t == nil {
			return nil
		}
		return toJinja(t.Interface())
	case *[]any:
		return t
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = toJinja(e)
		}
		return &out
	case exec.ValuesList:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = toJinja(e)
		}
		return &out
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = toJinja(e)
		}
		return out
	case *exec.Dict:
		if t == nil {
			return nil
		}
		return dictToMap(t, toJinja)
	case exec.Dict:
		return dictToMap(&t, toJinja)
	}
	return convertReflect(v, toJinja, true)
}

// toGo deep-converts template values into plain data for execution modules,
// serialisers and YAML decoding.
func toGo(v any) any {
	switch t := v.(type) {
	case nil, bool, string, int, float64:
		return t
	case *exec.Value:
		if t == nil {
			return nil
		}
		return toGo(t.Interface())
	case *[]any:
		if t == nil {
			return nil
		}
		out := make([]any, len(*t))
		for i, e := range *t {
			out[i] = toGo(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = toGo(e)
		}
		return out
	case exec.ValuesList:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = toGo(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = toGo(e)
		}
		return out
	case *exec.Dict:
		if t == nil {
			return nil
		}
		return dictToMap(t, toGo)
	case exec.Dict:
		return dictToMap(&t, toGo)
	case error:
		return t.Error()
	}
	return convertReflect(v, toGo, false)
}

func dictToMap(d *exec.Dict, conv func(any) any) map[string]any {
	out := make(map[string]any, len(d.Pairs))
	for _, p := range d.Pairs {
		if p == nil || p.Key == nil {
			continue
		}
		var val any
		if p.Value != nil {
			val = conv(p.Value.Interface())
		}
		out[p.Key.String()] = val
	}
	return out
}

// convertReflect handles the long tail: other int and float widths, typed
// slices and maps, channels produced by range(), pointers.
func convertReflect(v any, conv func(any) any, listPtr bool) any {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		return nil
	}
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return int(rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return int(rv.Uint())
	case reflect.Float32, reflect.Float64:
		return rv.Float()
	case reflect.Bool:
		return rv.Bool()
	case reflect.String:
		return rv.String()
	case reflect.Slice, reflect.Array:
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = conv(rv.Index(i).Interface())
		}
		if listPtr {
			return &out
		}
		return out
	case reflect.Map:
		out := make(map[string]any, rv.Len())
		iter := rv.MapRange()
		for iter.Next() {
			out[keyString(iter.Key().Interface())] = conv(iter.Value().Interface())
		}
		return out
	case reflect.Chan:
		if rv.Type().ChanDir()&reflect.RecvDir == 0 {
			return nil
		}
		var out []any
		for {
			x, ok := rv.Recv()
			if !ok {
				break
			}
			out = append(out, conv(x.Interface()))
		}
		if listPtr {
			return &out
		}
		return out
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return nil
		}
		return conv(rv.Elem().Interface())
	case reflect.Func:
		if listPtr {
			return v
		}
		return fmt.Sprintf("<function %s>", rv.Type())
	}
	if listPtr {
		return v
	}
	return fmt.Sprint(v)
}

// keyString turns a mapping key into the string Salt would see after
// str(): True/False/None as Python spells them.
func keyString(k any) string {
	switch t := k.(type) {
	case string:
		return t
	case nil:
		return "None"
	case bool:
		if t {
			return "True"
		}
		return "False"
	case *exec.Value:
		return t.String()
	}
	return fmt.Sprint(toGo(k))
}

// valueMap returns the live map behind a dict value, so methods mutate the
// dict the template holds rather than a copy.
func valueMap(v *exec.Value) (map[string]any, bool) {
	switch t := v.Interface().(type) {
	case map[string]any:
		return t, true
	case *exec.Dict:
		if t == nil {
			return nil, false
		}
		return dictToMap(t, toJinja), true
	}
	return nil, false
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func listPtr(items []any) *[]any { return &items }

// goList flattens any iterable template value into plain elements (still
// in template representation).
func iterList(v *exec.Value) []any {
	switch t := v.Interface().(type) {
	case *[]any:
		if t == nil {
			return nil
		}
		return *t
	case []any:
		return t
	case map[string]any:
		keys := sortedKeys(t)
		out := make([]any, len(keys))
		for i, k := range keys {
			out[i] = k
		}
		return out
	}
	var out []any
	if v.IsNil() || !v.IsIterable() && !isChan(v) {
		return nil
	}
	if isChan(v) {
		c := toJinja(v.Interface())
		if p, ok := c.(*[]any); ok && p != nil {
			return *p
		}
		return nil
	}
	v.Iterate(func(_, _ int, key, _ *exec.Value) bool {
		out = append(out, toJinja(key))
		return true
	}, func() {})
	return out
}

func isChan(v *exec.Value) bool {
	return v.Val.IsValid() && v.Val.Kind() == reflect.Chan
}
