package states

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/brine-cm/brine/pkg/execmod"
)

// Cmd is Salt's cmd state module: run commands and scripts as states,
// either every time (cmd.run with guards) or only when a watched state
// changed (cmd.wait and mod_watch). Commands run through the cmd.run_all
// execution module, as Salt's states call __salt__.
func Cmd() *Module {
	runArgs := []string{"cwd", "root", "runas", "shell", "env", "prepend_path", "stateful",
		"umask", "output_loglevel", "hide_output", "timeout", "ignore_timeout", "use_vt",
		"success_retcodes", "success_stdout", "success_stderr", "creates", "password",
		"python_shell", "clean_env", "reset_system_locale", "output_encoding", "stdin", "group"}
	scriptArgs := append([]string{"source", "args", "template", "defaults", "context", "saltenv"}, runArgs...)
	return &Module{
		Name: "cmd",
		Funcs: map[string]Func{
			"run":         cmdRun,
			"wait":        cmdWait,
			"script":      cmdScript,
			"wait_script": cmdWait,
		},
		ModWatch: cmdModWatch,
		Args: map[string][]string{
			"run":         runArgs,
			"wait":        runArgs,
			"script":      scriptArgs,
			"wait_script": scriptArgs,
		},
	}
}

// cmdKwargs builds the keyword arguments passed on to cmd.run_all,
// checking the types of those the state itself interprets.
func cmdKwargs(a *modArgs) (map[string]any, string) {
	kw := map[string]any{"python_shell": true}
	if v, ok := a.m["env"]; ok && v != nil {
		switch v.(type) {
		case []any, map[string]any:
			kw["env"] = a.mapList("env")
		default:
			return nil, "Invalidly-formatted 'env' parameter. See documentation."
		}
	}
	for _, k := range []string{"cwd", "runas", "group", "shell", "stdin", "output_loglevel", "prepend_path", "umask", "password", "output_encoding"} {
		if a.has(k) {
			kw[k] = a.str(k, "")
		}
	}
	for _, k := range []string{"hide_output", "use_vt", "clean_env", "reset_system_locale"} {
		if a.has(k) {
			kw[k] = a.boolean(k, false)
		}
	}
	if a.has("timeout") {
		kw["timeout"] = a.float("timeout", 0)
	}
	if a.has("success_retcodes") {
		codes := successCodes(a)
		l := make([]any, len(codes))
		for i, c := range codes {
			l[i] = c
		}
		kw["success_retcodes"] = l
	}
	for _, k := range []string{"success_stdout", "success_stderr"} {
		if a.has(k) {
			kw[k] = a.strList(k)
		}
	}
	return kw, ""
}

// successCodes reads success_retcodes: an int or a list of ints.
func successCodes(a *modArgs) []int {
	v, ok := a.m["success_retcodes"]
	if !ok || v == nil {
		return nil
	}
	items, err := execmod.List(a.m, "success_retcodes")
	if err != nil {
		a.fail(err)
		return nil
	}
	var out []int
	for _, e := range items {
		i, ok := execmod.ToInt(e)
		if !ok {
			a.fail(&execmod.ArgError{Arg: "success_retcodes", Want: "an integer or a list of integers", Got: v})
			return nil
		}
		out = append(out, i)
	}
	return out
}

// statefulTestName returns Salt's stateful: [{test_name: ...}] command
// and whether stateful is on.
func statefulMode(a *modArgs) (bool, string) {
	v, ok := a.m["stateful"]
	if !ok || v == nil {
		return false, ""
	}
	if l, ok := v.([]any); ok {
		for _, e := range l {
			if m, ok := e.(map[string]any); ok {
				if s, ok := m["test_name"].(string); ok {
					return true, s
				}
			}
		}
		return true, ""
	}
	return a.boolean("stateful", false), ""
}

func toMap(v any) map[string]any {
	if m, ok := v.(map[string]any); ok {
		return m
	}
	return map[string]any{"stdout": fmt.Sprint(v)}
}

func retcodeOf(m map[string]any) int {
	if i, ok := execmod.ToInt(m["retcode"]); ok {
		return i
	}
	return 0
}

