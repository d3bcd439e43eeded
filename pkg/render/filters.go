package render

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/netip"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/nikolalohinski/gonja/v2/exec"
	"gopkg.in/yaml.v3"
)

// Salt's Jinja filters (salt.utils.jinja and salt.utils.data), plus
// replacements for gonja filters whose behaviour differs from Jinja's on
// the values formulas pass them.

func errValue(e *exec.Evaluator, err error) *exec.Value {
	if st := stateOf(e.Environment.Context); st != nil {
		st.fail(err, "")
	}
	return exec.AsValue(err)
}

func argOr(va *exec.VarArgs, i int, kw string, def any) *exec.Value {
	if i < len(va.Args) {
		return va.Args[i]
	}
	if v, ok := va.KwArgs[kw]; ok {
		return v
	}
	return exec.AsValue(def)
}

func saltFilters() map[string]exec.FilterFunction {
	hashFilter := func(h func() hash.Hash) exec.FilterFunction {
		return func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
			d := h()
			d.Write([]byte(in.String()))
			return exec.AsValue(hex.EncodeToString(d.Sum(nil)))
		}
	}
	regexFind := func(anchored bool) exec.FilterFunction {
		return func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
			re, err := pyRegex(argOr(va, 0, "regex", "").String(), argOr(va, 1, "ignorecase", false).IsTrue(), argOr(va, 2, "multiline", false).IsTrue())
			if err != nil {
				return errValue(e, err)
			}
			s := in.String()
			loc := re.FindStringSubmatchIndex(s)
			if loc == nil || anchored && loc[0] != 0 {
				return exec.AsValue(nil)
			}
			groups := make([]any, 0, len(loc)/2-1)
			for i := 2; i+1 < len(loc); i += 2 {
				if loc[i] < 0 {
					groups = append(groups, nil)
				} else {
					groups = append(groups, s[loc[i]:loc[i+1]])
				}
			}
			return exec.AsValue(&groups)
		}
	}
	return map[string]exec.FilterFunction{
		"yaml": func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
			if argOr(va, 0, "flow_style", true).IsTrue() {
				return exec.AsSafeValue(flowYAML(in.Interface()))
			}
			var buf strings.Builder
			enc := yaml.NewEncoder(&buf)
			enc.SetIndent(2)
			if err := enc.Encode(toGo(in.Interface())); err != nil {
				return errValue(e, fmt.Errorf("yaml filter: %w", err))
			}
			return exec.AsSafeValue(strings.TrimSpace(strings.TrimSuffix(buf.String(), "...\n")))
		},
		"json": func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
			return exec.AsSafeValue(pyJSON(in.Interface(), argOr(va, 1, "indent", 0).Integer(), false))
		},
		"tojson": func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
			return exec.AsSafeValue(pyJSON(in.Interface(), argOr(va, 0, "indent", 0).Integer(), true))
		},
		"load_yaml": func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
			v, err := parseData("yaml", in.String())
			if err != nil {
				return errValue(e, err)
			}
			return exec.AsValue(v)
		},
		"load_json": func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
			v, err := parseData("json", in.String())
			if err != nil {
				return errValue(e, err)
			}
			return exec.AsValue(v)
		},
		"traverse": func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
			key := argOr(va, 0, "key", "").String()
			def := argOr(va, 1, "default", nil).Interface()
			delim := argOr(va, 2, "delimiter", ":").String()
			return exec.AsValue(traverse(toJinja(in.Interface()), key, def, delim))
		},
		"regex_replace": func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
			re, err := pyRegex(argOr(va, 0, "regex", "").String(), argOr(va, 2, "ignorecase", false).IsTrue(), argOr(va, 3, "multiline", false).IsTrue())
			if err != nil {
				return errValue(e, err)
			}
			return exec.AsValue(re.ReplaceAllString(in.String(), pyReplacement(argOr(va, 1, "replace", "").String())))
		},
		"regex_search": regexFind(false),
		"regex_match":  regexFind(true),
		"unique": func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
			var out []any
			for _, x := range iterList(in) {
				dup := false
				for _, y := range out {
					if exec.ToValue(x).EqualValueTo(exec.ToValue(y)) {
						dup = true
						break
					}
				}
				if !dup {
					out = append(out, x)
				}
			}
			return exec.AsValue(listPtr(out))
		},
		"path_join": func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
			parts := []string{in.String()}
			for _, a := range va.Args {
				parts = append(parts, a.String())
			}
			out := ""
			for _, p := range parts {
				if strings.HasPrefix(p, "/") || out == "" {
					out = p
				} else if strings.HasSuffix(out, "/") {
					out += p
				} else {
					out += "/" + p
				}
			}
			return exec.AsValue(out)
		},
		"yaml_dquote": func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
			return exec.AsSafeValue(yamlDquote(in.String()))
		},
		"yaml_squote": func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
			return exec.AsSafeValue(yamlSquote(in.String()))
		},
		"yaml_encode": func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
			switch t := toGo(in.Interface()).(type) {
			case string:
				return exec.AsSafeValue(yamlDquote(t))
			case []any, map[string]any:
				return errValue(e, fmt.Errorf("yaml_encode only works with scalar data, not %s", in.String()))
			default:
				return exec.AsSafeValue(flowYAML(t))
			}
		},
		"to_bool": func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
			return exec.AsValue(toBool(in))
		},
		"sequence": func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
			if in.IsList() {
				return in
			}
			return exec.AsValue(listPtr([]any{toJinja(in.Interface())}))
		},
		"is_list": func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
			return exec.AsValue(in.IsList())
		},
		"quote": func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
			return exec.AsValue(shellQuote(in.String()))
		},
		"md5":    hashFilter(md5.New),
		"sha1":   hashFilter(sha1.New),
		"sha256": hashFilter(sha256.New),
		"sha512": hashFilter(sha512.New),
		"base64_encode": func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
			return exec.AsValue(base64.StdEncoding.EncodeToString([]byte(in.String())))
		},
		"base64_decode": func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
			b, err := base64.StdEncoding.DecodeString(in.String())
			if err != nil {
				return errValue(e, fmt.Errorf("base64_decode: %w", err))
			}
			return exec.AsValue(string(b))
		},
		"min": func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
			return exec.AsValue(extreme(iterList(in), true))
		},
		"max": func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
			return exec.AsValue(extreme(iterList(in), false))
		},
		"flatten": func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
			var out []any
			var walk func(xs []any)
			walk = func(xs []any) {
				for _, x := range xs {
					if v := exec.ToValue(x); v.IsList() {
						walk(iterList(v))
					} else {
						out = append(out, x)
					}
				}
			}
			walk(iterList(in))
			return exec.AsValue(listPtr(out))
		},
		"union":                setOp(func(inA, inB bool) bool { return inA || inB }),
		"intersect":            setOp(func(inA, inB bool) bool { return inA && inB }),
		"difference":           setOp(func(inA, inB bool) bool { return inA && !inB }),
		"symmetric_difference": setOp(func(inA, inB bool) bool { return inA != inB }),
		"is_ip":                ipFilter(func(a netip.Addr) bool { return true }),
		"is_ipv4":              ipFilter(func(a netip.Addr) bool { return a.Is4() }),
		"is_ipv6":              ipFilter(func(a netip.Addr) bool { return a.Is6() && !a.Is4In6() }),
		"avg": func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
			items := iterList(in)
			if len(items) == 0 {
				return exec.AsValue(0.0)
			}
			sum := 0.0
			for _, x := range items {
				sum += exec.ToValue(x).Float()
			}
			return exec.AsValue(sum / float64(len(items)))
		},
		"is_iter": func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
			return exec.AsValue(in.IsList() || in.IsDict())
		},
		"exactly_one_true": func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
			return exec.AsValue(countTrue(iterList(in)) == 1)
		},
		"exactly_n_true": func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
			return exec.AsValue(countTrue(iterList(in)) == argOr(va, 0, "amount", 1).Integer())
		},
		"ipaddr": ipListFilter(func(a netip.Addr) bool { return true }),
		"ipv4":   ipListFilter(func(a netip.Addr) bool { return a.Is4() }),
		"ipv6":   ipListFilter(func(a netip.Addr) bool { return a.Is6() && !a.Is4In6() }),
		"basename": func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
			return exec.AsValue(path.Base(in.String()))
		},
		"dirname": func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
			return exec.AsValue(path.Dir(in.String()))
		},
		// Jinja's own, where gonja's differ.
		"items": func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
			m, ok := toJinja(in.Interface()).(pyDict)
			if !ok {
				if in.IsNil() {
					return exec.AsValue(listPtr(nil))
				}
				return errValue(e, fmt.Errorf("items expects a dict, not %s", in.String()))
			}
			return exec.AsValue(dictItems(m))
		},
		"dictsort": func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
			m, ok := toJinja(in.Interface()).(pyDict)
			if !ok {
				return errValue(e, fmt.Errorf("dictsort expects a dict, not %s", in.String()))
			}
			cs := argOr(va, 0, "case_sensitive", false).IsTrue()
			byValue := argOr(va, 1, "by", "key").String() == "value"
			rev := argOr(va, 2, "reverse", false).IsTrue()
			keys := sortedKeys(m)
			sortKey := func(k string) any {
				var v any = k
				if byValue {
					v = m[k]
				}
				if s, ok := v.(string); ok && !cs {
					return strings.ToLower(s)
				}
				return v
			}
			sort.SliceStable(keys, func(i, j int) bool {
				if rev {
					return lessValue(sortKey(keys[j]), sortKey(keys[i]))
				}
				return lessValue(sortKey(keys[i]), sortKey(keys[j]))
			})
			out := make([]any, len(keys))
			for i, k := range keys {
				out[i] = listPtr([]any{k, m[k]})
			}
			return exec.AsValue(listPtr(out))
		},
		"list": func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
			if in.IsString() {
				var out []any
				for _, r := range in.String() {
					out = append(out, string(r))
				}
				return exec.AsValue(listPtr(out))
			}
			items := iterList(in)
			out := make([]any, len(items))
			copy(out, items)
			return exec.AsValue(listPtr(out))
		},
		"format": func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
			args := make([]any, len(va.Args))
			for i, a := range va.Args {
				args[i] = a.Interface()
			}
			var arg *exec.Value
			switch {
			case len(va.KwArgs) > 0:
				kw := pyDict{}
				for k, v := range va.KwArgs {
					kw[k] = v.Interface()
				}
				arg = exec.AsValue(kw)
			case len(args) == 1:
				arg = exec.AsValue(listPtr(args))
			default:
				arg = exec.AsValue(listPtr(args))
			}
			out, err := pyFormat(in.String(), arg)
			if err != nil {
				return errValue(e, err)
			}
			return exec.AsValue(out)
		},
		"string": func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
			return exec.AsValue(pyStr(in))
		},
	}
}

