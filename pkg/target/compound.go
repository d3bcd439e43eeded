package target

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// token is one word of a compound expression with its byte offset in the
// text being parsed.
type token struct {
	text string
	off  int
	op   bool // and, or, not, (, )
}

// tokenize splits on whitespace as Salt does. Salt wants parentheses as
// separate words; brine also splits a "(" glued to the front of a word and
// a ")" glued to its end when the word's own parentheses do not balance,
// so "(web* or db*)" works while "E@web(1|2)" keeps its group.
func tokenize(src string) []token {
	var toks []token
	i := 0
	for i < len(src) {
		r, sz := utf8.DecodeRuneInString(src[i:])
		if unicode.IsSpace(r) {
			i += sz
			continue
		}
		j := i
		for j < len(src) {
			r, sz := utf8.DecodeRuneInString(src[j:])
			if unicode.IsSpace(r) {
				break
			}
			j += sz
		}
		toks = splitWord(toks, src[i:j], i)
		i = j
	}
	return toks
}

func isOp(w string) bool {
	switch w {
	case "and", "or", "not", "(", ")":
		return true
	}
	return false
}

func splitWord(toks []token, w string, off int) []token {
	if isOp(w) {
		return append(toks, token{text: w, off: off, op: true})
	}
	for len(w) > 1 && w[0] == '(' {
		toks = append(toks, token{text: "(", off: off, op: true})
		w, off = w[1:], off+1
	}
	if isOp(w) {
		return append(toks, token{text: w, off: off, op: true})
	}
	var closing []token
	for len(w) > 1 && w[len(w)-1] == ')' && parenBalance(w) < 0 {
		closing = append(closing, token{text: ")", off: off + len(w) - 1, op: true})
		w = w[:len(w)-1]
	}
	if isOp(w) {
		toks = append(toks, token{text: w, off: off, op: true})
	} else {
		toks = append(toks, token{text: w, off: off})
	}
	for k := len(closing) - 1; k >= 0; k-- {
		toks = append(toks, closing[k])
	}
	return toks
}

// parenBalance counts unescaped "(" minus unescaped ")".
func parenBalance(w string) int {
	bal := 0
	for i := 0; i < len(w); i++ {
		switch w[i] {
		case '\\':
			i++
		case '(':
			bal++
		case ')':
			bal--
		}
	}
	return bal
}

type cparser struct {
	*parser
	toks  []token
	pos   int
	depth int
}

// maxDepth bounds nesting of parentheses and "not", so a hostile
// expression cannot exhaust the stack.
const maxDepth = 256

func (p *parser) parseCompound() (Expr, error) {
	c := &cparser{parser: p, toks: tokenize(p.src)}
	if len(c.toks) == 0 {
		return nil, p.errAt(0, "empty expression")
	}
	e, err := c.parseOr()
	if err != nil {
		return nil, err
	}
	if c.pos < len(c.toks) {
		t := c.toks[c.pos]
		if t.text == ")" && t.op {
			return nil, p.errAt(t.off, "unbalanced parentheses: %q has no matching %q", ")", "(")
		}
		return nil, p.errAt(t.off, "missing operator before %q", t.text)
	}
	return e, nil
}

func (c *cparser) peek() (token, bool) {
	if c.pos < len(c.toks) {
		return c.toks[c.pos], true
	}
	return token{}, false
}

func (c *cparser) peekOp(w string) bool {
	t, ok := c.peek()
	return ok && t.op && t.text == w
}

func (c *cparser) parseOr() (Expr, error) {
	left, err := c.parseAnd()
	if err != nil {
		return nil, err
	}
	for c.peekOp("or") {
		c.pos++
		right, err := c.parseAnd()
		if err != nil {
			return nil, err
		}
		left = &orNode{l: left, r: right}
	}
	return left, nil
}

