package execmod

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"
)

// registerCmd adds Salt's cmd module: running commands on the host with
// the working directory, environment, user, shell and timeout the caller
// asks for, recording every command in the host's audit trail.
func registerCmd(r *Registry) {
	r.Register("cmd.run", "Run a command and return its output (stderr merged into stdout).\nCLI Example: brine-master run '*' cmd.run 'ls -l | awk \"/foo/{print \\$2}\"' cwd=/tmp", cmdRun)
	r.Register("cmd.run_all", "Run a command and return {pid, retcode, stdout, stderr}.\nCLI Example: brine-master run '*' cmd.run_all 'ls -l' cwd=/var", cmdRunAllFn)
	r.Register("cmd.run_stdout", "Run a command and return only its stdout.\nCLI Example: brine-master run '*' cmd.run_stdout 'ls -l'", cmdRunStdout)
	r.Register("cmd.run_stderr", "Run a command and return only its stderr.\nCLI Example: brine-master run '*' cmd.run_stderr 'ls /nope'", cmdRunStderr)
	r.Register("cmd.retcode", "Run a command and return only its exit code.\nCLI Example: brine-master run '*' cmd.retcode 'test -f /etc/hosts'", cmdRetcode)
	r.Register("cmd.shell", "Run a command through the shell (python_shell=True) and return its output.\nCLI Example: brine-master run '*' cmd.shell 'echo $HOME | tr a-z A-Z'", cmdShell)
	r.Register("cmd.script", "Fetch a script (salt:// or a local path) and run it with args; returns {pid, retcode, stdout, stderr}.\nCLI Example: brine-master run '*' cmd.script salt://scripts/runme.sh args='--verbose'", cmdScript)
	r.Register("cmd.script_retcode", "Run a script as cmd.script does and return only its exit code.\nCLI Example: brine-master run '*' cmd.script_retcode salt://scripts/runme.sh", cmdScriptRetcode)
	r.Register("cmd.has_exec", "Return True if the executable is found in PATH (or is an executable path).\nCLI Example: brine-master run '*' cmd.has_exec cat", cmdHasExec)
	r.Register("cmd.which", "Return the full path of an executable found in PATH, or None.\nCLI Example: brine-master run '*' cmd.which cat", cmdWhich)
}

// cmdParams are cmd.run's parameters in Salt's positional order.
var cmdParams = []string{"cmd", "cwd", "stdin", "runas", "group", "shell", "python_shell", "env",
	"clean_env", "template", "rstrip", "umask", "output_encoding", "output_loglevel", "log_callback",
	"hide_output", "timeout", "reset_system_locale", "ignore_retcode", "saltenv", "use_vt", "bg",
	"password", "encoded_cmd", "raise_err", "prepend_path", "success_retcodes", "success_stdout",
	"success_stderr"}

// runSpec is a parsed cmd.* call.
type runSpec struct {
	fn            string
	argv          []string // the command as executed
	display       string   // the command as the caller wrote it
	cwd           string
	stdin         *string
	env           []string
	cred          *syscall.Credential
	runas         string
	timeout       time.Duration
	umask         string
	rstrip        bool
	hideOutput    bool
	ignoreRetcode bool
	raiseErr      bool
	bg            bool
	loglevel      string
	successCodes  []int
	successOut    []string
	successErr    []string
	redirect      bool // merge stderr into stdout
}

// cmdResult is run_all's shape.
type cmdResult struct {
	pid     int
	retcode int
	stdout  string
	stderr  string
}

func (r cmdResult) asMap() map[string]any {
	return map[string]any{"pid": r.pid, "retcode": r.retcode, "stdout": r.stdout, "stderr": r.stderr}
}

// defaultShell is Salt's DEFAULT_SHELL: the shell grain, else $SHELL,
// else /bin/sh.
func defaultShell(c *Context) string {
	if c != nil {
		if s, ok := c.Grains["shell"].(string); ok && s != "" {
			return s
		}
	}
	if s := os.Getenv("SHELL"); s != "" {
		return s
	}
	return "/bin/sh"
}

