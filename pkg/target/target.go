// Package target decides which minions a job is for. It implements Salt's
// targeting kinds (id glob, id regex, list, grains, pillar, subnet, nodegroup
// and compound) with Salt's matching rules, so an operator's muscle memory
// and existing nodegroup definitions carry over unchanged. An expression is
// parsed once into a tree (Expr) and then matched against any number of
// minions without re-parsing; every parse failure is an *Error naming the
// expression and the column where it went wrong.
package target

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"
)

// Kind selects how an expression is read, matching the CLI's -E, -G, -C...
// switches, so the master can carry the operator's choice in a job.
type Kind int

// The targeting kinds, one per Salt tgt_type.
const (
	Glob       Kind = iota // shell glob on the minion id ('web*')
	PCRE                   // regular expression on the id, anchored at the start
	List                   // comma-separated exact ids
	Grain                  // grain glob, key:value
	GrainPCRE              // grain regular expression, key:regex
	Pillar                 // pillar glob, key:value
	PillarPCRE             // pillar regular expression, key:regex
	IPCIDR                 // subnet or single address
	Nodegroup              // a named compound expression from the master config
	Compound               // prefixes, and/or/not and parentheses
)

var kindNames = [...]string{
	Glob:       "glob",
	PCRE:       "pcre",
	List:       "list",
	Grain:      "grain",
	GrainPCRE:  "grain_pcre",
	Pillar:     "pillar",
	PillarPCRE: "pillar_pcre",
	IPCIDR:     "ipcidr",
	Nodegroup:  "nodegroup",
	Compound:   "compound",
}

// String returns Salt's tgt_type name for the kind, the same word ParseKind
// accepts, so kinds survive a round trip through job metadata.
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// ParseKind turns Salt's tgt_type name ("glob", "grain_pcre", ...) into a
// Kind, so jobs and API calls can name the kind as Salt does.
func ParseKind(s string) (Kind, error) {
	for k, n := range kindNames {
		if n == s {
			return Kind(k), nil
		}
	}
	return 0, fmt.Errorf("unknown target kind %q (want one of %s)", s, strings.Join(kindNames[:], ", "))
}

// Options carries the master configuration that changes how expressions
// parse: nodegroup definitions and the key delimiter for grain and pillar
// targets (Salt's `delimiter`, ":" when empty).
type Options struct {
	Nodegroups map[string]string
	Delimiter  string
}

// Minion is the view of one minion that matching needs; the master fills
// it from its index so matching never touches the network.
type Minion struct {
	ID     string
	Grains map[string]any
	Pillar map[string]any
	IPs    []netip.Addr
}

// Expr is a parsed expression: parse once, match many minions.
// String returns a canonical form: for a compound expression, feeding it
// back to Parse(Compound, ...) with the same Options gives an equivalent
// expression; for other kinds it is the compound term for the same target
// (for example "G@os:Debian"), handy for logs and job listings.
type Expr interface {
	Match(m *Minion) bool
	String() string
}

// Error is every parse failure; it names the whole expression and the
// 1-based column (in characters) of the offending part so the CLI can point
// at it.
type Error struct {
	Expr string
	Col  int
	Msg  string
}

// Error formats as `target "EXPR": column N: msg`.
func (e *Error) Error() string {
	return fmt.Sprintf("target %q: column %d: %s", e.Expr, e.Col, e.Msg)
}

// kinded is implemented by every node so KindOf can answer without a type
// switch over unexported types in callers.
type kinded interface{ kind() Kind }

// KindOf reports which kind of node e is: a compound expression with
// operators reports Compound, a single term reports its own kind (a
// compound "G@os:Debian" is a Grain), so the master can pick an index.
func KindOf(e Expr) Kind {
	if k, ok := e.(kinded); ok {
		return k.kind()
	}
	return Compound
}

// Parse reads expr as the given kind. It never returns a nil Expr with a
// nil error; a failure is always an *Error.
func Parse(kind Kind, expr string, opts Options) (Expr, error) {
	p := &parser{src: expr, opts: opts}
	if p.opts.Delimiter == "" {
		p.opts.Delimiter = ":"
	}
	return p.parseTop(kind)
}

type parser struct {
	src  string
	opts Options
	// groups is the chain of nodegroups being expanded, for cycle detection.
	groups []string
}

// col converts a byte offset in p.src into a 1-based character column.
func (p *parser) col(off int) int {
	if off > len(p.src) {
		off = len(p.src)
	}
	return utf8.RuneCountInString(p.src[:off]) + 1
}

