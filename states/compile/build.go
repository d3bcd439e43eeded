package compile

import (
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/brine-cm/brine/pkg/execmod"
	"github.com/brine-cm/brine/pkg/fileclient"
	"github.com/brine-cm/brine/pkg/render"
	"github.com/brine-cm/brine/states"
)

// builder accumulates the high data of one compilation.
type builder struct {
	ec       *execmod.Context
	opts     Options
	env      string
	high     HighData
	extends  []*Decl
	excludes []exclude
	rendered map[string]bool
	// includedBy maps an SLS to the SLS files that include it.
	includedBy map[string][]string
	iorder     int
	// autoOrder is Salt's state_auto_order (default on): states run in
	// definition order; off means lexicographic order.
	autoOrder bool
	errs      []string
}

type exclude struct {
	sls, id string
}

func newBuilder(ec *execmod.Context, opts Options) *builder {
	env := opts.Saltenv
	if env == "" && ec != nil {
		env = ec.Saltenv
	}
	if env == "" {
		env = "base"
	}
	auto := true
	if ec != nil {
		if v, ok := ec.Opts["state_auto_order"].(bool); ok {
			auto = v
		}
	}
	return &builder{
		ec: ec, opts: opts, env: env,
		high:       HighData{Decls: map[string]*Decl{}},
		rendered:   map[string]bool{},
		includedBy: map[string][]string{},
		iorder:     10000,
		autoOrder:  auto,
	}
}

func (b *builder) errf(pos states.Pos, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if p := pos.String(); p != "" {
		msg = p + ": " + msg
	}
	b.errs = append(b.errs, msg)
}

// renderTop renders one SLS named on the command line or in top.sls.
func (b *builder) renderTop(sls string) {
	if b.rendered[b.key(sls)] {
		return
	}
	if !b.renderSLS(sls, states.Pos{}) {
		b.errs = append(b.errs, fmt.Sprintf("No matching sls found for '%s' in env '%s'", sls, b.env))
	}
}

// read fetches a/b.sls, falling back to a/b/init.sls.
func (b *builder) read(sls string) (name string, src []byte, isInit bool, err error) {
	if b.ec == nil || b.ec.Files == nil {
		return "", nil, false, errors.New("no file client configured")
	}
	base := strings.ReplaceAll(sls, ".", "/")
	ctx := b.ec.Context()
	query := ""
	if b.env != "base" {
		query = "?saltenv=" + b.env
	}
	src, err1 := b.ec.Files.Read(ctx, "salt://"+base+".sls"+query)
	if err1 == nil {
		return base + ".sls", src, false, nil
	}
	src, err2 := b.ec.Files.Read(ctx, "salt://"+base+"/init.sls"+query)
	if err2 == nil {
		return base + "/init.sls", src, true, nil
	}
	if isNotFound(err1) && isNotFound(err2) {
		return "", nil, false, fs.ErrNotExist
	}
	if !isNotFound(err1) {
		return "", nil, false, err1
	}
	return "", nil, false, err2
}

// isNotFound recognises a missing file from any file client: the local
// roots' sentinel, fs.ErrNotExist, or a remote error saying so.
func isNotFound(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, fileclient.ErrNotFound) ||
		strings.Contains(strings.ToLower(err.Error()), "not found")
}

var validSLS = regexp.MustCompile(`^[^/\\\x00]+$`)