// pythonShellDefault is Salt's rule: a command an operator called
// directly (Context.Direct, or a __pub_jid argument as Salt passes it)
// runs through the shell, as does any command when the cmd_safe option
// is False; calls from other modules and templates do not, so their
// arguments are never shell-interpreted.
func pythonShellDefault(c *Context, kw map[string]any) bool {
	if c.Direct() {
		return true
	}
	if jid, ok := kw["__pub_jid"]; ok && jid != nil && jid != "" {
		return true
	}
	if c != nil {
		if v, ok := c.Opts["cmd_safe"]; ok {
			if b, ok := ToBool(v); ok && !b {
				return true
			}
		}
	}
	return false
}

func parseRun(c *Context, fn string, args []any, kwargs map[string]any, forceShell bool) (*runSpec, error) {
	kw, err := Bind(fn, args, kwargs, cmdParams...)
	if err != nil {
		return nil, err
	}
	if err := Require(fn, kw, "cmd"); err != nil {
		return nil, err
	}
	return buildSpec(c, fn, kw, forceShell)
}

func buildSpec(c *Context, fn string, kw map[string]any, forceShell bool) (*runSpec, error) {
	s := &runSpec{fn: fn}
	var err error
	if Has(kw, "template") {
		return nil, fmt.Errorf("%s: template= is not supported; render the command in the SLS instead", fn)
	}
	if Has(kw, "password") {
		return nil, fmt.Errorf("%s: password= is only used on Windows", fn)
	}
	pyShell := forceShell
	if !forceShell {
		if Has(kw, "python_shell") {
			if pyShell, err = Bool(kw, "python_shell", false); err != nil {
				return nil, err
			}
		} else {
			pyShell = pythonShellDefault(c, kw)
		}
	}
	shell, err := Str(kw, "shell", defaultShell(c))
	if err != nil {
		return nil, err
	}
	if pyShell {
		if fi, err := os.Stat(shell); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return nil, fmt.Errorf("The shell %s is not available", shell)
		}
	}
	switch v := kw["cmd"].(type) {
	case []any, []string:
		parts, err := ToStrList("cmd", v)
		if err != nil {
			return nil, err
		}
		if len(parts) == 0 {
			return nil, fmt.Errorf("%s: empty command", fn)
		}
		s.display = strings.Join(parts, " ")
		if pyShell {
			s.argv = []string{shell, "-c", joinQuoted(parts)}
		} else {
			s.argv = parts
		}
	default:
		cmd, err := Str(kw, "cmd", "")
		if err != nil {
			return nil, err
		}
		if strings.TrimSpace(cmd) == "" {
			return nil, fmt.Errorf("%s: empty command", fn)
		}
		s.display = cmd
		if pyShell {
			s.argv = []string{shell, "-c", cmd}
		} else {
			if s.argv, err = ShlexSplit(cmd); err != nil {
				return nil, fmt.Errorf("%s: %w", fn, err)
			}
			if len(s.argv) == 0 {
				return nil, fmt.Errorf("%s: empty command", fn)
			}
		}
	}

	// User and group.
	var home string
	if s.runas, err = Str(kw, "runas", ""); err != nil {
		return nil, err
	}
	group, err := Str(kw, "group", "")
	if err != nil {
		return nil, err
	}
	var runUser *user.User
	if s.runas != "" {
		runUser, err = user.Lookup(s.runas)
		if err != nil {
			return nil, fmt.Errorf("User '%s' is not available: %w", s.runas, err)
		}
		home = runUser.HomeDir
		uid, _ := strconv.ParseUint(runUser.Uid, 10, 32)
		gid, _ := strconv.ParseUint(runUser.Gid, 10, 32)
		if int(uid) != os.Getuid() {
			if os.Geteuid() != 0 {
				return nil, fmt.Errorf("%s: runas=%s requires running as root", fn, s.runas)
			}
			cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
			if gids, err := runUser.GroupIds(); err == nil {
				for _, g := range gids {
					if n, err := strconv.ParseUint(g, 10, 32); err == nil {
						cred.Groups = append(cred.Groups, uint32(n))
					}
				}
			}
			s.cred = cred
		}
	} else if u, err := user.Current(); err == nil {
		home = u.HomeDir
	}
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			return nil, fmt.Errorf("Group '%s' is not available: %w", group, err)
		}
		gid, _ := strconv.ParseUint(g.Gid, 10, 32)
		if s.cred == nil {
			if os.Geteuid() != 0 {
				return nil, fmt.Errorf("%s: group=%s requires running as root", fn, group)
			}
			s.cred = &syscall.Credential{Uid: uint32(os.Getuid()), Gid: uint32(gid)}
		} else {
			s.cred.Gid = uint32(gid)
		}
	}

	// Working directory: the user's home by default, as Salt does.
	if s.cwd, err = Str(kw, "cwd", ""); err != nil {
		return nil, err
	}
	if s.cwd == "" {
		s.cwd = home
		if s.cwd == "" {
			s.cwd = "/"
		}
	}
	if fi, err := os.Stat(s.cwd); !filepath.IsAbs(s.cwd) || err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("Specified cwd '%s' either not absolute or does not exist", s.cwd)
	}

	if Has(kw, "stdin") {
		in, err := Str(kw, "stdin", "")
		if err != nil {
			return nil, err
		}
		s.stdin = &in
	}

	// Environment.
	envMap, err := MapList(kw, "env")
	if err != nil {
		return nil, err
	}
	clean, err := Bool(kw, "clean_env", false)
	if err != nil {
		return nil, err
	}
	resetLocale, err := Bool(kw, "reset_system_locale", true)
	if err != nil {
		return nil, err
	}
	prepend, err := Str(kw, "prepend_path", "")
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	if !clean {
		for _, kv := range os.Environ() {
			if k, v, ok := strings.Cut(kv, "="); ok {
				env[k] = v
			}
		}
	}
	if runUser != nil {
		env["HOME"] = runUser.HomeDir
		env["USER"] = runUser.Username
		env["LOGNAME"] = runUser.Username
	}
	if resetLocale {
		for _, k := range []string{"LC_CTYPE", "LC_NUMERIC", "LC_TIME", "LC_COLLATE", "LC_MONETARY", "LC_MESSAGES", "LC_PAPER", "LC_NAME", "LC_ADDRESS", "LC_TELEPHONE", "LC_MEASUREMENT", "LC_IDENTIFICATION", "LANGUAGE"} {
			if _, ok := env[k]; !ok {
				env[k] = "C"
			}
		}
	}
	for k, v := range envMap {
		sv, ok := ToString(v)
		if !ok {
			return nil, &ArgError{Arg: "env", Want: "string values", Got: v, Msg: "key " + k}
		}
		env[k] = sv
	}
	if prepend != "" {
		if p := env["PATH"]; p != "" {
			env["PATH"] = prepend + ":" + p
		} else {
			env["PATH"] = prepend
		}
	}
	for k, v := range env {
		s.env = append(s.env, k+"="+v)
	}

	timeout, err := Float(kw, "timeout", 0)
	if err != nil {
		return nil, err
	}
	s.timeout = time.Duration(timeout * float64(time.Second))
	if Has(kw, "umask") {
		um, err := Str(kw, "umask", "")
		if err != nil {
			return nil, err
		}
		if n, err := strconv.ParseUint(um, 8, 32); err != nil || n > 0o777 {
			return nil, &ArgError{Arg: "umask", Want: "an octal mode such as 022", Got: kw["umask"]}
		}
		s.umask = um
	}
	if s.rstrip, err = Bool(kw, "rstrip", true); err != nil {
		return nil, err
	}
	if s.hideOutput, err = Bool(kw, "hide_output", false); err != nil {
		return nil, err
	}
	if s.ignoreRetcode, err = Bool(kw, "ignore_retcode", false); err != nil {
		return nil, err
	}
	if s.raiseErr, err = Bool(kw, "raise_err", false); err != nil {
		return nil, err
	}
	if s.bg, err = Bool(kw, "bg", false); err != nil {
		return nil, err
	}
	if s.loglevel, err = Str(kw, "output_loglevel", "debug"); err != nil {
		return nil, err
	}
	if Has(kw, "success_retcodes") {
		l, err := List(kw, "success_retcodes")
		if err != nil {
			return nil, err
		}
		for _, e := range l {
			n, ok := ToInt(e)
			if !ok {
				return nil, &ArgError{Arg: "success_retcodes", Want: "a list of integers", Got: kw["success_retcodes"]}
			}
			s.successCodes = append(s.successCodes, n)
		}
	}
	if s.successOut, err = StrList(kw, "success_stdout"); err != nil {
		return nil, err
	}
	if s.successErr, err = StrList(kw, "success_stderr"); err != nil {
		return nil, err
	}
	return s, nil
}

