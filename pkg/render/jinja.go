package render

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/parser"

	"github.com/brine-cm/brine/pkg/execmod"
)

// maxDepth bounds nested includes, imports and macro calls: a template
// that includes itself must fail with an error, not exhaust the stack.
const maxDepth = 64

// stateKey is the context variable through which control structures and
// filters reach the per-render state. A template could name it, but the
// state has no exported fields or methods, so there is nothing to read or
// call through it.
const stateKey = "__brine_render_state__"

var (
	envOnce sync.Once
	baseEnv *exec.Environment
	baseCfg *config.Config
)

// environment returns the shared, read-only parts of the Jinja
// environment: filters, tests, control structures, methods and globals.
func environment() (*exec.Environment, *config.Config) {
	envOnce.Do(func() {
		cfg := config.New()
		// Salt's defaults: trim_blocks and lstrip_blocks off, and the
		// final newline of the source kept.
		cfg.TrimBlocks = false
		cfg.LeftStripBlocks = false
		cfg.KeepTrailingNewline = true
		cfg.StrictUndefined = false
		cfg.AutoEscape = false
		baseCfg = cfg

		filters := exec.NewFilterSet(map[string]exec.FilterFunction{}).Update(builtins.Filters)
		for name, fn := range pymodFilters() {
			filters.Update(exec.NewFilterSet(map[string]exec.FilterFunction{name: fn}))
		}
		for name, fn := range guardedFilters() {
			filters.Update(exec.NewFilterSet(map[string]exec.FilterFunction{name: fn}))
		}
		for name, fn := range saltFilters() {
			filters.Update(exec.NewFilterSet(map[string]exec.FilterFunction{name: fn}))
		}
		propagateErrors(filters)
		tests := exec.NewTestSet(map[string]exec.TestFunction{}).Update(builtins.Tests)
		tests.Update(exec.NewTestSet(saltTests()))
		all := map[string]parser.ControlStructureParser{}
		for _, name := range []string{"autoescape", "block", "extends", "filter", "for", "if", "raw",
			"with", "do", "break", "continue", "trans", "call"} {
			if p, ok := builtins.ControlStructures.Get(name); ok {
				all[name] = p
			}
		}
		for name, p := range saltControlStructures() {
			all[name] = p
		}
		for name, p := range all {
			all[name] = positioned(p)
		}
		cs := exec.NewControlStructureSet(all)
		globals := exec.EmptyContext().Update(builtins.GlobalFunctions).Update(builtins.GlobalVariables)
		globals.Update(exec.NewContext(saltGlobals()))
		baseEnv = &exec.Environment{
			Filters:           filters,
			Tests:             tests,
			ControlStructures: cs,
			Context:           globals,
			Methods:           newMethods(),
		}
	})
	return baseEnv, baseCfg
}

// filterNames lists every filter the environment registers (gonja's and
// this package's); FilterSet cannot enumerate itself.
var gonjaFilterNames = []string{"abs", "attr", "batch", "capitalize", "center", "default", "d", "dictsort",
	"e", "escape", "filesizeformat", "first", "float", "forceescape", "format", "groupby", "indent", "int",
	"join", "items", "last", "length", "count", "list", "lower", "map", "max", "min", "pprint", "random",
	"rejectattr", "reject", "replace", "reverse", "round", "safe", "selectattr", "select", "slice", "sort",
	"string", "striptags", "sum", "title", "tojson", "trim", "truncate", "unique", "upper", "urlencode",
	"urlize", "wordcount", "wordwrap", "xmlattr"}

// propagateErrors makes every filter pass a failed value through
// unchanged: gonja hands a filter the error of a failed expression (a
// macro whose body failed, piped into load_yaml) as if it were a value,
// and most filters would turn it into an empty string, hiding the failure.
func propagateErrors(fs *exec.FilterSet) {
	names := append([]string(nil), gonjaFilterNames...)
	for name := range saltFilters() {
		names = append(names, name)
	}
	for name := range pymodFilters() {
		names = append(names, name)
	}
	for _, name := range names {
		inner, ok := fs.Get(name)
		if !ok {
			continue
		}
		_ = fs.Replace(name, func(e *exec.Evaluator, in *exec.Value, va *exec.VarArgs) *exec.Value {
			if in.IsError() {
				return in
			}
			return inner(e, in, va)
		})
	}
}

