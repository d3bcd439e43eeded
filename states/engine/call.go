package engine

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/brine-cm/brine/pkg/execmod"
	"github.com/brine-cm/brine/proto"
	"github.com/brine-cm/brine/states"
)

// now is the clock; one place so timing stays consistent.
func now() time.Time { return time.Now() }

// startTime formats a start time as Salt does ("15:04:05.000000", local).
func startTime(t time.Time) string { return t.Local().Format("15:04:05.000000") }

// call runs one state as Salt's State.call: guards (onlyif, unless,
// creates), the function or its mod_watch, check_cmd and retry. When
// numbered, every function call takes the next __run_num__ as in Salt, so
// a state whose mod_watch ran, or that was retried, leaves gaps.
func (r *runner) call(n *node, args map[string]any, watch, numbered bool) *result {
	test := r.isTest(args)
	retry, hasRetry := retrySpec(args)
	var first *result
	var comments []string
	var extra float64
	for attempt := 1; ; attempt++ {
		res := r.callOnce(n, args, watch, numbered)
		if !hasRetry {
			return res
		}
		if test {
			msg := fmt.Sprintf("The state would be retried every %d seconds (with a splay of up to %d seconds) a maximum of %d times or until a result of %s is returned",
				retry.interval, retry.splay, retry.attempts, pyBool(retry.until))
			res.r.Comment = strings.Join([]string{res.r.Comment, msg}, "  ")
			return res
		}
		if first == nil {
			first = res
		}
		done := res.r.Result != nil && *res.r.Result == retry.until
		if done || attempt >= retry.attempts {
			if attempt > 1 {
				res.r.StartTime = first.r.StartTime
				res.r.Duration += extra
				comments = append(comments, res.r.Comment)
				res.r.Comment = strings.Join(comments, "\n")
			}
			return res
		}
		interval := retry.interval
		if retry.splay > 0 {
			interval += rand.IntN(retry.splay + 1)
		}
		comments = append(comments, fmt.Sprintf("Attempt %d: Returned a result of \"%s\", with the following comment: \"%s\"", attempt, pyResult(res.r.Result), res.r.Comment))
		extra += res.r.Duration + float64(interval*1000)
		if interval > 0 {
			t := time.NewTimer(time.Duration(interval) * time.Second)
			select {
			case <-r.ctx.Done():
				t.Stop()
				return res
			case <-t.C:
			}
		}
	}
}

func (r *runner) isTest(args map[string]any) bool {
	req := states.Request{Exec: r.opts.Exec, Args: args}
	return req.Test()
}

func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

func pyResult(b *bool) string {
	if b == nil {
		return "None"
	}
	return pyBool(*b)
}

type retryOpts struct {
	attempts, interval, splay int
	until                     bool
}

// retrySpec reads the retry argument with Salt's defaults (attempts 2,
// until True, interval 30, splay 0) for missing or invalid values.
func retrySpec(args map[string]any) (retryOpts, bool) {
	v, ok := args["retry"]
	if !ok || v == nil || v == false {
		return retryOpts{}, false
	}
	ro := retryOpts{attempts: 2, until: true, interval: 30}
	m, ok := v.(map[string]any)
	if !ok {
		return ro, true
	}
	if a, ok := m["attempts"].(int); ok {
		ro.attempts = a
	}
	if u, ok := m["until"].(bool); ok {
		ro.until = u
	}
	if i, ok := m["interval"].(int); ok {
		ro.interval = i
	}
	if s, ok := m["splay"].(int); ok {
		ro.splay = s
	}
	return ro, true
}

// callOnce is one attempt.
func (r *runner) callOnce(n *node, args map[string]any, watch, numbered bool) *result {
	start := now()
	number := func(res *result) *result {
		if numbered {
			res.r.RunNum = r.nextRunNum()
		}
		return res
	}
	if n.fun == nil {
		return number(r.finish(n, states.Result{Result: proto.BoolPtr(false),
			Comment: fmt.Sprintf("State '%s.%s' was not found in SLS '%s'\n", n.c.State, n.c.Fun, n.c.SLS)}, start, nil))
	}
	skip, comment, skipWatch, guardErr := r.runCheck(n, args)
	if guardErr != nil {
		return number(r.finish(n, states.Result{Result: proto.BoolPtr(false), Comment: guardErr.Error()}, start, nil))
	}
	if skip {
		res := r.finish(n, states.Result{Result: proto.BoolPtr(true), Comment: comment}, start, nil)
		res.skipWatch = skipWatch
		return number(res)
	}
	res := number(r.invoke(n, args, n.fun, false))
	if watch && len(res.r.Changes) == 0 && n.mod != nil && n.mod.ModWatch != nil {
		wargs := cloneArgs(args)
		wargs["sfun"] = n.c.Fun
		var changed []any
		for _, t := range append(append([]*node{}, n.reqs["watch"]...), n.reqs["watch_any"]...) {
			if tr, ok := r.get(t.tag, false); ok && len(tr.r.Changes) > 0 {
				changed = append(changed, t.c.State+": "+t.c.ID)
			}
		}
		wargs["__watch_changed__"] = changed
		res = number(r.invoke(n, wargs, n.mod.ModWatch, true))
		res.r.StartTime = startTime(start)
	}
	if _, ok := args["check_cmd"]; ok && n.c.State != "file" {
		r.checkCmd(args, res)
	}
	return res
}