// runCommand executes through cmd.run_all and shapes Salt's result.
func runCommand(r *Request, fn, name, cmdline string, quote string) Result {
	out := newOutcome(name)
	a := newModArgs(fn, r)
	stateful, testName := statefulMode(a)
	kw, bad := cmdKwargs(a)
	codes := successCodes(a)
	ignoreTimeout := a.boolean("ignore_timeout", false)
	if a.err != nil {
		return argFail(name, a.err)
	}
	if bad != "" {
		return out.failed(bad)
	}
	test := r.Test()
	if test && testName != "" {
		cmdline = testName
	}
	if test && testName == "" {
		out.changes["cmd"] = cmdline
		res := out.pending(fmt.Sprintf("Command %s%s%s would have been executed", quote, name, quote))
		return res
	}
	if cwd, ok := kw["cwd"].(string); ok && cwd != "" {
		if fi, err := os.Stat(cwd); err != nil || !fi.IsDir() {
			return out.failed(fmt.Sprintf("Desired working directory \"%s\" is not available", cwd))
		}
	}
	kw["cmd"] = cmdline
	raw, err := r.Exec.Call("cmd.run_all", nil, kw)
	if err != nil {
		return out.failed(err.Error())
	}
	all := toMap(raw)
	rc := retcodeOf(all)
	for _, c := range codes {
		if rc == c {
			rc = 0
			all["retcode"] = 0
		}
	}
	if ignoreTimeout && rc == 1 && strings.Contains(fmt.Sprint(all["stdout"]), "Timed out after") {
		rc = 0
		all["retcode"] = 0
	}
	r.Exec.Record("cmd.run", map[string]any{"cmd": cmdline, "retcode": rc})
	out.changes = all
	out.result = boolPtrOf(rc == 0)
	out.comment = []string{fmt.Sprintf("Command %s%s%s run", quote, name, quote)}
	res := out.done()
	if stateful {
		res = reinterpret(res, all)
	}
	if test && rc == 0 && len(res.Changes) > 0 {
		res.Result = nil
	}
	return res
}

func boolPtrOf(b bool) *bool { return &b }

// reinterpret applies Salt's stateful protocol: the command's last line of
// output (or its whole output as a JSON object) says whether it changed
// anything and what to report.
func reinterpret(res Result, all map[string]any) Result {
	res.Changes = map[string]any{}
	res.Comment = ""
	stdout, _ := all["stdout"].(string)
	if stdout == "" {
		if s, _ := all["stderr"].(string); s != "" {
			res.Comment = s
		}
		return res
	}
	data := map[string]any{}
	isJSON := false
	idx := -1
	var parsed any
	if err := json.Unmarshal([]byte(stdout), &parsed); err == nil {
		m, ok := parsed.(map[string]any)
		if !ok {
			res.Result = boolPtrOf(false)
			res.Comment = "script JSON output must be a JSON object (e.g., {})!"
			return res
		}
		data, isJSON = m, true
	} else {
		last := stdout
		idx = strings.LastIndex(strings.TrimRight(stdout, "\n"), "\n")
		if idx != -1 {
			last = stdout[idx+1:]
		}
		fields, ok := shellSplit(last)
		if ok {
			for _, f := range fields {
				k, v, found := strings.Cut(f, "=")
				if !found || strings.Contains(v, "=") {
					ok = false
					break
				}
				data[k] = v
			}
		}
		if !ok {
			res.Result = boolPtrOf(false)
			res.Comment = "Failed parsing script output! Stdout must be JSON or a line of name=value pairs."
			for k, v := range all {
				res.Changes[k] = v
			}
			return res
		}
	}
	changed := false
	switch c := data["changed"].(type) {
	case bool:
		changed = c
	case string:
		changed, _ = execmod.ToBool(c)
	}
	if c, ok := data["comment"]; ok {
		res.Comment = fmt.Sprint(c)
		delete(data, "comment")
	}
	if changed {
		for k, v := range all {
			if _, ok := data[k]; !ok {
				data[k] = v
			}
		}
		switch {
		case isJSON:
			data["stdout"] = ""
		case idx >= 0:
			data["stdout"] = stdout[:idx]
		default:
			data["stdout"] = ""
		}
		res.Changes = data
	}
	return res
}

