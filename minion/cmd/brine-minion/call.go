package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"regexp"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"

	"gopkg.in/yaml.v3"

	"github.com/brine-cm/brine/pkg/config"
	"github.com/brine-cm/brine/pkg/execmod"
	"github.com/brine-cm/brine/pkg/fileclient"
	"github.com/brine-cm/brine/pkg/grains"
	"github.com/brine-cm/brine/pkg/output"
	"github.com/brine-cm/brine/pkg/render"
	"github.com/brine-cm/brine/states"
	"github.com/brine-cm/brine/states/highstate"
)

const callUsage = `usage: brine-minion call --local [--config FILE] [--file-root DIR] [--pillar-root DIR]
                         [--out json|yaml|highstate|nested|txt|raw] [--id ID] [--log-level L]
                         [--saltenv ENV] [--state-output full|terse|mixed|changes]
                         [--state-verbose True|False] [--retcode-passthrough] [--cpuprofile FILE]
                         FUNCTION [ARGS] [key=value ...]
Runs one execution function on this host, as salt-call does. With --local the
state tree and pillar are read from the local roots (masterless).
Exit status: 0 success, 1 failure (a state failed, or render/compile errors), 2 usage error.
With --retcode-passthrough, as salt-call: 2 when a state failed, 1 when the SLS
did not render or compile, and the command's own exit status for cmd.retcode,
cmd.script_retcode, cmd.run_all and cmd.script.
`

// callGCPercent is the garbage collector's target for a call, unless
// GOGC says otherwise. A call is one short process whose heap is mostly
// live until it exits (rendered states, then results): at the default 100
// the collector already runs while the SLS files are rendered, which took
// rendering the 390-state benchmark tree from 7 ms to 9 ms, for little
// memory back. 200 keeps that tree near 22 MB and a 3,000-file tree under
// 35 MB.
const callGCPercent = 200

// callFlags are salt-call's options that brine supports.
type callFlags struct {
	local       bool
	config      string
	fileRoots   []string
	pillarRoots []string
	out         string
	id          string
	logLevel    string
	saltenv     string
	stateOutput string
	stateVerb   string
	cpuProfile  string
	noColor     bool
	forceColor  bool
	passthrough bool
	positional  []string
	help        bool
}

