package output

import (
	"bufio"
	"regexp"
	"strings"
)

// printYAML writes block-style YAML laid out as PyYAML's safe_dump with
// default_flow_style=False does (2-space indent, sequences flush with
// their key), so Salt users see familiar output.
func printYAML(w *bufio.Writer, results map[string]any) error {
	writeYAML(w, normalizeAll(results), 0, false)
	return nil
}

func writeYAML(w *bufio.Writer, v any, indent int, inSeq bool) {
	pad := strings.Repeat(" ", indent)
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			w.WriteString("{}\n")
			return
		}
		// PyYAML's safe_dump sorts mapping keys; so does this.
		for i, k := range sortedIDs(x) {
			if i > 0 || !inSeq {
				w.WriteString(pad)
			}
			w.WriteString(yamlScalar(k))
			w.WriteByte(':')
			writeYAMLValue(w, x[k], indent, false)
		}
	case []any:
		if len(x) == 0 {
			w.WriteString("[]\n")
			return
		}
		for i, e := range x {
			if i > 0 || !inSeq {
				w.WriteString(pad)
			}
			w.WriteString("-")
			writeYAMLValue(w, e, indent, true)
		}
	default:
		w.WriteString(yamlScalar(x))
		w.WriteByte('\n')
	}
}

// writeYAMLValue writes what follows "key:" or "-".
func writeYAMLValue(w *bufio.Writer, v any, indent int, seqItem bool) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			w.WriteString(" {}\n")
			return
		}
		if seqItem {
			w.WriteByte(' ')
			writeYAML(w, x, indent+2, true)
			return
		}
		w.WriteByte('\n')
		writeYAML(w, x, indent+2, false)
	case []any:
		if len(x) == 0 {
			w.WriteString(" []\n")
			return
		}
		if seqItem {
			w.WriteByte(' ')
			writeYAML(w, x, indent+2, true)
			return
		}
		w.WriteByte('\n')
		writeYAML(w, x, indent, false)
	default:
		w.WriteByte(' ')
		w.WriteString(yamlScalar(x))
		w.WriteByte('\n')
	}
}

var yamlPlainUnsafe = regexp.MustCompile(`^(?i:yes|no|true|false|on|off|null|~|[-+]?(\.inf|\.nan)|[-+]?[0-9][0-9_:.]*([eE][-+]?[0-9]+)?|[-+]?0x[0-9a-f_]+|[-+]?0o?[0-7_]+|[-+]?\.[0-9]+|\d{4}-\d\d?-\d\d?.*)$`)

func yamlScalar(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		if x {
			return "true"
		}
		return "false"
	case string:
		return yamlString(x)
	}
	return pyStr(v)
}

// yamlString quotes a string only when PyYAML would: when it could read
// back as another type or holds YAML syntax.
func yamlString(s string) string {
	needsDouble := false
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			needsDouble = true
			break
		}
	}
	if needsDouble {
		var b strings.Builder
		b.WriteByte('"')
		for _, r := range s {
			switch {
			case r == '"' || r == '\\':
				b.WriteByte('\\')
				b.WriteRune(r)
			case r == '\n':
				b.WriteString(`\n`)
			case r == '\t':
				b.WriteString(`\t`)
			case r == '\r':
				b.WriteString(`\r`)
			case r < 0x20 || r == 0x7f:
				b.WriteString(`\x`)
				b.WriteByte(hexDigits[r>>4])
				b.WriteByte(hexDigits[r&0xf])
			default:
				b.WriteRune(r)
			}
		}
		b.WriteByte('"')
		return b.String()
	}
	if s == "" || yamlPlainUnsafe.MatchString(s) || strings.ContainsAny(s[:1], "-?:,[]{}#&*!|>'\"%@` ") ||
		strings.HasSuffix(s, " ") || strings.HasSuffix(s, ":") || strings.Contains(s, ": ") || strings.Contains(s, " #") {
		return "'" + strings.ReplaceAll(s, "'", "''") + "'"
	}
	return s
}