// shellSplit splits a line the way Python's shlex.split does for the
// simple key=value lines the stateful protocol uses.
func shellSplit(s string) ([]string, bool) {
	var out []string
	var cur strings.Builder
	inTok := false
	var quote rune
	esc := false
	for _, c := range s {
		switch {
		case esc:
			cur.WriteRune(c)
			esc = false
		case quote != 0:
			if c == quote {
				quote = 0
			} else if c == '\\' && quote == '"' {
				esc = true
			} else {
				cur.WriteRune(c)
			}
		case c == '\\':
			esc, inTok = true, true
		case c == '"' || c == '\'':
			quote, inTok = c, true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inTok {
				out = append(out, cur.String())
				cur.Reset()
				inTok = false
			}
		default:
			cur.WriteRune(c)
			inTok = true
		}
	}
	if quote != 0 || esc {
		return nil, false
	}
	if inTok {
		out = append(out, cur.String())
	}
	return out, true
}

func cmdRun(r *Request) Result {
	return runCommand(r, "cmd.run", r.Name, r.Name, `"`)
}

// cmdWait does nothing by itself: it runs only as mod_watch when a
// watched state reports changes.
func cmdWait(r *Request) Result {
	return newOutcome(r.Name).ok("")
}

// cmdScript fetches a script (salt://, a local path or file://), renders
// it when template is set, and runs it with args.
func cmdScript(r *Request) Result {
	name := r.Name
	out := newOutcome(name)
	a := newModArgs("cmd.script", r)
	source := a.str("source", "")
	if source == "" {
		source = name
	}
	args := a.str("args", "")
	engine := a.str("template", "")
	vars := templateVars(a.mapping("defaults"), a.mapping("context"))
	if a.err != nil {
		return argFail(name, a.err)
	}
	if r.Test() {
		if _, testName := statefulMode(a); testName == "" {
			out.changes["cmd"] = name
			return out.pending(fmt.Sprintf("Command '%s' would have been executed", name))
		}
		return runCommand(r, "cmd.script", name, name, "'")
	}
	env := "base"
	if r.Exec != nil && r.Exec.Saltenv != "" {
		env = r.Exec.Saltenv
	}
	src, found, err := fetchSource(r.Exec, source)
	if err != nil || !found {
		return out.failed(fmt.Sprintf("Unable to cache script %s from saltenv '%s'", source, env))
	}
	data, err := renderTemplate(r.Exec, engine, src.rel, src.data, vars)
	if err != nil {
		return out.failed(fmt.Sprintf("Unable to render script %s: %v", source, err))
	}
	dir := ""
	if r.Exec != nil && r.Exec.Opts != nil {
		if c, ok := r.Exec.Opts["cachedir"].(string); ok && c != "" {
			dir = filepath.Join(c, "extmods", "scripts")
			_ = os.MkdirAll(dir, 0o700)
		}
	}
	f, err := os.CreateTemp(dir, "brine-script-*"+filepath.Ext(src.rel))
	if err != nil {
		return out.failed(fmt.Sprintf("Unable to write script: %v", err))
	}
	defer os.Remove(f.Name())
	_, werr := f.Write(data)
	cerr := f.Close()
	if werr != nil || cerr != nil {
		return out.failed(fmt.Sprintf("Unable to write script %s", f.Name()))
	}
	if err := os.Chmod(f.Name(), 0o755); err != nil {
		return out.failed(err.Error())
	}
	if runas, ok := a.m["runas"].(string); ok && runas != "" {
		if uid, err := lookupUser(runas); err == nil {
			_ = os.Chown(f.Name(), uid, -1)
		}
	}
	cmdline := f.Name()
	if args != "" {
		cmdline += " " + args
	}
	res := runCommand(r, "cmd.script", name, cmdline, "'")
	return res
}

// cmdModWatch runs the command when a watched state changed. The
// original function comes from Args["sfun"] when the engine passes it
// (as Salt does); otherwise a state with a source is taken to be a script.
func cmdModWatch(r *Request) Result {
	sfun, _ := r.Args["sfun"].(string)
	if sfun == "" {
		if _, ok := r.Args["source"]; ok {
			sfun = "script"
		} else {
			sfun = "run"
		}
	}
	switch sfun {
	case "wait", "run", "watch":
		return cmdRun(r)
	case "wait_script", "script":
		return cmdScript(r)
	}
	return newOutcome(r.Name).failed(fmt.Sprintf("cmd.%s does not work with the watch requisite, please use cmd.wait or cmd.wait_script", sfun))
}
