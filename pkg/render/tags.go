package render

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"reflect"
	"strings"

	"github.com/nikolalohinski/gonja/v2/builtins"
	controlStructures "github.com/nikolalohinski/gonja/v2/builtins/control_structures"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/parser"
	"github.com/nikolalohinski/gonja/v2/tokens"
	"gopkg.in/yaml.v3"
)

// Salt's Jinja statements. gonja's own import/from only export macros and
// resolve names through its loader; Salt formulas import variables from
// map.jinja and resolve "./" names against the importing file, so those
// statements are reimplemented here, along with Salt's import_yaml,
// import_json, import_text, load_yaml and load_json.

func saltControlStructures() map[string]parser.ControlStructureParser {
	origSet, _ := builtins.ControlStructures.Get("set")
	origMacro, _ := builtins.ControlStructures.Get("macro")
	return map[string]parser.ControlStructureParser{
		"import":      importParser,
		"from":        fromParser,
		"include":     includeParser,
		"import_yaml": importDataParser("yaml"),
		"import_json": importDataParser("json"),
		"import_text": importDataParser("text"),
		"load_yaml":   loadDataParser("yaml"),
		"load_json":   loadDataParser("json"),
		"load_text":   loadDataParser("text"),
		"set":         wrapSet(origSet),
		"macro":       wrapMacro(origMacro),
	}
}

func currentName(p *parser.Parser) string {
	if l, ok := p.Loader.(*fileLoader); ok {
		return l.name
	}
	return ""
}

func position(args *parser.Parser, p *parser.Parser) *tokens.Token {
	if t := args.Current(); t != nil {
		return t
	}
	return p.Current()
}

// withContext parses an optional trailing "with context"/"without context".
func withContext(args *parser.Parser) (bool, error) {
	if tok := args.MatchName("with", "without"); tok != nil {
		if args.MatchName("context") == nil {
			return false, args.Error("expected \"context\"", args.Current())
		}
		return tok.Val == "with", nil
	}
	return false, nil
}

// parseFileArg parses the file expression every file-taking statement
// (import, from, include, import_*) starts with, failing where it is
// missing; stmt and what name the statement and the file in the error.
func parseFileArg(p, args *parser.Parser, stmt, what string) (nodes.Expression, error) {
	if args.End() {
		return nil, args.Error(stmt+" needs "+what, p.Current())
	}
	return args.ParseExpression()
}

// runImport resolves and renders the template an import or from-import
// names, returning its name and the context its top-level names were
// set in.
func runImport(r *exec.Renderer, st *renderState, current string, file nodes.Expression, with bool) (string, *exec.Context, error) {
	name, err := evalName(r, st, current, file)
	if err != nil {
		return "", nil, err
	}
	ctx := importCtx(r, st, with)
	if _, err := st.renderFile(name, ctx); err != nil {
		return "", nil, err
	}
	return name, ctx, nil
}

// parseAs parses the `as name` that import, import_* and load_* bind
// their result with.
func parseAs(args *parser.Parser) (string, error) {
	if args.MatchName("as") == nil {
		return "", args.Error(`expected "as"`, args.Current())
	}
	alias := args.Match(tokens.Name)
	if alias == nil {
		return "", args.Error("expected a name after \"as\"", args.Current())
	}
	return alias.Val, nil
}

// parseImportAs parses the whole of `"file" as name [with context]`, the
// arguments import and import_yaml/json/text share; stmt names the
// statement and what the file expression is in their errors.
func parseImportAs(p, args *parser.Parser, stmt, what string) (file nodes.Expression, as string, with bool, err error) {
	if file, err = parseFileArg(p, args, stmt, what); err != nil {
		return nil, "", false, err
	}
	if as, err = parseAs(args); err != nil {
		return nil, "", false, err
	}
	if with, err = withContext(args); err != nil {
		return nil, "", false, err
	}
	if !args.End() {
		return nil, "", false, args.Error("unexpected tokens in "+stmt, args.Current())
	}
	return file, as, with, nil
}

type basePos struct{ loc *tokens.Token }

func (b basePos) Position() *tokens.Token { return b.loc }

// importCtx is the context an imported template runs in: the Salt
// variables always (as Salt exposes them to every template), plus the
// importer's names when "with context" is given.
func importCtx(r *exec.Renderer, st *renderState, with bool) *exec.Context {
	if with {
		return r.Environment.Context.Inherit()
	}
	return st.base.Inherit()
}

