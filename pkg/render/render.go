// Package render turns SLS files and templates into data the way Salt
// does: Jinja (with Salt's variables, tags and filters) and then YAML with
// PyYAML's scalar rules, so an existing Salt state tree renders unchanged.
// Every failure is an *Error that names the file, line and column.
package render

import (
	"errors"
	"fmt"
	"path"
	"runtime/debug"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/brine-cm/brine/pkg/execmod"
)

// Error is every render and parse failure, positioned so an operator can
// jump straight to the offending line of the offending file.
type Error struct {
	File      string
	Line, Col int
	// Text is the offending source line (for YAML errors, the rendered line).
	Text string
	Err  error
}

// Error prints "file:line:col: message" and, on the next line, the
// offending text, the shape editors and CI logs recognise.
func (e *Error) Error() string {
	msg := "render failed"
	if e.Err != nil {
		msg = e.Err.Error()
	}
	s := fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, msg)
	if e.Text != "" {
		s += "\n    " + e.Text
	}
	return s
}

// panicError is a panic inside the template engine or YAML parser,
// turned into an error at the package boundary; the stack is kept so
// tests can tell gonja's or yaml.v3's panics from this package's.
type panicError struct {
	what  string
	value any
	stack []byte
}

func newPanicError(what string, v any) error {
	return &panicError{what: what, value: v, stack: debug.Stack()}
}

func (e *panicError) Error() string { return fmt.Sprintf("%s: %v", e.what, e.value) }

// Unwrap exposes the cause (for errors.Is on execmod.ErrUnknownFunction).
func (e *Error) Unwrap() error { return e.Err }

// Jinja renders one Jinja template. name is the file's path relative to
// the file roots ("nginx/files/nginx.conf"), used in errors, for tpldir
// and for relative imports. vars are extra context merged over the
// defaults (grains, pillar, opts, salt, saltenv).
func Jinja(ec *execmod.Context, name string, src []byte, vars map[string]any) (out string, err error) {
	defer func() {
		if r := recover(); r != nil {
			out = ""
			err = &Error{File: name, Line: 1, Col: 1, Text: lineOf(string(src), 1),
				Err: newPanicError("template engine failure", r)}
		}
	}()
	st := &renderState{ec: ec}
	env, _ := environment()
	base := env.Context.Inherit()
	for k, v := range defaultVars(ec, name) {
		base.Set(k, v)
	}
	for k, v := range vars {
		base.Set(k, toJinja(v))
	}
	base.Set("salt", &saltLoader{st: st})
	base.Set(stateKey, st)
	st.base = base

	var b strings.Builder
	if rerr := st.renderInto(name, src, base.Inherit(), &b); rerr != nil {
		if st.inner != nil && (st.inner.Err == nil || partOf(st.inner.Err, rerr)) {
			return "", st.inner
		}
		var pe *Error
		if errors.As(rerr, &pe) {
			return "", pe
		}
		return "", st.position(name, string(src), rerr)
	}
	return b.String(), nil
}

func defaultVars(ec *execmod.Context, name string) map[string]any {
	saltenv := "base"
	var grains, pillar, opts map[string]any
	if ec != nil {
		if ec.Saltenv != "" {
			saltenv = ec.Saltenv
		}
		grains, pillar, opts = ec.Grains, ec.Pillar, ec.Opts
	}
	nz := func(m map[string]any) any {
		if m == nil {
			return map[string]any{}
		}
		return toJinja(m)
	}
	tpldir := path.Dir(name)
	if tpldir == "." {
		tpldir = ""
	}
	return map[string]any{
		"grains":  nz(grains),
		"pillar":  nz(pillar),
		"opts":    nz(opts),
		"saltenv": saltenv,
		"env":     saltenv,
		"tplpath": name,
		"tplfile": name,
		"tpldir":  tpldir,
		"tpldot":  strings.ReplaceAll(tpldir, "/", "."),
	}
}

// SLS renders an SLS file: its renderer pipeline (default jinja|yaml,
// honours "#!yaml", "#!jinja|yaml" shebangs), then parses YAML keeping
// positions. sls is the dotted name ("nginx.conf"), name the path
// ("nginx/conf.sls"). Empty output -> (nil, nil). The returned node is the
// document's root (usually a mapping), never the DocumentNode wrapper.
func SLS(ec *execmod.Context, sls, name string, src []byte) (*yaml.Node, error) {
	pipe, err := pipeline(name, string(src))
	if err != nil {
		return nil, err
	}
	text := string(src)
	slspath := path.Dir(name)
	if slspath == "." {
		slspath = ""
	}
	vars := map[string]any{
		"sls":          sls,
		"slspath":      slspath,
		"sls_path":     strings.ReplaceAll(slspath, "/", "_"),
		"slsdotpath":   strings.ReplaceAll(slspath, "/", "."),
		"slscolonpath": strings.ReplaceAll(slspath, "/", ":"),
	}
	var node *yaml.Node
	for _, stage := range pipe {
		switch stage {
		case "jinja":
			text, err = Jinja(ec, name, []byte(text), vars)
			if err != nil {
				return nil, err
			}
		case "yaml", "yamlex", "json":
			node, err = parseYAML(name, text)
			if err != nil {
				return nil, err
			}
		}
	}
	return node, nil
}

// oldStyleRenderers are Salt's legacy single-word shebangs.
var oldStyleRenderers = map[string]string{
	"yaml_jinja": "jinja|yaml", "json_jinja": "jinja|json", "yamlex_jinja": "jinja|yamlex",
}

// pipeline reads the "#!" first line (Salt's renderer selection): renderer
// names separated by "|", spaces allowed around them and arguments after
// a name ignored; a "#!/path" interpreter line is no selection at all.
func pipeline(name, src string) ([]string, error) {
	if !strings.HasPrefix(src, "#!") || strings.HasPrefix(src, "#!/") {
		return []string{"jinja", "yaml"}, nil
	}
	first := lineOf(src, 1)
	spec := strings.TrimSpace(strings.TrimPrefix(first, "#!"))
	if old, ok := oldStyleRenderers[spec]; ok {
		spec = old
	}
	var out []string
	for _, part := range strings.Split(spec, "|") {
		fields := strings.Fields(part)
		if len(fields) == 0 {
			return nil, &Error{File: name, Line: 1, Col: 3, Text: first, Err: errors.New("empty renderer in the pipeline")}
		}
		p := fields[0]
		switch p {
		case "jinja", "yaml", "yamlex", "json":
			out = append(out, p)
		default:
			return nil, &Error{File: name, Line: 1, Col: strings.Index(first, p) + 1, Text: first,
				Err: fmt.Errorf("renderer %q is not supported (supported: jinja, yaml, yamlex, json)", p)}
		}
	}
	if out[len(out)-1] == "jinja" {
		return nil, &Error{File: name, Line: 1, Col: 3, Text: first,
			Err: errors.New("the renderer pipeline ends in jinja, so the SLS would not render to a dictionary: end it with yaml or json")}
	}
	return out, nil
}
