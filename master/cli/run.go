package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/brine-cm/brine/master/jobs"
	"github.com/brine-cm/brine/pkg/output"
	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats.go"
	"gopkg.in/yaml.v3"
)

// runUsage is printed for a bad `run` command line.
const runUsage = `usage: brine-master run [-E|-L|-G|-P|-I|-J|-S|-N|-C] [-t SECONDS] [--async] [-b N|N%] [--batch-wait SECONDS]
                        [-v] [--out json|yaml|txt|highstate|raw|nested] [--out-file FILE] [--expire DURATION]
                        [--preview] [-p|--progress] TARGET FUNCTION [ARG...] [KEY=VALUE...]`

// targetFlags maps Salt's targeting switches to tgt_type names.
var targetFlags = map[string]string{
	"-E": "pcre", "--pcre": "pcre",
	"-L": "list", "--list": "list",
	"-G": "grain", "--grain": "grain",
	"-P": "grain_pcre", "--grain-pcre": "grain_pcre",
	"-I": "pillar", "--pillar": "pillar",
	"-J": "pillar_pcre", "--pillar-pcre": "pillar_pcre",
	"-S": "ipcidr", "--ipcidr": "ipcidr",
	"-N": "nodegroup", "--nodegroup": "nodegroup",
	"-C": "compound", "--compound": "compound",
}

// runArgs is a parsed `run` command line.
type runArgs struct {
	target    proto.Target
	fun       string
	args      []any
	kwargs    map[string]any
	timeout   float64
	out       string
	outFile   string
	async     bool
	batch     string
	batchWait float64
	verbose   bool
	expire    time.Duration
	preview   bool
	progress  bool
}