func evalName(r *exec.Renderer, st *renderState, current string, expr nodes.Expression) (string, error) {
	v := r.Eval(expr)
	if v.IsError() {
		return "", v
	}
	if !v.IsString() {
		return "", st.fail(fmt.Errorf("template name must be a string, not %q", v.String()), "")
	}
	name, err := resolveName(current, v.String())
	if err != nil {
		return "", st.fail(err, v.String())
	}
	return name, nil
}

// {% import "x/macros.jinja" as m [with context] %}
type importStmt struct {
	basePos
	current string
	file    nodes.Expression
	as      string
	with    bool
}

func (s *importStmt) String() string { return fmt.Sprintf("import(line %d)", s.loc.Line) }

func (s *importStmt) Execute(r *exec.Renderer, _ *nodes.ControlStructureBlock) error {
	st := stateOf(r.Environment.Context)
	name, ctx, err := runImport(r, st, s.current, s.file, s.with)
	if err != nil {
		return err
	}
	r.Environment.Context.Set(s.as, &templateModule{name: name, ctx: ctx})
	return nil
}

func importParser(p *parser.Parser, args *parser.Parser) (nodes.ControlStructure, error) {
	s := &importStmt{basePos: basePos{position(args, p)}, current: currentName(p)}
	var err error
	if s.file, s.as, s.with, err = parseImportAs(p, args, "import", "a template name"); err != nil {
		return nil, err
	}
	return s, nil
}

// {% from "x/map.jinja" import a, b as c [with context] %}
type fromStmt struct {
	basePos
	current string
	file    nodes.Expression
	names   [][2]string // name, alias
	with    bool
}

func (s *fromStmt) String() string { return fmt.Sprintf("from(line %d)", s.loc.Line) }

func (s *fromStmt) Execute(r *exec.Renderer, _ *nodes.ControlStructureBlock) error {
	st := stateOf(r.Environment.Context)
	name, ctx, err := runImport(r, st, s.current, s.file, s.with)
	if err != nil {
		return err
	}
	for _, na := range s.names {
		v, ok := ctx.Get(na[0])
		if !ok {
			return st.fail(fmt.Errorf("cannot import name %q from %q", na[0], name), na[0])
		}
		r.Environment.Context.Set(na[1], v)
	}
	return nil
}

func fromParser(p *parser.Parser, args *parser.Parser) (nodes.ControlStructure, error) {
	s := &fromStmt{basePos: basePos{position(args, p)}, current: currentName(p)}
	expr, err := parseFileArg(p, args, "from", "a template name")
	if err != nil {
		return nil, err
	}
	s.file = expr
	if args.MatchName("import") == nil {
		return nil, args.Error(`expected "import"`, args.Current())
	}
	for !args.End() {
		if tok := args.CurrentName("with", "without"); tok != nil && len(s.names) > 0 {
			break
		}
		name := args.Match(tokens.Name)
		if name == nil {
			return nil, args.Error("expected a name to import", args.Current())
		}
		alias := name.Val
		if args.MatchName("as") != nil {
			a := args.Match(tokens.Name)
			if a == nil {
				return nil, args.Error("expected a name after \"as\"", args.Current())
			}
			alias = a.Val
		}
		s.names = append(s.names, [2]string{name.Val, alias})
		if args.Match(tokens.Comma) == nil {
			break
		}
	}
	if len(s.names) == 0 {
		return nil, args.Error("from needs at least one name to import", args.Current())
	}
	if s.with, err = withContext(args); err != nil {
		return nil, err
	}
	if !args.End() {
		return nil, args.Error("unexpected tokens in from-import", args.Current())
	}
	return s, nil
}

// {% include "x" [ignore missing] [with context|without context] %}
type includeStmt struct {
	basePos
	current       string
	file          nodes.Expression
	ignoreMissing bool
	without       bool
}

func (s *includeStmt) String() string { return fmt.Sprintf("include(line %d)", s.loc.Line) }

func (s *includeStmt) Execute(r *exec.Renderer, _ *nodes.ControlStructureBlock) error {
	st := stateOf(r.Environment.Context)
	name, err := evalName(r, st, s.current, s.file)
	if err != nil {
		return err
	}
	src, err := st.readFile(name)
	if err != nil {
		if s.ignoreMissing {
			return nil
		}
		return st.fail(err, path.Base(name))
	}
	ctx := r.Environment.Context.Inherit()
	if s.without {
		ctx = st.base.Inherit()
	}
	return st.renderInto(name, trimFinalNewline(src), ctx, r.Output)
}

