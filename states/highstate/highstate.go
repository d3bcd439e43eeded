// Package highstate is the state.* execution module: state.apply,
// state.highstate, state.sls, state.single, state.sls_id and the show_*
// functions. It reads the top file, compiles the pillar, hands SLS names
// to states/compile and the resulting chunks to states/engine, and returns
// Salt's result shape, so `brine-minion call --local state.apply` and a
// job from the master run the same code.
package highstate

import (
	"errors"
	"fmt"
	"strings"

	"github.com/brine-cm/brine/pkg/execmod"
	"github.com/brine-cm/brine/pkg/fileclient"
	"github.com/brine-cm/brine/proto"
	"github.com/brine-cm/brine/states"
	"github.com/brine-cm/brine/states/compile"
	"github.com/brine-cm/brine/states/engine"
)

// Messages Salt prints for these situations, kept word for word because
// operators search for them.
const (
	msgNoTop        = "No Top file or master_tops data matches found. Please see master log for details."
	msgPillarFailed = "Pillar failed to render with the following messages:"
)

// StateFunctions lists the functions whose default outputter is
// highstate, as Salt's state module declares them.
var StateFunctions = map[string]bool{
	"state.apply": true, "state.highstate": true, "state.sls": true,
	"state.single": true, "state.sls_id": true, "state.top": true, "state.test": true,
}

type runner struct {
	sr *states.Registry
}

// Register adds state.apply, state.highstate, state.sls, state.single,
// state.sls_id, state.show_sls, state.show_top, state.show_lowstate and
// state.show_highstate to r; states run from sr.
func Register(r *execmod.Registry, sr *states.Registry) {
	h := &runner{sr: sr}
	r.Register("state.apply", "Apply states: with SLS names as state.sls, without as state.highstate.", h.apply)
	r.Register("state.highstate", "Apply every SLS the top file assigns to this minion.", h.highstate)
	r.Register("state.sls", "Apply the named SLS (comma-separated or a list).", h.sls)
	r.Register("state.single", "Run one state function: state.single file.managed /tmp/x contents=hi.", h.single)
	r.Register("state.sls_id", "Run one state ID from the named SLS.", h.slsID)
	r.Register("state.show_sls", "Show the high data the named SLS compile to.", h.showSLS)
	r.Register("state.show_top", "Show the SLS the top file assigns to this minion, per saltenv.", h.showTop)
	r.Register("state.show_lowstate", "Show the low chunks of the highstate, in run order.", h.showLowstate)
	r.Register("state.show_highstate", "Show the high data of the highstate.", h.showHighstate)
	r.Register("state.show_low_sls", "Show the low chunks the named SLS compile to, in run order.", h.showLowSLS)
	r.Register("state.show_states", "List the SLS the highstate (or the named SLS) would run.", h.showStates)
	r.Register("state.sls_exists", "Return True if the named SLS exist and compile.", h.slsExists)
	r.Register("state.test", "state.apply with test=True: report what would change.", h.testApply)
	r.Register("state.top", "Run the highstate from another top file: state.top reverse_top.sls.", h.top)
}

// runCtx is one call's settings after the common keyword arguments
// (test, pillar, saltenv, exclude, failhard) are read.
type runCtx struct {
	ec       *execmod.Context
	saltenv  string
	envSet   bool
	exclude  []excl
	failhard bool
	topFile  string // state.top: a top file other than state_top
}

type excl struct{ sls, id string }

// Failed reports whether a state.* return means failure: a list of errors
// (render, compile or requisite errors) or any state with result False.
// The CLI turns it into exit status 1 and the master into the job retcode.
func Failed(ret any) bool {
	switch x := ret.(type) {
	case []string, []any:
		return true
	case map[string]any:
		for _, v := range x {
			if m, ok := v.(map[string]any); ok {
				if r, has := m["result"]; has && r == false {
					return true
				}
			}
		}
	case map[string]proto.StateResult:
		for _, v := range x {
			if v.Result != nil && !*v.Result {
				return true
			}
		}
	}
	return false
}

