package render

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Serialisers matching what Salt's `yaml` and `json` filters print, so a
// value dropped into an SLS with {{ x | yaml }} or {{ x | json }} parses
// back to the same data.

// pyFloat formats a float as Python's repr does.
func pyFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	a := math.Abs(f)
	if a != 0 && (a >= 1e16 || a < 1e-4) {
		s := strconv.FormatFloat(f, 'e', -1, 64)
		// Go prints e+16 / e-05 as Python does; keep as is.
		return s
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return s
}

// flowYAML renders v as PyYAML's safe_dump(default_flow_style=True) would,
// on one line and with the document end marker stripped.
func flowYAML(v any) string {
	var b strings.Builder
	writeFlow(&b, toGo(v), false)
	return b.String()
}

func writeFlow(b *strings.Builder, v any, inFlow bool) {
	switch t := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if t {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case int:
		b.WriteString(strconv.Itoa(t))
	case float64:
		switch {
		case math.IsInf(t, 1):
			b.WriteString(".inf")
		case math.IsInf(t, -1):
			b.WriteString("-.inf")
		case math.IsNaN(t):
			b.WriteString(".nan")
		default:
			s := pyFloat(t)
			if strings.Contains(s, "e") && !strings.Contains(s, ".") {
				// PyYAML writes 1.0e+16 so the float resolver matches.
				i := strings.Index(s, "e")
				s = s[:i] + ".0" + s[i:]
			}
			b.WriteString(s)
		}
	case string:
		b.WriteString(yamlString(t, inFlow))
	case []any:
		b.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				b.WriteString(", ")
			}
			writeFlow(b, e, true)
		}
		b.WriteByte(']')
	case map[string]any:
		keys := sortedKeys(t)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(yamlString(k, true))
			b.WriteString(": ")
			writeFlow(b, t[k], true)
		}
		b.WriteByte('}')
	default:
		b.WriteString(yamlString(fmt.Sprint(t), inFlow))
	}
}

var reTimestamp = regexp.MustCompile(`^[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)?$`)

// yamlString picks plain, single- or double-quoted style for s the way
// PyYAML's emitter does for the common cases.
func yamlString(s string, inFlow bool) string {
	if needsDouble(s) {
		return yamlDquote(s)
	}
	if plainOK(s, inFlow) {
		return s
	}
	return yamlSquote(s)
}

func needsDouble(s string) bool {
	for _, r := range s {
		if r == '\n' || r == '\r' || r == '\t' || r == utf8.RuneError || !unicode.IsPrint(r) && r != ' ' {
			return true
		}
	}
	return false
}

func plainOK(s string, inFlow bool) bool {
	if s == "" {
		return false
	}
	if _, isStr := resolvePlain(s).(string); !isStr {
		return false
	}
	if reTimestamp.MatchString(s) || s == "=" || s == "<<" {
		return false
	}
	if strings.TrimSpace(s) != s {
		return false
	}
	if strings.ContainsRune("?:,[]{}#&*!|>'\"%@`", rune(s[0])) {
		return false
	}
	if s[0] == '-' && (len(s) == 1 || s[1] == ' ') {
		return false
	}
	if strings.Contains(s, ": ") || strings.Contains(s, " #") || strings.HasSuffix(s, ":") {
		return false
	}
	if inFlow && strings.ContainsAny(s, ",?[]{}:") {
		return false
	}
	if strings.HasPrefix(s, "---") || strings.HasPrefix(s, "...") {
		return false
	}
	return true
}

func yamlSquote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

func yamlDquote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case 0:
			b.WriteString(`\0`)
		default:
			switch {
			case r == utf8.RuneError:
				b.WriteString(`\uFFFD`)
			case r < 0x20 || r == 0x7f:
				fmt.Fprintf(&b, `\x%02X`, r)
			case !unicode.IsPrint(r) && r != ' ':
				if r > 0xffff {
					fmt.Fprintf(&b, `\U%08X`, r)
				} else {
					fmt.Fprintf(&b, `\u%04X`, r)
				}
			default:
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// pyJSON renders v as Python's json.dumps(v, sort_keys=True[, indent]).
func pyJSON(v any, indent int, htmlSafe bool) string {
	var b strings.Builder
	writeJSON(&b, toGo(v), indent, 0)
	s := b.String()
	if htmlSafe {
		r := strings.NewReplacer("<", `\u003c`, ">", `\u003e`, "&", `\u0026`, "'", `\u0027`)
		s = r.Replace(s)
	}
	return s
}

func writeJSON(b *strings.Builder, v any, indent, level int) {
	nl := func(l int) {
		if indent > 0 {
			b.WriteByte('\n')
			b.WriteString(strings.Repeat(" ", indent*l))
		}
	}
	sep := ", "
	if indent > 0 {
		sep = ","
	}
	switch t := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if t {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case int:
		b.WriteString(strconv.Itoa(t))
	case float64:
		switch {
		case math.IsInf(t, 1):
			b.WriteString("Infinity")
		case math.IsInf(t, -1):
			b.WriteString("-Infinity")
		case math.IsNaN(t):
			b.WriteString("NaN")
		default:
			b.WriteString(pyFloat(t))
		}
	case string:
		jsonString(b, t)
	case []any:
		if len(t) == 0 {
			b.WriteString("[]")
			return
		}
		b.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				b.WriteString(sep)
			}
			nl(level + 1)
			writeJSON(b, e, indent, level+1)
		}
		nl(level)
		b.WriteByte(']')
	case map[string]any:
		if len(t) == 0 {
			b.WriteString("{}")
			return
		}
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteString(sep)
			}
			nl(level + 1)
			jsonString(b, k)
			b.WriteString(": ")
			writeJSON(b, t[k], indent, level+1)
		}
		nl(level)
		b.WriteByte('}')
	default:
		jsonString(b, fmt.Sprint(t))
	}
}

// jsonString escapes as Python's json with ensure_ascii=True.
func jsonString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			switch {
			case r < 0x20 || r > 0x7e && r < 0x10000:
				if r >= 0x7f || r < 0x20 {
					fmt.Fprintf(b, `\u%04x`, r)
				} else {
					b.WriteRune(r)
				}
			case r >= 0x10000:
				r -= 0x10000
				fmt.Fprintf(b, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
			default:
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}
