// Package engine runs compiled low chunks with Salt's semantics: order,
// every requisite (require, watch, onchanges, onfail, prereq, listen and
// their _any/_all forms), onlyif/unless/creates, retry, parallel,
// failhard and test mode, returning results in Salt's shape so that
// tools written against `salt-call --out json` keep working.
package engine

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/brine-cm/brine/pkg/execmod"
	"github.com/brine-cm/brine/proto"
	"github.com/brine-cm/brine/states"
	"github.com/brine-cm/brine/states/compile"
)

// Options configures one run.
type Options struct {
	States   *states.Registry
	Exec     *execmod.Context
	Failhard bool
	Log      *slog.Logger
}

// Errors are the requisite problems (missing target, cycle, malformed
// reference) that stop a run before any state executes, each a Salt
// message prefixed with the state's file:line:col.
type Errors struct {
	List []string
}

// Error joins the messages one per line.
func (e *Errors) Error() string { return strings.Join(e.List, "\n") }

// node is one chunk with its resolved requisites.
type node struct {
	c     states.Chunk
	tag   string
	reqs  map[string][]*node // requisite type -> targets, in declaration order
	edges []reqEdge          // requisites as declared (watch stays watch), for ordering
	list  []*node            // listen targets
	deps  []*node            // what must finish before this runs
	v     *vertex            // this state in the dependency graph
	test  *vertex            // its prereq test run, when something prereqs it
	mod   *states.Module
	fun   states.Func
	visit int // 0 new, 1 active, 2 done
	done  chan struct{}
}

// result is a state's outcome plus the engine-only facts requisites need.
type result struct {
	r         proto.StateResult
	ran       bool // Salt's __state_ran__: false when skipped by onchanges/onfail or a failed requisite
	skipWatch bool
}

type runner struct {
	ctx   context.Context
	opts  Options
	log   *slog.Logger
	nodes []*node
	// sequence is the execution order: states and prereq test runs.
	sequence []*vertex
	// byIDName indexes nodes by ID and by name, in run order.
	byIDName map[string][]*node
	mu       sync.Mutex
	results  map[string]*result
	pre      map[string]*result
	runNum   int
	stopped  bool
	wg       sync.WaitGroup
}

// Run orders and runs the chunks with every requisite; it returns results
// keyed by proto.StateKey. A requisite error (missing target, cycle, ...)
// returns *Errors with Salt's messages and runs nothing.
func Run(ctx context.Context, chunks []states.Chunk, opts Options) (map[string]proto.StateResult, error) {
	if opts.States == nil {
		return nil, fmt.Errorf("engine: no state registry")
	}
	if opts.Exec == nil {
		opts.Exec = &execmod.Context{}
	}
	if ctx == nil {
		ctx = opts.Exec.Context()
	}
	r := &runner{
		ctx: ctx, opts: opts, log: opts.Log,
		results: map[string]*result{}, pre: map[string]*result{},
	}
	if r.log == nil {
		r.log = opts.Exec.Logger()
	}
	sorted := make([]states.Chunk, len(chunks))
	for i, c := range chunks {
		c.Args = cloneArgs(c.Args)
		sorted[i] = c
	}
	compile.SortChunks(sorted)
	if err := r.build(sorted); err != nil {
		return nil, err
	}
	for _, v := range r.sequence {
		if r.stopped || ctx.Err() != nil {
			break
		}
		if v.isTest {
			r.prereqTest(v.n)
			continue
		}
		r.execute(v.n)
		if r.failhard(v.n) {
			r.stopped = true
		}
	}
	r.wg.Wait()
	r.listen()
	out := make(map[string]proto.StateResult, len(r.results))
	for k, v := range r.results {
		out[k] = v.r
	}
	return out, nil
}