func (c *cparser) parseAnd() (Expr, error) {
	left, err := c.parseNot()
	if err != nil {
		return nil, err
	}
	for {
		switch {
		case c.peekOp("and"):
			c.pos++
		case c.peekOp("not"):
			// Salt inserts an implicit "and" before a "not" that follows
			// a term: "web* not db*" is "web* and not db*".
		default:
			return left, nil
		}
		right, err := c.parseNot()
		if err != nil {
			return nil, err
		}
		left = &andNode{l: left, r: right}
	}
}

func (c *cparser) parseNot() (Expr, error) {
	if c.peekOp("not") {
		if c.depth++; c.depth > maxDepth {
			return nil, c.errAt(c.toks[c.pos].off, "expression nested too deeply")
		}
		defer func() { c.depth-- }()
		c.pos++
		x, err := c.parseNot()
		if err != nil {
			return nil, err
		}
		return &notNode{x: x}, nil
	}
	return c.parsePrimary()
}

func (c *cparser) parsePrimary() (Expr, error) {
	var prev *token
	if c.pos > 0 {
		prev = &c.toks[c.pos-1]
	}
	t, ok := c.peek()
	if !ok {
		if prev != nil && prev.op && prev.text != ")" {
			if prev.text == "(" {
				return nil, c.errAt(prev.off, "unbalanced parentheses: %q is never closed", "(")
			}
			return nil, c.errAt(prev.off, "dangling operator %q: nothing follows it", prev.text)
		}
		return nil, c.errAt(len(c.src), "unexpected end of expression")
	}
	if !t.op {
		c.pos++
		return c.parseWord(t)
	}
	switch t.text {
	case "(":
		if c.depth++; c.depth > maxDepth {
			return nil, c.errAt(t.off, "expression nested too deeply")
		}
		defer func() { c.depth-- }()
		c.pos++
		if c.peekOp(")") {
			return nil, c.errAt(c.toks[c.pos].off, "empty parentheses")
		}
		e, err := c.parseOr()
		if err != nil {
			return nil, err
		}
		nt, ok := c.peek()
		if !ok {
			return nil, c.errAt(t.off, "unbalanced parentheses: %q is never closed", "(")
		}
		if !(nt.op && nt.text == ")") {
			return nil, c.errAt(nt.off, "missing operator before %q", nt.text)
		}
		c.pos++
		return &groupNode{x: e}, nil
	case ")":
		if prev == nil || prev.text == "(" {
			return nil, c.errAt(t.off, "unbalanced parentheses: %q has no matching %q", ")", "(")
		}
		return nil, c.errAt(prev.off, "dangling operator %q: nothing follows it before %q", prev.text, ")")
	default: // and, or
		if prev == nil {
			return nil, c.errAt(t.off, "expression cannot start with operator %q", t.text)
		}
		if prev.text == "(" {
			return nil, c.errAt(t.off, "operator %q cannot follow %q", t.text, "(")
		}
		return nil, c.errAt(t.off, "operator %q cannot follow %q", t.text, prev.text)
	}
}

