package cli

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseRunArgs(t *testing.T) {
	for _, c := range []struct {
		args   []string
		typ    string
		expr   string
		fun    string
		args2  []any
		kwargs map[string]any
		check  func(r runArgs) bool
	}{
		{args: []string{"web*", "test.ping"}, typ: "glob", expr: "web*", fun: "test.ping"},
		{args: []string{"-E", `web\d`, "test.ping"}, typ: "pcre", expr: `web\d`, fun: "test.ping"},
		{args: []string{"-P", "os:Deb.*", "test.ping"}, typ: "grain_pcre", expr: "os:Deb.*", fun: "test.ping"},
		{args: []string{"-J", "a:b", "test.ping"}, typ: "pillar_pcre", expr: "a:b", fun: "test.ping"},
		{args: []string{"-S", "10.0.0.0/8", "test.ping"}, typ: "ipcidr", expr: "10.0.0.0/8", fun: "test.ping"},
		{args: []string{"-N", "webs", "test.ping"}, typ: "nodegroup", expr: "webs", fun: "test.ping"},
		{args: []string{"-C", "G@os:Debian and web*", "cmd.run", "ls -l", "cwd=/tmp", "test=True"}, typ: "compound",
			expr: "G@os:Debian and web*", fun: "cmd.run", args2: []any{"ls -l"}, kwargs: map[string]any{"cwd": "/tmp", "test": true}},
		{args: []string{"-b", "25%", "--batch-wait", "2", "--async", "-v", "--expire", "90s", "-t", "5", "--out=json", "--out-file", "/tmp/x", "*", "test.ping"},
			typ: "glob", expr: "*", fun: "test.ping", check: func(r runArgs) bool {
				return r.batch == "25%" && r.batchWait == 2 && r.async && r.verbose && r.expire == 90*time.Second && r.timeout == 5 &&
					r.out == "json" && r.outFile == "/tmp/x"
			}},
		{args: []string{"--preview", "-G", "os:Debian"}, typ: "grain", expr: "os:Debian", check: func(r runArgs) bool { return r.preview }},
		// As in salt, options may follow the function; "--" ends them, and
		// an unknown dash word after the function is an argument.
		{args: []string{"web1", "cmd.run", "echo hi", "--out=json", "-t", "9"}, typ: "glob", expr: "web1", fun: "cmd.run",
			args2: []any{"echo hi"}, check: func(r runArgs) bool { return r.out == "json" && r.timeout == 9 }},
		{args: []string{"web1", "cmd.run", "--", "-L", "x"}, typ: "glob", expr: "web1", fun: "cmd.run", args2: []any{"-L", "x"}},
		{args: []string{"web1", "test.arg", "-la"}, typ: "glob", expr: "web1", fun: "test.arg", args2: []any{"-la"}},
	} {
		r, err := parseRunArgs(c.args)
		if err != nil {
			t.Errorf("%q: %v", c.args, err)
			continue
		}
		if r.target.Type != c.typ || r.target.Expr != c.expr || r.fun != c.fun {
			t.Errorf("%q: target %+v fun %q", c.args, r.target, r.fun)
		}
		if c.args2 != nil && !reflect.DeepEqual(r.args, c.args2) {
			t.Errorf("%q: args %#v, want %#v", c.args, r.args, c.args2)
		}
		if c.kwargs != nil && !reflect.DeepEqual(r.kwargs, c.kwargs) {
			t.Errorf("%q: kwargs %#v, want %#v", c.args, r.kwargs, c.kwargs)
		}
		if c.check != nil && !c.check(r) {
			t.Errorf("%q: options %+v", c.args, r)
		}
	}
}

func TestParseRunArgsErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"web*"}, "usage"},
		{[]string{"-b", "0", "*", "test.ping"}, "batch"},
		{[]string{"-b", "200%", "*", "test.ping"}, "batch"},
		{[]string{"--expire", "soon", "*", "test.ping"}, "duration"},
		{[]string{"-t", "-3", "*", "test.ping"}, "timeout"},
		{[]string{"--out", "xml", "*", "test.ping"}, "output format"},
		{[]string{"--bogus", "*", "test.ping"}, "unknown flag"},
		{[]string{"*", "notafunction"}, "module.function"},
	} {
		if _, err := parseRunArgs(c.args); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one mentioning %q", c.args, err, c.want)
		}
	}
}

// A jid typed as an argument (saltutil.find_job <jid>) has 20 digits, more
// than a float64 holds: it must reach the minion digit for digit.
func TestParseRunArgsKeepsLongIntegers(t *testing.T) {
	r, err := parseRunArgs([]string{"web1", "saltutil.find_job", "20261126001618123456", "jid=20261126001618123457",
		"-12345678901234567890123", "9007199254740993", "1.5", "42"})
	if err != nil {
		t.Fatal(err)
	}
	want := []any{"20261126001618123456", "-12345678901234567890123", 9007199254740993, 1.5, 42}
	if !reflect.DeepEqual(r.args, want) {
		t.Fatalf("args %#v, want %#v", r.args, want)
	}
	if r.kwargs["jid"] != "20261126001618123457" {
		t.Fatalf("kwarg jid %#v, want the digits as given", r.kwargs["jid"])
	}
}

func TestRunWantsHelp(t *testing.T) {
	for _, c := range []struct {
		args []string
		want bool
	}{
		{[]string{"--help"}, true},
		{[]string{"-G", "os:Debian", "-h"}, true},
		{[]string{"web1", "cmd.run", "--help"}, false}, // an argument to the function
		{[]string{"--", "--help"}, false},
		{[]string{"web1", "test.ping"}, false},
	} {
		if got := wantsHelp(c.args); got != c.want {
			t.Errorf("wantsHelp(%q) = %v, want %v", c.args, got, c.want)
		}
	}
}