func cloneArgs(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func tagOf(c *states.Chunk) string { return proto.StateKey(c.State, c.ID, c.Name, c.Fun) }

// reqTypes are the requisites evaluated before a state runs, in Salt's order.
var reqTypes = compile.Requisites

// build resolves every requisite target and checks for cycles.
func (r *runner) build(chunks []states.Chunk) error {
	var errs []string
	seen := map[string]bool{}
	for i := range chunks {
		c := chunks[i]
		n := &node{c: c, tag: tagOf(&c), reqs: map[string][]*node{}, done: make(chan struct{})}
		if seen[n.tag] {
			continue
		}
		seen[n.tag] = true
		n.mod, n.fun, _ = r.opts.States.Lookup(c.State, c.Fun)
		if n.mod == nil {
			n.mod, _ = r.opts.States.Module(c.State)
		}
		r.nodes = append(r.nodes, n)
	}
	r.byIDName = map[string][]*node{}
	for _, n := range r.nodes {
		// Nodes are visited in run order, so every list stays in run order.
		r.byIDName[n.c.ID] = append(r.byIDName[n.c.ID], n)
		if n.c.Name != n.c.ID {
			r.byIDName[n.c.Name] = append(r.byIDName[n.c.Name], n)
		}
	}
	for _, n := range r.nodes {
		lost := map[string][]string{}
		var lostOrder []string
		for _, t := range append(append([]string{}, reqTypes...), "listen") {
			raw, ok := n.c.Args[t]
			if !ok || raw == nil {
				continue
			}
			list, ok := raw.([]any)
			if !ok {
				errs = append(errs, at(n)+fmt.Sprintf("The %s statement in state '%s' in SLS '%s' needs to be formed as a list", t, n.c.ID, n.c.SLS))
				continue
			}
			kind := t
			if n.mod == nil || n.mod.ModWatch == nil {
				// Without mod_watch a watch is a require (Salt does the same).
				switch t {
				case "watch":
					kind = "require"
				case "watch_any":
					kind = "require_any"
				}
			}
			for _, item := range list {
				key, val, ok := parseRef(item)
				if !ok {
					errs = append(errs, at(n)+fmt.Sprintf("Requisite [%s: %s] in state [%s] in SLS [%s] must have a string as the value", t, key, n.c.Name, n.c.SLS))
					continue
				}
				if val == "" {
					continue
				}
				targets := r.match(key, val)
				if len(targets) == 0 {
					if len(lost[t]) == 0 {
						lostOrder = append(lostOrder, t)
					}
					lost[t] = append(lost[t], key+": "+val)
					continue
				}
				if kind == "listen" {
					n.list = append(n.list, targets...)
				} else {
					n.reqs[kind] = append(n.reqs[kind], targets...)
					for _, tg := range targets {
						n.edges = append(n.edges, reqEdge{kind: t, target: tg})
					}
				}
			}
		}
		if len(lost) > 0 {
			var b strings.Builder
			b.WriteString("The following requisites were not found:\n")
			for _, t := range lostOrder {
				fmt.Fprintf(&b, "%s%s:\n", strings.Repeat(" ", 19), t)
				for _, l := range lost[t] {
					fmt.Fprintf(&b, "%s%s\n", strings.Repeat(" ", 23), l)
				}
			}
			errs = append(errs, at(n)+fmt.Sprintf("ID '%s' in SLS '%s': %s", n.c.ID, n.c.SLS, strings.TrimRight(b.String(), "\n")))
		}
	}
	if len(errs) > 0 {
		return &Errors{List: errs}
	}
	return r.order()
}

// at prefixes a message with the state's file:line:col when known.
func at(n *node) string {
	if p := n.c.Pos.String(); p != "" {
		return p + ": "
	}
	return ""
}

func appendUnique(l []*node, n *node) []*node {
	for _, e := range l {
		if e == n {
			return l
		}
	}
	return append(l, n)
}

// parseRef turns `- id`, `- module: id` or `- module.fun: id` into a key
// (module, "id" or "sls") and a target.
func parseRef(item any) (key, val string, ok bool) {
	switch t := item.(type) {
	case string:
		return "id", t, true
	case map[string]any:
		for k, v := range t {
			if i := strings.IndexByte(k, '.'); i >= 0 {
				k = k[:i]
			}
			switch s := v.(type) {
			case string:
				return k, s, true
			case nil:
				return k, "", true
			case int, int64, float64, bool:
				return k, fmt.Sprint(s), true
			default:
				return k, "", false
			}
		}
		return "", "", true
	}
	return fmt.Sprint(item), "", false
}

// match finds the chunks a requisite reference names: by SLS, or by ID
// or name (wildcards allowed) with the module, or any module for "id".
func (r *runner) match(key, val string) []*node {
	if key != "sls" && !compile.IsGlob(val) {
		// Exact targets (the common case) come from the index.
		var out []*node
		for _, n := range r.byIDName[val] {
			if key == "id" || key == n.c.State {
				out = append(out, n)
			}
		}
		return out
	}
	var out []*node
	for _, n := range r.nodes {
		if key == "sls" {
			if compile.Fnmatch(val, n.c.SLS) || includedFrom(n, val) {
				out = append(out, n)
			}
			continue
		}
		if key != "id" && key != n.c.State {
			continue
		}
		if compile.Fnmatch(val, n.c.Name) || compile.Fnmatch(val, n.c.ID) {
			out = append(out, n)
		}
	}
	return out
}

func (r *runner) failhard(n *node) bool {
	if r.opts.Exec.Test {
		return false
	}
	fh := r.opts.Failhard
	if v, ok := r.opts.Exec.Opts["failhard"].(bool); ok && v {
		fh = true
	}
	if v, ok := n.c.Args["failhard"].(bool); ok {
		fh = v
	}
	if !fh {
		return false
	}
	r.mu.Lock()
	res, ok := r.results[n.tag]
	r.mu.Unlock()
	return ok && res.r.Result != nil && !*res.r.Result
}

func (r *runner) get(tag string, pre bool) (*result, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if pre {
		res, ok := r.pre[tag]
		return res, ok
	}
	res, ok := r.results[tag]
	return res, ok
}

func (r *runner) nextRunNum() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.runNum
	r.runNum++
	return n
}

