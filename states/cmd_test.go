package states

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/brine-cm/brine/pkg/testkit"
)

// cmdTestEnv is a file environment whose registry holds the built-in
// cmd.run_all, so commands run exactly as they do in a real minion.
func cmdTestEnv(t *testing.T) *fileEnv {
	t.Helper()
	e := newFileEnv(t)
	if _, ok := e.ec.Registry.Lookup("cmd.run_all"); !ok {
		t.Fatal("execmod.Builtin() has no cmd.run_all")
	}
	return e
}

func TestCmdRun(t *testing.T) {
	e := cmdTestEnv(t)
	marker := filepath.Join(e.dir, "ran")
	cmd := "echo hi; echo $GREETING >> " + marker
	args := func() map[string]any {
		return map[string]any{"env": []any{map[string]any{"GREETING": "hello"}}, "cwd": e.dir}
	}

	r := e.run(cmdRun, cmd, true, args())
	expect(t, "test", r, nil, `Command "`+cmd+`" would have been executed`, 1)
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("test mode ran the command")
	}
	r = e.run(cmdRun, cmd, false, args())
	expect(t, "run", r, yes, `Command "`+cmd+`" run`, 4)
	if r.Changes["stdout"] != "hi" || r.Changes["retcode"] != 0 {
		t.Fatalf("changes %v", r.Changes)
	}
	if readFile(t, marker) != "hello\n" {
		t.Fatal(readFile(t, marker))
	}
	if e.audit.Actions[len(e.audit.Actions)-1] != "cmd.run" {
		t.Fatalf("audit %v", e.audit.Actions)
	}

	expect(t, "fail", e.run(cmdRun, "exit 3", false, nil), no, `Command "exit 3" run`, 4)
	expect(t, "success_retcodes", e.run(cmdRun, "exit 3", false, map[string]any{"success_retcodes": []any{3}}), yes, "run", 4)
	expect(t, "bad cwd", e.run(cmdRun, "true", false, map[string]any{"cwd": "/nonexistent/dir"}), no, `Desired working directory "/nonexistent/dir" is not available`, 0)
	expect(t, "bad env", e.run(cmdRun, "true", false, map[string]any{"env": "A=1"}), no, "Invalidly-formatted 'env' parameter", 0)
	expect(t, "bad timeout", e.run(cmdRun, "true", false, map[string]any{"timeout": "soon"}), no, `cmd.run: argument "timeout"`, 0)
	expect(t, "bad retcodes", e.run(cmdRun, "true", false, map[string]any{"success_retcodes": []any{"x"}}), no, `cmd.run: argument "success_retcodes"`, 0)
}

func TestCmdStateful(t *testing.T) {
	e := cmdTestEnv(t)
	r := e.run(cmdRun, `echo working; echo 'changed=yes comment="did it"'`, false, map[string]any{"stateful": true})
	expect(t, "kv changed", r, yes, "", -1)
	if r.Comment != "did it" || r.Changes["stdout"] != "working" || r.Changes["changed"] != "yes" {
		t.Fatalf("result %q %v", r.Comment, r.Changes)
	}
	r = e.run(cmdRun, `echo 'changed=no comment="nothing"'`, false, map[string]any{"stateful": true})
	expect(t, "kv unchanged", r, yes, "nothing", 0)
	r = e.run(cmdRun, `echo '{"changed": true, "comment": "json", "extra": 1}'`, false, map[string]any{"stateful": true})
	expect(t, "json", r, yes, "json", -1)
	if r.Changes["stdout"] != "" || r.Changes["extra"] != float64(1) {
		t.Fatalf("changes %v", r.Changes)
	}
	r = e.run(cmdRun, `echo 'not a = valid = line'`, false, map[string]any{"stateful": true})
	expect(t, "unparsable", r, no, "Failed parsing script output!", -1)
	r = e.run(cmdRun, `echo unused`, true, map[string]any{"stateful": []any{map[string]any{"test_name": `echo 'changed=yes comment="would"'`}}})
	expect(t, "test_name", r, nil, "would", -1)
}

func TestCmdWaitScriptModWatch(t *testing.T) {
	e := cmdTestEnv(t)
	marker := filepath.Join(e.dir, "waited")
	cmd := "touch " + marker
	expect(t, "wait", e.run(cmdWait, cmd, false, nil), yes, "", 0)
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("cmd.wait ran without a watch")
	}
	r := cmdModWatch(&Request{Exec: e.ec, Name: cmd, Args: map[string]any{"sfun": "wait"}, Watch: true})
	expect(t, "mod_watch", r, yes, `Command "`+cmd+`" run`, 4)
	if _, err := os.Stat(marker); err != nil {
		t.Fatal("mod_watch did not run")
	}
	r = cmdModWatch(&Request{Exec: e.ec, Name: cmd, Args: map[string]any{"sfun": "bogus"}, Watch: true})
	expect(t, "mod_watch bad sfun", r, no, "does not work with the watch requisite", 0)

	e.root("scripts/hello.sh", "#!/bin/sh\necho \"hello $1 from {{ who }}\"\n")
	args := func() map[string]any {
		return map[string]any{"source": "salt://scripts/hello.sh", "args": "world"}
	}
	expect(t, "script test", e.run(cmdScript, "hello", true, args()), nil, "Command 'hello' would have been executed", 1)
	r = e.run(cmdScript, "hello", false, args())
	expect(t, "script", r, yes, "Command 'hello' run", 4)
	if r.Changes["stdout"] != "hello world from {{ who }}" {
		t.Fatalf("stdout %q", r.Changes["stdout"])
	}
	tpl := args()
	tpl["template"] = "jinja"
	tpl["context"] = map[string]any{"who": "jinja"}
	r = e.run(cmdScript, "hello", false, tpl)
	expect(t, "script template", r, yes, "Command 'hello' run", 4)
	if r.Changes["stdout"] != "hello world from jinja" {
		t.Fatalf("stdout %q", r.Changes["stdout"])
	}
	expect(t, "script missing", e.run(cmdScript, "x", false, map[string]any{"source": "salt://nope.sh"}), no, "Unable to cache script salt://nope.sh from saltenv 'base'", 0)
}

func TestCmdRunasTimeout(t *testing.T) {
	e := cmdTestEnv(t)
	r := e.run(cmdRun, "sleep 5", false, map[string]any{"timeout": 1})
	expect(t, "timeout", r, no, `Command "sleep 5" run`, -1)
	testkit.NeedAccounts(t)
	u := testkit.AccountName(t)
	if out, err := exec.Command("useradd", "-M", u).CombinedOutput(); err != nil {
		t.Fatal(string(out))
	}
	t.Cleanup(func() {
		exec.Command("userdel", u).Run()
		exec.Command("groupdel", u).Run()
	})
	r = e.run(cmdRun, "id -un", false, map[string]any{"runas": u, "cwd": "/"})
	expect(t, "runas", r, yes, `Command "id -un" run`, -1)
	if r.Changes["stdout"] != u {
		t.Fatalf("ran as %q, want %q", r.Changes["stdout"], u)
	}
}