func includeParser(p *parser.Parser, args *parser.Parser) (nodes.ControlStructure, error) {
	s := &includeStmt{basePos: basePos{position(args, p)}, current: currentName(p)}
	expr, err := parseFileArg(p, args, "include", "a template name")
	if err != nil {
		return nil, err
	}
	s.file = expr
	if args.MatchName("ignore") != nil {
		if args.MatchName("missing") == nil {
			return nil, args.Error(`expected "missing"`, args.Current())
		}
		s.ignoreMissing = true
	}
	if tok := args.MatchName("with", "without"); tok != nil {
		if args.MatchName("context") == nil {
			return nil, args.Error(`expected "context"`, args.Current())
		}
		s.without = tok.Val == "without"
	}
	if !args.End() {
		return nil, args.Error("unexpected tokens in include", args.Current())
	}
	return s, nil
}

// parseData decodes YAML (with Salt's scalar rules), JSON or text into
// template values.
func parseData(kind, text string) (any, error) {
	switch kind {
	case "text":
		return text, nil
	case "json":
		var v any
		dec := json.NewDecoder(strings.NewReader(text))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("load_json: %w", err)
		}
		return toJinja(fromJSON(v)), nil
	default:
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
			return nil, fmt.Errorf("load_yaml: %w", err)
		}
		v, err := Decode(&doc)
		if err != nil {
			return nil, fmt.Errorf("load_yaml: %w", err)
		}
		return toJinja(v), nil
	}
}

func fromJSON(v any) any {
	switch t := v.(type) {
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return int(i)
		}
		f, _ := t.Float64()
		return f
	case []any:
		for i, e := range t {
			t[i] = fromJSON(e)
		}
		return t
	case map[string]any:
		for k, e := range t {
			t[k] = fromJSON(e)
		}
		return t
	}
	return v
}

// {% import_yaml "x/defaults.yaml" as d [with context] %}: the file is
// rendered as a template first, as Salt does, then loaded.
type importDataStmt struct {
	basePos
	kind    string
	current string
	file    nodes.Expression
	as      string
	with    bool
}

func (s *importDataStmt) String() string {
	return fmt.Sprintf("import_%s(line %d)", s.kind, s.loc.Line)
}

func (s *importDataStmt) Execute(r *exec.Renderer, _ *nodes.ControlStructureBlock) error {
	st := stateOf(r.Environment.Context)
	name, err := evalName(r, st, s.current, s.file)
	if err != nil {
		return err
	}
	text, err := st.renderFile(name, importCtx(r, st, s.with))
	if err != nil {
		return err
	}
	v, err := parseData(s.kind, text)
	if err != nil {
		return st.fail(fmt.Errorf("%s: %w", name, err), "")
	}
	r.Environment.Context.Set(s.as, v)
	return nil
}

func importDataParser(kind string) parser.ControlStructureParser {
	return func(p *parser.Parser, args *parser.Parser) (nodes.ControlStructure, error) {
		s := &importDataStmt{basePos: basePos{position(args, p)}, kind: kind, current: currentName(p)}
		var err error
		if s.file, s.as, s.with, err = parseImportAs(p, args, "import_"+kind, "a file name"); err != nil {
			return nil, err
		}
		return s, nil
	}
}

// {% load_yaml as v %}...{% endload %}
type loadDataStmt struct {
	basePos
	kind string
	as   string
	body *nodes.Wrapper
}

func (s *loadDataStmt) String() string { return fmt.Sprintf("load_%s(line %d)", s.kind, s.loc.Line) }

func (s *loadDataStmt) Execute(r *exec.Renderer, _ *nodes.ControlStructureBlock) error {
	st := stateOf(r.Environment.Context)
	var buf strings.Builder
	sub := r.Inherit()
	sub.Output = &buf
	if err := sub.ExecuteWrapper(s.body); err != nil {
		return err
	}
	v, err := parseData(s.kind, buf.String())
	if err != nil {
		return st.fail(err, "load_"+s.kind)
	}
	r.Environment.Context.Set(s.as, v)
	return nil
}

