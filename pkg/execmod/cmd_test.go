package execmod_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brine-cm/brine/pkg/execmod"
	"github.com/brine-cm/brine/pkg/fileclient"
	"github.com/brine-cm/brine/pkg/testkit"
)

func newCtx(t *testing.T) (*execmod.Context, *testkit.Recorder) {
	t.Helper()
	rec := &testkit.Recorder{}
	return &execmod.Context{
		Ctx:      context.Background(),
		Grains:   map[string]any{"shell": "/bin/sh", "os_family": "Debian"},
		Pillar:   map[string]any{},
		Opts:     map[string]any{},
		Registry: execmod.Builtin(),
		Audit:    rec,
	}, rec
}

func call(t *testing.T, c *execmod.Context, fn string, args []any, kw map[string]any) any {
	t.Helper()
	out, err := c.Call(fn, args, kw)
	if err != nil {
		t.Fatalf("%s(%v, %v): %v", fn, args, kw, err)
	}
	return out
}

func callErr(t *testing.T, c *execmod.Context, fn string, args []any, kw map[string]any) error {
	t.Helper()
	_, err := c.Call(fn, args, kw)
	if err == nil {
		t.Fatalf("%s(%v, %v) succeeded, want error", fn, args, kw)
	}
	return err
}

func TestCmdRunBasics(t *testing.T) {
	c, rec := newCtx(t)
	dir := t.TempDir()

	if got := call(t, c, "cmd.run", []any{"pwd"}, map[string]any{"cwd": dir}); got != dir {
		t.Errorf("cwd: got %q, want %q", got, dir)
	}
	// Positional cwd, as Salt's signature orders it.
	if got := call(t, c, "cmd.run", []any{"pwd", dir}, nil); got != dir {
		t.Errorf("positional cwd: got %q", got)
	}
	if err := callErr(t, c, "cmd.run", []any{"pwd"}, map[string]any{"cwd": filepath.Join(dir, "nope")}); !strings.Contains(err.Error(), "either not absolute or does not exist") {
		t.Errorf("missing cwd error: %v", err)
	}

	// env as a map and as Salt's list of single-key maps.
	got := call(t, c, "cmd.run", []any{"printenv FOO BAR"}, map[string]any{"env": map[string]any{"FOO": "x", "BAR": 2}})
	if got != "x\n2" {
		t.Errorf("env map: %q", got)
	}
	got = call(t, c, "cmd.run", []any{"printenv FOO BAR"}, map[string]any{"env": []any{map[string]any{"FOO": "a"}, map[string]any{"BAR": "b"}}})
	if got != "a\nb" {
		t.Errorf("env list: %q", got)
	}
	got = call(t, c, "cmd.run", []any{"printenv LC_CTYPE"}, nil)
	if got != "C" {
		t.Errorf("reset_system_locale: LC_CTYPE = %q", got)
	}

	// Without python_shell, metacharacters are plain arguments.
	if got := call(t, c, "cmd.run", []any{"echo a | tr a b"}, nil); got != "a | tr a b" {
		t.Errorf("no shell: %q", got)
	}
	if got := call(t, c, "cmd.run", []any{"echo a | tr a b"}, map[string]any{"python_shell": true}); got != "b" {
		t.Errorf("python_shell: %q", got)
	}
	// A published job (it carries __pub_jid) uses the shell, as Salt does.
	if got := call(t, c, "cmd.run", []any{"echo a | tr a b"}, map[string]any{"__pub_jid": "20260101"}); got != "b" {
		t.Errorf("published job: %q", got)
	}
	if got := call(t, c, "cmd.shell", []any{"echo $((1+2))"}, nil); got != "3" {
		t.Errorf("cmd.shell: %q", got)
	}
	if got := call(t, c, "cmd.run", []any{`printf '%s|' "a b" 'c d' e\ f`}, nil); got != "a b|c d|e f|" {
		t.Errorf("shlex split: %q", got)
	}
	if got := call(t, c, "cmd.run", []any{[]any{"printf", "%s", "$HOME"}}, nil); got != "$HOME" {
		t.Errorf("argv list: %q", got)
	}
	if err := callErr(t, c, "cmd.run", []any{"echo"}, map[string]any{"python_shell": true, "shell": "/no/such/shell"}); !strings.Contains(err.Error(), "The shell /no/such/shell is not available") {
		t.Errorf("bad shell error: %v", err)
	}

	// stdin
	if got := call(t, c, "cmd.run", []any{"cat"}, map[string]any{"stdin": "from stdin\n"}); got != "from stdin" {
		t.Errorf("stdin: %q", got)
	}
	// rstrip=False keeps the newline.
	if got := call(t, c, "cmd.run", []any{"echo hi"}, map[string]any{"rstrip": false}); got != "hi\n" {
		t.Errorf("rstrip=False: %q", got)
	}
	// umask applies to the child only.
	before := umask()
	if got := call(t, c, "cmd.run", []any{"umask"}, map[string]any{"umask": "077", "python_shell": true}); got != "0077" {
		t.Errorf("umask: %q", got)
	}
	if umask() != before {
		t.Error("cmd.run changed the minion's own umask")
	}
	if err := callErr(t, c, "cmd.run", []any{"true"}, map[string]any{"umask": "99"}); !strings.Contains(err.Error(), `argument "umask"`) {
		t.Errorf("bad umask error: %v", err)
	}
	// A missing binary is an error, as Salt's CommandExecutionError.
	if err := callErr(t, c, "cmd.run", []any{"/no/such/binary"}, nil); !strings.Contains(err.Error(), "Unable to run command '/no/such/binary'") {
		t.Errorf("missing binary error: %v", err)
	}

	rec.Lock()
	defer rec.Unlock()
	if len(rec.Details) < 10 || rec.Actions[0] != "cmd.run" || rec.Details[0]["cmd"] != "pwd" || rec.Details[0]["retcode"] != 0 {
		t.Errorf("audit records: %v %v", rec.Actions, rec.Details)
	}
}