func parseRunArgs(args []string) (runArgs, error) {
	r := runArgs{target: proto.Target{Type: "glob"}, kwargs: map[string]any{}, timeout: -1}
	var pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, inline, hasInline := strings.Cut(a, "=")
		if !strings.HasPrefix(a, "--") {
			name, hasInline = a, false
		}
		next := func() (string, error) {
			if hasInline {
				return inline, nil
			}
			if i+1 >= len(args) {
				return "", fmt.Errorf("%s needs a value", name)
			}
			i++
			return args[i], nil
		}
		var err error
		var v string
		if a == "--" {
			pos = append(pos, args[i+1:]...) // "--" ends the flags, as in salt
			break
		}
		if k, ok := targetFlags[name]; ok {
			r.target.Type = k
			continue
		}
		switch {
		case name == "--tgt-type" || name == "--tgt_type":
			r.target.Type, err = next()
		case name == "-t" || name == "--timeout":
			if v, err = next(); err == nil {
				r.timeout, err = strconv.ParseFloat(v, 64)
				if err == nil && r.timeout <= 0 {
					err = errors.New("timeout must be positive")
				}
			}
		case name == "--out" || name == "--output":
			r.out, err = next()
		case name == "--out-file" || name == "--output-file":
			r.outFile, err = next()
		case name == "--async":
			r.async = true
		case name == "-b" || name == "--batch" || name == "--batch-size":
			r.batch, err = next()
			if err == nil {
				_, err = jobs.BatchSize(r.batch, 1)
			}
		case name == "--batch-wait":
			if v, err = next(); err == nil {
				r.batchWait, err = strconv.ParseFloat(v, 64)
			}
		case name == "-v" || name == "--verbose":
			r.verbose = true
		case name == "--expire":
			if v, err = next(); err == nil {
				r.expire, err = parseDuration(v)
			}
		case name == "--preview" || name == "--preview-target":
			r.preview = true
		case name == "--static" || name == "--no-color" || name == "--no-progress":
			// --static is how JSON is always printed.
		case name == "-p" || name == "--progress":
			r.progress = true
		case strings.HasPrefix(a, "-") && len(a) > 1 && len(pos) < 2:
			err = fmt.Errorf("unknown flag %s", a)
		default:
			pos = append(pos, a)
		}
		if err != nil {
			return r, err
		}
	}
	if r.preview && len(pos) == 1 {
		r.target.Expr = pos[0]
		return r, nil
	}
	if len(pos) < 2 {
		return r, errors.New(runUsage)
	}
	r.target.Expr, r.fun = pos[0], pos[1]
	if !proto.ValidFun(r.fun) {
		return r, fmt.Errorf("%q is not a module.function name", r.fun)
	}
	if r.out != "" && !contains(output.Formats, r.out) {
		return r, fmt.Errorf("unknown output format %q (want one of %s)", r.out, strings.Join(output.Formats, ", "))
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

// parseDuration reads a Go duration ("90s", "2h") or plain seconds.
func parseDuration(s string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f <= 0 {
			return 0, fmt.Errorf("duration %q must be positive", s)
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("duration %q: want 90s, 10m, 2h or seconds", s)
	}
	return d, nil
}

func contains(l []string, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
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

// scalar reads an argument as Salt does (YAML: True, 1, 1.5 are typed,
// and `{...}` / `[...]` become a dict or a list, as in
// `pillar='{"key": "value"}'`), keeping anything else as the string given.
// An integer too large for int64, such as a 20-digit jid, stays the
// string given: as a float it would lose its last digits.
func scalar(s string) any {
	var v any
	if err := yaml.Unmarshal([]byte(s), &v); err != nil {
		return s
	}
	switch x := v.(type) {
	case float64:
		if isInteger(s) {
			return s
		}
		return x
	case bool, int:
		return x
	case map[string]any, []any:
		if t := strings.TrimSpace(s); strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[") {
			return x
		}
	}
	return s
}

// isInteger reports whether s is a plain decimal integer, sign allowed.
func isInteger(s string) bool {
	s = strings.TrimSpace(s)
	s = strings.TrimLeft(s, "+-")
	if s == "" {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// printTargetError shows where a target went wrong, with a caret under
// the column.
func printTargetError(w io.Writer, te *jobs.TargetError) {
	if te.Col <= 0 {
		fmt.Fprintf(w, "brine-master: target %q: %s\n", te.Expr, te.Msg)
		return
	}
	fmt.Fprintf(w, "brine-master: target %q: column %d: %s\n", te.Expr, te.Col, te.Msg)
	fmt.Fprintf(w, "    %s\n    %s^\n", te.Expr, strings.Repeat(" ", te.Col-1))
}

const noMatch = "No minions matched the target. No command was sent, no jid was assigned."

func runCmd(g Global, args []string, io IO) (int, error) {
	if wantsHelp(args) {
		fmt.Fprintln(io.Out, runUsage)
		return 0, nil
	}
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
	req := jobs.RunRequest{RunRequest: proto.RunRequest{V: proto.Version, Target: r.target, Fun: r.fun, Args: r.args, Kwargs: r.kwargs},
		Async: r.async, Batch: r.batch, BatchWait: r.batchWait, ExpireSec: r.expire.Seconds()}
	if r.timeout > 0 {
		req.TimeoutSec = r.timeout
	}
	if r.preview {
		var rep jobs.RunReply
		if err := c.Call(jobs.VerbPreview, req, &rep, 30*time.Second); err != nil {
			return 1, err
		}
		if rep.TargetError != nil {
			printTargetError(io.Err, rep.TargetError)
			return 2, nil
		}
		if len(rep.Minions) == 0 {
			fmt.Fprintln(io.Err, "No minions matched the target.")
			return 2, nil
		}
		if r.out == "json" {
			fmt.Fprintln(io.Out, string(output.MarshalJSON(rep.Minions)))
			return 0, nil
		}
		for _, id := range rep.Minions {
			fmt.Fprintln(io.Out, id)
		}
		return 0, nil
	}
	// The call lasts as long as the master waits: the timeout, or for a
	// batch every batch in turn.
	wait := 10 * time.Minute
	if !r.async && r.batch == "" && r.timeout > 0 {
		wait = time.Duration(r.timeout*float64(time.Second)) + 10*time.Second
	}
	if r.async {
		wait = time.Minute
	}
	out := io.Out
	if r.outFile != "" {
		f, err := os.OpenFile(r.outFile, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return 1, fmt.Errorf("out file: %w", err)
		}
		defer f.Close()
		out = f
	}
	stderr := &statusWriter{w: io.Err}
	var live *liveOutput
	if wantLive(r, output.IsTerminal(io.Out)) {
		if live, err = c.live(stderr); err != nil {
			return 1, err
		}
		req.Progress = live.tag
	}
	rs, err := c.returnStream()
	if err != nil {
		return 1, err
	}
	defer rs.stop()
	req.Stream = rs.tag
	stopProgress := func() {}
	if !r.async && (r.progress || output.IsTerminal(io.Out)) {
		stopProgress = c.progress(stderr, r.fun, time.Now())
	}
	var rep jobs.RunReply
	err = c.callUntilLost(jobs.VerbRun, req, &rep, wait)
	if live != nil {
		live.stop()
	}
	stopProgress()
	if err == nil {
		err = rs.merge(&rep, 30*time.Second)
	}
	if err != nil {
		return 1, err
	}
	if rep.TargetError != nil {
		printTargetError(io.Err, rep.TargetError)
		return 2, nil
	}
	if len(rep.Minions) == 0 {
		fmt.Fprintln(io.Err, noMatch)
		return 2, nil
	}
	if r.async {
		fmt.Fprintf(out, "Executed command with job ID: %s\n", rep.JID)
		return 0, nil
	}
	if r.verbose {
		w := out
		if r.out == "json" || r.out == "yaml" {
			w = io.Err
		}
		fmt.Fprintf(w, "Executing job with jid %s\n%s\n\n", rep.JID, strings.Repeat("-", 67))
	}
	results := map[string]any{}
	code := 0
	for id, ret := range rep.Returns {
		results[id] = ret.Return
		if ret.Retcode != 0 || !ret.Success {
			code = 1
		}
	}
	for _, id := range rep.Missing {
		results[id] = missingText(id, rep.Connected)
		code = 1
	}
	if err := printResults(out, r.out, r.fun, results); err != nil {
		return 1, err
	}
	if r.verbose && len(rep.Missing) > 0 {
		fmt.Fprintf(io.Err, "\n%s\nSummary\n%s\n# of minions targeted: %d\n# of minions returned: %d\n# of minions that did not return: %d\n",
			strings.Repeat("-", 67), strings.Repeat("-", 67), len(rep.Minions), len(rep.Returns), len(rep.Missing))
		fmt.Fprintf(io.Err, "Minions not responding: %s\n", strings.Join(rep.Missing, ", "))
	}
	return code, nil
}

// missingText is Salt's line for a minion that did not return, saying
// whether it is connected at all.
func missingText(id string, connected map[string]bool) string {
	if up, known := connected[id]; known && !up {
		return "Minion did not return. [Not connected]"
	}
	return "Minion did not return. [No response]"
}

// printResults prints returns keyed by minion id; state functions default
// to the highstate printer, as in Salt.
func printResults(w io.Writer, format, fun string, results map[string]any) error {
	if format == "" {
		format = "nested"
		if strings.HasPrefix(fun, "state.") && fun != "state.show_sls" && fun != "state.show_top" && fun != "state.show_lowstate" {
			format = "highstate"
		}
	}
	// JSON is one object keyed by minion id (Salt's --static), so the
	// output is one document.
	return output.Fprint(w, format, results, output.Options{Color: output.IsTerminal(w), Static: true})
}

// progress prints answered/expected on stderr while a run is waited for:
// it finds the job this run created (same user and function, started
// after since) and polls its returns.
func (c *Client) progress(w io.Writer, fun string, since time.Time) func() {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(300 * time.Millisecond)
		defer t.Stop()
		shown := false
		jid := ""
		for {
			select {
			case <-stop:
				if shown {
					fmt.Fprint(w, "\r\033[K")
				}
				return
			case <-t.C:
			}
			if jid == "" {
				var l jobs.ListReply
				if c.Call(jobs.VerbList, jobs.ListRequest{V: proto.Version, Function: fun, User: c.operator,
					Since: proto.FormatJID(since.Add(-time.Second))}, &l, 5*time.Second) != nil || len(l.Jobs) == 0 {
					continue
				}
				jid = l.Jobs[len(l.Jobs)-1].JID
			}
			var s jobs.ShowReply
			if c.Call(jobs.VerbShow, jobs.JIDRequest{V: proto.Version, JID: jid}, &s, 5*time.Second) != nil {
				continue
			}
			fmt.Fprintf(w, "\r[%d/%d minions returned] jid %s", len(s.Returns), len(s.Job.Minions), jid)
			shown = true
		}
	}()
	return func() { close(stop); wg.Wait() }
}

// callUntilLost is Call for a request that may be waited for a long time
// (a batch, or the master's default timeout, which the CLI does not
// know): it fails as soon as the connection to the master is lost
// instead of waiting out the deadline.
func (c *Client) callUntilLost(verb string, req, out any, timeout time.Duration) error {
	b, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("%s: %w", verb, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	lost := make(chan struct{})
	var once sync.Once
	c.nc.SetDisconnectErrHandler(func(*nats.Conn, error) { once.Do(func() { close(lost); cancel() }) })
	defer c.nc.SetDisconnectErrHandler(nil)
	m, err := c.nc.RequestWithContext(ctx, proto.APISubject(c.operator, verb), b)
	if err != nil {
		select {
		case <-lost:
			return fmt.Errorf("%s: connection to the master lost while waiting for returns (see brine-master jobs list)", verb)
		default:
		}
		return fmt.Errorf("%s: %w", verb, err)
	}
	if m.Header.Get(proto.HeaderError) != "" {
		var e proto.ErrorReply
		_ = json.Unmarshal(m.Data, &e)
		return fmt.Errorf("%s: master: %s", verb, e.Error)
	}
	dec := json.NewDecoder(bytes.NewReader(m.Data))
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("%s: reply: %w", verb, err)
	}
	fixNumbers(out) // retcode 0 and __run_num__ 3 print as integers, as in salt
	return nil
}

// wantsHelp reports whether -h or --help comes before the function, where
// it asks for usage; after the function it is an argument to it.
func wantsHelp(args []string) bool {
	pos := 0
	for _, a := range args {
		switch {
		case a == "-h" || a == "--help":
			return pos < 2
		case a == "--":
			return false
		case !strings.HasPrefix(a, "-"):
			pos++
		}
	}
	return false
}
