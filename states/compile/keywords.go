package compile

import "strings"

// Requisites lists the forward requisite arguments the engine evaluates,
// in the order Salt reports them.
var Requisites = []string{
	"require", "require_any", "watch", "watch_any", "prereq",
	"onfail", "onfail_any", "onfail_all", "onchanges", "onchanges_any",
}

// requisiteIn maps each `_in` argument to the forward requisite it
// inserts into its targets.
var requisiteIn = map[string]string{
	"require_in":   "require",
	"watch_in":     "watch",
	"onfail_in":    "onfail",
	"onchanges_in": "onchanges",
	"prereq_in":    "prereq",
	"listen_in":    "listen",
	"use_in":       "use",
}

// mergedByExtend are the arguments whose lists extend appends to instead
// of replacing (Salt's STATE_REQUISITE_KEYWORDS).
var mergedByExtend = map[string]bool{
	"require": true, "require_any": true, "watch": true, "watch_any": true,
	"prereq": true, "prerequired": true, "onfail": true, "onfail_any": true,
	"onfail_all": true, "onfail_stop": true, "onchanges": true,
	"onchanges_any": true, "listen": true,
}

// IsRequisite reports whether key is a requisite argument in any form
// (forward, _in, _any, listen, use), which `use` never copies.
func IsRequisite(key string) bool {
	if mergedByExtend[key] || key == "use" || key == "listen" {
		return true
	}
	_, ok := requisiteIn[key]
	return ok
}

// listRequisite reports whether key must be written as a list.
func listRequisite(key string) bool {
	return mergedByExtend[key] || key == "use" || key == "listen"
}

// Fnmatch matches s against a shell-style pattern the way Salt matches
// requisite targets (Python's fnmatch): `*` and `?` cross dots and
// slashes, `[...]`/`[!...]` are character classes.
func Fnmatch(pattern, s string) bool {
	if !strings.ContainsAny(pattern, "*?[") {
		return pattern == s
	}
	return fnmatch([]rune(pattern), []rune(s))
}

// IsGlob reports whether a requisite target contains wildcard characters.
func IsGlob(s string) bool { return strings.ContainsAny(s, "*?[") }

func fnmatch(p, s []rune) bool {
	// Iterative matcher with backtracking on the last star.
	pi, si := 0, 0
	starP, starS := -1, 0
	for si < len(s) {
		if pi < len(p) {
			switch p[pi] {
			case '*':
				starP, starS = pi, si
				pi++
				continue
			case '?':
				pi++
				si++
				continue
			case '[':
				if ok, next, valid := matchClass(p, pi, s[si]); valid {
					if ok {
						pi = next
						si++
						continue
					}
				} else if s[si] == '[' { // unterminated class: literal '['
					pi++
					si++
					continue
				}
			default:
				if p[pi] == s[si] {
					pi++
					si++
					continue
				}
			}
		}
		if starP >= 0 {
			pi = starP + 1
			starS++
			si = starS
			continue
		}
		return false
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// matchClass matches c against the class starting at p[i] == '['. It
// returns whether it matched, the index after the class, and whether the
// class was well formed.
func matchClass(p []rune, i int, c rune) (bool, int, bool) {
	j := i + 1
	neg := false
	if j < len(p) && p[j] == '!' {
		neg = true
		j++
	}
	start := j
	matched := false
	for ; j < len(p); j++ {
		if p[j] == ']' && j > start {
			if neg {
				matched = !matched
			}
			return matched, j + 1, true
		}
		if j+2 < len(p) && p[j+1] == '-' && p[j+2] != ']' {
			if p[j] <= c && c <= p[j+2] {
				matched = true
			}
			j += 2
			continue
		}
		if p[j] == c {
			matched = true
		}
	}
	return false, 0, false
}
