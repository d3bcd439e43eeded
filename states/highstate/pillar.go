package highstate

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/brine-cm/brine/pkg/execmod"
	"github.com/brine-cm/brine/pkg/fileclient"
	"github.com/brine-cm/brine/pkg/render"
)

// PillarErrors is what a failed pillar compile returns: one message per
// problem, in the words Salt uses, so state runs can refuse to start with
// the same list Salt prints.
type PillarErrors struct{ List []string }

func (e *PillarErrors) Error() string { return strings.Join(e.List, "; ") }

// CompilePillar compiles the pillar for the minion described by ec (its
// grains and opts["id"]): the pillar top.sls in pillarRoots chooses SLS by
// glob, pcre, grain, list, compound, ... targets; each is rendered through
// Jinja and YAML, its includes merged first, and the results merged
// recursively in top-file order (later wins, lists replaced), as Salt's
// default "smart" merge does for YAML pillars.
func CompilePillar(ctx context.Context, ec *execmod.Context, pillarRoots []string) (map[string]any, error) {
	pc := &pillarCompiler{
		base:  ec,
		files: fileclient.NewLocal(pillarRoots...),
		ctx:   ctx,
		out:   map[string]any{},
	}
	return pc.compile()
}

type pillarCompiler struct {
	base     *execmod.Context
	files    *fileclient.Local
	ctx      context.Context
	out      map[string]any
	errs     []string
	rendered map[string]bool
}

// rctx is the context pillar templates render in: the minion's grains and
// opts, and the pillar compiled so far.
func (pc *pillarCompiler) rctx(env string) *execmod.Context {
	c := *pc.base
	c.Ctx = pc.ctx
	c.Files = pc.files
	c.Pillar = pc.out
	c.Saltenv = env
	return &c
}

func (pc *pillarCompiler) compile() (map[string]any, error) {
	src, err := pc.files.Read(pc.ctx, "salt://top.sls")
	if err != nil {
		if errors.Is(err, fileclient.ErrNotFound) {
			return pc.out, nil // no pillar top: empty pillar, as Salt
		}
		return nil, &PillarErrors{List: []string{fmt.Sprintf("pillar top file: %v", err)}}
	}
	top, err := renderTop(pc.rctx("base"), "top.sls", src)
	if err != nil {
		return nil, &PillarErrors{List: []string{err.Error()}}
	}
	envs, mods, err := top.matches(newMatcher(pc.base, nil), "")
	if err != nil {
		return nil, &PillarErrors{List: []string{err.Error()}}
	}
	for _, env := range envs {
		for _, sls := range mods[env] {
			pc.rendered = map[string]bool{}
			data, err := pc.renderSLS(env, sls, nil)
			if err != nil {
				pc.errs = append(pc.errs, err.Error())
				continue
			}
			pc.out = Merge(pc.out, data)
		}
	}
	if len(pc.errs) > 0 {
		return pc.out, &PillarErrors{List: pc.errs}
	}
	return pc.out, nil
}

// slsPath finds "a.b" as a/b.sls or a/b/init.sls.
func slsPath(ctx context.Context, files *fileclient.Local, sls string) (string, []byte, error) {
	base := strings.ReplaceAll(sls, ".", "/")
	for _, p := range []string{base + ".sls", base + "/init.sls"} {
		src, err := files.Read(ctx, "salt://"+p)
		if err == nil {
			return p, src, nil
		}
		if !errors.Is(err, fileclient.ErrNotFound) {
			return "", nil, err
		}
	}
	return "", nil, fileclient.ErrNotFound
}

// renderSLS renders one pillar SLS with its includes; chain guards
// against include loops.
func (pc *pillarCompiler) renderSLS(env, sls string, chain []string) (map[string]any, error) {
	if pc.rendered[sls] {
		return nil, nil
	}
	pc.rendered[sls] = true
	name, src, err := slsPath(pc.ctx, pc.files, sls)
	if err != nil {
		if errors.Is(err, fileclient.ErrNotFound) {
			return nil, fmt.Errorf("Specified SLS '%s' in environment '%s' is not available on the salt master", sls, env)
		}
		return nil, fmt.Errorf("Rendering SLS '%s' failed: %v", sls, err)
	}
	node, err := render.SLS(pc.rctx(env), sls, name, src)
	if err != nil {
		return nil, fmt.Errorf("Rendering SLS '%s' failed, render error:\n%v", sls, err)
	}
	if node == nil {
		return map[string]any{}, nil
	}
	v, err := render.Decode(node)
	if err != nil {
		return nil, fmt.Errorf("Rendering SLS '%s' failed: %v", sls, err)
	}
	if v == nil {
		return map[string]any{}, nil
	}
	data, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("SLS '%s' does not render to a dictionary", sls)
	}
	inc, has := data["include"]
	if !has {
		return data, nil
	}
	delete(data, "include")
	list, ok := inc.([]any)
	if !ok {
		return nil, fmt.Errorf("Include Declaration in SLS '%s' is not formed as a list", sls)
	}
	var merged map[string]any
	for _, item := range list {
		sub, key, defaults := "", "", map[string]any(nil)
		switch x := item.(type) {
		case string:
			sub = x
		case map[string]any:
			for k, opt := range x {
				sub = k
				if o, ok := opt.(map[string]any); ok {
					key, _ = o["key"].(string)
					defaults, _ = o["defaults"].(map[string]any)
				}
			}
		default:
			return nil, fmt.Errorf("Include Declaration in SLS '%s' has an entry that is not a name: %v", sls, item)
		}
		from := sls
		if strings.HasSuffix(name, "/init.sls") {
			from = sls + ".init"
		}
		sub = resolveRelative(from, sub)
		_ = defaults // defaults feed the included template's context in Salt; not supported yet
		nd, err := pc.renderSLS(env, sub, append(chain, sls))
		if err != nil {
			return nil, err
		}
		if nd == nil {
			continue
		}
		if key != "" {
			parts := strings.Split(key, ":")
			for i := len(parts) - 1; i >= 0; i-- {
				nd = map[string]any{parts[i]: nd}
			}
		}
		merged = Merge(merged, nd)
	}
	// The including file's own data is merged last, so it wins.
	return Merge(merged, data), nil
}

// resolveRelative resolves Salt's relative include names (".sibling",
// "..parent.x") against the including SLS.
func resolveRelative(from, name string) string {
	if !strings.HasPrefix(name, ".") {
		return name
	}
	dots := len(name) - len(strings.TrimLeft(name, "."))
	parts := strings.Split(from, ".")
	// One dot is the including file's package; each extra dot goes up.
	keep := len(parts) - dots
	if keep < 0 {
		keep = 0
	}
	rest := name[dots:]
	base := strings.Join(parts[:keep], ".")
	switch {
	case base == "":
		return rest
	case rest == "":
		return base
	}
	return base + "." + rest
}

// Merge deep-merges src into dst the way Salt's "recurse" strategy does:
// mappings merge key by key, anything else (lists included) is replaced.
// dst is modified and returned; a nil dst is allocated.
func Merge(dst, src map[string]any) map[string]any {
	if dst == nil {
		dst = map[string]any{}
	}
	for k, sv := range src {
		if sm, ok := sv.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				dst[k] = Merge(dm, sm)
				continue
			}
			dst[k] = Merge(nil, sm)
			continue
		}
		dst[k] = sv
	}
	return dst
}