func saltTests() map[string]exec.TestFunction {
	return map[string]exec.TestFunction{
		"match": func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) (bool, error) {
			re, err := pyRegex(argOr(va, 0, "regex", "").String(), argOr(va, 1, "ignorecase", false).IsTrue(), argOr(va, 2, "multiline", false).IsTrue())
			if err != nil {
				return false, err
			}
			loc := re.FindStringIndex(in.String())
			return loc != nil && loc[0] == 0, nil
		},
		"list": func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) (bool, error) {
			return in.IsList(), nil
		},
	}
}

func saltGlobals() map[string]any {
	return map[string]any{
		"range": pyRange,
		"lipsum": func(va *exec.VarArgs) (any, error) {
			return nil, errors.New("lipsum() is not available")
		},
		"raise": func(e *exec.Evaluator, va *exec.VarArgs) (any, error) {
			msg := "raise() called"
			if len(va.Args) > 0 {
				msg = va.Args[0].String()
			}
			err := errors.New(msg)
			if st := stateOf(e.Environment.Context); st != nil {
				st.fail(err, "raise")
			}
			return nil, err
		},
	}
}

// pyStr prints a value as Python's str() would, which is what Jinja's
// {{ }} and |string show.
func pyStr(v *exec.Value) string {
	return v.String()
}