// parseWord reads one compound term: a bare glob or PREFIX@pattern, with an
// optional one-character delimiter for G, P, I and J ("G|@os|Debian").
func (c *cparser) parseWord(t token) (Expr, error) {
	w := t.text
	engine, delim, pat, poff := byte(0), "", w, t.off
	switch {
	case len(w) >= 2 && w[1] == '@' && w[0] >= 'A' && w[0] <= 'Z':
		engine, pat, poff = w[0], w[2:], t.off+2
	case len(w) >= 3 && strings.IndexByte("GPIJ", w[0]) >= 0 && w[2] == '@':
		engine, delim, pat, poff = w[0], w[1:2], w[3:], t.off+3
	case len(w) >= 3 && strings.IndexByte("GPIJ", w[0]) >= 0 && w[1] >= 0x80:
		// A multi-byte delimiter character.
		_, sz := utf8.DecodeRuneInString(w[1:])
		if len(w) > 1+sz && w[1+sz] == '@' {
			engine, delim, pat, poff = w[0], w[1:1+sz], w[2+sz:], t.off+2+sz
		}
	}
	if engine == 0 {
		return newGlobNode(w), nil
	}
	if strings.IndexByte("GPIJLNSE", engine) < 0 {
		if engine == 'R' {
			return nil, c.errAt(t.off, "range expressions (R@) are not supported")
		}
		return nil, c.errAt(t.off, "unknown prefix %q (want one of G@ P@ I@ J@ E@ L@ S@ N@)", w[:2])
	}
	if pat == "" {
		return nil, c.errAt(t.off, "empty pattern after %q", w[:poff-t.off])
	}
	explicit := delim != ""
	if !explicit {
		delim = c.opts.Delimiter
	}
	switch engine {
	case 'G':
		return c.parseTerm(Grain, pat, poff, delim, explicit)
	case 'P':
		return c.parseTerm(GrainPCRE, pat, poff, delim, explicit)
	case 'I':
		return c.parseTerm(Pillar, pat, poff, delim, explicit)
	case 'J':
		return c.parseTerm(PillarPCRE, pat, poff, delim, explicit)
	case 'E':
		return c.parseTerm(PCRE, pat, poff, delim, false)
	case 'L':
		return c.parseTerm(List, pat, poff, delim, false)
	case 'S':
		return c.parseTerm(IPCIDR, pat, poff, delim, false)
	default: // 'N'
		return c.expandNodegroup(pat, poff)
	}
}

// expandNodegroup parses the named nodegroup's compound expression. Errors
// inside it are reported at the reference, quoting the inner error.
func (p *parser) expandNodegroup(name string, off int) (Expr, error) {
	def, ok := p.opts.Nodegroups[name]
	if !ok {
		return nil, p.errAt(off, "unknown nodegroup %q", name)
	}
	for i, g := range p.groups {
		if g == name {
			chain := append(append([]string(nil), p.groups[i:]...), name)
			return nil, p.errAt(off, "nodegroup cycle: %s", strings.Join(chain, " -> "))
		}
	}
	inner := &parser{src: def, opts: p.opts, groups: append(append([]string(nil), p.groups...), name)}
	e, err := inner.parseTop(Compound)
	if err != nil {
		ie := err.(*Error)
		if strings.HasPrefix(ie.Msg, "nodegroup cycle:") {
			return nil, p.errAt(off, "%s", ie.Msg)
		}
		return nil, p.errAt(off, "in nodegroup %q: %s", name, ie.Error())
	}
	return &groupRef{name: name, x: e}, nil
}

// --- operator nodes -------------------------------------------------------

type andNode struct{ l, r Expr }
type orNode struct{ l, r Expr }
type notNode struct{ x Expr }

// groupNode keeps explicit parentheses so String reproduces them.
type groupNode struct{ x Expr }

// groupRef is an expanded nodegroup.
type groupRef struct {
	name string
	x    Expr
}

func (n *andNode) Match(m *Minion) bool   { return n.l.Match(m) && n.r.Match(m) }
func (n *orNode) Match(m *Minion) bool    { return n.l.Match(m) || n.r.Match(m) }
func (n *notNode) Match(m *Minion) bool   { return !n.x.Match(m) }
func (n *groupNode) Match(m *Minion) bool { return n.x.Match(m) }
func (n *groupRef) Match(m *Minion) bool  { return n.x.Match(m) }

func (n *andNode) String() string   { return n.l.String() + " and " + n.r.String() }
func (n *orNode) String() string    { return n.l.String() + " or " + n.r.String() }
func (n *notNode) String() string   { return "not " + n.x.String() }
func (n *groupNode) String() string { return "( " + n.x.String() + " )" }
func (n *groupRef) String() string  { return "N@" + n.name }

func (n *andNode) kind() Kind   { return Compound }
func (n *orNode) kind() Kind    { return Compound }
func (n *notNode) kind() Kind   { return Compound }
func (n *groupNode) kind() Kind { return KindOf(n.x) }
func (n *groupRef) kind() Kind  { return Nodegroup }
