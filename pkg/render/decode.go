package render

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

var yamlLine = regexp.MustCompile(`line (\d+)(?:,? column (\d+))?`)

// parseYAML parses rendered text, keeping node positions, and rejects
// duplicate mapping keys as Salt does. Errors point into text (the
// rendered output), with the rendered line quoted.
func parseYAML(name, text string) (node *yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			node = nil
			err = &Error{File: name, Line: 1, Col: 1, Text: lineOf(text, 1),
				Err: newPanicError("yaml parser failure", r)}
		}
	}()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		return nil, yamlError(name, text, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" && root.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0 &&
		(root.Value == "" || root.Value == "~" || strings.EqualFold(root.Value, "null")) {
		return nil, nil
	}
	if err := checkDuplicates(name, text, root, 0); err != nil {
		return nil, err
	}
	// Surface what Decode would reject (bad explicit tags, bad merges,
	// collection keys) now, while the file name is known.
	if _, err := Decode(root); err != nil {
		var pe *Error
		if errors.As(err, &pe) {
			pe.File, pe.Text = name, lineOf(text, pe.Line)
			return nil, pe
		}
		return nil, &Error{File: name, Line: root.Line, Col: root.Column, Text: lineOf(text, root.Line), Err: err}
	}
	return root, nil
}

func yamlError(name, text string, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line, col := 1, 0
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		if m[2] != "" {
			col, _ = strconv.Atoi(m[2])
		}
	}
	if l := firstFailingLine(text, yamlProblem(msg)); l > 0 {
		line, col = l, firstFailingCol(text, l, yamlProblem(msg))
	}
	if n := strings.Count(text, "\n") + 1; line > n {
		line = n
	}
	if line < 1 {
		line = 1
	}
	rendered := lineOf(text, line)
	if col <= 0 {
		col = len(rendered) - len(strings.TrimLeft(rendered, " \t")) + 1
	}
	return &Error{File: name, Line: line, Col: col, Text: rendered, Err: fmt.Errorf("yaml: %s", yamlProblem(msg))}
}

var reYAMLWhere = regexp.MustCompile(`^(?:yaml: )?line \d+: `)

func yamlProblem(msg string) string { return reYAMLWhere.ReplaceAllString(msg, "") }

// firstFailingLine finds the first line whose inclusion makes text fail
// with the same problem: yaml.v3 reports parser errors against the line
// where the enclosing construct started (and zero-based), which points an
// operator at the wrong place.
func firstFailingLine(text, problem string) int {
	lines := strings.SplitAfter(text, "\n")
	return firstFailing(len(lines), func(n int) bool {
		return failsWith(strings.Join(lines[:n], ""), problem)
	})
}

// firstFailingCol narrows a failure on line (1-based) to the first
// column whose inclusion makes the text fail with the same problem, so
// "key: [" points at the bracket as PyYAML's column would; 0 when no
// prefix of the line alone fails that way.
func firstFailingCol(text string, line int, problem string) int {
	lines := strings.SplitAfter(text, "\n")
	if line < 1 || line > len(lines) {
		return 0
	}
	head := strings.Join(lines[:line-1], "")
	cur := strings.TrimRight(lines[line-1], "\r\n")
	n := firstFailing(len(cur), func(n int) bool { return failsWith(head+cur[:n], problem) })
	if n == 0 {
		return 0
	}
	return utf8.RuneCountInString(cur[:n-1]) + 1
}

// failsWith reports whether src fails to parse as YAML with problem, the
// test firstFailingLine and firstFailingCol bisect on.
func failsWith(src, problem string) bool {
	var doc yaml.Node
	err := yaml.Unmarshal([]byte(src), &doc)
	return err != nil && yamlProblem(strings.TrimPrefix(err.Error(), "yaml: ")) == problem
}

