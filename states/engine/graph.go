package engine

import (
	"container/heap"
	"fmt"
	"math"
	"strings"
)

// reqEdge is one declared requisite of a state.
type reqEdge struct {
	kind   string
	target *node
}

// weight ranks requisite kinds as Salt's dependency graph does; when a
// state's key is pulled towards the states depending on it, only edges
// of non-decreasing weight are considered.
var weight = map[string]int{
	"onfail": 0, "onfail_any": 1, "onfail_all": 2, "require": 3, "require_any": 4,
	"onchanges": 5, "onchanges_any": 6, "watch": 7, "watch_any": 8, "prereq": 9,
	"prerequired": 10, "listen": 11,
}

// vertex is a node of the dependency graph: a state, or the test run of
// a state that something prereqs.
type vertex struct {
	n      *node
	isTest bool
	id     int // insertion index, the last tie-break
	// succ lists successors in first-insertion order; kinds the edge
	// kinds to each, in insertion order (a multigraph).
	succ  []*vertex
	kinds map[*vertex][]string
	in    []inEdge
	indeg int
	key   orderKey
}

type inEdge struct {
	from *vertex
	kind string
}

type orderKey struct {
	eff, own float64
	label    string
	id       int
}

func (a orderKey) less(b orderKey) bool {
	if a.eff != b.eff {
		return a.eff < b.eff
	}
	if a.own != b.own {
		return a.own < b.own
	}
	if a.label != b.label {
		return a.label < b.label
	}
	return a.id < b.id
}

// deps are the states that must have finished before v runs.
func (v *vertex) deps() []*node {
	var out []*node
	seen := map[*node]bool{}
	for _, e := range v.in {
		if e.from.isTest || seen[e.from.n] {
			continue
		}
		seen[e.from.n] = true
		out = append(out, e.from.n)
	}
	return out
}

type graph struct {
	vs []*vertex
}

func (g *graph) add(n *node, isTest bool) *vertex {
	v := &vertex{n: n, isTest: isTest, id: len(g.vs), kinds: map[*vertex][]string{}}
	g.vs = append(g.vs, v)
	return v
}

func (g *graph) edge(from, to *vertex, kind string) {
	if _, ok := from.kinds[to]; !ok {
		from.succ = append(from.succ, to)
	}
	from.kinds[to] = append(from.kinds[to], kind)
	to.in = append(to.in, inEdge{from, kind})
	to.indeg++
}

// addPrereq wires `n prereq t`: t's test run (which inherits t's other
// requisites) happens before n, and t itself requires n.
func (g *graph) addPrereq(n, t *node) {
	if t.test == nil {
		t.test = g.add(t, true)
		for _, e := range append([]inEdge(nil), t.v.in...) {
			if e.kind != "prereq" {
				g.edge(e.from, t.test, e.kind)
			}
		}
	}
	g.edge(t.test, n.v, "prereq")
	g.edge(n.v, t.v, "require")
	t.reqs["prerequired"] = appendUnique(t.reqs["prerequired"], n)
}

func ownOrder(n *node) float64 {
	switch o := n.c.Order.(type) {
	case int:
		return float64(o)
	case float64:
		return o
	}
	return math.Inf(1)
}

