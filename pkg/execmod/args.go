package execmod

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Arguments reach a module function from three places: the operator's CLI
// (`key=value`, everything a string until parsed), SLS files (YAML-decoded
// ints, bools, lists, maps) and Jinja calls (whatever the template built).
// The helpers below coerce each of those into the Go type a function wants
// and, when they cannot, say which argument was wrong and what it held, so
// every module and state module reports bad input the same way.

// ArgError is the error every coercion helper returns, so callers (and
// tests) can tell bad input from a failing function.
type ArgError struct {
	Arg  string // argument name
	Want string // what was expected, e.g. "an integer"
	Got  any    // the offending value
	Msg  string // optional extra detail
}

// Error prints `argument "timeout": want an integer, got "ten" (string)`.
func (e *ArgError) Error() string {
	s := fmt.Sprintf("argument %q: want %s, got %s", e.Arg, e.Want, describe(e.Got))
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	return s
}

func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "nothing"
	case string:
		return fmt.Sprintf("%q (string)", x)
	default:
		s := Repr(x)
		if len(s) > 60 {
			s = s[:57] + "..."
		}
		return fmt.Sprintf("%s (%s)", s, typeName(v))
	}
}

// Repr prints a value as Python's repr would, so an argument error
// shows the offending value the way a Salt user wrote it ({'a': 1},
// [1, 'x'], True), not in Go's notation.
func Repr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case string:
		esc := strings.NewReplacer("\\", "\\\\", "\n", "\\n", "\r", "\\r", "\t", "\\t").Replace(x)
		if strings.Contains(x, "'") && !strings.Contains(x, "\"") {
			return "\"" + esc + "\""
		}
		return "'" + strings.ReplaceAll(esc, "'", "\\'") + "'"
	case []string:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = Repr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = Repr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = Repr(k) + ": " + Repr(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case map[any]any:
		parts := make([]string, 0, len(x))
		for k, e := range x {
			parts = append(parts, Repr(k)+": "+Repr(e))
		}
		sort.Strings(parts)
		return "{" + strings.Join(parts, ", ") + "}"
	default:
		return fmt.Sprintf("%v", x)
	}
}

func typeName(v any) string {
	switch v.(type) {
	case bool:
		return "bool"
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return "int"
	case float32, float64:
		return "float"
	case []any, []string:
		return "list"
	case map[string]any, map[any]any:
		return "map"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// Bind maps positional args onto parameter names in order and merges the
// keyword arguments, the way Python binds a call to a signature, so a
// function can be called as `cmd.run 'ls' cwd=/` or `cmd.run cmd=ls`
// alike. It fails like Python does on too many positional arguments or
// an argument given both ways. Unknown keywords are kept (Salt functions
// mostly take **kwargs); use Unknown to refuse them.
func Bind(fn string, args []any, kwargs map[string]any, names ...string) (map[string]any, error) {
	if len(args) > len(names) {
		return nil, fmt.Errorf("%s takes at most %d positional argument%s (%d given)",
			fn, len(names), plural(len(names)), len(args))
	}
	out := make(map[string]any, len(args)+len(kwargs))
	for k, v := range kwargs {
		out[k] = v
	}
	for i, v := range args {
		if _, dup := kwargs[names[i]]; dup {
			return nil, fmt.Errorf("%s got multiple values for argument %q", fn, names[i])
		}
		out[names[i]] = v
	}
	return out, nil
}

// Unknown returns an error naming the first keyword argument that is not
// in names, ignoring Salt's private "__"-prefixed keys, for functions whose
// Salt signature has no **kwargs.
func Unknown(fn string, kwargs map[string]any, names ...string) error {
	var bad []string
	for k := range kwargs {
		if strings.HasPrefix(k, "__") {
			continue
		}
		found := false
		for _, n := range names {
			if n == k {
				found = true
				break
			}
		}
		if !found {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	return fmt.Errorf("%s got an unexpected keyword argument %q", fn, bad[0])
}

// Require returns an error naming the first of keys that is absent or nil,
// as Python does for a missing required argument.
func Require(fn string, kwargs map[string]any, keys ...string) error {
	for _, k := range keys {
		if v, ok := kwargs[k]; !ok || v == nil {
			return fmt.Errorf("%s missing required argument %q", fn, k)
		}
	}
	return nil
}

// Has reports whether key is present with a non-nil value.
func Has(kwargs map[string]any, key string) bool {
	v, ok := kwargs[key]
	return ok && v != nil
}

// Str returns kwargs[key] as a string; absent or nil gives def. Numbers
// and bools are formatted the way Python's str() would (True, 1.5).
func Str(kwargs map[string]any, key, def string) (string, error) {
	v, ok := kwargs[key]
	if !ok || v == nil {
		return def, nil
	}
	s, ok := ToString(v)
	if !ok {
		return def, &ArgError{Arg: key, Want: "a string", Got: v}
	}
	return s, nil
}

// ToString converts a scalar to its string form; lists and maps fail.
func ToString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case []byte:
		return string(x), true
	case bool:
		if x {
			return "True", true
		}
		return "False", true
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case int32:
		return strconv.FormatInt(int64(x), 10), true
	case uint64:
		return strconv.FormatUint(x, 10), true
	case uint32:
		return strconv.FormatUint(uint64(x), 10), true
	case uint:
		return strconv.FormatUint(uint64(x), 10), true
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return strconv.FormatFloat(x, 'f', 1, 64), true
		}
		return strconv.FormatFloat(x, 'g', -1, 64), true
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32), true
	case fmt.Stringer:
		return x.String(), true
	}
	return "", false
}