// renderSLS renders one SLS and, depth first, its includes; it reports
// false when the file does not exist.
func (b *builder) renderSLS(sls string, from states.Pos) bool {
	b.rendered[b.key(sls)] = true
	if !validSLS.MatchString(sls) || strings.Contains(sls, "..") {
		b.errf(from, "Specified SLS %s in saltenv %s is not available on the salt master or through a configured fileserver", sls, b.env)
		return true
	}
	name, src, isInit, err := b.read(sls)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if from.File == "" {
				return false
			}
			b.errf(from, "Specified SLS %s in saltenv %s is not available on the salt master or through a configured fileserver", sls, b.env)
			return true
		}
		b.errf(from, "Rendering SLS '%s:%s' failed: %v", b.env, sls, err)
		return true
	}
	node, err := render.SLS(b.ec, sls, name, src)
	if err != nil {
		b.errs = append(b.errs, fmt.Sprintf("Rendering SLS '%s:%s' failed: %v", b.env, sls, err))
		return true
	}
	f := b.parse(node, sls, name)
	for _, inc := range f.includes {
		target, ok := b.resolveInclude(inc, sls, isInit)
		if !ok {
			continue
		}
		if inc.env != "" && inc.env != b.env {
			b.includeFromEnv(inc, target, sls)
			continue
		}
		for _, t := range b.expandInclude(target) {
			if t != sls && !slices.Contains(b.includedBy[t], sls) {
				b.includedBy[t] = append(b.includedBy[t], sls)
			}
			if !b.rendered[b.key(t)] {
				b.renderSLS(t, inc.pos)
			}
		}
	}
	for _, d := range f.decls {
		if old, dup := b.high.Decls[d.ID]; dup {
			b.errf(d.Pos, "Detected conflicting IDs, SLS IDs need to be globally unique.\n    The conflicting ID is '%s' and is found in SLS '%s:%s' and SLS '%s:%s'",
				d.ID, old.Env, old.SLS, d.Env, d.SLS)
			continue
		}
		for _, s := range d.States {
			if b.autoOrder && s.argIndex("order") < 0 {
				s.AutoOrder = b.iorder
				b.iorder++
			}
		}
		b.high.add(d)
	}
	b.extends = append(b.extends, f.extends...)
	b.excludes = append(b.excludes, f.excludes...)
	return true
}

type include struct {
	name string
	env  string // {env: name} form; "" is the including file's env
	pos  states.Pos
}

// key names an SLS within the environment being rendered.
func (b *builder) key(sls string) string { return b.env + ":" + sls }

// includeFromEnv renders an `- env: sls` include in that environment, as
// Salt does; the environment must be one the local file roots define
// (a remote file server is trusted to know its own).
func (b *builder) includeFromEnv(inc include, target, from string) {
	if b.ec == nil {
		return
	}
	if l, ok := b.ec.Files.(*fileclient.Local); ok && inc.env != "base" {
		if _, known := l.Envs[inc.env]; !known {
			b.errf(inc.pos, "Nonexistent saltenv '%s' found in include of '%s' within SLS '%s:%s'", inc.env, target, b.env, from)
			return
		}
	}
	if target != from && !slices.Contains(b.includedBy[target], from) {
		b.includedBy[target] = append(b.includedBy[target], from)
	}
	env, ec := b.env, b.ec
	c := *b.ec
	c.Saltenv = inc.env
	b.env, b.ec = inc.env, &c
	defer func() { b.env, b.ec = env, ec }()
	if !b.rendered[b.key(target)] {
		b.renderSLS(target, inc.pos)
	}
}

// resolveInclude turns relative includes (".x", "..x") into absolute SLS
// names the way Salt does: the current SLS's components, plus "init" for
// an init.sls, minus one component per leading dot.
func (b *builder) resolveInclude(inc include, sls string, isInit bool) (string, bool) {
	if !strings.HasPrefix(inc.name, ".") {
		return inc.name, true
	}
	rest := strings.TrimLeft(inc.name, ".")
	levels := len(inc.name) - len(rest)
	comps := strings.Split(sls, ".")
	if isInit {
		comps = append(comps, "init")
	}
	if levels > len(comps) {
		b.errf(inc.pos, "Attempted relative include of '%s' within SLS '%s:%s' goes beyond top level package ", inc.name, b.env, sls)
		return "", false
	}
	parts := append(append([]string{}, comps[:len(comps)-levels]...), rest)
	out := strings.Join(parts, ".")
	return strings.Trim(out, "."), true
}

// expandInclude resolves a wildcard include against the file server's
// SLS files; a plain name is returned as is.
func (b *builder) expandInclude(name string) []string {
	if !IsGlob(name) || b.ec == nil || b.ec.Files == nil {
		return []string{name}
	}
	files, err := b.ec.Files.ListFiles(b.ec.Context(), "")
	if err != nil {
		return []string{name}
	}
	var out []string
	seen := map[string]bool{}
	for _, f := range files {
		if !strings.HasSuffix(f, ".sls") {
			continue
		}
		s := strings.TrimSuffix(f, ".sls")
		s = strings.TrimSuffix(s, "/init")
		s = strings.ReplaceAll(s, "/", ".")
		if s == "top" || seen[s] || !Fnmatch(name, s) {
			continue
		}
		seen[s] = true
		out = append(out, s)
	}
	if len(out) == 0 {
		return []string{name}
	}
	return out
}