func (r *runner) store(n *node, res *result) {
	r.mu.Lock()
	r.results[n.tag] = res
	r.mu.Unlock()
	r.log.Debug("state finished", "state", n.tag, "result", pyResult(res.r.Result),
		"run_num", res.r.RunNum, "duration_ms", res.r.Duration)
}

// skip records a state that did not run (requisite outcome).
func (r *runner) skip(n *node, ok bool, comment string, ran bool) {
	res := &result{ran: ran}
	res.r = proto.StateResult{
		ID: n.c.ID, Name: n.c.Name, Result: proto.BoolPtr(ok), Changes: map[string]any{},
		Comment: comment, SLS: n.c.SLS, RunNum: r.nextRunNum(), StartTime: startTime(now()),
	}
	r.store(n, res)
	close(n.done)
}

func waitDeps(n *node) {
	for _, d := range n.deps {
		<-d.done
	}
}

// execute evaluates n's requisites and runs it accordingly.
func (r *runner) execute(n *node) {
	waitDeps(n)
	for _, t := range n.reqs["prereq"] {
		r.prereqTest(t)
	}
	status, failed := r.status(n)
	switch status {
	case "fail":
		r.skip(n, false, "One or more requisite failed: "+strings.Join(failed, ", "), false)
		return
	case "onfail":
		r.skip(n, true, "State was not run because onfail req did not change", false)
		return
	case "onchanges":
		r.skip(n, true, "State was not run because none of the onchanges reqs changed", false)
		return
	case "pre":
		r.skip(n, true, "No changes detected", true)
		return
	}
	watch := status == "change"
	if b, _ := n.c.Args["parallel"].(bool); b {
		// Salt numbers a parallel state when it is started.
		runNum := r.nextRunNum()
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			res := r.call(n, n.c.Args, watch, false)
			res.r.RunNum = runNum
			r.store(n, res)
			close(n.done)
		}()
		return
	}
	res := r.call(n, n.c.Args, watch, true)
	r.store(n, res)
	close(n.done)
}

// prereqTest runs t in test mode (once) so that a state declaring
// `prereq: t` knows whether t is about to change something.
func (r *runner) prereqTest(t *node) {
	if _, ok := r.get(t.tag, true); ok {
		return
	}
	if t.test != nil {
		for _, d := range t.test.deps() {
			<-d.done
		}
	}
	status, _ := r.statusExcept(t, "prerequired", "prereq")
	res := &result{ran: true}
	switch status {
	case "fail":
		res.r = proto.StateResult{Result: proto.BoolPtr(false), Changes: map[string]any{}, Comment: "One or more requisite failed"}
	case "onfail", "onchanges", "pre":
		res.r = proto.StateResult{Result: proto.BoolPtr(true), Changes: map[string]any{}}
	default:
		args := cloneArgs(t.c.Args)
		args["test"] = true
		res = r.call(t, args, false, false)
		if status == "change" && len(res.r.Changes) == 0 {
			res.r.Changes = map[string]any{"watch": "watch"}
			res.r.Result = nil
		}
	}
	r.mu.Lock()
	r.pre[t.tag] = res
	r.mu.Unlock()
}

func (r *runner) status(n *node) (string, []string) { return r.statusExcept(n) }

