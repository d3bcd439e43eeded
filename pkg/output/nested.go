package output

import (
	"bufio"
	"strings"
)

// ANSI colours as Salt's default theme uses them.
const (
	cRed         = "\033[0;31m"
	cLightRed    = "\033[1;31m"
	cGreen       = "\033[0;32m"
	cCyan        = "\033[0;36m"
	cYellow      = "\033[1;33m"
	cLightYellow = "\033[1;33m"
	cEnd         = "\033[0;0m"
)

type palette struct{ red, lightRed, green, cyan, yellow, lightYellow, end string }

func colors(on bool) palette {
	if !on {
		return palette{}
	}
	return palette{cRed, cLightRed, cGreen, cCyan, cYellow, cLightYellow, cEnd}
}

// nester walks a value as Salt's nested outputter does.
type nester struct {
	c       palette
	retcode int
	lines   []string
}

func (n *nester) line(indent int, color, prefix, msg, suffix string) {
	n.lines = append(n.lines, strings.Repeat(" ", indent)+color+prefix+msg+n.c.end+suffix)
}

func (n *nester) display(v any, indent int, prefix string) {
	switch x := v.(type) {
	case nil, bool, int64, float64, int:
		n.line(indent, n.c.lightYellow, prefix, pyStr(x), "")
	case string:
		first := true
		for _, l := range splitLines(x) {
			p := prefix
			if !first {
				p = strings.Repeat(" ", len(prefix))
			}
			n.line(indent, n.c.green, p, l, "")
			first = false
		}
	case []any:
		color := n.c.green
		if n.retcode != 0 {
			color = n.c.red
		}
		for _, e := range x {
			switch e.(type) {
			case map[string]any:
				n.line(indent, color, "", "|_", "")
				n.display(e, indent+2, "")
			case []any:
				n.line(indent, color, "", "|_", "")
				n.display(e, indent+2, "- ")
			default:
				n.display(e, indent, "- ")
			}
		}
	case map[string]any:
		color := n.c.cyan
		if n.retcode != 0 {
			color = n.c.red
		}
		if indent > 0 {
			n.line(indent, color, "", "----------", "")
		}
		for _, k := range orderedKeys(x) {
			n.line(indent, color, prefix, k, ":")
			n.display(x[k], indent+4, "")
		}
	default:
		n.display(Normalize(x), indent, prefix)
	}
}

// splitLines splits as Python's str.splitlines: no trailing empty element,
// and an empty string yields nothing.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.TrimSuffix(s, "\n")
	return strings.Split(s, "\n")
}

// Nested renders v with Salt's nested outputter starting at indent.
func Nested(v any, indent int, color bool) string {
	n := &nester{c: colors(color)}
	n.display(Normalize(v), indent, "")
	return strings.Join(n.lines, "\n")
}

func printNested(w *bufio.Writer, results map[string]any, opts Options) error {
	n := &nester{c: colors(opts.Color), retcode: opts.Retcode}
	n.display(normalizeAll(results), 0, "")
	for _, l := range n.lines {
		w.WriteString(l)
		w.WriteByte('\n')
	}
	return nil
}