func toBool(v *exec.Value) bool {
	switch t := toGo(v.Interface()).(type) {
	case nil:
		return false
	case bool:
		return t
	case string:
		switch strings.ToLower(t) {
		case "yes", "1", "true":
			return true
		}
		return false
	case int:
		return t > 0
	case float64:
		return false
	case []any:
		return len(t) > 0
	case map[string]any:
		return len(t) > 0
	}
	return false
}

// traverse walks nested dicts and lists by a "a:b:0" path (Salt's
// traverse_dict_and_list).
func traverse(data any, key string, def any, delim string) any {
	cur := data
	for _, part := range strings.Split(key, delim) {
		switch t := cur.(type) {
		case pyDict:
			v, ok := t[part]
			if !ok {
				return def
			}
			cur = v
		case *exec.Value:
			return traverse(t.Interface(), key, def, delim)
		default:
			items := iterList(exec.ToValue(cur))
			v := exec.ToValue(cur)
			if !v.IsList() {
				return def
			}
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(items) {
				return def
			}
			cur = items[i]
		}
	}
	return cur
}

var reNamedGroup = regexp.MustCompile(`\(\?P?<`)

// pyRegex compiles a Python regular expression with RE2 (lookarounds and
// backreferences are not available).
func pyRegex(expr string, ignorecase, multiline bool) (*regexp.Regexp, error) {
	flags := ""
	if ignorecase {
		flags += "i"
	}
	if multiline {
		flags += "m"
	}
	if flags != "" {
		expr = "(?" + flags + ")" + expr
	}
	expr = reNamedGroup.ReplaceAllString(expr, "(?P<")
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("bad regular expression %q: %w", expr, err)
	}
	return re, nil
}