// file is what one rendered SLS declares.
type file struct {
	includes []include
	decls    []*Decl
	extends  []*Decl
	excludes []exclude
}

func pos(name string, n *yaml.Node) states.Pos {
	if n == nil {
		return states.Pos{File: name}
	}
	return states.Pos{File: name, Line: n.Line, Col: n.Column}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "dict"
	case yaml.SequenceNode:
		return "list"
	}
	switch n.Tag {
	case "!!int":
		return "int"
	case "!!float":
		return "float"
	case "!!bool":
		return "bool"
	case "!!null":
		return "NoneType"
	}
	return "str"
}

func decode(n *yaml.Node) any {
	v, err := render.Decode(n)
	if err != nil {
		return n.Value
	}
	return v
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// parse walks one rendered SLS document.
func (b *builder) parse(node *yaml.Node, sls, name string) file {
	var f file
	node = resolveAlias(node)
	if node != nil && node.Kind == yaml.DocumentNode {
		if len(node.Content) == 0 {
			return f
		}
		node = resolveAlias(node.Content[0])
	}
	if node == nil || (node.Kind == yaml.ScalarNode && node.Tag == "!!null") {
		return f
	}
	if node.Kind != yaml.MappingNode {
		b.errf(pos(name, node), "SLS %s does not render to a dictionary", sls)
		return f
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		k, v := node.Content[i], resolveAlias(node.Content[i+1])
		key := k.Value
		if k.Kind != yaml.ScalarNode {
			b.errf(pos(name, k), "ID '%v' in SLS '%s' is not formed as a string, but is a %s. It may need to be quoted.", decode(k), sls, kindName(k))
			continue
		}
		switch key {
		case "include":
			f.includes = append(f.includes, b.parseInclude(v, sls, name)...)
			continue
		case "extend":
			f.extends = append(f.extends, b.parseExtend(v, sls, name)...)
			continue
		case "exclude":
			f.excludes = append(f.excludes, b.parseExclude(v, sls, name)...)
			continue
		}
		if k.Tag != "!!str" && k.Style == 0 && k.Tag != "" {
			b.errf(pos(name, k), "ID '%s' in SLS '%s' is not formed as a string, but is a %s. It may need to be quoted.", key, sls, kindName(k))
			continue
		}
		if d := b.parseDecl(k, v, sls, name, false); d != nil {
			f.decls = append(f.decls, d)
		}
	}
	return f
}

func (b *builder) parseInclude(v *yaml.Node, sls, name string) []include {
	if v.Kind != yaml.SequenceNode {
		b.errf(pos(name, v), "Include Declaration in SLS %s is not formed as a list", sls)
		return nil
	}
	var out []include
	for _, it := range v.Content {
		it = resolveAlias(it)
		switch it.Kind {
		case yaml.ScalarNode:
			if it.Value == "" {
				continue
			}
			out = append(out, include{name: it.Value, pos: pos(name, it)})
		case yaml.MappingNode:
			// {saltenv: sls}: the SLS from that environment; Salt's
			// {_xenv: sls} keeps the including file's environment.
			if len(it.Content) == 2 && it.Content[1].Kind == yaml.ScalarNode {
				env := it.Content[0].Value
				if env == "_xenv" {
					env = ""
				}
				out = append(out, include{name: it.Content[1].Value, env: env, pos: pos(name, it)})
				continue
			}
			b.errf(pos(name, it), "Include Declaration in SLS %s has a malformed entry", sls)
		default:
			b.errf(pos(name, it), "Include Declaration in SLS %s has a malformed entry", sls)
		}
	}
	return out
}

func (b *builder) parseExclude(v *yaml.Node, sls, name string) []exclude {
	if v.Kind != yaml.SequenceNode {
		b.errf(pos(name, v), "Exclude Declaration in SLS %s is not formed as a list", sls)
		return nil
	}
	var out []exclude
	for _, it := range v.Content {
		it = resolveAlias(it)
		switch it.Kind {
		case yaml.ScalarNode:
			out = append(out, exclude{sls: it.Value})
		case yaml.MappingNode:
			if len(it.Content) != 2 {
				continue
			}
			switch it.Content[0].Value {
			case "sls":
				out = append(out, exclude{sls: it.Content[1].Value})
			case "id":
				out = append(out, exclude{id: it.Content[1].Value})
			}
		}
	}
	return out
}

func (b *builder) parseExtend(v *yaml.Node, sls, name string) []*Decl {
	if v.Kind != yaml.MappingNode {
		b.errf(pos(name, v), "Extension value in SLS '%s' is not a dictionary", sls)
		return nil
	}
	var out []*Decl
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, body := v.Content[i], resolveAlias(v.Content[i+1])
		if body.Kind != yaml.MappingNode {
			b.errf(pos(name, k), "Extension name '%s' in SLS '%s' is not a dictionary", k.Value, sls)
			continue
		}
		if d := b.parseDecl(k, body, sls, name, true); d != nil {
			out = append(out, d)
		}
	}
	return out
}

