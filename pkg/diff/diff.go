// Package diff produces unified diffs laid out exactly as Python's
// difflib.unified_diff does, because Salt users read (and some tools parse)
// the changes['diff'] text of file states, and a diff that groups hunks
// differently would show spurious differences between Salt and brine runs.
package diff

import (
	"bytes"
	"sort"
	"strconv"
	"strings"
)

// Lines splits text into lines that keep their "\n", as Python's
// readlines does, so a last line without a newline stays distinguishable.
func Lines(s string) []string {
	if s == "" {
		return nil
	}
	out := make([]string, 0, strings.Count(s, "\n")+1)
	for len(s) > 0 {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			out = append(out, s)
			break
		}
		out = append(out, s[:i+1])
		s = s[i+1:]
	}
	return out
}

// Options names the two sides in the "---"/"+++" header and sets the
// number of context lines; the zero value matches Salt's file states
// (no file names, three lines of context).
type Options struct {
	FromFile, ToFile string
	FromDate, ToDate string
	// Context is the number of unchanged lines around each change; a
	// negative value means zero, 0 means the default of three.
	Context int
}

// Unified returns the unified diff of two texts, or "" when they are equal.
func Unified(a, b string, o Options) string {
	return UnifiedLines(Lines(a), Lines(b), o)
}

// UnifiedLines diffs two line slices (each line keeping its terminator).
func UnifiedLines(a, b []string, o Options) string {
	n := o.Context
	if n == 0 {
		n = 3
	} else if n < 0 {
		n = 0
	}
	groups := groupedOpcodes(newMatcher(a, b).opcodes(), n)
	if len(groups) == 0 {
		return ""
	}
	var w strings.Builder
	fromDate, toDate := "", ""
	if o.FromDate != "" {
		fromDate = "\t" + o.FromDate
	}
	if o.ToDate != "" {
		toDate = "\t" + o.ToDate
	}
	w.WriteString("--- " + o.FromFile + fromDate + "\n")
	w.WriteString("+++ " + o.ToFile + toDate + "\n")
	for _, g := range groups {
		first, last := g[0], g[len(g)-1]
		w.WriteString("@@ -" + formatRange(first.i1, last.i2) + " +" + formatRange(first.j1, last.j2) + " @@\n")
		for _, op := range g {
			if op.tag == 'e' {
				for _, l := range a[op.i1:op.i2] {
					w.WriteString(" " + l)
				}
				continue
			}
			if op.tag == 'r' || op.tag == 'd' {
				for _, l := range a[op.i1:op.i2] {
					w.WriteString("-" + l)
				}
			}
			if op.tag == 'r' || op.tag == 'i' {
				for _, l := range b[op.j1:op.j2] {
					w.WriteString("+" + l)
				}
			}
		}
	}
	return w.String()
}

// IsBinary reports whether data looks binary the way Salt decides it
// (a NUL byte), in which case Salt shows "Replace binary file" instead of
// a diff.
func IsBinary(data []byte) bool { return bytes.IndexByte(data, 0) >= 0 }

func formatRange(start, stop int) string {
	beginning := start + 1
	length := stop - start
	if length == 1 {
		return strconv.Itoa(beginning)
	}
	if length == 0 {
		beginning--
	}
	return strconv.Itoa(beginning) + "," + strconv.Itoa(length)
}

type opcode struct {
	tag            byte // 'e'qual, 'r'eplace, 'd'elete, 'i'nsert
	i1, i2, j1, j2 int
}

type match struct{ i, j, k int }

// matcher follows difflib.SequenceMatcher with no junk function and
// autojunk on, so hunks break where Python's would.
type matcher struct {
	a, b []string
	b2j  map[string][]int
}

func newMatcher(a, b []string) *matcher {
	m := &matcher{a: a, b: b, b2j: make(map[string][]int, len(b))}
	for j, l := range b {
		m.b2j[l] = append(m.b2j[l], j)
	}
	if n := len(b); n >= 200 {
		ntest := n/100 + 1
		for l, idx := range m.b2j {
			if len(idx) > ntest {
				delete(m.b2j, l)
			}
		}
	}
	return m
}