func loadDataParser(kind string) parser.ControlStructureParser {
	return func(p *parser.Parser, args *parser.Parser) (nodes.ControlStructure, error) {
		s := &loadDataStmt{basePos: basePos{position(args, p)}, kind: kind}
		as, err := parseAs(args)
		if err != nil {
			return nil, err
		}
		s.as = as
		if !args.End() {
			return nil, args.Error("unexpected tokens in load_"+kind, args.Current())
		}
		body, end, err := p.WrapUntil("endload")
		if err != nil {
			return nil, err
		}
		if !end.End() {
			return nil, end.Error("endload takes no arguments", end.Current())
		}
		s.body = body
		return s, nil
	}
}

// setStmt wraps gonja's set so a variable assigned a dict or list literal
// holds a live, mutable dict or list (see values.go).
type setStmt struct {
	inner exec.ControlStructure
	name  string
}

func (s *setStmt) Position() *tokens.Token { return s.inner.Position() }
func (s *setStmt) String() string          { return s.inner.String() }

func (s *setStmt) Execute(r *exec.Renderer, tag *nodes.ControlStructureBlock) error {
	if err := s.inner.Execute(r, tag); err != nil {
		return err
	}
	if s.name != "" {
		if v, ok := r.Environment.Context.Get(s.name); ok {
			switch v.(type) {
			case *exec.Dict, exec.ValuesList, []any, *exec.Value:
				r.Environment.Context.Set(s.name, toJinja(v))
			}
		}
	}
	return nil
}

// {% set a, b = x, y %}: tuple assignment, which gonja's set lacks.
type multiSetStmt struct {
	basePos
	names []string
	exprs []nodes.Expression
}

func (s *multiSetStmt) String() string { return fmt.Sprintf("set(line %d)", s.loc.Line) }

func (s *multiSetStmt) Execute(r *exec.Renderer, _ *nodes.ControlStructureBlock) error {
	var values []any
	if len(s.exprs) == 1 {
		v := r.Eval(s.exprs[0])
		if v.IsError() {
			return v
		}
		values = iterList(v)
	} else {
		for _, e := range s.exprs {
			v := r.Eval(e)
			if v.IsError() {
				return v
			}
			values = append(values, toJinja(v.Interface()))
		}
	}
	if len(values) != len(s.names) {
		st := stateOf(r.Environment.Context)
		return st.fail(fmt.Errorf("cannot unpack %d values into %d names", len(values), len(s.names)), "")
	}
	for i, n := range s.names {
		r.Environment.Context.Set(n, values[i])
	}
	return nil
}

func parseMultiSet(p *parser.Parser, args *parser.Parser) (nodes.ControlStructure, error) {
	s := &multiSetStmt{basePos: basePos{position(args, p)}}
	for {
		name := args.Match(tokens.Name)
		if name == nil {
			return nil, args.Error("expected a name to assign", args.Current())
		}
		s.names = append(s.names, name.Val)
		if args.Match(tokens.Comma) == nil {
			break
		}
	}
	if args.Match(tokens.Assign) == nil {
		return nil, args.Error(`expected "="`, args.Current())
	}
	for {
		e, err := args.ParseExpression()
		if err != nil {
			return nil, err
		}
		s.exprs = append(s.exprs, e)
		if args.Match(tokens.Comma) == nil {
			break
		}
	}
	if !args.End() {
		return nil, args.Error("unexpected tokens in set", args.Current())
	}
	return s, nil
}

func wrapSet(orig parser.ControlStructureParser) parser.ControlStructureParser {
	return func(p *parser.Parser, args *parser.Parser) (nodes.ControlStructure, error) {
		if t, nx := args.Current(), args.Stream().Peek(); t != nil && t.Type == tokens.Name && nx != nil && nx.Type == tokens.Comma {
			return parseMultiSet(p, args)
		}
		name := ""
		if t := args.Current(); t != nil && t.Type == tokens.Name {
			if nx := args.Stream().Peek(); nx == nil || nx.Type == tokens.Assign || nx.Type == tokens.EOF {
				name = t.Val
			}
		}
		cs, err := orig(p, args)
		if err != nil {
			return nil, err
		}
		ecs, ok := cs.(exec.ControlStructure)
		if !ok {
			return nil, errors.New("set: unexpected statement type")
		}
		return &setStmt{inner: ecs, name: name}, nil
	}
}