// parseDecl parses `ID: {module[.fun]: [args...]}`; in extend mode a
// function is optional.
func (b *builder) parseDecl(k, v *yaml.Node, sls, name string, extend bool) *Decl {
	id := k.Value
	d := &Decl{ID: id, SLS: sls, Env: b.env, Pos: pos(name, k)}
	switch v.Kind {
	case yaml.ScalarNode:
		if v.Tag != "!!null" && strings.Contains(v.Value, ".") {
			mod, fun, _ := strings.Cut(v.Value, ".")
			d.States = append(d.States, &StateDecl{Module: mod, Fun: fun, Pos: pos(name, v)})
			return d
		}
		b.errf(d.Pos, "ID %s in SLS %s is not a dictionary", id, sls)
		return nil
	case yaml.MappingNode:
	default:
		b.errf(d.Pos, "ID %s in SLS %s is not a dictionary", id, sls)
		return nil
	}
	ok := true
	for i := 0; i+1 < len(v.Content); i += 2 {
		mk, mv := v.Content[i], resolveAlias(v.Content[i+1])
		modKey := mk.Value
		if strings.HasPrefix(modKey, "__") {
			continue
		}
		mp := pos(name, mk)
		if mv.Kind == yaml.ScalarNode && mv.Tag == "!!null" {
			b.errf(mp, "ID '%s' in SLS '%s' contains a short declaration (%s) with a trailing colon. When not passing any arguments to a state, the colon must be omitted.", id, sls, modKey)
			ok = false
			continue
		}
		if mv.Kind != yaml.SequenceNode {
			b.errf(mp, "State '%s' in SLS '%s' is not formed as a list", id, sls)
			ok = false
			continue
		}
		sd := &StateDecl{Pos: mp}
		funs := 0
		sd.Module, sd.Fun, _ = strings.Cut(modKey, ".")
		if sd.Fun != "" {
			funs++
		}
		if d.State(sd.Module) != nil {
			b.errf(mp, "ID '%s' in SLS '%s' contains multiple state declarations of the same type", id, sls)
			ok = false
			continue
		}
		for _, it := range mv.Content {
			it = resolveAlias(it)
			ip := pos(name, it)
			switch it.Kind {
			case yaml.ScalarNode:
				fn := it.Value
				funs++
				if strings.Contains(strings.TrimSpace(fn), " ") {
					b.errf(ip, "The function \"%s\" in state \"%s\" in SLS \"%s\" has whitespace, a function with whitespace is not supported, perhaps this is an argument that is missing a \":\"", fn, id, sls)
					ok = false
				}
				sd.Fun = strings.TrimSpace(fn)
			case yaml.MappingNode:
				if len(it.Content) == 0 {
					continue
				}
				if len(it.Content) != 2 {
					b.errf(ip, "Multiple dictionaries defined in argument of state '%s' in SLS '%s'", id, sls)
					ok = false
					continue
				}
				ak, av := it.Content[0], resolveAlias(it.Content[1])
				arg := Arg{Key: ak.Value, Value: decode(av), Pos: pos(name, ak)}
				if !b.checkArg(arg, av, id, sls, name) {
					ok = false
					continue
				}
				sd.Args = append(sd.Args, arg)
			default:
				b.errf(ip, "Argument of state '%s' in SLS '%s' is a list; arguments must be single-key dictionaries or a function name", id, sls)
				ok = false
			}
		}
		if funs == 0 && !extend {
			b.errf(mp, "No function declared in state '%s' in SLS '%s'", sd.Module, sls)
			ok = false
			continue
		}
		if funs > 1 {
			b.errf(mp, "Too many functions declared in state '%s' in SLS '%s'", sd.Module, sls)
			ok = false
			continue
		}
		d.States = append(d.States, sd)
	}
	if !ok {
		return nil
	}
	return d
}