// positioned makes a statement's parse errors carry the statement's
// line: gonja reports an error without position when the statement's
// arguments end early ("{% if %}").
func positioned(inner parser.ControlStructureParser) parser.ControlStructureParser {
	return func(p *parser.Parser, args *parser.Parser) (nodes.ControlStructure, error) {
		loc := args.Current()
		if loc == nil || loc.Line < 1 {
			loc = p.Current()
		}
		cs, err := inner(p, args)
		if err != nil {
			var se *parser.SyntaxError
			if !errors.As(err, &se) || se.Line < 1 {
				line := 0
				if loc != nil {
					line = loc.Line
				}
				return nil, &parser.SyntaxError{Message: err.Error(), Line: line}
			}
		}
		return cs, err
	}
}

// renderState is everything one render shares across its templates,
// imports and filters.
type renderState struct {
	ec   *execmod.Context
	base *exec.Context // globals and Salt variables, without any template's own names

	depth int

	// cause is the latest error raised below the template engine (a
	// failing or unknown salt function, a bad file); needle is text that
	// locates it on the source line. A cause (or inner) is only used when
	// its message is part of the failure being reported: an error a
	// template swallowed ("is defined" on a failed lookup) must not be
	// blamed for a later, unrelated one.
	cause  error
	needle string
	// inner is an error already positioned in another file (an import).
	inner *Error

	lastMod any // see pymod.go
}

func (st *renderState) fail(err error, needle string) error {
	st.cause, st.needle = err, needle
	return err
}

// partOf reports whether cause is (part of) the failure err. gonja
// rewords some failures (a failed salt[...] lookup surfaces as "... is
// not callable"), so a failure naming the cause's function also counts.
func partOf(cause, err error) bool {
	if cause == nil || err == nil {
		return false
	}
	msg := err.Error()
	if strings.Contains(msg, cause.Error()) {
		return true
	}
	var uf *unknownFunc
	return errors.As(cause, &uf) && strings.Contains(msg, "'"+uf.name+"'")
}

// unknownFunc is a salt[...] lookup of a function the registry lacks.
type unknownFunc struct{ name string }

func (e *unknownFunc) Error() string {
	return fmt.Sprintf("salt function %q is not available", e.name)
}

func (e *unknownFunc) Unwrap() error { return execmod.ErrUnknownFunction }

// setInner records e as the positioned failure unless the one already
// recorded is part of the same failure (and so more precise).
func (st *renderState) setInner(e *Error, err error) {
	if st.inner == nil || !partOf(st.inner.Err, err) {
		st.inner = e
	}
}

func stateOf(ctx *exec.Context) *renderState {
	v, _ := ctx.Get(stateKey)
	st, _ := v.(*renderState)
	return st
}

// fileLoader serves templates from the file roots through ec.Files; one
// loader per template so relative names resolve against that template.
type fileLoader struct {
	st   *renderState
	name string
	src  []byte
}

func (l *fileLoader) Read(p string) (io.Reader, error) {
	if p == l.name && l.src != nil {
		return bytes.NewReader(l.src), nil
	}
	resolved, err := l.Resolve(p)
	if err != nil {
		return nil, err
	}
	b, err := l.st.readFile(resolved)
	if err != nil {
		return nil, err
	}
	return bytes.NewReader(trimFinalNewline(b)), nil
}

// trimFinalNewline drops one trailing newline. Salt keeps only the
// rendered SLS's own final newline; an included or parent template loses
// it, as under Jinja's default keep_trailing_newline=False.
func trimFinalNewline(b []byte) []byte {
	if bytes.HasSuffix(b, []byte("\r\n")) {
		return b[:len(b)-2]
	}
	return bytes.TrimSuffix(b, []byte("\n"))
}

