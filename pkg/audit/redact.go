package audit

import "strings"

// secretWords are substrings of argument names whose values are never
// stored: a password passed to user.present must not end up in the log.
var secretWords = []string{"password", "passwd", "secret", "token", "key", "private"}

func isSecret(k string, extra []string) bool {
	lk := strings.ToLower(k)
	for _, w := range secretWords {
		if strings.Contains(lk, w) {
			return true
		}
	}
	for _, e := range extra {
		if strings.EqualFold(k, e) {
			return true
		}
	}
	return false
}

// redactMap copies m, replacing the values of secret-looking keys at any
// depth; the caller's map is left untouched.
func redactMap(m map[string]any, extra []string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if isSecret(k, extra) {
			out[k] = RedactedValue
			continue
		}
		out[k] = redactValue(v, extra)
	}
	return out
}

func redactValue(v any, extra []string) any {
	switch t := v.(type) {
	case map[string]any:
		return redactMap(t, extra)
	case map[string]string:
		m := make(map[string]any, len(t))
		for k, s := range t {
			m[k] = s
		}
		return redactMap(m, extra)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = redactValue(e, extra)
		}
		return out
	}
	return v
}
