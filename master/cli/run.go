package cli

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/brine-cm/brine/pkg/output"
	"github.com/brine-cm/brine/proto"
	"gopkg.in/yaml.v3"
)

// runArgs is a parsed `run` command line.
type runArgs struct {
	target  proto.Target
	fun     string
	args    []any
	kwargs  map[string]any
	timeout float64
	out     string
}

func parseRunArgs(args []string) (runArgs, error) {
	r := runArgs{target: proto.Target{Type: "glob"}, kwargs: map[string]any{}, timeout: 10}
	var pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		next := func() (string, error) {
			if i+1 >= len(args) {
				return "", fmt.Errorf("%s needs a value", a)
			}
			i++
			return args[i], nil
		}
		var err error
		switch {
		case len(pos) >= 2:
			pos = append(pos, a) // after the function everything is an argument
		case a == "-L" || a == "--list":
			r.target.Type = "list"
		case a == "-E" || a == "--pcre":
			r.target.Type = "pcre"
		case a == "-G" || a == "--grain":
			r.target.Type = "grain"
		case a == "--tgt-type":
			r.target.Type, err = next()
		case a == "-t" || a == "--timeout":
			var v string
			if v, err = next(); err == nil {
				r.timeout, err = strconv.ParseFloat(v, 64)
			}
		case a == "--out" || strings.HasPrefix(a, "--out="):
			if v, ok := strings.CutPrefix(a, "--out="); ok {
				r.out = v
			} else {
				r.out, err = next()
			}
		case strings.HasPrefix(a, "-") && len(a) > 1:
			err = fmt.Errorf("unknown flag %s", a)
		default:
			pos = append(pos, a)
		}
		if err != nil {
			return r, err
		}
	}
	if len(pos) < 2 {
		return r, fmt.Errorf("usage: brine-master run [-L|-E|-G] [-t SECONDS] [--out FORMAT] TARGET FUNCTION [ARG...] [KEY=VALUE...]")
	}
	r.target.Expr, r.fun = pos[0], pos[1]
	if !proto.ValidFun(r.fun) {
		return r, fmt.Errorf("%q is not a module.function name", r.fun)
	}
	for _, a := range pos[2:] {
		if k, v, ok := strings.Cut(a, "="); ok && isIdent(k) {
			r.kwargs[k] = scalar(v)
			continue
		}
		r.args = append(r.args, scalar(a))
	}
	return r, nil
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// scalar reads an argument as Salt does (YAML: True, 1, 1.5 are typed),
// keeping anything that is not a plain scalar as the string given.
func scalar(s string) any {
	var v any
	if err := yaml.Unmarshal([]byte(s), &v); err != nil {
		return s
	}
	switch x := v.(type) {
	case bool, int, float64:
		return x
	}
	return s
}

func runCmd(g Global, args []string, io IO) (int, error) {
	r, err := parseRunArgs(args)
	if err != nil {
		return 2, err
	}
	if len(r.kwargs) == 0 {
		r.kwargs = nil
	}
	c, err := Dial(g)
	if err != nil {
		return 1, err
	}
	defer c.Close()
	req := proto.RunRequest{V: proto.Version, Target: r.target, Fun: r.fun, Args: r.args, Kwargs: r.kwargs, TimeoutSec: r.timeout}
	var rep proto.RunReply
	wait := time.Duration(r.timeout*float64(time.Second)) + 10*time.Second
	if err := c.Call(proto.VerbRun, req, &rep, wait); err != nil {
		return 1, err
	}
	if len(rep.Returns) == 0 && len(rep.Missing) == 0 {
		fmt.Fprintln(io.Err, "No minions matched the target. No command was sent, no jid was assigned.")
		return 2, nil
	}
	results := map[string]any{}
	code := 0
	for id, ret := range rep.Returns {
		results[id] = ret.Return
		if ret.Retcode != 0 {
			code = 1
		}
	}
	for _, id := range rep.Missing {
		results[id] = "Minion did not return. [No response]"
		code = 1
	}
	format := r.out
	if format == "" {
		format = "nested"
		if strings.HasPrefix(r.fun, "state.") && r.fun != "state.show_sls" && r.fun != "state.show_top" && r.fun != "state.show_lowstate" {
			format = "highstate"
		}
	}
	if format == "json" {
		// One object keyed by minion id, so the output is one JSON document.
		b, err := json.MarshalIndent(results, "", "    ")
		if err != nil {
			return 1, err
		}
		fmt.Fprintln(io.Out, string(b))
		return code, nil
	}
	if err := output.Print(io.Out, format, results); err != nil {
		return 1, err
	}
	return code, nil
}