func (m *matcher) longest(alo, ahi, blo, bhi int) match {
	besti, bestj, bestsize := alo, blo, 0
	j2len := map[int]int{}
	for i := alo; i < ahi; i++ {
		newj2len := map[int]int{}
		for _, j := range m.b2j[m.a[i]] {
			if j < blo {
				continue
			}
			if j >= bhi {
				break
			}
			k := j2len[j-1] + 1
			newj2len[j] = k
			if k > bestsize {
				besti, bestj, bestsize = i-k+1, j-k+1, k
			}
		}
		j2len = newj2len
	}
	for besti > alo && bestj > blo && m.a[besti-1] == m.b[bestj-1] {
		besti, bestj, bestsize = besti-1, bestj-1, bestsize+1
	}
	for besti+bestsize < ahi && bestj+bestsize < bhi && m.a[besti+bestsize] == m.b[bestj+bestsize] {
		bestsize++
	}
	return match{besti, bestj, bestsize}
}

func (m *matcher) matchingBlocks() []match {
	type span struct{ alo, ahi, blo, bhi int }
	queue := []span{{0, len(m.a), 0, len(m.b)}}
	var blocks []match
	for len(queue) > 0 {
		s := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		x := m.longest(s.alo, s.ahi, s.blo, s.bhi)
		if x.k == 0 {
			continue
		}
		blocks = append(blocks, x)
		if s.alo < x.i && s.blo < x.j {
			queue = append(queue, span{s.alo, x.i, s.blo, x.j})
		}
		if x.i+x.k < s.ahi && x.j+x.k < s.bhi {
			queue = append(queue, span{x.i + x.k, s.ahi, x.j + x.k, s.bhi})
		}
	}
	sort.Slice(blocks, func(p, q int) bool {
		if blocks[p].i != blocks[q].i {
			return blocks[p].i < blocks[q].i
		}
		if blocks[p].j != blocks[q].j {
			return blocks[p].j < blocks[q].j
		}
		return blocks[p].k < blocks[q].k
	})
	var out []match
	cur := match{}
	for _, b := range blocks {
		if cur.i+cur.k == b.i && cur.j+cur.k == b.j {
			cur.k += b.k
			continue
		}
		if cur.k > 0 {
			out = append(out, cur)
		}
		cur = b
	}
	if cur.k > 0 {
		out = append(out, cur)
	}
	return append(out, match{len(m.a), len(m.b), 0})
}

func (m *matcher) opcodes() []opcode {
	i, j := 0, 0
	var out []opcode
	for _, b := range m.matchingBlocks() {
		var tag byte
		switch {
		case i < b.i && j < b.j:
			tag = 'r'
		case i < b.i:
			tag = 'd'
		case j < b.j:
			tag = 'i'
		}
		if tag != 0 {
			out = append(out, opcode{tag, i, b.i, j, b.j})
		}
		i, j = b.i+b.k, b.j+b.k
		if b.k > 0 {
			out = append(out, opcode{'e', b.i, i, b.j, j})
		}
	}
	return out
}

func groupedOpcodes(codes []opcode, n int) [][]opcode {
	if len(codes) == 0 {
		codes = []opcode{{'e', 0, 1, 0, 1}}
	}
	if c := &codes[0]; c.tag == 'e' {
		c.i1, c.j1 = max(c.i1, c.i2-n), max(c.j1, c.j2-n)
	}
	if c := &codes[len(codes)-1]; c.tag == 'e' {
		c.i2, c.j2 = min(c.i2, c.i1+n), min(c.j2, c.j1+n)
	}
	var groups [][]opcode
	var group []opcode
	for _, c := range codes {
		if c.tag == 'e' && c.i2-c.i1 > 2*n {
			group = append(group, opcode{'e', c.i1, min(c.i2, c.i1+n), c.j1, min(c.j2, c.j1+n)})
			groups = append(groups, group)
			group = nil
			c.i1, c.j1 = max(c.i1, c.i2-n), max(c.j1, c.j2-n)
		}
		group = append(group, c)
	}
	if len(group) > 0 && !(len(group) == 1 && group[0].tag == 'e') {
		groups = append(groups, group)
	}
	return groups
}
