package pkgmgr

import (
	"fmt"
	"path"
	"strings"
)

// Condition is one parsed version condition: an operator ("==", "!=",
// ">=", "<=", ">", "<") and a version, possibly with '*' wildcards.
type Condition struct {
	Op      string
	Version string
}

// ParseSpec parses a Salt version string: "1.2-3", "=1.2-3", "2.10*",
// ">=1.0", ">=1.0,<2.0". An empty spec means "any version".
func ParseSpec(spec string) ([]Condition, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, nil
	}
	var out []Condition
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		op := "=="
		for _, o := range []string{"==", "!=", ">=", "<=", ">", "<", "="} {
			if strings.HasPrefix(part, o) {
				op, part = o, strings.TrimSpace(part[len(o):])
				break
			}
		}
		if op == "=" {
			op = "=="
		}
		if part == "" {
			return nil, fmt.Errorf("version %q: empty version after operator", spec)
		}
		out = append(out, Condition{Op: op, Version: part})
	}
	return out, nil
}

// IsExact reports whether the spec names one version exactly, which can
// be handed to the package manager as is (name=version).
func IsExact(conds []Condition) bool {
	return len(conds) == 1 && conds[0].Op == "==" && !strings.ContainsAny(conds[0].Version, "*?[")
}

// Satisfies reports whether version meets every condition, comparing with
// cmp. As Salt does by default, an epoch is ignored when the wanted
// version has none and the operator is an equality.
func Satisfies(version string, conds []Condition, cmp func(a, b string) int) bool {
	if version == "" {
		return false
	}
	for _, c := range conds {
		v := version
		if (c.Op == "==" || c.Op == "!=") && !strings.Contains(c.Version, ":") {
			if i := strings.IndexByte(v, ':'); i >= 0 {
				v = v[i+1:]
			}
		}
		var ok bool
		switch c.Op {
		case "==":
			ok = v == c.Version || cmp(v, c.Version) == 0
			if !ok && strings.ContainsAny(c.Version, "*?[") {
				ok, _ = path.Match(c.Version, v)
			}
		case "!=":
			ok = cmp(v, c.Version) != 0
		case ">=":
			ok = cmp(v, c.Version) >= 0
		case "<=":
			ok = cmp(v, c.Version) <= 0
		case ">":
			ok = cmp(v, c.Version) > 0
		case "<":
			ok = cmp(v, c.Version) < 0
		}
		if !ok {
			return false
		}
	}
	return true
}

// Resolve picks the highest of the available versions that satisfies the
// conditions, or "" when none does; it turns "2.10*" or ">=2" into a
// version the package manager can install.
func Resolve(available []string, conds []Condition, cmp func(a, b string) int) string {
	best := ""
	for _, v := range available {
		if Satisfies(v, conds, cmp) && (best == "" || cmp(v, best) > 0) {
			best = v
		}
	}
	return best
}