// liveInGroup lists the processes of process group pgid that are not
// zombies (a zombie is dead, only waiting for its parent to reap it).
func liveInGroup(pgid int) []string {
	var live []string
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 3 && f[2] == fmt.Sprint(pgid) && f[0] != "Z" && f[0] != "X" {
			live = append(live, p)
		}
	}
	return live
}

func umask() int {
	out, _ := exec.Command("/bin/sh", "-c", "umask").Output()
	var n int
	fmt.Sscanf(string(out), "%o", &n)
	return n
}

func TestCmdRunAllAndRetcode(t *testing.T) {
	c, rec := newCtx(t)
	res := call(t, c, "cmd.run_all", []any{"echo out; echo err >&2; exit 3"}, map[string]any{"python_shell": true}).(map[string]any)
	if res["stdout"] != "out" || res["stderr"] != "err" || res["retcode"] != 3 {
		t.Errorf("run_all: %v", res)
	}
	if pid, _ := res["pid"].(int); pid <= 0 {
		t.Errorf("run_all pid: %v", res["pid"])
	}
	res = call(t, c, "cmd.run_all", []any{"echo out; echo err >&2"}, map[string]any{"python_shell": true, "redirect_stderr": true}).(map[string]any)
	if res["stdout"] != "out\nerr" || res["stderr"] != "" {
		t.Errorf("run_all redirect_stderr: %v", res)
	}
	// cmd.run merges stderr into its output.
	if got := call(t, c, "cmd.run", []any{"echo out; echo err >&2"}, map[string]any{"python_shell": true}); got != "out\nerr" {
		t.Errorf("cmd.run merged output: %q", got)
	}
	if got := call(t, c, "cmd.run_stdout", []any{"echo out; echo err >&2"}, map[string]any{"python_shell": true}); got != "out" {
		t.Errorf("run_stdout: %q", got)
	}
	if got := call(t, c, "cmd.run_stderr", []any{"echo out; echo err >&2"}, map[string]any{"python_shell": true}); got != "err" {
		t.Errorf("run_stderr: %q", got)
	}
	if got := call(t, c, "cmd.retcode", []any{"false"}, nil); got != 1 {
		t.Errorf("retcode false: %v", got)
	}
	if got := call(t, c, "cmd.retcode", []any{"test -d /"}, nil); got != 0 {
		t.Errorf("retcode test -d: %v", got)
	}
	if got := call(t, c, "cmd.retcode", []any{"sh -c 'exit 7'"}, map[string]any{"success_retcodes": []any{7}}); got != 0 {
		t.Errorf("success_retcodes: %v", got)
	}
	if got := call(t, c, "cmd.retcode", []any{"sh -c 'exit 7'"}, map[string]any{"success_retcodes": "[2, 7]"}); got != 0 {
		t.Errorf("success_retcodes from CLI string: %v", got)
	}
	if got := call(t, c, "cmd.retcode", []any{"sh -c 'echo ok; exit 5'"}, map[string]any{"success_stdout": []any{"ok"}}); got != 0 {
		t.Errorf("success_stdout: %v", got)
	}
	if err := callErr(t, c, "cmd.run", []any{"false"}, map[string]any{"raise_err": true}); !strings.Contains(err.Error(), "failed with return code: 1") {
		t.Errorf("raise_err: %v", err)
	}
	if got := call(t, c, "cmd.run", []any{"echo secret"}, map[string]any{"hide_output": true}); got != "" {
		t.Errorf("hide_output: %q", got)
	}
	found := false
	rec.Lock()
	for i, a := range rec.Actions {
		if a == "cmd.run" && rec.Details[i]["fun"] == "cmd.run_all" && rec.Details[i]["retcode"] == 3 {
			found = true
		}
	}
	rec.Unlock()
	if !found {
		t.Error("run_all exit code 3 not recorded")
	}
}