func (h *runner) prepare(ec *execmod.Context, kwargs map[string]any) (*runCtx, []string, error) {
	c := *ec
	rc := &runCtx{ec: &c, saltenv: ec.Saltenv}
	if rc.saltenv == "" {
		rc.saltenv = "base"
	}
	if v, ok := kwargs["saltenv"]; ok && v != nil {
		s, _ := execmod.ToString(v)
		if s != "" {
			rc.saltenv, rc.envSet = s, true
		}
	}
	c.Saltenv = rc.saltenv
	test := ec.Test
	if t, ok := ec.Opts["test"].(bool); ok && t {
		test = true
	}
	if v, ok := kwargs["test"]; ok && v != nil {
		b, ok := execmod.ToBool(v)
		if !ok {
			return nil, nil, fmt.Errorf("test must be True or False, not %v", v)
		}
		test = b
	}
	c.Test = test
	if f, ok := ec.Opts["failhard"].(bool); ok {
		rc.failhard = f
	}
	if v, ok := kwargs["failhard"]; ok {
		b, _ := execmod.ToBool(v)
		rc.failhard = b
	}
	if errs, ok := ec.Pillar["_errors"]; ok {
		out := []string{msgPillarFailed}
		switch e := errs.(type) {
		case []string:
			out = append(out, e...)
		case []any:
			for _, x := range e {
				out = append(out, fmt.Sprint(x))
			}
		default:
			out = append(out, fmt.Sprint(e))
		}
		return nil, out, nil
	}
	if v, ok := kwargs["pillar"]; ok && v != nil {
		over, ok := v.(map[string]any)
		if !ok {
			return nil, []string{"Pillar data must be formatted as a dictionary"}, nil
		}
		c.Pillar = Merge(deepCopy(ec.Pillar), over)
	}
	if v, ok := kwargs["exclude"]; ok && v != nil {
		ex, err := parseExclude(v)
		if err != nil {
			return nil, nil, err
		}
		rc.exclude = ex
	}
	return rc, nil, nil
}

// parseExclude accepts Salt's forms: "a,b", [a, b], [{sls: a}, {id: b}];
// bare names are SLS names.
func parseExclude(v any) ([]excl, error) {
	var items []any
	switch x := v.(type) {
	case string:
		for _, p := range strings.Split(x, ",") {
			if p = strings.TrimSpace(p); p != "" {
				items = append(items, p)
			}
		}
	case []any:
		items = x
	default:
		return nil, fmt.Errorf("exclude must be a list or a comma-separated string, not %v", v)
	}
	var out []excl
	for _, it := range items {
		switch x := it.(type) {
		case string:
			out = append(out, excl{sls: x})
		case map[string]any:
			if s, ok := x["sls"]; ok {
				out = append(out, excl{sls: fmt.Sprint(s)})
			}
			if s, ok := x["id"]; ok {
				out = append(out, excl{id: fmt.Sprint(s)})
			}
		default:
			return nil, fmt.Errorf("exclude entry %v is neither a name nor {sls: ...}/{id: ...}", it)
		}
	}
	return out, nil
}

func (rc *runCtx) filter(chunks []states.Chunk) []states.Chunk {
	if len(rc.exclude) == 0 {
		return chunks
	}
	out := chunks[:0:0]
	for _, c := range chunks {
		drop := false
		for _, e := range rc.exclude {
			if (e.sls != "" && (c.SLS == e.sls || strings.HasPrefix(c.SLS, e.sls+"."))) || (e.id != "" && c.ID == e.id) {
				drop = true
				break
			}
		}
		if !drop {
			out = append(out, c)
		}
	}
	return out
}

// errorList turns a compile, render or requisite failure into the list of
// strings Salt returns in place of state results.
func errorList(err error) []string {
	var ce *compile.Errors
	if errors.As(err, &ce) {
		return ce.List
	}
	var ee *engine.Errors
	if errors.As(err, &ee) {
		return ee.List
	}
	var pe *PillarErrors
	if errors.As(err, &pe) {
		return append([]string{msgPillarFailed}, pe.List...)
	}
	return []string{err.Error()}
}

func (h *runner) run(rc *runCtx, chunks []states.Chunk) (any, error) {
	chunks = rc.filter(chunks)
	res, err := engine.Run(rc.ec.Context(), chunks, engine.Options{
		States:   h.sr,
		Exec:     rc.ec,
		Failhard: rc.failhard,
		Log:      rc.ec.Logger(),
	})
	if err != nil {
		return errorList(err), nil
	}
	return res, nil
}