func (l *fileLoader) Resolve(p string) (string, error) {
	if p == l.name {
		return p, nil
	}
	return resolveName(l.name, p)
}

func (l *fileLoader) Inherit(from string) (loaders.Loader, error) {
	return &fileLoader{st: l.st, name: from}, nil
}

// resolveName turns a template reference into a path relative to the
// file roots: "./x" and "../x" are relative to the referencing template's
// directory (as Salt resolves them), anything else to the roots.
func resolveName(current, ref string) (string, error) {
	ref = strings.TrimPrefix(ref, "salt://")
	if strings.ContainsRune(ref, 0) {
		return "", fmt.Errorf("template name %q contains NUL", ref)
	}
	p := ref
	if strings.HasPrefix(ref, "./") || strings.HasPrefix(ref, "../") {
		p = path.Join(path.Dir(current), ref)
		if p == ".." || strings.HasPrefix(p, "../") {
			return "", fmt.Errorf("template name %q escapes the file roots", ref)
		}
	}
	p = strings.TrimPrefix(path.Clean("/"+p), "/")
	if p == "" {
		return "", fmt.Errorf("empty template name %q", ref)
	}
	return p, nil
}

func (st *renderState) readFile(name string) ([]byte, error) {
	if st.ec == nil || st.ec.Files == nil {
		return nil, fmt.Errorf("read %q: no file client", name)
	}
	b, err := st.ec.Files.Read(st.ec.Context(), "salt://"+name)
	if err != nil {
		return nil, fmt.Errorf("read %q: %w", name, err)
	}
	return b, nil
}

// parse compiles one template, turning gonja's syntax errors (and any
// panic inside gonja) into *Error for that file.
func (st *renderState) parse(name string, src []byte) (tpl *exec.Template, err error) {
	env, cfg := environment()
	defer func() {
		if r := recover(); r != nil {
			tpl = nil
			err = &Error{File: name, Line: 1, Col: 1, Text: lineOf(string(src), 1),
				Err: newPanicError("template engine failure", r)}
		}
	}()
	tpl, err = exec.NewTemplate(name, cfg, &fileLoader{st: st, name: name, src: dropTrailingCommas(src)}, env)
	if err != nil {
		return nil, syntaxError(name, string(src), err)
	}
	rewriteModulo(tpl.Root())
	return tpl, nil
}

// execute runs a parsed template with ctx as its variables.
func (st *renderState) execute(name string, src []byte, tpl *exec.Template, ctx *exec.Context, out io.Writer) (err error) {
	env, cfg := environment()
	st.depth++
	defer func() { st.depth-- }()
	if st.depth > maxDepth {
		return st.fail(fmt.Errorf("templates nested more than %d deep", maxDepth), "")
	}
	defer func() {
		if r := recover(); r != nil {
			err = st.fail(newPanicError("template engine failure", r), "")
		}
	}()
	r := exec.NewRenderer(&exec.Environment{
		Filters:           env.Filters,
		Tests:             env.Tests,
		ControlStructures: env.ControlStructures,
		Methods:           env.Methods,
		Context:           ctx,
	}, out, cfg, &fileLoader{st: st, name: name, src: src}, tpl)
	return r.Execute()
}

// renderFile renders another template from the file roots (import,
// include, import_yaml) with ctx and returns its output. Failures are
// positioned in that file.
func (st *renderState) renderFile(name string, ctx *exec.Context) (string, error) {
	src, err := st.readFile(name)
	if err != nil {
		return "", st.fail(err, path.Base(name))
	}
	var out strings.Builder
	if err := st.renderInto(name, src, ctx, &out); err != nil {
		return "", err
	}
	return out.String(), nil
}