func TestCmdTimeout(t *testing.T) {
	c, rec := newCtx(t)
	res := call(t, c, "cmd.run_all", []any{"sleep 30; echo never"}, map[string]any{"python_shell": true, "timeout": 1}).(map[string]any)
	if res["retcode"] != 1 || res["stdout"] != "sleep 30; echo never : Timed out after 1 seconds" {
		t.Errorf("timeout result: %v", res)
	}
	// The whole process group is gone: the shell's sleep child too.
	pid := res["pid"].(int)
	testkit.WaitSeen(t, 5*time.Second, fmt.Sprintf("process group %d to be gone after the timeout", pid), func() (bool, string) {
		live := liveInGroup(pid)
		return len(live) == 0, fmt.Sprintf("still running: %v", live)
	})
	rec.Lock()
	last := rec.Details[len(rec.Details)-1]
	rec.Unlock()
	if last["timeout"] != true {
		t.Errorf("timeout not recorded: %v", last)
	}
	// Cancelling the job's context stops the command too.
	ctx, cancel := context.WithCancel(context.Background())
	c.Ctx = ctx
	cancel()
	if _, err := c.Call("cmd.run", []any{"sleep 30"}, nil); err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Errorf("cancelled context: %v", err)
	}
}

func TestCmdRunas(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("runas needs root to switch users; run the suite as root (as CI does)")
	}
	if _, err := exec.LookPath("useradd"); err != nil {
		t.Skip("useradd not installed")
	}
	name := fmt.Sprintf("brinet%d", os.Getpid()%100000)
	home := filepath.Join("/home", name)
	_ = exec.Command("userdel", "-r", name).Run() // left over from an interrupted run
	if out, err := exec.Command("useradd", "-m", "-d", home, "-s", "/bin/sh", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("userdel", "-r", name).Run() })
	c, rec := newCtx(t)
	got := call(t, c, "cmd.run", []any{"id -un; pwd; printenv HOME USER"}, map[string]any{"runas": name, "python_shell": true})
	want := strings.Join([]string{name, home, home, name}, "\n")
	if got != want {
		t.Errorf("runas: got %q, want %q", got, want)
	}
	// The user cannot read root's files: proof the credentials changed.
	open, err := os.MkdirTemp("", "brine-runas-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(open) })
	if err := os.Chmod(open, 0o755); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(open, "secret")
	if rc := call(t, c, "cmd.retcode", []any{"ls " + open}, map[string]any{"runas": name}); rc != 0 {
		t.Errorf("runas user cannot list an open directory: rc %v", rc)
	}
	if err := os.WriteFile(secret, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if rc := call(t, c, "cmd.retcode", []any{"cat " + secret}, map[string]any{"runas": name}); rc == 0 {
		t.Error("runas user read a root-only file")
	}
	if err := callErr(t, c, "cmd.run", []any{"id"}, map[string]any{"runas": "no-such-user-xyz"}); !strings.Contains(err.Error(), "User 'no-such-user-xyz' is not available") {
		t.Errorf("unknown user error: %v", err)
	}
	rec.Lock()
	defer rec.Unlock()
	if rec.Details[0]["runas"] != name {
		t.Errorf("runas not recorded: %v", rec.Details[0])
	}
}

func TestCmdScript(t *testing.T) {
	c, _ := newCtx(t)
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "scripts"), 0o755); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\necho \"args:$*\"\necho problem >&2\nexit 4\n"
	if err := os.WriteFile(filepath.Join(root, "scripts", "run.sh"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	c.Files = fileclient.NewLocal(root)
	res := call(t, c, "cmd.script", []any{"salt://scripts/run.sh", "one 'two three'"}, nil).(map[string]any)
	if res["stdout"] != "args:one two three" || res["stderr"] != "problem" || res["retcode"] != 4 {
		t.Errorf("cmd.script salt://: %v", res)
	}
	local := filepath.Join(t.TempDir(), "local.sh")
	if err := os.WriteFile(local, []byte("#!/bin/sh\npwd\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cwd := t.TempDir()
	res = call(t, c, "cmd.script", []any{local}, map[string]any{"cwd": cwd}).(map[string]any)
	if res["stdout"] != cwd || res["retcode"] != 0 {
		t.Errorf("cmd.script local: %v", res)
	}
	if got := call(t, c, "cmd.script_retcode", []any{"salt://scripts/run.sh"}, nil); got != 4 {
		t.Errorf("script_retcode: %v", got)
	}
	if err := callErr(t, c, "cmd.script", []any{"salt://../etc/passwd"}, nil); !strings.Contains(err.Error(), "outside root") {
		t.Errorf("escape: %v", err)
	}
}

func TestCmdWhich(t *testing.T) {
	c, _ := newCtx(t)
	p := call(t, c, "cmd.which", []any{"sh"}, nil)
	if s, ok := p.(string); !ok || !filepath.IsAbs(s) {
		t.Errorf("which sh = %v", p)
	}
	if p := call(t, c, "cmd.which", []any{"no-such-binary-xyz"}, nil); p != nil {
		t.Errorf("which missing = %v", p)
	}
	if got := call(t, c, "cmd.has_exec", []any{"sh"}, nil); got != true {
		t.Errorf("has_exec sh = %v", got)
	}
	if got := call(t, c, "cmd.has_exec", nil, map[string]any{"cmd": "no-such-binary-xyz"}); got != false {
		t.Errorf("has_exec missing = %v", got)
	}
}

func TestShlexSplit(t *testing.T) {
	cases := map[string][]string{
		`a b  c`:          {"a", "b", "c"},
		`'a b' "c d"`:     {"a b", "c d"},
		`a\ b`:            {"a b"},
		`"a \"q\" \\ \$"`: {`a "q" \ \$`},
		`x'y'"z"`:         {"xyz"},
		`''`:              {""},
		"  \t":            nil,
	}
	for in, want := range cases {
		got, err := execmod.ShlexSplit(in)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(want) || len(got) != len(want) {
			t.Errorf("ShlexSplit(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{`'open`, `"open`, `trailing\`} {
		if _, err := execmod.ShlexSplit(bad); err == nil {
			t.Errorf("ShlexSplit(%q) accepted", bad)
		}
	}
	if q := execmod.ShellQuote("it's"); q != `'it'"'"'s'` {
		t.Errorf("ShellQuote = %s", q)
	}
}

// TestCmdDirectCallUsesShell checks Salt's rule: a command an operator
// runs (Registry.Call) goes through the shell, the same command run by a
// module or a template (Context.Call) does not.
func TestCmdDirectCallUsesShell(t *testing.T) {
	c, _ := newCtx(t)
	r := c.Registry
	r.Register("nested.run", "Run cmd.run from inside a module.\nCLI Example: brine-master run '*' nested.run", func(c *execmod.Context, args []any, _ map[string]any) (any, error) {
		if !c.Direct() {
			return nil, fmt.Errorf("nested.run should see a direct call")
		}
		return c.Call("cmd.run", args, nil)
	})
	got, err := r.Call(c, "cmd.run", []any{"echo a | tr a b"}, nil)
	if err != nil || got != "b" {
		t.Errorf("direct cmd.run = %q, %v; want the shell's output", got, err)
	}
	if c.Direct() {
		t.Error("Registry.Call marked the caller's context as direct")
	}
	got, err = r.Call(c, "nested.run", []any{"echo a | tr a b"}, nil)
	if err != nil || got != "a | tr a b" {
		t.Errorf("nested cmd.run = %q, %v; want no shell", got, err)
	}
	got, err = r.Call(c, "cmd.run", []any{"echo a | tr a b"}, map[string]any{"python_shell": false})
	if err != nil || got != "a | tr a b" {
		t.Errorf("direct cmd.run python_shell=False = %q, %v", got, err)
	}
}

// TestCmdStdinIsDevNull checks a command given no stdin= reads
// /dev/null, read-only and empty, on every call (the descriptor is shared
// and must survive each command), and that stdin= still replaces it.
func TestCmdStdinIsDevNull(t *testing.T) {
	c, _ := newCtx(t)
	for i := 0; i < 3; i++ {
		got := call(t, c, "cmd.run", []any{"readlink /proc/self/fd/0; wc -c; awk '/^flags/ { print substr($2, length($2)) }' /proc/self/fdinfo/0"}, map[string]any{"python_shell": true})
		if got != "/dev/null\n0\n0" { // the last octal digit of the flags: O_RDONLY
			t.Fatalf("call %d: stdin gave %q", i, got)
		}
	}
	if got := call(t, c, "cmd.run", []any{"cat"}, map[string]any{"stdin": "fed"}); got != "fed" {
		t.Fatalf("stdin=: got %q", got)
	}
}