// parseCallFlags accepts flags before and after the function name, as
// salt-call does, and both "--flag value" and "--flag=value".
func parseCallFlags(args []string) (*callFlags, error) {
	f := &callFlags{}
	valueFlags := map[string]*string{
		"config": &f.config, "c": &f.config, "out": &f.out, "output": &f.out,
		"id": &f.id, "log-level": &f.logLevel, "l": &f.logLevel, "saltenv": &f.saltenv,
		"state-output": &f.stateOutput, "state_output": &f.stateOutput,
		"state-verbose": &f.stateVerb, "state_verbose": &f.stateVerb,
		"cpuprofile": &f.cpuProfile,
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			f.positional = append(f.positional, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" || len(f.positional) > 0 && !strings.HasPrefix(a, "--") {
			f.positional = append(f.positional, a)
			continue
		}
		name := strings.TrimLeft(a, "-")
		val, hasVal := "", false
		if k, v, ok := strings.Cut(name, "="); ok {
			name, val, hasVal = k, v, true
		}
		takeValue := func() (string, error) {
			if hasVal {
				return val, nil
			}
			if i+1 >= len(args) {
				return "", fmt.Errorf("flag --%s needs a value", name)
			}
			i++
			return args[i], nil
		}
		switch name {
		case "h", "help":
			f.help = true
		case "local":
			f.local = true
		case "no-color":
			f.noColor = true
		case "force-color":
			f.forceColor = true
		case "retcode-passthrough":
			f.passthrough = true
		case "file-root", "file-roots":
			v, err := takeValue()
			if err != nil {
				return nil, err
			}
			f.fileRoots = append(f.fileRoots, splitList(v)...)
		case "pillar-root", "pillar-roots":
			v, err := takeValue()
			if err != nil {
				return nil, err
			}
			f.pillarRoots = append(f.pillarRoots, splitList(v)...)
		default:
			p, ok := valueFlags[name]
			if !ok {
				return nil, fmt.Errorf("unknown flag %s", a)
			}
			v, err := takeValue()
			if err != nil {
				return nil, err
			}
			*p = v
		}
	}
	return f, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// kwargRe is Salt's test for "name=value" on the command line: a name
// that is an identifier (dots and dashes allowed), then '=' not followed
// by another '='.
var kwargRe = regexp.MustCompile(`^([^\d\W][\w.-]*)=([^=].*|)$`)

// parseCallArgs splits command-line arguments into positional ones and
// key=value ones, each value read as YAML the way Salt's yamlify_arg does.
func parseCallArgs(raw []string) ([]any, map[string]any) {
	var args []any
	kwargs := map[string]any{}
	for _, a := range raw {
		if m := kwargRe.FindStringSubmatch(a); m != nil {
			kwargs[m[1]] = yamlifyArg(m[2])
			continue
		}
		args = append(args, yamlifyArg(a))
	}
	return args, kwargs
}

// yamlifyArg follows Salt's rules: whitespace, '#' comments and the YAML
// indicators '|' and '!' stay strings; mappings and sequences must be
// written in flow form ({...}, [...]) to be parsed; scalars take their
// YAML type (True -> bool, 10 -> int); anything unparsable stays a string.
func yamlifyArg(s string) any {
	if strings.TrimSpace(s) == "" || strings.Contains(s, "#") {
		return s
	}
	if s == "None" {
		return nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(s), &doc); err != nil || len(doc.Content) == 0 {
		return s
	}
	v, err := render.Decode(doc.Content[0])
	if err != nil {
		return s
	}
	switch x := v.(type) {
	case map[string]any:
		if !strings.HasPrefix(s, "{") {
			return s
		}
		return x
	case []any:
		if !strings.HasPrefix(s, "[") {
			return s
		}
		return x
	case nil:
		if s == "!" || s == "|" {
			return s
		}
		return nil
	case string:
		if x == "" && (s == "|" || s == "!") {
			return s
		}
		return x
	case bool, int, int64, float64:
		return x
	}
	return s
}

func runCall(args []string, stdout, stderr io.Writer) int {
	f, err := parseCallFlags(args)
	if err != nil {
		fmt.Fprintf(stderr, "brine-minion call: %v\n%s", err, callUsage)
		return 2
	}
	if f.help {
		fmt.Fprint(stdout, callUsage)
		return 0
	}
	if f.cpuProfile != "" {
		pf, err := os.Create(f.cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "brine-minion call: %v\n", err)
			return 2
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			fmt.Fprintf(stderr, "brine-minion call: %v\n", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	if len(f.positional) == 0 {
		fmt.Fprintf(stderr, "brine-minion call: no function given\n%s", callUsage)
		return 2
	}
	if !f.local {
		fmt.Fprintln(stderr, "brine-minion call: only --local (masterless) calls are supported; use brine-master run for remote jobs")
		return 2
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(callGCPercent)
	}
	if f.out != "" && !validFormat(f.out) {
		fmt.Fprintf(stderr, "brine-minion call: unknown output format %q (want one of %s)\n", f.out, strings.Join(output.Formats, ", "))
		return 2
	}
	fun := f.positional[0]
	if !strings.Contains(fun, ".") {
		fmt.Fprintf(stderr, "brine-minion call: %q is not a module.function name\n", fun)
		return 2
	}
	cfgPath, mustExist := f.config, true
	if cfgPath == "" {
		cfgPath, mustExist = config.DefaultMinionPath, false
	}
	cfg, err := config.LoadMinion(cfgPath, mustExist)
	if err != nil {
		fmt.Fprintf(stderr, "brine-minion call: %v\n", err)
		return 2
	}
	if f.id != "" {
		cfg.Set("id", f.id)
	}
	if f.logLevel != "" {
		cfg.Set("log_level", f.logLevel)
	}
	if len(f.fileRoots) > 0 {
		cfg.SetFileRoots("base", f.fileRoots)
	}
	if len(f.pillarRoots) > 0 {
		cfg.SetPillarRoots("base", f.pillarRoots)
	}
	if f.saltenv != "" {
		cfg.Saltenv = f.saltenv
		cfg.Raw["saltenv"] = f.saltenv
	}
	if f.stateOutput != "" {
		cfg.Set("state_output", f.stateOutput)
	}
	if f.stateVerb != "" {
		v, ok := execmod.ToBool(f.stateVerb)
		if !ok {
			fmt.Fprintf(stderr, "brine-minion call: --state-verbose wants True or False, not %q\n", f.stateVerb)
			return 2
		}
		cfg.StateVerbose = v
		cfg.Raw["state_verbose"] = v
	}
	cfg.Raw["file_client"] = "local"
	level, err := parseLevel(cfg.LogLevel)
	if err != nil {
		fmt.Fprintf(stderr, "brine-minion call: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	ec, err := localContext(ctx, cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "brine-minion call: %v\n", err)
		return 1
	}
	fargs, kwargs := parseCallArgs(f.positional[1:])
	if _, ok := ec.Registry.Lookup(fun); !ok {
		fmt.Fprintf(stderr, "'%s' is not available.\n", fun)
		return 1
	}
	ret, err := ec.Registry.Call(ec, fun, fargs, kwargs)
	if err != nil {
		fmt.Fprintf(stderr, "Error running '%s': %v\n", fun, err)
		return 1
	}
	format := f.out
	if o, _ := cfg.Raw["output"].(string); format == "" && validFormat(o) {
		format = o // the config's `output` key, as salt-call honours it
	}
	if format == "" {
		format = "nested"
		if highstate.StateFunctions[fun] {
			format = "highstate"
		}
	}
	ret = output.Normalize(ret) // once, for both the failure test and the printer
	failed := highstate.StateFunctions[fun] && highstate.Failed(ret)
	opts := output.Options{Color: output.IsTerminal(stdout), StateOutput: cfg.StateOutput, HideClean: !cfg.StateVerbose}
	if f.noColor {
		opts.Color = false
	}
	if f.forceColor {
		opts.Color = true
	}
	if failed {
		opts.Retcode = 1
	}
	// One large buffer: the printer's own 4 KB one would write a state
	// run's result (200 KB for 390 states) in fifty pieces.
	bout := bufio.NewWriterSize(stdout, 64<<10)
	err = output.Fprint(bout, format, map[string]any{"local": ret}, opts)
	if ferr := bout.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		fmt.Fprintf(stderr, "brine-minion call: %v\n", err)
		return 1
	}
	if f.passthrough {
		return passthroughCode(fun, ret)
	}
	if failed {
		return 1
	}
	return 0
}

// passthroughCode is salt-call's exit status with --retcode-passthrough:
// for state functions 1 (EX_STATE_COMPILER_ERROR) when the run returned
// its render or compile errors and 2 (EX_STATE_FAILURE) when a state
// failed; for the cmd functions that return a command's exit status,
// that status.
func passthroughCode(fun string, ret any) int {
	if highstate.StateFunctions[fun] {
		switch ret.(type) {
		case []string, []any:
			return 1
		}
		if highstate.Failed(ret) {
			return 2
		}
		return 0
	}
	code := ret
	if m, ok := ret.(map[string]any); ok && (fun == "cmd.run_all" || fun == "cmd.script") {
		code = m["retcode"]
	} else if fun != "cmd.retcode" && fun != "cmd.script_retcode" {
		return 0
	}
	switch n := code.(type) {
	case int:
		return n & 0xff
	case int64:
		return int(n & 0xff)
	case float64:
		return int(n) & 0xff
	}
	return 0
}

func validFormat(s string) bool {
	for _, f := range output.Formats {
		if f == s {
			return true
		}
	}
	return false
}

func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "", "warning", "warn":
		return slog.LevelWarn, nil
	case "debug", "trace", "garbage", "all":
		return slog.LevelDebug, nil
	case "info", "profile":
		return slog.LevelInfo, nil
	case "error", "critical", "quiet":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("unknown log level %q (want debug, info, warning or error)", s)
}

// localContext builds the execution context of a masterless call: grains
// collected here (static grains and the id over them), the pillar compiled
// from the local pillar roots, the local file roots and every built-in
// execution and state module.
func localContext(ctx context.Context, cfg *config.Minion, log *slog.Logger) (*execmod.Context, error) {
	static := map[string]any{}
	for k, v := range cfg.Grains {
		static[k] = v
	}
	if cfg.ID != "" {
		static["id"] = cfg.ID
	}
	g := grains.Collect(ctx, static)
	if cfg.ID == "" {
		id, _ := g["fqdn"].(string)
		if id == "" {
			id, _ = os.Hostname()
		}
		cfg.Set("id", id)
		g["id"] = id
	}
	reg := execmod.Builtin()
	highstate.Register(reg, states.Builtin())
	saltenv := cfg.Saltenv
	ec := &execmod.Context{
		Ctx:      ctx,
		Grains:   g,
		Pillar:   map[string]any{},
		Opts:     cfg.Opts(),
		Log:      log,
		Files:    &fileclient.Local{Roots: cfg.FileRoots[saltenv], Envs: cfg.FileRoots},
		Registry: reg,
		Saltenv:  saltenv,
	}
	pillar, err := highstate.CompilePillar(ctx, ec, cfg.PillarRoots[saltenv])
	if err != nil {
		var pe *highstate.PillarErrors
		if !errors.As(err, &pe) {
			return nil, fmt.Errorf("compile pillar: %w", err)
		}
		// As Salt: the errors ride in the pillar; state runs refuse to
		// start and print them, other functions still run.
		log.Warn("pillar failed to render", "errors", pe.List)
		list := make([]any, len(pe.List))
		for i, e := range pe.List {
			list[i] = e
		}
		if pillar == nil {
			pillar = map[string]any{}
		}
		pillar["_errors"] = list
	}
	ec.Pillar = pillar
	ec.Opts["pillar"] = pillar
	ec.Opts["grains"] = g
	return ec, nil
}