// Bool returns kwargs[key] as a bool; absent or nil gives def. Strings
// accept what Salt's CLI and YAML accept: true/false, yes/no, on/off, 1/0,
// case-insensitively; numbers are true when non-zero.
func Bool(kwargs map[string]any, key string, def bool) (bool, error) {
	v, ok := kwargs[key]
	if !ok || v == nil {
		return def, nil
	}
	b, ok := ToBool(v)
	if !ok {
		return def, &ArgError{Arg: key, Want: "a boolean", Got: v}
	}
	return b, nil
}

// ToBool converts a value to a bool using Salt's loose truth rules.
func ToBool(v any) (bool, bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true", "yes", "on", "1", "y", "t":
			return true, true
		case "false", "no", "off", "0", "n", "f", "", "none", "null":
			return false, true
		}
		return false, false
	}
	if i, ok := ToInt(v); ok {
		return i != 0, true
	}
	if f, ok := v.(float64); ok {
		return f != 0, true
	}
	return false, false
}

// Int returns kwargs[key] as an int; absent or nil gives def. Integral
// floats and numeric strings ("10", " 10 ") are accepted; "1.5" is not.
func Int(kwargs map[string]any, key string, def int) (int, error) {
	v, ok := kwargs[key]
	if !ok || v == nil {
		return def, nil
	}
	i, ok := ToInt(v)
	if !ok {
		return def, &ArgError{Arg: key, Want: "an integer", Got: v}
	}
	return i, nil
}

// ToInt converts a value to an int when it holds a whole number.
func ToInt(v any) (int, bool) {
	switch x := v.(type) {
	case int:
		return x, true
	case int8:
		return int(x), true
	case int16:
		return int(x), true
	case int32:
		return int(x), true
	case int64:
		return int(x), true
	case uint:
		return int(x), true
	case uint8:
		return int(x), true
	case uint16:
		return int(x), true
	case uint32:
		return int(x), true
	case uint64:
		if x > math.MaxInt64 {
			return 0, false
		}
		return int(x), true
	case float64:
		if x == math.Trunc(x) && !math.IsInf(x, 0) {
			return int(x), true
		}
	case float32:
		if float64(x) == math.Trunc(float64(x)) {
			return int(x), true
		}
	case string:
		i, err := strconv.Atoi(strings.TrimSpace(x))
		if err == nil {
			return i, true
		}
	}
	return 0, false
}