// joinQuoted turns an argv list into one shell command line.
func joinQuoted(parts []string) string {
	q := make([]string, len(parts))
	for i, p := range parts {
		q[i] = ShellQuote(p)
	}
	return strings.Join(q, " ")
}

// ShellQuote quotes s for a POSIX shell (single quotes, as Python's
// shlex.quote does), leaving safe words bare.
func ShellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./-_", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

// ShlexSplit splits a command line as Python's shlex.split (POSIX mode)
// does, which is how Salt turns a command into argv when it does not use
// a shell: whitespace separates words, single quotes are literal, double
// quotes allow \" and \\, and a backslash outside quotes escapes the next
// character.
func ShlexSplit(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '\'':
			inWord = true
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("no closing quotation")
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
		case ch == '"':
			inWord = true
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, errors.New("no closing quotation")
			}
		case ch == '\\':
			inWord = true
			if i+1 >= len(s) {
				return nil, errors.New("no escaped character")
			}
			i++
			cur.WriteByte(s[i])
		case ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			inWord = true
			cur.WriteByte(ch)
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}

// logLevel maps Salt's output_loglevel names; "quiet" hides the command.
func logLevel(name string) (slog.Level, bool) {
	switch strings.ToLower(name) {
	case "quiet", "none", "":
		return 0, false
	case "trace", "garbage", "all", "debug", "profile":
		return slog.LevelDebug, true
	case "info":
		return slog.LevelInfo, true
	case "warning", "warn":
		return slog.LevelWarn, true
	case "error", "critical":
		return slog.LevelError, true
	}
	return slog.LevelDebug, true
}