// kindOf names a YAML value's kind for error messages.
func kindOf(v any) string {
	if _, ok := v.(map[string]any); ok {
		return "mapping"
	}
	return "list"
}

// dotChecked are the requisites whose target module Salt's verify_high
// refuses to carry a function ("file.managed: x"); the other requisites
// silently drop it.
var dotChecked = map[string]bool{"require": true, "watch": true, "prereq": true, "onchanges": true}

// checkArg validates requisite and names arguments the way Salt's
// verify_high does.
func (b *builder) checkArg(a Arg, n *yaml.Node, id, sls, name string) bool {
	if a.Key == "name" {
		switch a.Value.(type) {
		case []any, map[string]any:
			b.errf(a.Pos, "The 'name' argument in state '%s' in SLS '%s' must be a string, not a %s", id, sls, kindOf(a.Value))
			return false
		}
		return true
	}
	if a.Key == "names" {
		l, isList := a.Value.([]any)
		if !isList {
			b.errf(a.Pos, "The 'names' argument in state '%s' in SLS '%s' needs to be formed as a list", id, sls)
			return false
		}
		for _, it := range l {
			if _, nested := it.([]any); nested {
				b.errf(a.Pos, "The 'names' argument in state '%s' in SLS '%s' holds a list; each entry must be a name or a single-key mapping of a name to its arguments", id, sls)
				return false
			}
		}
		return true
	}
	_, isIn := requisiteIn[a.Key]
	if !listRequisite(a.Key) && !isIn {
		return true
	}
	if a.Value == nil {
		return true
	}
	list, isList := a.Value.([]any)
	if !isList {
		if _, isMap := a.Value.(map[string]any); isIn && isMap {
			return true
		}
		b.errf(a.Pos, "The %s statement in state '%s' in SLS '%s' needs to be formed as a list", a.Key, id, sls)
		return false
	}
	ok := true
	for i, it := range list {
		ip := a.Pos
		if n != nil && i < len(n.Content) {
			ip = pos(name, n.Content[i])
		}
		switch req := it.(type) {
		case string:
		case map[string]any:
			if len(req) != 1 {
				b.errf(ip, "Requisite declaration %s in SLS %s is not formed as a single key dictionary", pyRepr(req), sls)
				ok = false
				continue
			}
			for rk, rv := range req {
				if strings.Contains(rk, ".") && dotChecked[a.Key] {
					b.errf(ip, "Invalid requisite type '%s' in state '%s', in SLS '%s'. Requisite types must not contain dots, did you mean '%s'?", rk, id, sls, rk[:strings.Index(rk, ".")])
					ok = false
				}
				switch rv.(type) {
				case string, nil:
				case map[string]any, []any:
					b.errf(ip, "Illegal requisite \"%s\", please check your syntax.", pyRepr(rv))
					ok = false
				}
			}
		default:
			b.errf(ip, "Requisite declaration %s in SLS %s is not formed as a single key dictionary", pyRepr(it), sls)
			ok = false
		}
	}
	return ok
}

// pyRepr prints a decoded value roughly as Python would, for messages
// that quote Salt's.
func pyRepr(v any) string {
	switch t := v.(type) {
	case string:
		return "'" + t + "'"
	case nil:
		return "None"
	case bool:
		if t {
			return "True"
		}
		return "False"
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = pyRepr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		var parts []string
		for _, k := range sortedKeys(t) {
			parts = append(parts, "'"+k+"': "+pyRepr(t[k]))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v)
}