// invoke calls a state function, turning a panic into a failed result.
func (r *runner) invoke(n *node, args map[string]any, fn states.Func, watch bool) (res *result) {
	start := now()
	req := &states.Request{Exec: r.opts.Exec, ID: n.c.ID, Name: n.c.Name, SLS: n.c.SLS, Args: args, Watch: watch}
	defer func() {
		if p := recover(); p != nil {
			res = r.finish(n, states.Result{Result: proto.BoolPtr(false), Comment: fmt.Sprintf("An exception occurred in this state: %v", p)}, start, nil)
		}
	}()
	out := fn(req)
	if out.Result != nil && !*out.Result && strings.HasPrefix(out.Comment, `argument "`) {
		// A bad argument is reported as "<module>.<function>: argument
		// ...", whichever module forgot to say which function it was.
		fun := n.c.Fun
		if watch {
			fun = "mod_watch"
		}
		out.Comment = n.c.State + "." + fun + ": " + out.Comment
	}
	return r.finish(n, out, start, nil)
}

// finish fills every field of the Salt result.
func (r *runner) finish(n *node, out states.Result, start time.Time, _ error) *result {
	name := out.Name
	if name == "" {
		name = n.c.Name
	}
	changes := out.Changes
	if changes == nil {
		changes = map[string]any{}
	}
	d := time.Since(start)
	return &result{ran: true, r: proto.StateResult{
		ID: n.c.ID, Name: name, Result: out.Result, Changes: changes, Comment: out.Comment,
		SLS: n.c.SLS, StartTime: startTime(start), Duration: float64(d.Microseconds()) / 1000.0,
	}}
}

// cmdOpts are the state arguments Salt passes along to cmd.retcode for
// onlyif/unless/check_cmd.
var cmdOpts = []string{"cwd", "root", "runas", "env", "prepend_path", "umask", "timeout", "success_retcodes", "shell"}

// retcode runs a guard command through cmd.retcode with a shell, falling
// back to /bin/sh when no cmd module is registered.
func (r *runner) retcode(cmd string, args map[string]any) (int, error) {
	kw := map[string]any{"python_shell": true, "ignore_retcode": true}
	for _, k := range cmdOpts {
		if v, ok := args[k]; ok && v != nil {
			kw[k] = v
		}
	}
	if _, ok := kw["shell"]; !ok {
		if sh, ok := r.opts.Exec.Grains["shell"].(string); ok && sh != "" {
			kw["shell"] = sh
		}
	}
	ec := r.opts.Exec
	if ec.Registry != nil {
		out, err := ec.Call("cmd.retcode", []any{cmd}, kw)
		if err == nil {
			return toInt(out), nil
		}
		if !errors.Is(err, execmod.ErrUnknownFunction) {
			return 0, err
		}
	}
	shell := "/bin/sh"
	if s, ok := kw["shell"].(string); ok && s != "" {
		shell = s
	}
	c := exec.CommandContext(r.ctx, shell, "-c", cmd)
	if cwd, ok := kw["cwd"].(string); ok && cwd != "" {
		c.Dir = cwd
	}
	c.Env = os.Environ()
	if env, ok := kw["env"].(map[string]any); ok {
		for k, v := range env {
			c.Env = append(c.Env, k+"="+fmt.Sprint(v))
		}
	}
	err := c.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), nil
	}
	if err != nil {
		return 0, err
	}
	return 0, nil
}

func toInt(v any) int {
	switch t := v.(type) {
	case int:
		return t
	case int64:
		return int(t)
	case float64:
		return int(t)
	case string:
		i, _ := strconv.Atoi(strings.TrimSpace(t))
		return i
	case bool:
		if t {
			return 0
		}
		return 1
	case map[string]any:
		return toInt(t["retcode"])
	}
	return 0
}

// truthy is Python's truth test for a module's return value.
func truthy(v any) bool {
	switch t := v.(type) {
	case nil:
		return false
	case bool:
		return t
	case int:
		return t != 0
	case int64:
		return t != 0
	case float64:
		return t != 0
	case string:
		return t != ""
	case []any:
		return len(t) > 0
	case map[string]any:
		return len(t) > 0
	}
	return true
}

func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