// renderInto renders src as template name into out, recording a
// positioned error for that file on failure.
func (st *renderState) renderInto(name string, src []byte, ctx *exec.Context, out io.Writer) error {
	tpl, err := st.parse(name, src)
	if err != nil {
		var pe *Error
		if errors.As(err, &pe) {
			st.setInner(pe, err)
		}
		return err
	}
	outer, outerNeedle := st.cause, st.needle
	if err := st.execute(name, src, tpl, ctx, out); err != nil {
		if st.inner == nil || !partOf(st.inner.Err, err) {
			st.inner = st.position(name, string(src), err)
		}
		return err
	}
	st.cause, st.needle = outer, outerNeedle
	return nil
}

var atLine = regexp.MustCompile(`at line (\d+)`)

// position builds the *Error for a runtime failure of template name.
func (st *renderState) position(name, src string, err error) *Error {
	line := 0
	if ms := atLine.FindAllStringSubmatch(err.Error(), -1); len(ms) > 0 {
		line, _ = strconv.Atoi(ms[len(ms)-1][1])
	}
	nlines := strings.Count(src, "\n") + 1
	if line < 1 || line > nlines {
		line = 1
	}
	text := lineOf(src, line)
	cause, needle := st.cause, st.needle
	if !partOf(cause, err) {
		cause, needle = st.explain(err)
	}
	col := 0
	if needle != "" {
		col = strings.Index(text, needle) + 1
	}
	if col <= 0 {
		col = firstTag(text)
	}
	return &Error{File: name, Line: line, Col: col, Text: text, Err: cause}
}

// cleanGonja drops gonja's "unable to execute template:" style prefixes
// that say nothing to an SLS author, keeping the innermost message.
var (
	reEvalExpr = regexp.MustCompile(`Unable to evaluate ([^:]+): Can't use (?:Getitem|getattr) on None`)
	reNotFound = regexp.MustCompile(`(filter|test) '([^']+)' not found`)
)

func (st *renderState) explain(err error) (error, string) {
	msg := err.Error()
	if ms := reEvalExpr.FindAllStringSubmatch(msg, -1); len(ms) > 0 {
		expr := strings.TrimSpace(ms[len(ms)-1][1])
		obj, attr := expr, ""
		if i := strings.LastIndexAny(expr, ".["); i > 0 {
			obj, attr = expr[:i], strings.Trim(expr[i:], ".[]'\"")
		}
		return &jinjaError{msg: fmt.Sprintf("%q is undefined (looking up %q in %s)", obj, attr, expr), full: err}, expr
	}
	if m := reNotFound.FindStringSubmatch(msg); m != nil {
		return &jinjaError{msg: fmt.Sprintf("no %s named %q", m[1], m[2]), full: err}, m[2]
	}
	return cleanGonja(err), ""
}

func cleanGonja(err error) error {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && strings.Contains(msg, "Unable to") {
		inner := msg[i+2:]
		if inner != "" {
			return &jinjaError{msg: inner, full: err}
		}
	}
	return err
}

type jinjaError struct {
	msg  string
	full error
}

func (e *jinjaError) Error() string { return e.msg }
func (e *jinjaError) Unwrap() error { return e.full }

func firstTag(text string) int {
	for _, tag := range []string{"{{", "{%"} {
		if i := strings.Index(text, tag); i >= 0 {
			return i + 1
		}
	}
	return len(text) - len(strings.TrimLeft(text, " \t")) + 1
}

func syntaxError(name, src string, err error) *Error {
	var se *parser.SyntaxError
	if errors.As(err, &se) {
		line := se.Line
		if line < 1 {
			line = 1
		}
		line, clamped := lastContentLine(src, line)
		text := lineOf(src, line)
		col := se.Column
		if clamped {
			col = 0
		}
		if col < 1 {
			col = firstTag(text)
		}
		return &Error{File: name, Line: line, Col: col, Text: text,
			Err: fmt.Errorf("jinja syntax error: %s", se.Message)}
	}
	msg := err.Error()
	// gonja quotes the whole source in its parse failure; keep the reason.
	if i := strings.Index(msg, "': "); strings.HasPrefix(msg, "failed to parse template") && i >= 0 {
		msg = msg[i+3:]
	}
	line := 1
	if m := regexp.MustCompile(`[Ll]ine:? (\d+)`).FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
	}
	if n := strings.Count(src, "\n") + 1; line > n {
		line = n
	}
	text := lineOf(src, line)
	return &Error{File: name, Line: line, Col: firstTag(text), Text: text,
		Err: fmt.Errorf("jinja syntax error: %s", msg)}
}