var reBackref = regexp.MustCompile(`\\(\d+)|\\g<(\w+)>|\$`)

// pyReplacement turns Python's \1 and \g<name> into Go's ${1}.
func pyReplacement(repl string) string {
	return reBackref.ReplaceAllStringFunc(repl, func(m string) string {
		if m == "$" {
			return "$$"
		}
		sub := reBackref.FindStringSubmatch(m)
		if sub[1] != "" {
			return "${" + sub[1] + "}"
		}
		return "${" + sub[2] + "}"
	})
}

var reShellSafe = regexp.MustCompile(`^[\w@%+=:,./-]+$`)

func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	if reShellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

func extreme(items []any, min bool) any {
	var best any
	for i, x := range items {
		if i == 0 {
			best = x
			continue
		}
		if min && lessValue(x, best) || !min && lessValue(best, x) {
			best = x
		}
	}
	return best
}

func setOp(keep func(inA, inB bool) bool) exec.FilterFunction {
	return func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
		a := iterList(in)
		var b []any
		if len(va.Args) > 0 {
			b = iterList(va.Args[0])
		}
		contains := func(xs []any, x any) bool {
			for _, y := range xs {
				if exec.ToValue(x).EqualValueTo(exec.ToValue(y)) {
					return true
				}
			}
			return false
		}
		var out []any
		for _, x := range append(append([]any{}, a...), b...) {
			if contains(out, x) {
				continue
			}
			if keep(contains(a, x), contains(b, x)) {
				out = append(out, x)
			}
		}
		return exec.AsValue(listPtr(out))
	}
}

func ipFilter(ok func(netip.Addr) bool) exec.FilterFunction {
	return func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
		s := in.String()
		if p, err := netip.ParsePrefix(s); err == nil {
			return exec.AsValue(ok(p.Addr()))
		}
		a, err := netip.ParseAddr(s)
		return exec.AsValue(err == nil && ok(a))
	}
}

func countTrue(items []any) int {
	n := 0
	for _, x := range items {
		if exec.ToValue(x).IsTrue() {
			n++
		}
	}
	return n
}

// ipListFilter keeps the addresses (or CIDRs) of a family, as Salt's
// ipaddr/ipv4/ipv6 filters do; a single address yields it or None.
func ipListFilter(ok func(netip.Addr) bool) exec.FilterFunction {
	match := func(s string) bool {
		if p, err := netip.ParsePrefix(s); err == nil {
			return ok(p.Addr())
		}
		a, err := netip.ParseAddr(s)
		return err == nil && ok(a)
	}
	return func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
		if in.IsString() {
			if match(in.String()) {
				return in
			}
			return exec.AsValue(nil)
		}
		var out []any
		for _, x := range iterList(in) {
			if s, isStr := x.(string); isStr && match(s) {
				out = append(out, s)
			}
		}
		return exec.AsValue(listPtr(out))
	}
}
