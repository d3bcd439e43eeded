package output

import (
	"bufio"
	"strconv"
	"strings"
	"unicode/utf8"
)

// printJSON writes {"<id>": ...} with a 4-space indent, one document per
// minion as salt does (all in one with Options.Static), keys in Salt's
// order and floats in Python's form.
func printJSON(w *bufio.Writer, results map[string]any, opts Options) error {
	if opts.Static || len(results) <= 1 {
		writeJSON(w, normalizeAll(results), 0)
		w.WriteByte('\n')
		return nil
	}
	for _, id := range sortedIDs(results) {
		writeJSON(w, map[string]any{id: Normalize(results[id])}, 0)
		w.WriteByte('\n')
	}
	return nil
}

func normalizeAll(results map[string]any) map[string]any {
	out := make(map[string]any, len(results))
	for k, v := range results {
		out[k] = Normalize(v)
	}
	return out
}

// MarshalJSON encodes v as salt's json outputter would (4-space indent,
// Salt's key order, no HTML escaping), for callers that need the bytes.
func MarshalJSON(v any) []byte {
	var b strings.Builder
	bw := bufio.NewWriter(&b)
	writeJSON(bw, Normalize(v), 0)
	bw.Flush()
	return []byte(b.String())
}

func writeIndent(w *bufio.Writer, n int) {
	w.WriteByte('\n')
	for i := 0; i < n; i++ {
		w.WriteString("    ")
	}
}

func writeJSON(w *bufio.Writer, v any, depth int) {
	switch x := v.(type) {
	case nil:
		w.WriteString("null")
	case bool:
		if x {
			w.WriteString("true")
		} else {
			w.WriteString("false")
		}
	case int64:
		w.WriteString(strconv.FormatInt(x, 10))
	case float64:
		w.WriteString(pyFloat(x))
	case string:
		writeJSONString(w, x)
	case map[string]any:
		if len(x) == 0 {
			w.WriteString("{}")
			return
		}
		w.WriteByte('{')
		for i, k := range orderedKeys(x) {
			if i > 0 {
				w.WriteByte(',')
			}
			writeIndent(w, depth+1)
			writeJSONString(w, k)
			w.WriteString(": ")
			writeJSON(w, x[k], depth+1)
		}
		writeIndent(w, depth)
		w.WriteByte('}')
	case []any:
		if len(x) == 0 {
			w.WriteString("[]")
			return
		}
		w.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				w.WriteByte(',')
			}
			writeIndent(w, depth+1)
			writeJSON(w, e, depth+1)
		}
		writeIndent(w, depth)
		w.WriteByte(']')
	default:
		writeJSON(w, Normalize(x), depth)
	}
}

const hexDigits = "0123456789abcdef"

// writeJSONString escapes as Python's json with ensure_ascii=False: only
// quotes, backslashes and control characters.
func writeJSONString(w *bufio.Writer, s string) {
	w.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch c {
			case '"':
				w.WriteString(`\"`)
			case '\\':
				w.WriteString(`\\`)
			case '\n':
				w.WriteString(`\n`)
			case '\r':
				w.WriteString(`\r`)
			case '\t':
				w.WriteString(`\t`)
			case '\b':
				w.WriteString(`\b`)
			case '\f':
				w.WriteString(`\f`)
			default:
				if c < 0x20 {
					w.WriteString(`\u00`)
					w.WriteByte(hexDigits[c>>4])
					w.WriteByte(hexDigits[c&0xf])
				} else {
					w.WriteByte(c)
				}
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			w.WriteString(`\ufffd`)
		} else {
			w.WriteString(s[i : i+size])
		}
		i += size
	}
	w.WriteByte('"')
}