// order builds the dependency graph and sorts it topologically, always
// taking next the ready vertex with the lowest key: its own order pulled
// down to the lowest order among the states that depend on it, then its
// own order, then state+name+function. This is Salt's ordering: order
// and definition order first, requisites pulling what they need earlier.
func (r *runner) order() error {
	g := &graph{}
	for _, n := range r.nodes {
		n.v = g.add(n, false)
	}
	for _, n := range r.nodes {
		for _, e := range n.edges {
			if e.kind == "prereq" {
				g.addPrereq(n, e.target)
				continue
			}
			if n.test != nil {
				g.edge(e.target.v, n.test, e.kind)
			}
			g.edge(e.target.v, n.v, e.kind)
		}
	}
	for _, v := range g.vs {
		own := ownOrder(v.n)
		childMin := math.Inf(1)
		reqOrder := math.Inf(-1)
		for _, c := range v.succ {
			for _, k := range v.kinds[c] {
				if w := float64(weight[k]); reqOrder <= w {
					reqOrder = w
					childMin = math.Min(childMin, ownOrder(c.n))
				}
			}
		}
		v.key = orderKey{eff: math.Min(own, childMin), own: own, label: v.n.c.State + v.n.c.Name + v.n.c.Fun, id: v.id}
	}
	h := &vheap{}
	indeg := make(map[*vertex]int, len(g.vs))
	for _, v := range g.vs {
		indeg[v] = v.indeg
		if v.indeg == 0 {
			heap.Push(h, v)
		}
	}
	for h.Len() > 0 {
		v := heap.Pop(h).(*vertex)
		r.sequence = append(r.sequence, v)
		for _, c := range v.succ {
			indeg[c] -= len(v.kinds[c])
			if indeg[c] == 0 {
				heap.Push(h, c)
			}
		}
	}
	if len(r.sequence) != len(g.vs) {
		return &Errors{List: []string{cycleError(g, indeg)}}
	}
	for _, n := range r.nodes {
		n.deps = n.v.deps()
	}
	return nil
}

// cycleError describes one cycle among the vertices left unsorted, as
// (dependent, requisite, dependency) triples.
func cycleError(g *graph, indeg map[*vertex]int) string {
	left := map[*vertex]bool{}
	var start *vertex
	for _, v := range g.vs {
		if indeg[v] > 0 {
			left[v] = true
			if start == nil || (!v.isTest && start.isTest) {
				start = v
			}
		}
	}
	// Walk backwards along unsorted in-edges until a vertex repeats;
	// path[k] is an edge into verts[k].
	seen := map[*vertex]int{}
	var path []inEdge
	var verts []*vertex
	cur := start
	for {
		if i, ok := seen[cur]; ok {
			path, verts = path[i:], verts[i:]
			break
		}
		seen[cur] = len(path)
		var next inEdge
		for _, e := range cur.in {
			if left[e.from] {
				next = e
				break
			}
		}
		if next.from == nil {
			break
		}
		path = append(path, next)
		verts = append(verts, cur)
		cur = next.from
	}
	var parts []string
	for i, e := range path {
		dependent := verts[i]
		kind := e.kind
		if e.from.isTest || (kind == "require" && !declared(dependent.n, kind, e.from.n)) {
			// Edges added for a prereq are shown as the prereq.
			kind = "prereq"
		}
		parts = append(parts, fmt.Sprintf("(%s, '%s', %s)", chunkStr(dependent.n), kind, chunkStr(e.from.n)))
	}
	if len(verts) > 0 {
		start = verts[0]
	}
	return at(start.n) + "Recursive requisite found: " + strings.Join(parts, ", ")
}

func declared(n *node, kind string, target *node) bool {
	for _, e := range n.edges {
		if e.kind == kind && e.target == target {
			return true
		}
	}
	return false
}

func chunkStr(n *node) string {
	if n.c.Name != n.c.ID {
		return fmt.Sprintf("{'SLS': '%s', 'ID': '%s', 'NAME': '%s'}", n.c.SLS, n.c.ID, n.c.Name)
	}
	return fmt.Sprintf("{'SLS': '%s', 'ID': '%s'}", n.c.SLS, n.c.ID)
}

type vheap []*vertex

func (h vheap) Len() int           { return len(h) }
func (h vheap) Less(i, j int) bool { return h[i].key.less(h[j].key) }
func (h vheap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *vheap) Push(x any)        { *h = append(*h, x.(*vertex)) }
func (h *vheap) Pop() any {
	old := *h
	v := old[len(old)-1]
	*h = old[:len(old)-1]
	return v
}