// Float returns kwargs[key] as a float64; absent or nil gives def.
func Float(kwargs map[string]any, key string, def float64) (float64, error) {
	v, ok := kwargs[key]
	if !ok || v == nil {
		return def, nil
	}
	switch x := v.(type) {
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err == nil {
			return f, nil
		}
	default:
		if i, ok := ToInt(v); ok {
			return float64(i), nil
		}
	}
	return def, &ArgError{Arg: key, Want: "a number", Got: v}
}

// StrList returns kwargs[key] as a list of strings; absent or nil gives
// nil. A list of scalars, a single scalar (one element), a comma-separated
// string ("a,b,c", as Salt's CLI passes lists) and a YAML/JSON flow list
// string ("[a, b]") are all accepted.
func StrList(kwargs map[string]any, key string) ([]string, error) {
	v, ok := kwargs[key]
	if !ok || v == nil {
		return nil, nil
	}
	return ToStrList(key, v)
}

// ToStrList converts v as StrList does; name is used in the error.
func ToStrList(name string, v any) ([]string, error) {
	switch x := v.(type) {
	case []string:
		return append([]string(nil), x...), nil
	case []any:
		out := make([]string, 0, len(x))
		for i, e := range x {
			s, ok := ToString(e)
			if !ok {
				return nil, &ArgError{Arg: name, Want: "a list of strings", Got: v,
					Msg: fmt.Sprintf("item %d is %s", i, describe(e))}
			}
			out = append(out, s)
		}
		return out, nil
	case string:
		t := strings.TrimSpace(x)
		if strings.HasPrefix(t, "[") {
			var l []any
			if err := parseFlow(t, &l); err != nil {
				return nil, &ArgError{Arg: name, Want: "a list", Got: v, Msg: err.Error()}
			}
			return ToStrList(name, l)
		}
		if t == "" {
			return []string{}, nil
		}
		parts := strings.Split(x, ",")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		return parts, nil
	}
	if s, ok := ToString(v); ok {
		return []string{s}, nil
	}
	return nil, &ArgError{Arg: name, Want: "a list of strings", Got: v}
}

// List returns kwargs[key] as a []any; absent or nil gives nil. A scalar
// becomes a one-element list; a flow-list string ("[1, 2]") is parsed.
func List(kwargs map[string]any, key string) ([]any, error) {
	v, ok := kwargs[key]
	if !ok || v == nil {
		return nil, nil
	}
	switch x := v.(type) {
	case []any:
		return x, nil
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out, nil
	case string:
		if strings.HasPrefix(strings.TrimSpace(x), "[") {
			var l []any
			if err := parseFlow(x, &l); err != nil {
				return nil, &ArgError{Arg: key, Want: "a list", Got: v, Msg: err.Error()}
			}
			return l, nil
		}
		return []any{x}, nil
	case map[string]any:
		return nil, &ArgError{Arg: key, Want: "a list", Got: v}
	}
	return []any{v}, nil
}

// Map returns kwargs[key] as a map[string]any; absent or nil gives nil.
// A map with non-string keys is converted (keys formatted as strings), and
// a YAML/JSON flow-map string ("{a: 1}") is parsed, since that is how maps
// arrive from the command line.
func Map(kwargs map[string]any, key string) (map[string]any, error) {
	v, ok := kwargs[key]
	if !ok || v == nil {
		return nil, nil
	}
	return ToMap(key, v)
}

// ToMap converts v as Map does; name is used in the error.
func ToMap(name string, v any) (map[string]any, error) {
	switch x := v.(type) {
	case map[string]any:
		return x, nil
	case map[string]string:
		out := make(map[string]any, len(x))
		for k, s := range x {
			out[k] = s
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			s, ok := ToString(k)
			if !ok {
				return nil, &ArgError{Arg: name, Want: "a map with string keys", Got: v}
			}
			out[s] = e
		}
		return out, nil
	case string:
		t := strings.TrimSpace(x)
		if strings.HasPrefix(t, "{") {
			var m map[string]any
			if err := parseFlow(t, &m); err != nil {
				return nil, &ArgError{Arg: name, Want: "a map", Got: v, Msg: err.Error()}
			}
			return m, nil
		}
	}
	return nil, &ArgError{Arg: name, Want: "a map", Got: v}
}