// callFun runs a `- fun: mod.fn` guard entry (args list, other keys as
// kwargs, get_return path with ":" separators).
func (r *runner) callFun(entry map[string]any) (any, error) {
	fun, _ := entry["fun"].(string)
	var args []any
	kw := map[string]any{}
	var getReturn string
	for k, v := range entry {
		switch k {
		case "fun":
		case "args":
			args = asList(v)
		case "get_return":
			getReturn = fmt.Sprint(v)
		default:
			kw[k] = v
		}
	}
	out, err := r.opts.Exec.Call(fun, args, kw)
	if err != nil {
		return nil, err
	}
	if getReturn != "" {
		for _, p := range strings.Split(getReturn, ":") {
			switch t := out.(type) {
			case map[string]any:
				out = t[p]
			case []any:
				i, err := strconv.Atoi(p)
				if err != nil || i < 0 || i >= len(t) {
					return nil, nil
				}
				out = t[i]
			default:
				return nil, nil
			}
		}
	}
	return out, nil
}

// runCheck is Salt's _run_check: onlyif, unless and creates. It reports
// whether the state must be skipped, the joined comments and skip_watch.
// A `fun:` guard whose function is unknown or fails is an error that
// fails the state (Salt raises there), never a silent "condition false"
// that would run an `unless`-guarded state on a typo.
func (r *runner) runCheck(n *node, args map[string]any) (bool, string, bool, error) {
	var comments []string
	skip, skipWatch := false, false
	if v, ok := args["onlyif"]; ok && v != nil {
		s, c, err := r.onlyif(asList(v), args)
		if err != nil {
			return false, "", false, err
		}
		skip = s
		skipWatch = s
		comments = append(comments, c)
	}
	if v, ok := args["unless"]; ok && v != nil {
		s, c, err := r.unless(asList(v), args)
		if err != nil {
			return false, "", false, err
		}
		skip = skip || s
		skipWatch = skipWatch || s
		comments = append(comments, c)
	}
	if v, ok := args["creates"]; ok && v != nil {
		s, c := creates(v)
		skip = skip || s
		skipWatch = skipWatch || s
		comments = append(comments, c)
	}
	return skip, strings.Join(comments, "\n"), skipWatch, nil
}

func (r *runner) onlyif(entries []any, args map[string]any) (bool, string, error) {
	comment := ""
	for _, e := range entries {
		switch t := e.(type) {
		case string:
			rc, err := r.retcode(t, args)
			if err != nil {
				rc = 100
			}
			if rc != 0 {
				return true, "onlyif condition is false", nil
			}
			comment = "onlyif condition is true"
		case map[string]any:
			if _, ok := t["fun"]; !ok {
				return false, fmt.Sprintf("no `fun` argument in onlyif: %s", reprMap(t)), nil
			}
			out, err := r.callFun(t)
			if err != nil {
				return false, "", fmt.Errorf("onlyif function %v failed: %w", t["fun"], err)
			}
			if !truthy(out) {
				return true, "onlyif condition is false", nil
			}
			comment = "onlyif condition is true"
		default:
			return false, "onlyif execution failed, bad type passed", nil
		}
	}
	return false, comment, nil
}

func (r *runner) unless(entries []any, args map[string]any) (bool, string, error) {
	skip, comment := false, ""
	for _, e := range entries {
		switch t := e.(type) {
		case string:
			rc, err := r.retcode(t, args)
			if err != nil {
				rc = 0
			}
			if rc != 0 {
				return false, "unless condition is false", nil
			}
			skip, comment = true, "unless condition is true"
		case map[string]any:
			if _, ok := t["fun"]; !ok {
				return false, fmt.Sprintf("no `fun` argument in unless: %s", reprMap(t)), nil
			}
			out, err := r.callFun(t)
			if err != nil {
				return false, "", fmt.Errorf("unless function %v failed: %w", t["fun"], err)
			}
			if !truthy(out) {
				return false, "unless condition is false", nil
			}
			skip, comment = true, "unless condition is true"
		default:
			return false, "unless condition is false, bad type passed", nil
		}
	}
	return skip, comment, nil
}

func reprMap(m map[string]any) string { return execmod.Repr(m) }

func creates(v any) (bool, string) {
	switch t := v.(type) {
	case string:
		if _, err := os.Stat(t); err == nil {
			return true, t + " exists"
		}
	case []any:
		all := len(t) > 0
		for _, p := range t {
			s, ok := p.(string)
			if !ok {
				all = false
				break
			}
			if _, err := os.Stat(s); err != nil {
				all = false
				break
			}
		}
		if all {
			return true, "All files in creates exist"
		}
	}
	return false, "Creates files not found"
}

// checkCmd is Salt's check_cmd: every command must exit 0 for the state
// to count as succeeded.
func (r *runner) checkCmd(args map[string]any, res *result) {
	succeeded := false
	for _, e := range asList(args["check_cmd"]) {
		cmd, ok := e.(string)
		if !ok {
			continue
		}
		rc, err := r.retcode(cmd, map[string]any{})
		if err != nil {
			rc = 1
		}
		if rc != 0 {
			res.r.Result = proto.BoolPtr(false)
			res.r.Comment = "check_cmd determined the state failed"
			return
		}
		if !succeeded {
			succeeded = true
			res.r.Result = proto.BoolPtr(true)
			res.r.Comment = "check_cmd determined the state succeeded"
		}
	}
}