// statusExcept is Salt's check_requisite: it folds the outcome of every
// requisite target into one status (met, fail, change, onfail,
// onchanges, pre) and names the failed targets.
func (r *runner) statusExcept(n *node, except ...string) (string, []string) {
	fun := map[string]bool{}
	var failed []string
	seenFailed := map[string]bool{}
	types := append(append([]string{}, reqTypes...), "prerequired")
	for _, t := range types {
		targets := n.reqs[t]
		if len(targets) == 0 || slices.Contains(except, t) {
			continue
		}
		stats := map[string]bool{}
		for _, tg := range targets {
			res, ok := r.get(tg.tag, t == "prereq")
			if !ok {
				stats["unmet"] = true
				continue
			}
			if res.r.Result != nil && !*res.r.Result {
				key := tg.c.SLS + "." + tg.c.ID
				if !seenFailed[key] {
					seenFailed[key] = true
					failed = append(failed, key)
				}
			}
			isFalse := res.r.Result != nil && !*res.r.Result
			if strings.HasPrefix(t, "onfail") {
				// Only a state that ran and failed triggers onfail; one
				// skipped because its own requisites failed does not.
				if (res.r.Result != nil && *res.r.Result) || (isFalse && !res.ran) {
					stats["onfail"] = true
					continue
				}
			} else if isFalse {
				if strings.HasPrefix(t, "onchanges") {
					stats["onchanges"] = true
					continue
				}
				stats["fail"] = true
				continue
			}
			if strings.HasPrefix(t, "onchanges") {
				if len(res.r.Changes) == 0 {
					stats["onchanges"] = true
				} else {
					stats["onchangesmet"] = true
				}
				continue
			}
			if strings.HasPrefix(t, "watch") && len(res.r.Changes) > 0 {
				stats["change"] = true
				continue
			}
			if t == "prereq" {
				if res.r.Result == nil {
					stats["premet"] = true
				} else {
					stats["pre"] = true
				}
				continue
			}
			if res.ran {
				stats["met"] = true
			}
		}
		if strings.HasSuffix(t, "_any") || t == "onfail" {
			if stats["met"] || stats["change"] {
				delete(stats, "fail")
			}
			if stats["onchangesmet"] {
				delete(stats, "onchanges")
				delete(stats, "fail")
			}
			if stats["onfail"] && stats["met"] {
				delete(stats, "onfail")
			}
		}
		if strings.HasSuffix(t, "_all") && stats["onfail"] && stats["met"] {
			delete(stats, "met")
		}
		for k := range stats {
			fun[k] = true
		}
	}
	switch {
	case fun["unmet"]:
		return "fail", failed
	case fun["fail"]:
		return "fail", failed
	case fun["pre"]:
		if fun["premet"] {
			return "met", nil
		}
		return "pre", nil
	case fun["onfail"] && !fun["onchangesmet"]:
		return "onfail", nil
	case fun["onchanges"] && !fun["onchangesmet"]:
		return "onchanges", nil
	case fun["change"]:
		return "change", nil
	case fun["onfail"]:
		return "onfail", nil
	}
	return "met", nil
}

// listen runs, after every state, the mod_watch of each state whose
// listen targets changed, as "listener_<id>" entries in listen order.
func (r *runner) listen() {
	var jobs []*node
	queued := map[string]bool{}
	for _, n := range r.nodes {
		for _, t := range n.list {
			res, ok := r.get(t.tag, false)
			if !ok || len(res.r.Changes) == 0 {
				continue
			}
			if queued[n.tag] {
				continue
			}
			queued[n.tag] = true
			jobs = append(jobs, n)
		}
	}
	for _, n := range jobs {
		if r.ctx.Err() != nil {
			return
		}
		c := n.c
		c.ID = "listener_" + n.c.ID
		args := map[string]any{}
		for k, v := range n.c.Args {
			if compile.IsRequisite(k) {
				continue
			}
			args[k] = v
		}
		args["sfun"] = n.c.Fun
		ln := &node{c: c, mod: n.mod, done: make(chan struct{})}
		ln.c.Fun = "mod_watch"
		ln.c.Args = args
		ln.tag = tagOf(&ln.c)
		runNum := r.nextRunNum()
		var res *result
		if n.mod == nil || n.mod.ModWatch == nil {
			res = r.finish(ln, states.Result{Result: proto.BoolPtr(false), Comment: fmt.Sprintf("State '%s.mod_watch' was not found in SLS '%s'\n", c.State, c.SLS)}, now(), nil)
		} else {
			res = r.invoke(ln, args, n.mod.ModWatch, true)
		}
		res.r.RunNum = runNum
		r.store(ln, res)
	}
}

// includedFrom reports whether the chunk's SLS is included (directly or
// not) by an SLS matching pattern.
func includedFrom(n *node, pattern string) bool {
	l, _ := n.c.Args[compile.IncludedFromArg].([]any)
	for _, e := range l {
		if s, ok := e.(string); ok && compile.Fnmatch(pattern, s) {
			return true
		}
	}
	return false
}