// modsArg reads the SLS names from args[0] or mods=, as "a,b" or a list.
func modsArg(args []any, kwargs map[string]any, key string) ([]string, error) {
	var v any
	if len(args) > 0 {
		v = args[0]
	} else if m, ok := kwargs[key]; ok {
		v = m
	}
	if v == nil {
		return nil, nil
	}
	switch x := v.(type) {
	case string:
		var out []string
		for _, p := range strings.Split(x, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out, nil
	case []any:
		out := make([]string, 0, len(x))
		for _, p := range x {
			out = append(out, fmt.Sprint(p))
		}
		return out, nil
	case []string:
		return x, nil
	}
	return []string{fmt.Sprint(v)}, nil
}

func (h *runner) apply(ec *execmod.Context, args []any, kwargs map[string]any) (any, error) {
	mods, err := modsArg(args, kwargs, "mods")
	if err != nil {
		return nil, err
	}
	if len(mods) == 0 {
		return h.highstate(ec, nil, kwargs)
	}
	return h.sls(ec, args, kwargs)
}

// requireMods reads the SLS names (mods=, or the positional arguments) of
// a function that needs at least one, failing in fn's name otherwise.
func requireMods(fn string, args []any, kwargs map[string]any) ([]string, error) {
	mods, err := modsArg(args, kwargs, "mods")
	if err != nil {
		return nil, err
	}
	if len(mods) == 0 {
		return nil, fmt.Errorf("%s needs at least one SLS name", fn)
	}
	return mods, nil
}

func (h *runner) sls(ec *execmod.Context, args []any, kwargs map[string]any) (any, error) {
	mods, err := requireMods("state.sls", args, kwargs)
	if err != nil {
		return nil, err
	}
	rc, early, err := h.prepare(ec, kwargs)
	if err != nil || early != nil {
		return early, err
	}
	chunks, err := compile.Compile(rc.ec, mods, compile.Options{Saltenv: rc.saltenv, States: h.sr})
	if err != nil {
		return errorList(err), nil
	}
	return h.run(rc, chunks)
}

// topEnvs lists the environments whose top files a highstate reads:
// the one asked for with saltenv=, else every file_roots environment,
// base first (Salt's default top_file_merging_strategy "merge").
func topEnvs(rc *runCtx) []string {
	if rc.envSet {
		return []string{rc.saltenv}
	}
	roots, _ := rc.ec.Opts["file_roots"].(map[string]any)
	envs := []string{"base"}
	for _, env := range sortedKeys(roots) {
		if env != "base" {
			envs = append(envs, env)
		}
	}
	return envs
}

// topMods reads the state top files and returns the matching SLS per env,
// each environment's list collected from every top file that has a
// section for it, as Salt's "merge" strategy does.
func (h *runner) topMods(rc *runCtx) ([]string, map[string][]string, []string) {
	ec := rc.ec
	if ec.Files == nil {
		return nil, nil, []string{"no file client configured"}
	}
	topName := rc.topFile
	if topName == "" {
		topName, _ = ec.Opts["state_top"].(string)
	}
	if topName == "" {
		topName = "top.sls"
	}
	topName = strings.TrimPrefix(topName, "salt://")
	merged := &Top{}
	index := map[string]int{}
	seenSrc := map[string]bool{}
	found := false
	for _, env := range topEnvs(rc) {
		src, err := ec.Files.Read(ec.Context(), "salt://"+topName+"?saltenv="+env)
		if err != nil {
			if errors.Is(err, fileclient.ErrNotFound) {
				continue
			}
			return nil, nil, []string{err.Error()}
		}
		found = true
		// An environment without roots of its own serves base's top file
		// again; reading it twice would change nothing.
		if seenSrc[string(src)] {
			continue
		}
		seenSrc[string(src)] = true
		c := *ec
		c.Saltenv = env
		top, err := renderTop(&c, topName, src)
		if err != nil {
			return nil, nil, []string{err.Error()}
		}
		for _, te := range top.Envs {
			if rc.envSet && te.Name != rc.saltenv {
				continue
			}
			if i, ok := index[te.Name]; ok {
				merged.Envs[i].Targets = append(merged.Envs[i].Targets, te.Targets...)
				continue
			}
			index[te.Name] = len(merged.Envs)
			merged.Envs = append(merged.Envs, te)
		}
	}
	if !found {
		return nil, nil, []string{msgNoTop}
	}
	envs, mods, err := merged.matches(newMatcher(ec, ec.Pillar), "")
	if err != nil {
		return nil, nil, []string{err.Error()}
	}
	total := 0
	for _, m := range mods {
		total += len(m)
	}
	if total == 0 {
		return nil, nil, []string{msgNoTop}
	}
	return envs, mods, nil
}

func (h *runner) highChunks(rc *runCtx) ([]states.Chunk, []string) {
	envs, mods, errs := h.topMods(rc)
	if errs != nil {
		return nil, errs
	}
	var all []states.Chunk
	seen := declaredIn{}
	for _, env := range envs {
		c := *rc.ec
		c.Saltenv = env
		chunks, err := compile.Compile(&c, mods[env], compile.Options{Saltenv: env, States: h.sr})
		if err != nil {
			return nil, errorList(err)
		}
		var conflicts []string
		for _, ch := range chunks {
			if msg := seen.add(ch.ID, ch.Env, ch.SLS); msg != "" {
				conflicts = append(conflicts, msg)
			}
		}
		if conflicts != nil {
			return nil, conflicts
		}
		all = append(all, chunks...)
	}
	return all, nil
}

// declaredIn remembers, across the saltenvs of one highstate, where each
// state ID was declared: Salt compiles every environment's SLS into one
// highstate, so an ID declared in two environments is the same conflict
// as one declared in two SLS files of one environment, and nothing runs.
type declaredIn map[string][2]string // id -> env, sls

// add records id and returns Salt's conflict message when another
// environment declared it already.
func (d declaredIn) add(id, env, sls string) string {
	old, ok := d[id]
	if !ok {
		d[id] = [2]string{env, sls}
		return ""
	}
	if old[0] == env {
		return "" // one environment's compile has already checked it
	}
	return fmt.Sprintf("Detected conflicting IDs, SLS IDs need to be globally unique.\n    The conflicting ID is '%s' and is found in SLS '%s:%s' and SLS '%s:%s'",
		id, old[0], old[1], env, sls)
}

func (h *runner) highstate(ec *execmod.Context, _ []any, kwargs map[string]any) (any, error) {
	rc, early, err := h.prepare(ec, kwargs)
	if err != nil || early != nil {
		return early, err
	}
	chunks, errs := h.highChunks(rc)
	if errs != nil {
		return errs, nil
	}
	return h.run(rc, chunks)
}

func (h *runner) single(ec *execmod.Context, args []any, kwargs map[string]any) (any, error) {
	var fun, name string
	rest := args
	if v, ok := kwargs["fun"]; ok {
		fun, _ = execmod.ToString(v)
	} else if len(rest) > 0 {
		fun, _ = execmod.ToString(rest[0])
		rest = rest[1:]
	}
	if v, ok := kwargs["name"]; ok {
		name, _ = execmod.ToString(v)
	} else if len(rest) > 0 {
		name, _ = execmod.ToString(rest[0])
		rest = rest[1:]
	}
	if fun == "" || name == "" {
		return nil, fmt.Errorf("state.single needs a state function and a name: state.single file.managed /tmp/x")
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("state.single: unexpected positional arguments %v (pass them as key=value)", rest)
	}
	mod, fn, ok := strings.Cut(fun, ".")
	if !ok {
		return nil, fmt.Errorf("state.single: %q is not module.function", fun)
	}
	if _, _, ok := h.sr.Lookup(mod, fn); !ok {
		return []string{fmt.Sprintf("Specified state '%s' was not found", fun)}, nil
	}
	rc, early, err := h.prepare(ec, kwargs)
	if err != nil || early != nil {
		return early, err
	}
	stateArgs := map[string]any{}
	for k, v := range kwargs {
		switch k {
		case "fun", "name", "test", "pillar", "saltenv", "exclude", "queue", "concurrent", "failhard":
			continue
		}
		stateArgs[k] = v
	}
	chunk := states.Chunk{State: mod, Fun: fn, ID: name, Name: name, Env: rc.saltenv, Args: stateArgs}
	return h.run(rc, []states.Chunk{chunk})
}

func (h *runner) slsID(ec *execmod.Context, args []any, kwargs map[string]any) (any, error) {
	var id string
	rest := args
	if v, ok := kwargs["id_"]; ok {
		id, _ = execmod.ToString(v)
	} else if len(rest) > 0 {
		id, _ = execmod.ToString(rest[0])
		rest = rest[1:]
	}
	mods, err := modsArg(rest, kwargs, "mods")
	if err != nil {
		return nil, err
	}
	if id == "" || len(mods) == 0 {
		return nil, fmt.Errorf("state.sls_id needs an ID and SLS names: state.sls_id my_id web")
	}
	rc, early, err := h.prepare(ec, kwargs)
	if err != nil || early != nil {
		return early, err
	}
	chunks, err := compile.Compile(rc.ec, mods, compile.Options{Saltenv: rc.saltenv, States: h.sr})
	if err != nil {
		return errorList(err), nil
	}
	var picked []states.Chunk
	for _, c := range chunks {
		if c.ID == id {
			picked = append(picked, stripRequisites(c))
		}
	}
	if len(picked) == 0 {
		return nil, fmt.Errorf("No matches for ID '%s' found in SLS '%s' within saltenv '%s'", id, strings.Join(mods, ","), rc.saltenv)
	}
	return h.run(rc, picked)
}

// requisiteKeys are dropped by state.sls_id, which runs one ID alone.
var requisiteKeys = []string{"require", "watch", "onchanges", "onfail", "prereq", "listen", "use",
	"require_any", "watch_any", "onchanges_any", "onfail_any", "onfail_all"}

func stripRequisites(c states.Chunk) states.Chunk {
	args := make(map[string]any, len(c.Args))
	for k, v := range c.Args {
		args[k] = v
	}
	for _, k := range requisiteKeys {
		delete(args, k)
	}
	c.Args = args
	return c
}

func (h *runner) showSLS(ec *execmod.Context, args []any, kwargs map[string]any) (any, error) {
	mods, err := requireMods("state.show_sls", args, kwargs)
	if err != nil {
		return nil, err
	}
	rc, early, err := h.prepare(ec, kwargs)
	if err != nil || early != nil {
		return early, err
	}
	high, err := compile.High(rc.ec, mods, compile.Options{Saltenv: rc.saltenv})
	if err != nil {
		return errorList(err), nil
	}
	return high.Map(), nil
}

func (h *runner) showTop(ec *execmod.Context, _ []any, kwargs map[string]any) (any, error) {
	rc, early, err := h.prepare(ec, kwargs)
	if err != nil || early != nil {
		return early, err
	}
	envs, mods, errs := h.topMods(rc)
	if errs != nil {
		if len(errs) == 1 && errs[0] == msgNoTop {
			return map[string]any{}, nil
		}
		return errs, nil
	}
	out := map[string]any{}
	for _, env := range envs {
		l := make([]any, len(mods[env]))
		for i, m := range mods[env] {
			l[i] = m
		}
		out[env] = l
	}
	return out, nil
}

func (h *runner) showHighstate(ec *execmod.Context, _ []any, kwargs map[string]any) (any, error) {
	rc, early, err := h.prepare(ec, kwargs)
	if err != nil || early != nil {
		return early, err
	}
	envs, mods, errs := h.topMods(rc)
	if errs != nil {
		return errs, nil
	}
	out := map[string]any{}
	seen := declaredIn{}
	for _, env := range envs {
		c := *rc.ec
		c.Saltenv = env
		high, err := compile.High(&c, mods[env], compile.Options{Saltenv: env})
		if err != nil {
			return errorList(err), nil
		}
		var conflicts []string
		for _, id := range high.IDs {
			d := high.Decls[id]
			if msg := seen.add(id, d.Env, d.SLS); msg != "" {
				conflicts = append(conflicts, msg)
			}
		}
		if conflicts != nil {
			return conflicts, nil
		}
		for k, v := range high.Map() {
			out[k] = v
		}
	}
	return out, nil
}

func (h *runner) showLowstate(ec *execmod.Context, _ []any, kwargs map[string]any) (any, error) {
	rc, early, err := h.prepare(ec, kwargs)
	if err != nil || early != nil {
		return early, err
	}
	chunks, errs := h.highChunks(rc)
	if errs != nil {
		return errs, nil
	}
	chunks = rc.filter(chunks)
	out := make([]any, len(chunks))
	for i, c := range chunks {
		out[i] = ChunkMap(c)
	}
	return out, nil
}

// ChunkMap renders a chunk as Salt's lowstate dict: the chunk's fields
// beside every argument.
func ChunkMap(c states.Chunk) map[string]any {
	m := make(map[string]any, len(c.Args)+7)
	for k, v := range c.Args {
		m[k] = v
	}
	m["state"] = c.State
	m["fun"] = c.Fun
	m["__id__"] = c.ID
	m["name"] = c.Name
	m["__sls__"] = c.SLS
	m["__env__"] = c.Env
	m["order"] = c.Order
	return m
}

func deepCopy(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = deepCopyValue(v)
	}
	return out
}

func deepCopyValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return deepCopy(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopyValue(e)
		}
		return out
	}
	return v
}

func (h *runner) testApply(ec *execmod.Context, args []any, kwargs map[string]any) (any, error) {
	kw := make(map[string]any, len(kwargs)+1)
	for k, v := range kwargs {
		kw[k] = v
	}
	kw["test"] = true
	return h.apply(ec, args, kw)
}

func (h *runner) showLowSLS(ec *execmod.Context, args []any, kwargs map[string]any) (any, error) {
	mods, err := requireMods("state.show_low_sls", args, kwargs)
	if err != nil {
		return nil, err
	}
	rc, early, err := h.prepare(ec, kwargs)
	if err != nil || early != nil {
		return early, err
	}
	chunks, err := compile.Compile(rc.ec, mods, compile.Options{Saltenv: rc.saltenv})
	if err != nil {
		return errorList(err), nil
	}
	chunks = rc.filter(chunks)
	out := make([]any, len(chunks))
	for i, c := range chunks {
		out[i] = ChunkMap(c)
	}
	return out, nil
}

// showStates lists SLS names in the order their states run, each once,
// as Salt's state.show_states does.
func (h *runner) showStates(ec *execmod.Context, args []any, kwargs map[string]any) (any, error) {
	rc, early, err := h.prepare(ec, kwargs)
	if err != nil || early != nil {
		return early, err
	}
	mods, err := modsArg(args, kwargs, "mods")
	if err != nil {
		return nil, err
	}
	var chunks []states.Chunk
	if len(mods) > 0 {
		chunks, err = compile.Compile(rc.ec, mods, compile.Options{Saltenv: rc.saltenv})
		if err != nil {
			return errorList(err), nil
		}
	} else {
		var errs []string
		chunks, errs = h.highChunks(rc)
		if errs != nil {
			return errs, nil
		}
	}
	seen := map[string]bool{}
	out := []any{}
	for _, c := range rc.filter(chunks) {
		if !seen[c.SLS] {
			seen[c.SLS] = true
			out = append(out, c.SLS)
		}
	}
	return out, nil
}

func (h *runner) slsExists(ec *execmod.Context, args []any, kwargs map[string]any) (any, error) {
	mods, err := requireMods("state.sls_exists", args, kwargs)
	if err != nil {
		return nil, err
	}
	rc, early, err := h.prepare(ec, kwargs)
	if err != nil || early != nil {
		return early, err
	}
	_, err = compile.High(rc.ec, mods, compile.Options{Saltenv: rc.saltenv})
	return err == nil, nil
}

func (h *runner) top(ec *execmod.Context, args []any, kwargs map[string]any) (any, error) {
	var name string
	if len(args) > 0 {
		name, _ = execmod.ToString(args[0])
	} else if v, ok := kwargs["topfn"]; ok {
		name, _ = execmod.ToString(v)
	}
	if name == "" {
		return nil, fmt.Errorf("state.top needs the name of a top file: state.top reverse_top.sls")
	}
	rc, early, err := h.prepare(ec, kwargs)
	if err != nil || early != nil {
		return early, err
	}
	rc.topFile = name
	chunks, errs := h.highChunks(rc)
	if errs != nil {
		return errs, nil
	}
	return h.run(rc, chunks)
}
