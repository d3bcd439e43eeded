package render

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/nikolalohinski/gonja/v2/exec"
)

// Values cross two worlds: plain Go data (what YAML, pillar and execution
// modules speak) and the template world, where Python semantics expect
// lists and dicts to be shared references that `.append()`, `.update()` and
// `{% do %}` mutate in place. In the template world a dict is a pyDict and
// a list a *pyList, so a nested list appended to through any path is the
// list everybody sees, and their methods are bound directly (gonja's
// generic method path deep-copies the receiver on every call).

// pyDict is a template dict.
type pyDict map[string]any

// pyList is a template list, always handled through a pointer.
type pyList []any

// GetAttribute binds dict methods (d.update, d.get, ...); other names
// fall through to item lookup.
func (d pyDict) GetAttribute(name string) (*exec.Value, bool) {
	m, ok := dictMethodTable[name]
	if !ok {
		return exec.AsValue(nil), false
	}
	return exec.AsValue(func(va *exec.VarArgs) (any, error) {
		return m(map[string]any(d), exec.AsValue(d), va)
	}), true
}

// String prints the dict as Python's repr, keys sorted.
func (d pyDict) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range sortedKeys(d) {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(pyRepr(k))
		b.WriteString(": ")
		b.WriteString(pyRepr(d[k]))
	}
	b.WriteByte('}')
	return b.String()
}

// GetAttribute binds list methods (l.append, l.extend, ...).
func (l *pyList) GetAttribute(name string) (*exec.Value, bool) {
	m, ok := listMethodTable[name]
	if !ok || l == nil {
		return exec.AsValue(nil), false
	}
	return exec.AsValue(func(va *exec.VarArgs) (any, error) {
		return m([]any(*l), exec.AsValue(l), va)
	}), true
}

// String prints the list as Python's repr.
func (l *pyList) String() string {
	if l == nil {
		return "None"
	}
	var b strings.Builder
	b.WriteByte('[')
	for i, e := range *l {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(pyRepr(e))
	}
	b.WriteByte(']')
	return b.String()
}

// pyRepr prints a value inside a container as Python's repr does.
func pyRepr(v any) string {
	switch t := v.(type) {
	case nil:
		return "None"
	case string:
		// Python picks double quotes when that avoids escaping.
		esc := strings.ReplaceAll(t, "\\", "\\\\")
		esc = strings.NewReplacer("\n", "\\n", "\r", "\\r", "\t", "\\t").Replace(esc)
		if strings.Contains(t, "'") && !strings.Contains(t, "\"") {
			return "\"" + esc + "\""
		}
		return "'" + strings.ReplaceAll(esc, "'", "\\'") + "'"
	case *exec.Value:
		if t == nil {
			return "None"
		}
		return pyRepr(t.Interface())
	}
	return exec.ToValue(v).String()
}

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
	case *pyList, pyDict:
		return t
	case []any:
		out := make(pyList, len(t))
		for i, e := range t {
			out[i] = toJinja(e)
		}
		return &out
	case *[]any:
		if t == nil {
			return nil
		}
		return toJinja(*t)
	case exec.ValuesList:
		out := make(pyList, len(t))
		for i, e := range t {
			out[i] = toJinja(e)
		}
		return &out
	case map[string]any:
		out := make(pyDict, len(t))
		for k, e := range t {
			out[k] = toJinja(e)
		}
		return out
	case *exec.Dict:
		if t == nil {
			return nil
		}
		return pyDict(dictToMap(t, toJinja))
	case exec.Dict:
		return pyDict(dictToMap(&t, toJinja))
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
	case *pyList:
		if t == nil {
			return nil
		}
		out := make([]any, len(*t))
		for i, e := range *t {
			out[i] = toGo(e)
		}
		return out
	case pyDict:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = toGo(e)
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
			l := pyList(out)
			return &l
		}
		return out
	case reflect.Map:
		out := make(map[string]any, rv.Len())
		iter := rv.MapRange()
		for iter.Next() {
			out[keyString(iter.Key().Interface())] = conv(iter.Value().Interface())
		}
		if listPtr {
			return pyDict(out)
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
			l := pyList(out)
			return &l
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
	case pyDict:
		return map[string]any(t), true
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

func sortedKeys[M ~map[string]any](m M) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func listPtr(items []any) *pyList {
	l := pyList(items)
	return &l
}

// goList flattens any iterable template value into plain elements (still
// in template representation).
func iterList(v *exec.Value) []any {
	switch t := v.Interface().(type) {
	case *pyList:
		if t == nil {
			return nil
		}
		return *t
	case []any:
		return t
	case pyDict:
		keys := sortedKeys(t)
		out := make([]any, len(keys))
		for i, k := range keys {
			out[i] = k
		}
		return out
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
		if p, ok := c.(*pyList); ok && p != nil {
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