// execute runs the spec and returns Salt's run_all result. A command
// that cannot be started is an error; a non-zero exit is not.
func execute(c *Context, s *runSpec) (cmdResult, error) {
	log := c.Logger()
	ctx := c.Context()
	level, show := logLevel(s.loglevel)
	if show {
		who := ""
		if s.runas != "" {
			who = " as user '" + s.runas + "'"
		}
		log.Log(ctx, slog.LevelInfo, fmt.Sprintf("Executing command '%s'%s in directory '%s'", s.display, who, s.cwd))
	}
	argv := s.argv
	if s.umask != "" {
		// Set the umask in the child only: the minion's own umask is
		// process-wide and shared by concurrent jobs.
		argv = append([]string{"/bin/sh", "-c", `umask "$0" && exec "$@"`, s.umask}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = s.cwd
	cmd.Env = s.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: s.cred}
	if s.stdin != nil {
		cmd.Stdin = strings.NewReader(*s.stdin)
	} else if null := devNull(); null != nil {
		cmd.Stdin = null
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	if s.redirect {
		cmd.Stderr = &stdout
	} else {
		cmd.Stderr = &stderr
	}
	if c != nil && c.Progress != nil && !s.hideOutput {
		out := &teeWriter{buf: &stdout, stream: "stdout", sink: c.Progress}
		cmd.Stdout, cmd.Stderr = out, out
		if !s.redirect {
			cmd.Stderr = &teeWriter{buf: &stderr, stream: "stderr", sink: c.Progress}
		}
	}
	if s.bg {
		cmd.Stdout, cmd.Stderr = nil, nil
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		c.Record("cmd.run", map[string]any{"fun": s.fn, "cmd": s.display, "cwd": s.cwd, "runas": s.runas, "error": err.Error()})
		return cmdResult{}, fmt.Errorf("Unable to run command '%s' with the context {'cwd': '%s', 'runas': '%s'}, reason: %w", s.display, s.cwd, s.runas, err)
	}
	pid := cmd.Process.Pid
	if s.bg {
		go func() { _ = cmd.Wait() }()
		c.Record("cmd.run", map[string]any{"fun": s.fn, "cmd": s.display, "cwd": s.cwd, "runas": s.runas, "pid": pid, "bg": true})
		return cmdResult{pid: pid}, nil
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var timer <-chan time.Time
	if s.timeout > 0 {
		t := time.NewTimer(s.timeout)
		defer t.Stop()
		timer = t.C
	}
	kill := func() {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-done
	}
	var res cmdResult
	res.pid = pid
	select {
	case err := <-done:
		res.retcode = exitCode(cmd, err)
	case <-timer:
		kill()
		res.stdout = fmt.Sprintf("%s : Timed out after %s seconds", s.display, trimFloat(s.timeout.Seconds()))
		res.retcode = 1
		c.Record("cmd.run", map[string]any{"fun": s.fn, "cmd": s.display, "cwd": s.cwd, "runas": s.runas, "pid": pid, "retcode": 1, "timeout": true})
		log.Error(res.stdout)
		return res, nil
	case <-ctx.Done():
		kill()
		c.Record("cmd.run", map[string]any{"fun": s.fn, "cmd": s.display, "cwd": s.cwd, "runas": s.runas, "pid": pid, "cancelled": true})
		return res, fmt.Errorf("command '%s' cancelled: %w", s.display, ctx.Err())
	}
	res.stdout, res.stderr = stdout.String(), stderr.String()
	if s.rstrip {
		// Python's str.rstrip(): every trailing whitespace character.
		res.stdout = strings.TrimRightFunc(res.stdout, unicode.IsSpace)
		res.stderr = strings.TrimRightFunc(res.stderr, unicode.IsSpace)
	}
	for _, code := range s.successCodes {
		if res.retcode == code {
			res.retcode = 0
		}
	}
	for _, o := range s.successOut {
		if res.stdout == o {
			res.retcode = 0
		}
	}
	for _, o := range s.successErr {
		if res.stderr == o {
			res.retcode = 0
		}
	}
	c.Record("cmd.run", map[string]any{"fun": s.fn, "cmd": s.display, "cwd": s.cwd, "runas": s.runas, "pid": pid,
		"retcode": res.retcode, "duration_ms": float64(time.Since(start).Microseconds()) / 1000})
	if show {
		if res.stdout != "" {
			log.Log(ctx, level, "stdout: "+res.stdout)
		}
		if res.stderr != "" {
			log.Log(ctx, level, "stderr: "+res.stderr)
		}
	}
	if res.retcode != 0 && !s.ignoreRetcode {
		log.Error(fmt.Sprintf("Command '%s' failed with return code: %d", s.display, res.retcode))
	}
	if s.hideOutput {
		res.stdout, res.stderr = "", ""
	}
	if s.raiseErr && res.retcode != 0 {
		return res, fmt.Errorf("Command '%s' failed with return code: %d: %s", s.display, res.retcode, firstNonEmpty(res.stderr, res.stdout))
	}
	return res, nil
}

// devNull is /dev/null opened once for reading and never closed: every
// command without stdin= reads from it, as it would from the copy os/exec
// opens for each command, without an open (and a poller registration
// that fails) per command. nil when it cannot be opened; os/exec then
// reports that itself.
var devNull = sync.OnceValue(func() *os.File {
	f, err := os.Open(os.DevNull)
	if err != nil {
		return nil
	}
	return f
})

// teeWriter keeps a command's output and hands each piece to the
// context's progress sink as it arrives. exec.Cmd writes to one writer
// from one goroutine (and to a writer used for both streams from one at
// a time), so it needs no lock of its own.
type teeWriter struct {
	buf    *bytes.Buffer
	stream string
	sink   func(stream string, chunk []byte)
}

func (w *teeWriter) Write(p []byte) (int, error) {
	n, err := w.buf.Write(p)
	w.sink(w.stream, p[:n])
	return n, err
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func trimFloat(f float64) string {
	return strconv.FormatFloat(f, 'f', -1, 64)
}

func exitCode(cmd *exec.Cmd, err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			// As a shell reports it: 128 + signal number.
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	if cmd.ProcessState != nil {
		return cmd.ProcessState.ExitCode()
	}
	return 1
}

func runWith(c *Context, fn string, args []any, kwargs map[string]any, shell, redirect bool) (cmdResult, error) {
	s, err := parseRun(c, fn, args, kwargs, shell)
	if err != nil {
		return cmdResult{}, err
	}
	s.redirect = redirect
	return execute(c, s)
}

func cmdRun(c *Context, args []any, kwargs map[string]any) (any, error) {
	res, err := runWith(c, "cmd.run", args, kwargs, false, true)
	if err != nil {
		return nil, err
	}
	if b, _ := Bool(kwargs, "bg", false); b {
		return map[string]any{"pid": res.pid}, nil
	}
	return res.stdout, nil
}

func cmdShell(c *Context, args []any, kwargs map[string]any) (any, error) {
	res, err := runWith(c, "cmd.shell", args, kwargs, true, true)
	if err != nil {
		return nil, err
	}
	return res.stdout, nil
}

func cmdRunAllFn(c *Context, args []any, kwargs map[string]any) (any, error) {
	redirect, err := Bool(kwargs, "redirect_stderr", false)
	if err != nil {
		return nil, err
	}
	kw := kwargs
	if _, ok := kwargs["redirect_stderr"]; ok {
		kw = make(map[string]any, len(kwargs))
		for k, v := range kwargs {
			if k != "redirect_stderr" {
				kw[k] = v
			}
		}
	}
	res, err := runWith(c, "cmd.run_all", args, kw, false, redirect)
	if err != nil {
		return nil, err
	}
	return res.asMap(), nil
}

func cmdRunStdout(c *Context, args []any, kwargs map[string]any) (any, error) {
	res, err := runWith(c, "cmd.run_stdout", args, kwargs, false, false)
	if err != nil {
		return nil, err
	}
	return res.stdout, nil
}

func cmdRunStderr(c *Context, args []any, kwargs map[string]any) (any, error) {
	res, err := runWith(c, "cmd.run_stderr", args, kwargs, false, false)
	if err != nil {
		return nil, err
	}
	return res.stderr, nil
}

func cmdRetcode(c *Context, args []any, kwargs map[string]any) (any, error) {
	res, err := runWith(c, "cmd.retcode", args, kwargs, false, false)
	if err != nil {
		return nil, err
	}
	return res.retcode, nil
}

// scriptParams are cmd.script's parameters in Salt's positional order.
var scriptParams = []string{"source", "args", "cwd", "stdin", "runas", "group", "shell", "python_shell",
	"env", "template", "umask", "output_encoding", "output_loglevel", "log_callback", "hide_output",
	"timeout", "reset_system_locale", "saltenv", "use_vt", "bg", "password", "success_retcodes",
	"success_stdout", "success_stderr"}

func runScript(c *Context, fn string, args []any, kwargs map[string]any) (cmdResult, error) {
	kw, err := Bind(fn, args, kwargs, scriptParams...)
	if err != nil {
		return cmdResult{}, err
	}
	if err := Require(fn, kw, "source"); err != nil {
		return cmdResult{}, err
	}
	source, err := Str(kw, "source", "")
	if err != nil {
		return cmdResult{}, err
	}
	saltenv, err := saltenvOf(c, kw)
	if err != nil {
		return cmdResult{}, err
	}
	var content []byte
	if strings.HasPrefix(source, "salt://") {
		if c == nil || c.Files == nil {
			return cmdResult{}, fmt.Errorf("%s: no file client to fetch %s", fn, source)
		}
		if content, err = c.Files.Read(c.Context(), withEnv(source, saltenv)); err != nil {
			return cmdResult{}, fmt.Errorf("%s: Unable to cache script from %s: %w", fn, source, err)
		}
	} else {
		if content, err = os.ReadFile(source); err != nil {
			return cmdResult{}, fmt.Errorf("%s: Unable to read script %s: %w", fn, source, err)
		}
	}
	dir, err := os.MkdirTemp("", "brine-script-")
	if err != nil {
		return cmdResult{}, fmt.Errorf("%s: %w", fn, err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, filepath.Base(strings.SplitN(strings.TrimPrefix(source, "salt://"), "?", 2)[0]))
	if err := os.WriteFile(path, content, 0o700); err != nil {
		return cmdResult{}, fmt.Errorf("%s: write script: %w", fn, err)
	}
	scriptArgs, err := Str(kw, "args", "")
	if err != nil {
		return cmdResult{}, err
	}
	cmdline := ShellQuote(path)
	if scriptArgs != "" {
		cmdline += " " + scriptArgs
	}
	runKw := map[string]any{}
	for k, v := range kw {
		switch k {
		case "source", "args", "saltenv":
		default:
			runKw[k] = v
		}
	}
	runKw["cmd"] = cmdline
	s, err := buildSpec(c, fn, runKw, false)
	if err != nil {
		return cmdResult{}, err
	}
	s.display = source
	if scriptArgs != "" {
		s.display += " " + scriptArgs
	}
	if s.cred != nil {
		for _, p := range []string{dir, path} {
			if err := os.Chown(p, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
				return cmdResult{}, fmt.Errorf("%s: chown script for %s: %w", fn, s.runas, err)
			}
		}
	}
	if s.bg {
		return cmdResult{}, fmt.Errorf("%s: bg=True is not supported for scripts", fn)
	}
	return execute(c, s)
}

func cmdScript(c *Context, args []any, kwargs map[string]any) (any, error) {
	res, err := runScript(c, "cmd.script", args, kwargs)
	if err != nil {
		return nil, err
	}
	return res.asMap(), nil
}

func cmdScriptRetcode(c *Context, args []any, kwargs map[string]any) (any, error) {
	res, err := runScript(c, "cmd.script_retcode", args, kwargs)
	if err != nil {
		return nil, err
	}
	return res.retcode, nil
}

func which(name string) (string, bool) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", false
	}
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	return p, true
}

func cmdHasExec(_ *Context, args []any, kwargs map[string]any) (any, error) {
	name, err := bindOneStr("cmd.has_exec", "cmd", args, kwargs)
	if err != nil {
		return nil, err
	}
	_, ok := which(name)
	return ok, nil
}

func cmdWhich(_ *Context, args []any, kwargs map[string]any) (any, error) {
	name, err := bindOneStr("cmd.which", "cmd", args, kwargs)
	if err != nil {
		return nil, err
	}
	if p, ok := which(name); ok {
		return p, nil
	}
	return nil, nil
}
