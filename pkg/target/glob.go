package target

import (
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode"
	"unicode/utf8"
)

// glob is a compiled Python fnmatch pattern. Salt matches ids with
// fnmatch.fnmatch, so the pattern language is fnmatch's: `*` any run of
// characters (including "." and "/"), `?` one character, `[abc]`, `[a-z]`,
// `[!a]` a class, and a `[` with no closing `]` is a literal. Backslash is
// an ordinary character.
type glob struct {
	toks    []gtok
	fold    bool // compare case-insensitively (grain and pillar values)
	literal bool // no wildcard or class: an exact string
	lit     string
}

type gtokKind uint8

const (
	gLit gtokKind = iota
	gAny
	gStar
	gClass
)

type rrange struct{ lo, hi rune }

type gtok struct {
	kind   gtokKind
	r      rune
	neg    bool
	ranges []rrange
}

func compileGlob(pat string, fold bool) *glob {
	if fold {
		pat = strings.ToLower(pat)
	}
	g := &glob{fold: fold}
	p := []rune(pat)
	n := len(p)
	literal := true
	for i := 0; i < n; {
		c := p[i]
		i++
		switch c {
		case '*':
			literal = false
			if len(g.toks) == 0 || g.toks[len(g.toks)-1].kind != gStar {
				g.toks = append(g.toks, gtok{kind: gStar})
			}
		case '?':
			literal = false
			g.toks = append(g.toks, gtok{kind: gAny})
		case '[':
			j := i
			if j < n && p[j] == '!' {
				j++
			}
			if j < n && p[j] == ']' {
				j++
			}
			for j < n && p[j] != ']' {
				j++
			}
			if j >= n {
				g.toks = append(g.toks, gtok{kind: gLit, r: '['})
				continue
			}
			literal = false
			g.toks = append(g.toks, buildClass(p, i, j))
			i = j + 1
		default:
			g.toks = append(g.toks, gtok{kind: gLit, r: c})
		}
	}
	if literal {
		g.literal = true
		g.lit = pat
	}
	return g
}

// buildClass follows CPython's fnmatch.translate for the class p[i:j]
// (the text between "[" and "]"): hyphens between characters form ranges,
// empty ranges such as "z-a" are dropped, a leading "!" negates.
func buildClass(p []rune, i, j int) gtok {
	content := p[i:j]
	var chunks [][]rune
	hasHyphen := false
	for _, r := range content {
		if r == '-' {
			hasHyphen = true
			break
		}
	}
	if !hasHyphen {
		chunks = [][]rune{append([]rune(nil), content...)}
	} else {
		k := i + 1
		if p[i] == '!' {
			k = i + 2
		}
		for {
			f := -1
			for x := k; x < j; x++ {
				if p[x] == '-' {
					f = x
					break
				}
			}
			if f < 0 {
				break
			}
			chunks = append(chunks, append([]rune(nil), p[i:f]...))
			i = f + 1
			k = f + 3
		}
		chunk := append([]rune(nil), p[i:j]...)
		if len(chunk) > 0 {
			chunks = append(chunks, chunk)
		} else {
			chunks[len(chunks)-1] = append(chunks[len(chunks)-1], '-')
		}
		for k := len(chunks) - 1; k > 0; k-- {
			a, b := chunks[k-1], chunks[k]
			if len(a) > 0 && len(b) > 0 && a[len(a)-1] > b[0] {
				chunks[k-1] = append(append([]rune(nil), a[:len(a)-1]...), b[1:]...)
				chunks = append(chunks[:k], chunks[k+1:]...)
			}
		}
	}
	t := gtok{kind: gClass}
	if len(chunks) > 0 && len(chunks[0]) > 0 && chunks[0][0] == '!' {
		t.neg = true
		chunks[0] = chunks[0][1:]
	}
	// Every chunk boundary is a range from the last rune of one chunk to the
	// first rune of the next; all other runes are single members.
	for c, ch := range chunks {
		start := 0
		if c > 0 && len(ch) > 0 && len(chunks[c-1]) > 0 {
			start = 1 // first rune already used as a range end
		}
		end := len(ch)
		if c < len(chunks)-1 && len(ch) > 0 && len(chunks[c+1]) > 0 {
			end-- // last rune starts a range
			t.ranges = append(t.ranges, rrange{ch[len(ch)-1], chunks[c+1][0]})
		} else if c < len(chunks)-1 {
			// A range with a missing end is a literal hyphen.
			t.ranges = append(t.ranges, rrange{'-', '-'})
		}
		for x := start; x < end; x++ {
			t.ranges = append(t.ranges, rrange{ch[x], ch[x]})
		}
	}
	return t
}

func (t *gtok) classMatch(r rune) bool {
	in := false
	for _, rg := range t.ranges {
		if r >= rg.lo && r <= rg.hi {
			in = true
			break
		}
	}
	return in != t.neg
}

func (g *glob) match(s string) bool {
	if g.literal {
		if g.fold {
			return lowerEqual(s, g.lit)
		}
		return s == g.lit
	}
	toks := g.toks
	ti, si := 0, 0
	starTi, starSi := -1, 0
	for {
		if ti < len(toks) && toks[ti].kind == gStar {
			starTi = ti
			starSi = si
			ti++
			continue
		}
		if si >= len(s) {
			if ti == len(toks) {
				return true
			}
			return false
		}
		r, size := utf8.DecodeRuneInString(s[si:])
		if g.fold {
			r = unicode.ToLower(r)
		}
		if ti < len(toks) {
			t := &toks[ti]
			ok := false
			switch t.kind {
			case gLit:
				ok = t.r == r
			case gAny:
				ok = true
			case gClass:
				ok = t.classMatch(r)
			}
			if ok {
				ti++
				si += size
				continue
			}
		}
		if starTi < 0 {
			return false
		}
		// Backtrack: let the last star swallow one more rune.
		_, sz := utf8.DecodeRuneInString(s[starSi:])
		starSi += sz
		si = starSi
		ti = starTi + 1
	}
}

// matcher is the one method of *regexp.Regexp that matching needs.
type matcher interface{ MatchString(string) bool }

// compileRegexp compiles a Python-style re.match pattern: anchored at the
// start only. fold makes it case-insensitive (grain and pillar regexes,
// which Salt lower-cases on both sides).
func compileRegexp(pat string, fold bool) (*regexp.Regexp, error) {
	if _, err := syntax.Parse(pat, syntax.Perl); err != nil {
		return nil, err
	}
	prefix := "^(?:"
	if fold {
		prefix = "(?i)^(?:"
	}
	return regexp.Compile(prefix + pat + ")")
}

// regexpErr turns a regexp syntax error into an *Error pointing at the
// offending fragment when it can be found in the pattern.
func (p *parser) regexpErr(pat string, off int, err error) *Error {
	at := off
	msg := err.Error()
	if se, ok := err.(*syntax.Error); ok {
		msg = string(se.Code)
		if se.Expr != "" {
			msg += ": `" + se.Expr + "`"
			if i := strings.Index(pat, se.Expr); i >= 0 {
				at = off + i
			}
		}
	}
	return p.errAt(at, "invalid regular expression: %s", msg)
}

// lowerEqual reports whether s lower-cased rune by rune equals lower,
// without allocating.
func lowerEqual(s, lower string) bool {
	for s != "" && lower != "" {
		r, n := utf8.DecodeRuneInString(s)
		l, m := utf8.DecodeRuneInString(lower)
		if unicode.ToLower(r) != l {
			return false
		}
		s, lower = s[n:], lower[m:]
	}
	return s == "" && lower == ""
}
