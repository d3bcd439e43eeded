package render

// dropTrailingCommas blanks the trailing comma in "[a, b,]", "{'a': 1,}"
// and "f(a, b,)" inside Jinja tags: Python (and so every Salt formula
// written against Jinja) accepts it, gonja's parser does not. The comma
// becomes a space, so every line and column stays where it was.
func dropTrailingCommas(src []byte) []byte {
	var out []byte // copied on first change
	n := len(src)
	i := 0
	for i < n-1 {
		if src[i] != '{' {
			i++
			continue
		}
		var closer byte
		switch src[i+1] {
		case '{':
			closer = '}'
		case '%':
			closer = '%'
		case '#':
			end := indexFrom(src, i+2, "#}")
			if end < 0 {
				return pick(out, src)
			}
			i = end + 2
			continue
		default:
			i++
			continue
		}
		start := i
		i += 2
		for i < n {
			c := src[i]
			if c == '\'' || c == '"' {
				i = skipString(src, i)
				continue
			}
			if c == closer && i+1 < n && src[i+1] == '}' {
				i += 2
				break
			}
			if c == ',' {
				j := i + 1
				for j < n && (src[j] == ' ' || src[j] == '\t' || src[j] == '\n' || src[j] == '\r') {
					j++
				}
				if j < n && (src[j] == ']' || src[j] == '}' || src[j] == ')') {
					// A "}" that closes the tag itself ("{{ a, }}") is not a
					// collection end: leave that comma alone.
					if !(src[j] == '}' && closer == '}' && j+1 < n && src[j+1] == '}' && !openBrace(src[start+2:i])) {
						if out == nil {
							out = append([]byte(nil), src...)
						}
						out[i] = ' '
					}
				}
			}
			i++
		}
		if isRawStart(src[start:min(i, n)]) {
			end := indexFrom(src, i, "endraw")
			if end < 0 {
				return pick(out, src)
			}
			i = end
		}
	}
	return pick(out, src)
}

func pick(out, src []byte) []byte {
	if out != nil {
		return out
	}
	return src
}

func indexFrom(b []byte, from int, s string) int {
	for i := from; i+len(s) <= len(b); i++ {
		if string(b[i:i+len(s)]) == s {
			return i
		}
	}
	return -1
}

// skipString returns the index just past the quoted string at i.
func skipString(b []byte, i int) int {
	q := b[i]
	i++
	for i < len(b) {
		switch b[i] {
		case '\\':
			i += 2
			continue
		case q:
			return i + 1
		}
		i++
	}
	return i
}

// openBrace reports whether a "{" is open in an expression fragment
// (outside strings), so a following "}" closes a dict, not the tag.
func openBrace(b []byte) bool {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '\'', '"':
			i = skipString(b, i) - 1
		case '{':
			depth++
		case '}':
			depth--
		}
	}
	return depth > 0
}

func isRawStart(tag []byte) bool {
	s := string(tag)
	if len(s) < 4 || s[:2] != "{%" {
		return false
	}
	s = s[2 : len(s)-2]
	for len(s) > 0 && (s[0] == '-' || s[0] == '+' || s[0] == ' ' || s[0] == '\t' || s[0] == '\n') {
		s = s[1:]
	}
	return len(s) >= 3 && s[:3] == "raw" && (len(s) == 3 || s[3] == ' ' || s[3] == '-' || s[3] == '\t' || s[3] == '\n')
}
