package output

import (
	"bytes"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// stateKeyOrder is the order of keys inside one state result as Salt
// emits them, so JSON output diffs cleanly against salt-call's.
var stateKeyOrder = []string{"name", "changes", "result", "comment", "__sls__", "__run_num__", "start_time", "duration", "__id__"}

func isStateField(k string) bool {
	for _, f := range stateKeyOrder {
		if f == k {
			return true
		}
	}
	return false
}

// isStateResult reports whether m looks like one state's return.
func isStateResult(m map[string]any) bool {
	_, rn := m["__run_num__"]
	_, res := m["result"]
	return rn && res
}

// isStateReturn reports whether every value of m is a state result, in
// which case Salt's order is execution order.
func isStateReturn(m map[string]any) bool {
	if len(m) == 0 {
		return false
	}
	for _, v := range m {
		sm, ok := v.(map[string]any)
		if !ok || !isStateResult(sm) {
			return false
		}
	}
	return true
}

// orderedKeys returns the keys of m in the order Salt would print them:
// state returns by __run_num__, a state result in Salt's field order,
// everything else sorted.
func orderedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	if isStateReturn(m) {
		sort.SliceStable(keys, func(i, j int) bool {
			a, b := runNum(m[keys[i]]), runNum(m[keys[j]])
			if a != b {
				return a < b
			}
			return keys[i] < keys[j]
		})
		return keys
	}
	if isStateResult(m) {
		out := keys[:0]
		for _, k := range stateKeyOrder {
			if _, ok := m[k]; ok {
				out = append(out, k)
			}
		}
		var extra []string
		for k := range m {
			if !isStateField(k) {
				extra = append(extra, k)
			}
		}
		sort.Strings(extra)
		return append(out, extra...)
	}
	sort.Strings(keys)
	return keys
}

func runNum(v any) float64 {
	m, _ := v.(map[string]any)
	switch n := m["__run_num__"].(type) {
	case int64:
		return float64(n)
	case float64:
		return n
	case int:
		return float64(n)
	}
	return 0
}

// pyFloat formats f as Python's repr(float) does, so "1.0" stays "1.0".
func pyFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64)
	i := strings.LastIndexByte(e, 'e')
	exp, _ := strconv.Atoi(e[i+1:])
	if exp < -4 || exp >= 16 {
		return e
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return s
}

// pyStr renders a scalar as Python's str() would (True, None, 1.0).
func pyStr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case float64:
		return pyFloat(x)
	case string:
		return x
	}
	return pyRepr(v)
}

// pyRepr renders v as Python's repr() does, for the txt and raw outputters.
func pyRepr(v any) string {
	var b strings.Builder
	writeRepr(&b, v)
	return b.String()
}

func writeRepr(b *strings.Builder, v any) {
	switch x := v.(type) {
	case string:
		b.WriteString(pyQuote(x))
	case map[string]any:
		b.WriteByte('{')
		for i, k := range orderedKeys(x) {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(pyQuote(k))
			b.WriteString(": ")
			writeRepr(b, x[k])
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			writeRepr(b, e)
		}
		b.WriteByte(']')
	default:
		b.WriteString(pyStr(x))
	}
}

// pyQuote quotes s as Python's repr(str): single quotes unless s holds a
// single quote and no double quote.
func pyQuote(s string) string {
	q := byte('\'')
	if strings.ContainsRune(s, '\'') && !strings.ContainsRune(s, '"') {
		q = '"'
	}
	var b strings.Builder
	b.WriteByte(q)
	for _, r := range s {
		switch {
		case r == rune(q) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatInt(int64(r)|0x100, 16)[1:])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(q)
	return b.String()
}