// lastContentLine moves a position past the end of the source (an
// "unexpected end of template") back to the last line with content.
func lastContentLine(src string, line int) (int, bool) {
	clamped := false
	for line > 1 && strings.TrimSpace(lineOf(src, line)) == "" {
		line--
		clamped = true
	}
	return line, clamped
}

func lineOf(src string, line int) string {
	if line < 1 {
		return ""
	}
	for i := 1; i < line; i++ {
		j := strings.IndexByte(src, '\n')
		if j < 0 {
			return ""
		}
		src = src[j+1:]
	}
	if j := strings.IndexByte(src, '\n'); j >= 0 {
		src = src[:j]
	}
	return strings.TrimRight(src, "\r")
}

// saltLoader is the `salt` variable: salt['mod.fn'](...) and
// salt.mod.fn(...) both dispatch through the execution module registry.
type saltLoader struct{ st *renderState }

func (s *saltLoader) GetItem(key any) (*exec.Value, bool) {
	name, ok := key.(string)
	if !ok {
		return exec.AsValue(fmt.Errorf("salt function name must be a string, not %v", key)), false
	}
	return s.lookup(name)
}

func (s *saltLoader) GetAttribute(mod string) (*exec.Value, bool) {
	return exec.AsValue(&saltModule{st: s.st, mod: mod}), true
}

func (s *saltLoader) String() string { return "<salt loader>" }

func (s *saltLoader) lookup(name string) (*exec.Value, bool) {
	st := s.st
	var reg *execmod.Registry
	if st.ec != nil {
		reg = st.ec.Registry
	}
	if reg == nil {
		return exec.AsValue(st.fail(&unknownFunc{name: name}, name)), false
	}
	if _, ok := reg.Lookup(name); !ok {
		return exec.AsValue(st.fail(&unknownFunc{name: name}, name)), false
	}
	fn := func(va *exec.VarArgs) (any, error) {
		args := make([]any, len(va.Args))
		for i, a := range va.Args {
			args[i] = toGo(a.Interface())
		}
		kwargs := make(map[string]any, len(va.KwArgs))
		for k, v := range va.KwArgs {
			kwargs[k] = toGo(v.Interface())
		}
		out, err := st.ec.Call(name, args, kwargs)
		if err != nil {
			return nil, st.fail(fmt.Errorf("salt[%q]: %w", name, err), name)
		}
		return toJinja(out), nil
	}
	return exec.AsValue(fn), true
}

type saltModule struct {
	st  *renderState
	mod string
}

func (m *saltModule) GetAttribute(fn string) (*exec.Value, bool) {
	return (&saltLoader{st: m.st}).lookup(m.mod + "." + fn)
}

func (m *saltModule) String() string { return "<salt module " + m.mod + ">" }

// templateModule is what `{% import "x" as m %}` binds: the imported
// template's top-level names.
type templateModule struct {
	name string
	ctx  *exec.Context
}

func (m *templateModule) GetAttribute(name string) (*exec.Value, bool) {
	v, ok := m.ctx.Get(name)
	if !ok {
		return exec.AsValue(nil), false
	}
	return exec.ToValue(v), true
}

func (m *templateModule) GetItem(key any) (*exec.Value, bool) {
	if s, ok := key.(string); ok {
		return m.GetAttribute(s)
	}
	return exec.AsValue(nil), false
}

func (m *templateModule) String() string { return "<template module " + m.name + ">" }