// firstFailing bisects for the smallest n in 1..limit for which fails(n)
// holds, given that it holds for limit; 0 when limit is 0 or fails(limit) is
// false.
func firstFailing(limit int, fails func(n int) bool) int {
	if limit == 0 || !fails(limit) {
		return 0
	}
	lo, hi := 1, limit
	for lo < hi {
		mid := (lo + hi) / 2
		if fails(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

func checkDuplicates(name, text string, n *yaml.Node, depth int) error {
	if n == nil || depth > 10000 {
		return nil
	}
	if n.Kind == yaml.MappingNode {
		seen := map[string]*yaml.Node{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind == yaml.ScalarNode && k.Tag != "!!merge" {
				key := k.Value
				if prev, dup := seen[key]; dup {
					return &Error{File: name, Line: k.Line, Col: k.Column, Text: lineOf(text, k.Line),
						Err: fmt.Errorf("duplicate key %q (first defined at line %d)", key, prev.Line)}
				}
				seen[key] = k
			}
		}
	}
	for _, c := range n.Content {
		if err := checkDuplicates(name, text, c, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// Decode turns a YAML node into Go values (map[string]any, []any, string,
// int, float64, bool, nil) with PyYAML/Salt scalar rules (yes/no/on/off/
// True/False are bools, ints with a leading 0 keep their digits:
// 0644 -> 644), so an SLS means here what it means to Salt.
func Decode(n *yaml.Node) (any, error) {
	if n == nil {
		return nil, nil
	}
	return decodeNode(n, 0)
}

func decodeNode(n *yaml.Node, depth int) (any, error) {
	if depth > 1000 {
		return nil, posErr(n, errors.New("document nested too deeply"))
	}
	switch n.Kind {
	case 0:
		return nil, nil // an empty document
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return decodeNode(n.Content[0], depth+1)
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, posErr(n, errors.New("unknown alias"))
		}
		return decodeNode(n.Alias, depth+1)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := decodeNode(c, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		var merges []map[string]any
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, vn := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" && k.Style&yaml.TaggedStyle == 0 {
				mv, err := decodeNode(vn, depth+1)
				if err != nil {
					return nil, err
				}
				switch t := mv.(type) {
				case map[string]any:
					merges = append(merges, t)
				case []any:
					for _, e := range t {
						m, ok := e.(map[string]any)
						if !ok {
							return nil, posErr(vn, errors.New("merge key expects a mapping or a list of mappings"))
						}
						merges = append(merges, m)
					}
				default:
					return nil, posErr(vn, errors.New("merge key expects a mapping or a list of mappings"))
				}
				continue
			}
			kv, err := decodeNode(k, depth+1)
			if err != nil {
				return nil, err
			}
			if _, isMap := kv.(map[string]any); isMap {
				return nil, posErr(k, errors.New("a mapping cannot be a mapping key"))
			}
			if _, isList := kv.([]any); isList {
				return nil, posErr(k, errors.New("a sequence cannot be a mapping key"))
			}
			v, err := decodeNode(vn, depth+1)
			if err != nil {
				return nil, err
			}
			out[keyString(kv)] = v
		}
		// Explicit keys win over merged ones; earlier merges win over later.
		for _, m := range merges {
			for k, v := range m {
				if _, ok := out[k]; !ok {
					out[k] = v
				}
			}
		}
		return out, nil
	case yaml.ScalarNode:
		return decodeScalar(n)
	}
	return nil, posErr(n, fmt.Errorf("unexpected yaml node kind %d", n.Kind))
}

func posErr(n *yaml.Node, err error) error {
	return &Error{Line: n.Line, Col: n.Column, Err: err}
}

func decodeScalar(n *yaml.Node) (any, error) {
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		if n.Style&yaml.TaggedStyle == 0 {
			return n.Value, nil
		}
	}
	if n.Style&yaml.TaggedStyle != 0 {
		switch n.Tag {
		case "!!str", "tag:yaml.org,2002:str":
			return n.Value, nil
		case "!!int", "tag:yaml.org,2002:int":
			if v, ok := resolveInt(n.Value); ok {
				return v, nil
			}
			return nil, posErr(n, fmt.Errorf("cannot parse %q as an int", n.Value))
		case "!!float", "tag:yaml.org,2002:float":
			if v, ok := resolveFloat(n.Value); ok {
				return v, nil
			}
			if v, ok := resolveInt(n.Value); ok {
				return float64(v), nil
			}
			return nil, posErr(n, fmt.Errorf("cannot parse %q as a float", n.Value))
		case "!!bool", "tag:yaml.org,2002:bool":
			if v, ok := resolveBool(n.Value); ok {
				return v, nil
			}
			return nil, posErr(n, fmt.Errorf("cannot parse %q as a bool", n.Value))
		case "!!null", "tag:yaml.org,2002:null":
			return nil, nil
		}
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
			return n.Value, nil
		}
	}
	return resolvePlain(n.Value), nil
}

// resolvePlain applies PyYAML's YAML 1.1 implicit resolvers, as Salt's
// loader modifies them, to an unquoted scalar.
func resolvePlain(s string) any {
	switch s {
	case "", "~", "null", "Null", "NULL":
		return nil
	}
	switch c := s[0]; {
	case strings.IndexByte("yYnNoOtTfF", c) >= 0:
		if b, ok := resolveBool(s); ok {
			return b
		}
	case c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.':
		if i, ok := resolveInt(s); ok {
			return i
		}
		if f, ok := resolveFloat(s); ok {
			return f
		}
	}
	return s
}

func resolveBool(s string) (bool, bool) {
	switch s {
	case "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON":
		return true, true
	case "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF":
		return false, true
	}
	return false, false
}

var (
	reInt = regexp.MustCompile(`^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$`)
	// Salt's loader additionally reads decimal digits after a leading zero
	// (0644, 0800) as decimal, never octal.
	reZeroDec = regexp.MustCompile(`^0[0-9_]+$`)
	reFloat   = regexp.MustCompile(`^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$`)
)

func resolveInt(s string) (int, bool) {
	if reZeroDec.MatchString(s) {
		// Salt strips the leading zeros of an unsigned int scalar.
		t := strings.TrimLeft(strings.ReplaceAll(s, "_", ""), "0")
		if t == "" {
			return 0, true
		}
		v, err := strconv.ParseInt(t, 10, 64)
		if err != nil {
			return 0, false
		}
		return int(v), true
	}
	if !reInt.MatchString(s) {
		return 0, false
	}
	t := strings.ReplaceAll(s, "_", "")
	sign := int64(1)
	switch {
	case strings.HasPrefix(t, "-"):
		sign, t = -1, t[1:]
	case strings.HasPrefix(t, "+"):
		t = t[1:]
	}
	var v int64
	var err error
	switch {
	case t == "0":
		return 0, true
	case strings.HasPrefix(t, "0b"):
		v, err = strconv.ParseInt(t[2:], 2, 64)
	case strings.HasPrefix(t, "0x"):
		v, err = strconv.ParseInt(t[2:], 16, 64)
	case strings.HasPrefix(t, "0"):
		v, err = strconv.ParseInt(t[1:], 8, 64)
	case strings.Contains(t, ":"):
		for _, part := range strings.Split(t, ":") {
			d, perr := strconv.ParseInt(part, 10, 64)
			if perr != nil {
				return 0, false
			}
			if v > (math.MaxInt64-d)/60 {
				return 0, false
			}
			v = v*60 + d
		}
	default:
		v, err = strconv.ParseInt(t, 10, 64)
	}
	if err != nil {
		return 0, false
	}
	return int(sign * v), true
}

func resolveFloat(s string) (float64, bool) {
	if !reFloat.MatchString(s) {
		return 0, false
	}
	t := strings.ToLower(strings.ReplaceAll(s, "_", ""))
	sign := 1.0
	switch {
	case strings.HasPrefix(t, "-"):
		sign, t = -1, t[1:]
	case strings.HasPrefix(t, "+"):
		t = t[1:]
	}
	switch t {
	case ".inf":
		return sign * math.Inf(1), true
	case ".nan":
		return math.NaN(), true
	}
	if strings.Contains(t, ":") {
		parts := strings.Split(t, ":")
		var v float64
		for i, p := range parts {
			d, err := strconv.ParseFloat(p, 64)
			if err != nil {
				return 0, false
			}
			if i < len(parts)-1 {
				v = v*60 + d
			} else {
				v = v*60 + d
			}
		}
		return sign * v, true
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil {
		return 0, false
	}
	return sign * f, true
}