// macroStmt wraps gonja's macro so runaway recursion ends in an error
// instead of exhausting the stack.
type macroStmt struct {
	inner exec.ControlStructure
	name  string
	file  string // the template defining the macro
	src   []byte
}

func (s *macroStmt) Position() *tokens.Token { return s.inner.Position() }
func (s *macroStmt) String() string          { return s.inner.String() }

func (s *macroStmt) Execute(r *exec.Renderer, tag *nodes.ControlStructureBlock) error {
	if err := s.inner.Execute(r, tag); err != nil {
		return err
	}
	st := stateOf(r.Environment.Context)
	v, ok := r.Environment.Context.Get(s.name)
	if !ok || st == nil {
		return nil
	}
	m, ok := v.(exec.Macro)
	if !ok {
		return nil
	}
	name, file, src := s.name, s.file, s.src
	r.Environment.Context.Set(s.name, exec.Macro(func(params *exec.VarArgs) *exec.Value {
		st.depth++
		defer func() { st.depth-- }()
		if st.depth > maxDepth {
			return exec.AsValue(st.fail(fmt.Errorf("macro %q nested more than %d deep", name, maxDepth), name))
		}
		out := m(params)
		if out.IsError() && file != "" && !bindingError(out) && (st.inner == nil || !partOf(st.inner.Err, out)) {
			// Lines in the failure are the macro's, in the file that
			// defines it, wherever it was called from.
			st.inner = st.position(file, string(src), out)
		}
		return out
	}))
	return nil
}

// namesUsed lists the variable names a parsed template fragment reads,
// walking every node field by reflection (gonja's own walker does not
// descend into statements and expressions).
func namesUsed(root any) map[string]bool {
	out := map[string]bool{}
	seen := map[uintptr]bool{}
	var walk func(v reflect.Value, depth int)
	walk = func(v reflect.Value, depth int) {
		if depth > 200 {
			return
		}
		switch v.Kind() {
		case reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem(), depth+1)
			}
		case reflect.Pointer:
			if v.IsNil() || seen[v.Pointer()] {
				return
			}
			seen[v.Pointer()] = true
			if n, ok := v.Interface().(*nodes.Name); ok {
				if n.Name != nil {
					out[n.Name.Val] = true
				}
				return
			}
			walk(v.Elem(), depth+1)
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				if f := v.Field(i); f.CanInterface() {
					walk(f, depth+1)
				}
			}
		case reflect.Slice, reflect.Array:
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i), depth+1)
			}
		case reflect.Map:
			for _, k := range v.MapKeys() {
				walk(v.MapIndex(k), depth+1)
			}
		}
	}
	walk(reflect.ValueOf(root), 0)
	return out
}

// bindingError reports whether a macro failed on the arguments it was
// called with (too many, unknown keyword, given twice) rather than in its
// body; such a failure belongs at the call site, not in the definition.
func bindingError(v *exec.Value) bool {
	msg := v.Error()
	return strings.HasPrefix(msg, "macro '") && (strings.Contains(msg, "' received ") || strings.Contains(msg, "' takes no keyword argument "))
}

func wrapMacro(orig parser.ControlStructureParser) parser.ControlStructureParser {
	return func(p *parser.Parser, args *parser.Parser) (nodes.ControlStructure, error) {
		name := ""
		if t := args.Current(); t != nil && t.Type == tokens.Name {
			name = t.Val
		}
		cs, err := orig(p, args)
		if err != nil {
			return nil, err
		}
		ecs, ok := cs.(exec.ControlStructure)
		if !ok {
			return nil, errors.New("macro: unexpected statement type")
		}
		if mcs, ok := cs.(*controlStructures.MacroControlStructure); ok && mcs.Macro != nil && mcs.Wrapper != nil {
			// Jinja gives a macro whose body mentions varargs or kwargs
			// the extra positional and keyword arguments under those
			// names; gonja only does so for a declared *args/**kwargs.
			refs := namesUsed(mcs.Wrapper)
			if mcs.VarArgsName == "" && refs["varargs"] {
				mcs.VarArgsName = "varargs"
			}
			if mcs.KwArgsName == "" && refs["kwargs"] {
				mcs.KwArgsName = "kwargs"
			}
		}
		ms := &macroStmt{inner: ecs, name: name}
		if l, ok := p.Loader.(*fileLoader); ok {
			ms.file, ms.src = l.name, l.src
		}
		return ms, nil
	}
}