// MapList returns kwargs[key] as one map, merging a list of single-key
// maps in order (Salt's `env: [{A: 1}, {B: 2}]` form) or taking a map as
// it is; absent or nil gives nil.
func MapList(kwargs map[string]any, key string) (map[string]any, error) {
	v, ok := kwargs[key]
	if !ok || v == nil {
		return nil, nil
	}
	if l, ok := v.([]any); ok {
		out := map[string]any{}
		for i, e := range l {
			m, err := ToMap(key, e)
			if err != nil {
				return nil, &ArgError{Arg: key, Want: "a map or a list of maps", Got: v,
					Msg: fmt.Sprintf("item %d is %s", i, describe(e))}
			}
			for k, x := range m {
				out[k] = x
			}
		}
		return out, nil
	}
	if s, ok := v.(string); ok && strings.HasPrefix(strings.TrimSpace(s), "[") {
		var l []any
		if err := parseFlow(s, &l); err != nil {
			return nil, &ArgError{Arg: key, Want: "a map or a list of maps", Got: v, Msg: err.Error()}
		}
		return MapList(map[string]any{key: l}, key)
	}
	return ToMap(key, v)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// parseFlow decodes a YAML/JSON flow list or map given as a string on
// the command line ("[a, b]", "{a: 1}", `{"a": 1}`).
func parseFlow(s string, out any) error {
	return yaml.Unmarshal([]byte(s), out)
}

// DefaultDelimiter separates the levels of a nested key ("apache:port"),
// as Salt's DEFAULT_TARGET_DELIM does.
const DefaultDelimiter = ":"

// Traverse looks up a delimited key ("a:b:0:c") in nested maps and
// lists the way Salt's traverse_dict_and_list does: a part indexes a map
// by key; on a list, a part that is a number indexes the list (or the
// first element map holding that key), and any other part selects the
// first element map holding it. found is false when any level is missing.
func Traverse(data any, key, delim string) (val any, found bool) {
	if delim == "" {
		delim = DefaultDelimiter
	}
	ptr := data
	for _, part := range strings.Split(key, delim) {
		switch x := ptr.(type) {
		case map[string]any:
			v, ok := x[part]
			if !ok {
				return nil, false
			}
			ptr = v
		case map[any]any:
			v, ok := x[part]
			if !ok {
				if i, err := strconv.Atoi(part); err == nil {
					v, ok = x[i]
				}
			}
			if !ok {
				return nil, false
			}
			ptr = v
		case []any:
			matched := false
			idx, err := strconv.Atoi(part)
			for _, e := range x {
				if m, ok := e.(map[string]any); ok {
					if v, ok := m[part]; ok {
						ptr, matched = v, true
						break
					}
				}
			}
			if !matched {
				if err != nil || idx < -len(x) || idx >= len(x) {
					return nil, false
				}
				if idx < 0 {
					idx += len(x)
				}
				ptr = x[idx]
			}
		default:
			return nil, false
		}
	}
	return ptr, true
}

// DeepCopy copies nested maps and lists so a module can change a value
// it was given without touching the caller's grains, pillar or defaults.
func DeepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = DeepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = DeepCopy(e)
		}
		return out
	case []string:
		return append([]string(nil), x...)
	}
	return v
}

// bindOneStr binds a function that takes exactly one required string
// argument, given by position or by name, and returns it: the whole
// argument handling of many one-argument functions (file.dirname,
// cmd.which, grains.has_value, ...).
func bindOneStr(fn, name string, args []any, kwargs map[string]any) (string, error) {
	kw, err := Bind(fn, args, kwargs, name)
	if err != nil {
		return "", err
	}
	if err := Require(fn, kw, name); err != nil {
		return "", err
	}
	return Str(kw, name, "")
}