func (p *parser) errAt(off int, format string, args ...any) *Error {
	return &Error{Expr: p.src, Col: p.col(off), Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) parseTop(kind Kind) (Expr, error) {
	// Surrounding whitespace is never meaningful in a target; strip it but
	// keep offsets relative to the original text.
	start := len(p.src) - len(strings.TrimLeft(p.src, " \t\r\n\v\f"))
	s := strings.TrimSpace(p.src)
	if s == "" {
		return nil, p.errAt(0, "empty expression")
	}
	switch kind {
	case Compound:
		return p.parseCompound()
	case Nodegroup:
		return p.expandNodegroup(s, start)
	default:
		if kind < 0 || kind > Compound {
			return nil, p.errAt(0, "unknown target kind %d", int(kind))
		}
		return p.parseTerm(kind, s, start, p.opts.Delimiter, false)
	}
}

// parseTerm parses a single non-compound pattern found at byte offset off
// of p.src. explicitDelim records a per-term delimiter ("G|@...") so String
// can reproduce it.
func (p *parser) parseTerm(kind Kind, s string, off int, delim string, explicitDelim bool) (Expr, error) {
	switch kind {
	case Glob:
		return newGlobNode(s), nil
	case PCRE:
		re, err := compileRegexp(s, false)
		if err != nil {
			return nil, p.regexpErr(s, off, err)
		}
		return &pcreNode{pat: s, re: re}, nil
	case List:
		return p.parseList(s, off)
	case Grain, GrainPCRE, Pillar, PillarPCRE:
		return p.parseData(kind, s, off, delim, explicitDelim)
	case IPCIDR:
		return p.parseIP(s, off)
	}
	return nil, p.errAt(off, "kind %s is not a single term", kind)
}

func (p *parser) parseList(s string, off int) (Expr, error) {
	n := &listNode{set: map[string]struct{}{}}
	pos := 0
	for _, item := range strings.Split(s, ",") {
		id := strings.TrimSpace(item)
		pos += len(item) + 1
		if id == "" {
			continue
		}
		if _, dup := n.set[id]; dup {
			continue
		}
		n.set[id] = struct{}{}
		n.ids = append(n.ids, id)
	}
	if len(n.ids) == 0 {
		return nil, p.errAt(off, "empty list")
	}
	return n, nil
}

func (p *parser) parseIP(s string, off int) (Expr, error) {
	if strings.Contains(s, "/") {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, p.errAt(off, "invalid IP/CIDR target %q: %v", s, err)
		}
		if pfx.Masked() != pfx {
			return nil, p.errAt(off, "invalid IP/CIDR target %q: host bits set (did you mean %s?)", s, pfx.Masked())
		}
		return &ipNode{text: s, prefix: pfx, isNet: true}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return nil, p.errAt(off, "invalid IP/CIDR target %q: %v", s, err)
	}
	return &ipNode{text: s, addr: a.Unmap().WithZone("")}, nil
}

// --- simple nodes ---------------------------------------------------------

type globNode struct {
	pat string
	g   *glob
	lit bool // no metacharacters: an exact id
}

func newGlobNode(pat string) *globNode {
	g := compileGlob(pat, false)
	return &globNode{pat: pat, g: g, lit: g.literal}
}

func (n *globNode) Match(m *Minion) bool { return m != nil && n.g.match(m.ID) }
func (n *globNode) String() string       { return n.pat }
func (n *globNode) kind() Kind           { return Glob }

type pcreNode struct {
	pat string
	re  matcher
}

func (n *pcreNode) Match(m *Minion) bool { return m != nil && n.re.MatchString(m.ID) }
func (n *pcreNode) String() string       { return "E@" + n.pat }
func (n *pcreNode) kind() Kind           { return PCRE }

type listNode struct {
	ids []string
	set map[string]struct{}
}

func (n *listNode) Match(m *Minion) bool {
	if m == nil {
		return false
	}
	_, ok := n.set[m.ID]
	return ok
}
func (n *listNode) String() string { return "L@" + strings.Join(n.ids, ",") }
func (n *listNode) kind() Kind     { return List }

type ipNode struct {
	text   string
	isNet  bool
	prefix netip.Prefix
	addr   netip.Addr
}

func (n *ipNode) Match(m *Minion) bool {
	if m == nil {
		return false
	}
	for _, a := range m.IPs {
		a = a.Unmap().WithZone("")
		if n.isNet {
			if n.prefix.Contains(a) {
				return true
			}
		} else if a == n.addr {
			return true
		}
	}
	return false
}
func (n *ipNode) String() string { return "S@" + n.text }
func (n *ipNode) kind() Kind     { return IPCIDR }
