package execmod

import (
	"bytes"
	"crypto/rand"
	"crypto/sha512"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
)

// registerUser adds Salt's user module (the useradd flavour used on
// Linux), so user.present and operators manage local accounts with the
// shadow-utils tools the host already trusts.
func registerUser(r *Registry) {
	r.Register("user.info", "Return user information: name, uid, gid, home, shell, fullname, groups, ... ({} if absent).\nCLI Example: brine-master run '*' user.info root", userInfo)
	r.Register("user.add", "Add a user with useradd.\nCLI Example: brine-master run '*' user.add name uid=4000 groups=wheel shell=/bin/bash", userAdd)
	r.Register("user.delete", "Remove a user (remove=True also deletes home and mail spool).\nCLI Example: brine-master run '*' user.delete name remove=True", userDelete)
	r.Register("user.chshell", "Change a user's login shell.\nCLI Example: brine-master run '*' user.chshell foo /bin/zsh", userChshell)
	r.Register("user.chhome", "Change a user's home directory (persist=True moves its content).\nCLI Example: brine-master run '*' user.chhome foo /home/users/foo True", userChhome)
	r.Register("user.chgroups", "Set (or with append=True, add to) a user's supplementary groups.\nCLI Example: brine-master run '*' user.chgroups foo wheel,root", userChgroups)
	r.Register("user.chuid", "Change a user's uid.\nCLI Example: brine-master run '*' user.chuid foo 4376", userChuid)
	r.Register("user.chgid", "Change a user's primary gid.\nCLI Example: brine-master run '*' user.chgid foo 4376", userChgid)
	r.Register("user.chfullname", "Change a user's full name (GECOS first field).\nCLI Example: brine-master run '*' user.chfullname foo 'Foo Bar'", userChfullname)
	r.Register("user.list_groups", "Return the sorted groups a user belongs to, primary group included.\nCLI Example: brine-master run '*' user.list_groups foo", userListGroups)
	r.Register("user.getent", "Return the information of every user.\nCLI Example: brine-master run '*' user.getent", userGetent)
	r.Register("user.list_users", "Return the sorted user names.\nCLI Example: brine-master run '*' user.list_users", userListUsers)
	r.Register("shadow.info", "Return a user's shadow entry: name, passwd (hash), lstchg, min, max, warn, inact, expire.\nCLI Example: brine-master run '*' shadow.info root", shadowInfo)
	r.Register("shadow.gen_password", "Hash a password as /etc/shadow stores it (SHA-512 crypt); crypt_salt may be a salt or an existing $6$ hash.\nCLI Example: brine-master run '*' shadow.gen_password 'I_am_password'", shadowGenPassword)
	r.Register("shadow.set_password", "Set a user's password hash (as found in /etc/shadow).\nCLI Example: brine-master run '*' shadow.set_password root '$1$UYCIxa628.9qXjpQCjM4a..'", shadowSetPassword)
}

// acctRun runs an account tool (argv, no shell) through cmd.run_all so it
// is logged and audited like any command, and returns its output.
func acctRun(c *Context, stdin string, argv ...string) (string, string, int, error) {
	l := make([]any, len(argv))
	for i, a := range argv {
		l[i] = a
	}
	kw := map[string]any{"python_shell": false, "rstrip": false, "output_loglevel": "quiet", "ignore_retcode": true}
	if stdin != "" {
		kw["stdin"] = stdin
	}
	out, err := c.Call("cmd.run_all", []any{l}, kw)
	if err != nil {
		return "", "", -1, err
	}
	m, _ := out.(map[string]any)
	so, _ := m["stdout"].(string)
	se, _ := m["stderr"].(string)
	rc, _ := ToInt(m["retcode"])
	return so, se, rc, nil
}

// acctQuery runs a read-only lookup tool directly: a query changes
// nothing on the host, so it is kept out of the command audit trail that
// cmd.run_all writes.
func acctQuery(c *Context, argv ...string) (string, string, int, error) {
	cmd := exec.CommandContext(c.Context(), argv[0], argv[1:]...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return so.String(), se.String(), ee.ExitCode(), nil
	}
	if err != nil {
		return "", "", -1, fmt.Errorf("%s: %w", argv[0], err)
	}
	return so.String(), se.String(), 0, nil
}

// acctCheck runs argv and turns a non-zero exit into an error carrying
// the tool's message.
func acctCheck(c *Context, argv ...string) error {
	_, se, rc, err := acctRun(c, "", argv...)
	if err != nil {
		return err
	}
	if rc != 0 {
		msg := strings.TrimSpace(se)
		if msg == "" {
			msg = fmt.Sprintf("exit status %d", rc)
		}
		return fmt.Errorf("%s: %s", argv[0], msg)
	}
	return nil
}

// passwdEntry is one /etc/passwd line.
type passwdEntry struct {
	name, passwd   string
	uid, gid       int
	gecos          string
	home, shell    string
	haveIDs, valid bool
}

func parsePasswdLine(line string) passwdEntry {
	f := strings.Split(strings.TrimRight(line, "\r\n"), ":")
	if len(f) < 7 {
		return passwdEntry{}
	}
	uid, e1 := strconv.Atoi(f[2])
	gid, e2 := strconv.Atoi(f[3])
	return passwdEntry{name: f[0], passwd: f[1], uid: uid, gid: gid, gecos: f[4], home: f[5], shell: f[6],
		haveIDs: e1 == nil && e2 == nil, valid: true}
}

// groupEntry is one /etc/group line.
type groupEntry struct {
	name, passwd string
	gid          int
	members      []string
}

func parseGroupLine(line string) (groupEntry, bool) {
	f := strings.Split(strings.TrimRight(line, "\r\n"), ":")
	if len(f) < 4 {
		return groupEntry{}, false
	}
	gid, err := strconv.Atoi(f[2])
	if err != nil {
		return groupEntry{}, false
	}
	var members []string
	for _, m := range strings.Split(f[3], ",") {
		if m = strings.TrimSpace(m); m != "" {
			members = append(members, m)
		}
	}
	return groupEntry{name: f[0], passwd: f[1], gid: gid, members: members}, true
}

// getentLines lists a database (passwd, group, shadow) through getent,
// which honours NSS as the tools do; key narrows it to one entry, and a
// missing key gives no lines.
func getentLines(c *Context, db string, key ...string) ([]string, error) {
	argv := append([]string{"getent", db}, key...)
	so, se, rc, err := acctQuery(c, argv...)
	if err != nil {
		return nil, err
	}
	if rc == 2 {
		return nil, nil
	}
	if rc != 0 {
		return nil, fmt.Errorf("getent %s: %s", db, strings.TrimSpace(se))
	}
	var out []string
	for _, l := range strings.Split(so, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out, nil
}

func lookupPasswd(c *Context, name string) (passwdEntry, error) {
	lines, err := getentLines(c, "passwd", name)
	if err != nil || len(lines) == 0 {
		return passwdEntry{}, err
	}
	e := parsePasswdLine(lines[0])
	if e.name != name {
		// getent also matches numeric ids; a user name is wanted here.
		return passwdEntry{}, nil
	}
	return e, nil
}

func allGroups(c *Context) ([]groupEntry, error) {
	lines, err := getentLines(c, "group")
	if err != nil {
		return nil, err
	}
	var out []groupEntry
	for _, l := range lines {
		if g, ok := parseGroupLine(l); ok {
			out = append(out, g)
		}
	}
	return out, nil
}

// userGroups returns the sorted groups of a user: its primary group and
// every group listing it as a member.
func userGroups(c *Context, e passwdEntry) ([]string, error) {
	groups, err := allGroups(c)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, g := range groups {
		if g.gid == e.gid {
			set[g.name] = true
		}
		for _, m := range g.members {
			if m == e.name {
				set[g.name] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for g := range set {
		out = append(out, g)
	}
	sort.Strings(out)
	return out, nil
}

func userInfoMap(c *Context, e passwdEntry) (map[string]any, error) {
	g := strings.Split(e.gecos, ",")
	for len(g) < 5 {
		g = append(g, "")
	}
	groups, err := userGroups(c, e)
	if err != nil {
		return nil, err
	}
	gl := make([]any, len(groups))
	for i, x := range groups {
		gl[i] = x
	}
	return map[string]any{
		"name": e.name, "passwd": e.passwd, "uid": e.uid, "gid": e.gid, "home": e.home, "shell": e.shell,
		"fullname": g[0], "roomnumber": g[1], "workphone": g[2], "homephone": g[3],
		"other": strings.Join(g[4:], ","), "groups": gl,
	}, nil
}

func nameArg(fn string, args []any, kwargs map[string]any, names ...string) (map[string]any, string, error) {
	kw, err := Bind(fn, args, kwargs, names...)
	if err != nil {
		return nil, "", err
	}
	if err := Require(fn, kw, names[0]); err != nil {
		return nil, "", err
	}
	n, err := Str(kw, names[0], "")
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", fn, err)
	}
	return kw, n, nil
}

func userInfo(c *Context, args []any, kwargs map[string]any) (any, error) {
	_, name, err := nameArg("user.info", args, kwargs, "name")
	if err != nil {
		return nil, err
	}
	e, err := lookupPasswd(c, name)
	if err != nil {
		return nil, fmt.Errorf("user.info: %w", err)
	}
	if !e.valid {
		return map[string]any{}, nil
	}
	return userInfoMap(c, e)
}

func userAdd(c *Context, args []any, kwargs map[string]any) (any, error) {
	const fn = "user.add"
	kw, name, err := nameArg(fn, args, kwargs, "name", "uid", "gid", "groups", "home", "shell", "unique",
		"system", "fullname", "roomnumber", "workphone", "homephone", "other", "createhome", "loginclass",
		"nologinit", "root", "usergroup")
	if err != nil {
		return nil, err
	}
	argv := []string{"useradd"}
	for _, p := range []struct{ key, flag string }{{"uid", "-u"}, {"gid", "-g"}, {"home", "-d"}, {"shell", "-s"}} {
		if Has(kw, p.key) {
			v, err := Str(kw, p.key, "")
			if err != nil {
				return nil, fmt.Errorf("%s: %w", fn, err)
			}
			if v != "" {
				argv = append(argv, p.flag, v)
			}
		}
	}
	groups, err := StrList(kw, "groups")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	if len(groups) > 0 {
		argv = append(argv, "-G", strings.Join(groups, ","))
	}
	gecos := make([]string, 5)
	for i, k := range []string{"fullname", "roomnumber", "workphone", "homephone", "other"} {
		if gecos[i], err = Str(kw, k, ""); err != nil {
			return nil, fmt.Errorf("%s: %w", fn, err)
		}
	}
	if g := strings.TrimRight(strings.Join(gecos, ","), ","); g != "" {
		argv = append(argv, "-c", g)
	}
	flags := []struct {
		key  string
		def  bool
		on   string
		off  string
		skip bool
	}{
		{key: "createhome", def: true, on: "-m", off: "-M"},
		{key: "system", on: "-r"},
		{key: "unique", def: true, off: "-o"},
		{key: "nologinit", on: "-l"},
	}
	for _, f := range flags {
		b, err := Bool(kw, f.key, f.def)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fn, err)
		}
		if b && f.on != "" {
			argv = append(argv, f.on)
		}
		if !b && f.off != "" {
			argv = append(argv, f.off)
		}
	}
	if Has(kw, "usergroup") {
		b, err := Bool(kw, "usergroup", false)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fn, err)
		}
		if b {
			argv = append(argv, "-U")
		} else {
			argv = append(argv, "-N")
		}
	}
	argv = append(argv, name)
	if err := acctCheck(c, argv...); err != nil {
		return false, fmt.Errorf("%s: %w", fn, err)
	}
	return true, nil
}

func userDelete(c *Context, args []any, kwargs map[string]any) (any, error) {
	const fn = "user.delete"
	kw, name, err := nameArg(fn, args, kwargs, "name", "remove", "force")
	if err != nil {
		return nil, err
	}
	remove, err1 := Bool(kw, "remove", false)
	force, err2 := Bool(kw, "force", false)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("%s: %w", fn, firstErr(err1, err2))
	}
	argv := []string{"userdel"}
	if remove {
		argv = append(argv, "-r")
	}
	if force {
		argv = append(argv, "-f")
	}
	argv = append(argv, name)
	_, se, rc, err := acctRun(c, "", argv...)
	if err != nil {
		return false, fmt.Errorf("%s: %w", fn, err)
	}
	if rc != 0 {
		// userdel exits 12 when the home or mail spool was already gone;
		// what matters is whether the account is.
		if e, lerr := lookupPasswd(c, name); lerr == nil && !e.valid && rc == 12 {
			return true, nil
		}
		return false, fmt.Errorf("%s: userdel: %s", fn, strings.TrimSpace(se))
	}
	return true, nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// existingUser looks name up for a function that changes an account,
// which fails as Salt does when there is no such user.
func existingUser(c *Context, fn, name string) (passwdEntry, error) {
	e, err := lookupPasswd(c, name)
	if err != nil {
		return passwdEntry{}, fmt.Errorf("%s: %w", fn, err)
	}
	if !e.valid {
		return passwdEntry{}, fmt.Errorf("%s: User '%s' does not exist", fn, name)
	}
	return e, nil
}

// userModify is the shape of every user.ch* function: look the user up,
// do nothing when the value already matches, else run usermod and check.
func userModify(c *Context, fn string, args []any, kwargs map[string]any, key string,
	current func(passwdEntry) string, argv func(name, val string, kw map[string]any) ([]string, error)) (any, error) {
	kw, name, err := nameArg(fn, args, kwargs, "name", key, "persist")
	if err != nil {
		return nil, err
	}
	if err := Require(fn, kw, key); err != nil {
		return nil, err
	}
	val, err := Str(kw, key, "")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	e, err := existingUser(c, fn, name)
	if err != nil {
		return nil, err
	}
	if current(e) == val {
		return true, nil
	}
	cmd, err := argv(name, val, kw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	if err := acctCheck(c, cmd...); err != nil {
		return false, fmt.Errorf("%s: %w", fn, err)
	}
	e, err = lookupPasswd(c, name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	return current(e) == val, nil
}

func userChshell(c *Context, args []any, kwargs map[string]any) (any, error) {
	return userModify(c, "user.chshell", args, kwargs, "shell", func(e passwdEntry) string { return e.shell },
		func(n, v string, _ map[string]any) ([]string, error) { return []string{"usermod", "-s", v, n}, nil })
}

func userChhome(c *Context, args []any, kwargs map[string]any) (any, error) {
	return userModify(c, "user.chhome", args, kwargs, "home", func(e passwdEntry) string { return e.home },
		func(n, v string, kw map[string]any) ([]string, error) {
			persist, err := Bool(kw, "persist", false)
			if err != nil {
				return nil, err
			}
			if persist {
				return []string{"usermod", "-d", v, "-m", n}, nil
			}
			return []string{"usermod", "-d", v, n}, nil
		})
}

func userChuid(c *Context, args []any, kwargs map[string]any) (any, error) {
	return userModify(c, "user.chuid", args, kwargs, "uid", func(e passwdEntry) string { return strconv.Itoa(e.uid) },
		func(n, v string, _ map[string]any) ([]string, error) { return []string{"usermod", "-u", v, n}, nil })
}

func userChgid(c *Context, args []any, kwargs map[string]any) (any, error) {
	return userModify(c, "user.chgid", args, kwargs, "gid", func(e passwdEntry) string { return strconv.Itoa(e.gid) },
		func(n, v string, _ map[string]any) ([]string, error) { return []string{"usermod", "-g", v, n}, nil })
}

func userChfullname(c *Context, args []any, kwargs map[string]any) (any, error) {
	first := func(e passwdEntry) string { s, _, _ := strings.Cut(e.gecos, ","); return s }
	return userModify(c, "user.chfullname", args, kwargs, "fullname", first,
		func(n, v string, _ map[string]any) ([]string, error) {
			e, err := lookupPasswd(c, n)
			if err != nil {
				return nil, err
			}
			g := strings.Split(e.gecos, ",")
			g[0] = v
			return []string{"usermod", "-c", strings.TrimRight(strings.Join(g, ","), ","), n}, nil
		})
}

func userChgroups(c *Context, args []any, kwargs map[string]any) (any, error) {
	const fn = "user.chgroups"
	kw, name, err := nameArg(fn, args, kwargs, "name", "groups", "append")
	if err != nil {
		return nil, err
	}
	groups, err := StrList(kw, "groups")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	appendG, err := Bool(kw, "append", false)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	e, err := existingUser(c, fn, name)
	if err != nil {
		return nil, err
	}
	cur, err := userGroups(c, e)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	if sameSet(cur, groups) {
		return true, nil
	}
	argv := []string{"usermod"}
	if appendG {
		argv = append(argv, "-a")
	}
	argv = append(argv, "-G", strings.Join(groups, ","), name)
	if err := acctCheck(c, argv...); err != nil {
		return false, fmt.Errorf("%s: %w", fn, err)
	}
	return true, nil
}

func sameSet(a, b []string) bool {
	m := map[string]bool{}
	for _, x := range a {
		m[x] = true
	}
	n := map[string]bool{}
	for _, x := range b {
		if !m[x] {
			return false
		}
		n[x] = true
	}
	return len(n) == len(m)
}

func userListGroups(c *Context, args []any, kwargs map[string]any) (any, error) {
	_, name, err := nameArg("user.list_groups", args, kwargs, "name")
	if err != nil {
		return nil, err
	}
	e, err := lookupPasswd(c, name)
	if err != nil {
		return nil, fmt.Errorf("user.list_groups: %w", err)
	}
	if !e.valid {
		return []any{}, nil
	}
	groups, err := userGroups(c, e)
	if err != nil {
		return nil, fmt.Errorf("user.list_groups: %w", err)
	}
	out := make([]any, len(groups))
	for i, g := range groups {
		out[i] = g
	}
	return out, nil
}

func userGetent(c *Context, args []any, kwargs map[string]any) (any, error) {
	lines, err := getentLines(c, "passwd")
	if err != nil {
		return nil, fmt.Errorf("user.getent: %w", err)
	}
	out := []any{}
	for _, l := range lines {
		e := parsePasswdLine(l)
		if !e.valid {
			continue
		}
		m, err := userInfoMap(c, e)
		if err != nil {
			return nil, fmt.Errorf("user.getent: %w", err)
		}
		out = append(out, m)
	}
	return out, nil
}

func userListUsers(c *Context, args []any, kwargs map[string]any) (any, error) {
	lines, err := getentLines(c, "passwd")
	if err != nil {
		return nil, fmt.Errorf("user.list_users: %w", err)
	}
	var names []string
	for _, l := range lines {
		if e := parsePasswdLine(l); e.valid {
			names = append(names, e.name)
		}
	}
	sort.Strings(names)
	out := make([]any, len(names))
	for i, n := range names {
		out[i] = n
	}
	return out, nil
}

// shadowEntry reads /etc/shadow directly: getent shadow needs the same
// privileges and adds nothing for local accounts.
func shadowEntry(name string) (map[string]any, error) {
	data, err := os.ReadFile("/etc/shadow")
	if err != nil {
		return nil, err
	}
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Split(l, ":")
		if len(f) < 9 || f[0] != name {
			continue
		}
		num := func(s string) any {
			if i, err := strconv.Atoi(s); err == nil {
				return i
			}
			return ""
		}
		return map[string]any{"name": f[0], "passwd": f[1], "lstchg": num(f[2]), "min": num(f[3]),
			"max": num(f[4]), "warn": num(f[5]), "inact": num(f[6]), "expire": num(f[7])}, nil
	}
	return map[string]any{}, nil
}

func shadowInfo(c *Context, args []any, kwargs map[string]any) (any, error) {
	_, name, err := nameArg("shadow.info", args, kwargs, "name")
	if err != nil {
		return nil, err
	}
	m, err := shadowEntry(name)
	if err != nil {
		return nil, fmt.Errorf("shadow.info: %w", err)
	}
	return m, nil
}

func shadowSetPassword(c *Context, args []any, kwargs map[string]any) (any, error) {
	const fn = "shadow.set_password"
	kw, name, err := nameArg(fn, args, kwargs, "name", "password")
	if err != nil {
		return nil, err
	}
	if err := Require(fn, kw, "password"); err != nil {
		return nil, err
	}
	pw, err := Str(kw, "password", "")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	if err := acctCheck(c, "usermod", "-p", pw, name); err != nil {
		return false, fmt.Errorf("%s: %w", fn, err)
	}
	m, err := shadowEntry(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	return m["passwd"] == pw, nil
}

// sha512Crypt is glibc's SHA-512 crypt ("$6$"), the hash Salt's
// shadow.gen_password produces by default, so hash_password works
// without a cgo crypt(3).
func sha512Crypt(key, salt string, rounds int) string {
	if len(salt) > 16 {
		salt = salt[:16]
	}
	k, s := []byte(key), []byte(salt)
	sum := func(parts ...[]byte) []byte {
		h := sha512.New()
		for _, p := range parts {
			h.Write(p)
		}
		return h.Sum(nil)
	}
	b := sum(k, s, k)
	h := sha512.New()
	h.Write(k)
	h.Write(s)
	n := len(k)
	for ; n > 64; n -= 64 {
		h.Write(b)
	}
	h.Write(b[:n])
	for n = len(k); n > 0; n >>= 1 {
		if n&1 != 0 {
			h.Write(b)
		} else {
			h.Write(k)
		}
	}
	a := h.Sum(nil)
	h = sha512.New()
	for i := 0; i < len(k); i++ {
		h.Write(k)
	}
	dp := h.Sum(nil)
	p := make([]byte, 0, len(k))
	for len(p) < len(k) {
		p = append(p, dp[:min(64, len(k)-len(p))]...)
	}
	h = sha512.New()
	for i := 0; i < 16+int(a[0]); i++ {
		h.Write(s)
	}
	ds := h.Sum(nil)
	sb := make([]byte, 0, len(s))
	for len(sb) < len(s) {
		sb = append(sb, ds[:min(64, len(s)-len(sb))]...)
	}
	for i := 0; i < rounds; i++ {
		h = sha512.New()
		if i&1 != 0 {
			h.Write(p)
		} else {
			h.Write(a)
		}
		if i%3 != 0 {
			h.Write(sb)
		}
		if i%7 != 0 {
			h.Write(p)
		}
		if i&1 != 0 {
			h.Write(a)
		} else {
			h.Write(p)
		}
		a = h.Sum(nil)
	}
	const itoa64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var out strings.Builder
	out.WriteString("$6$")
	if rounds != 5000 {
		fmt.Fprintf(&out, "rounds=%d$", rounds)
	}
	out.WriteString(salt + "$")
	enc := func(b2, b1, b0 byte, n int) {
		w := uint(b2)<<16 | uint(b1)<<8 | uint(b0)
		for ; n > 0; n-- {
			out.WriteByte(itoa64[w&0x3f])
			w >>= 6
		}
	}
	order := [][3]int{{0, 21, 42}, {22, 43, 1}, {44, 2, 23}, {3, 24, 45}, {25, 46, 4}, {47, 5, 26},
		{6, 27, 48}, {28, 49, 7}, {50, 8, 29}, {9, 30, 51}, {31, 52, 10}, {53, 11, 32}, {12, 33, 54},
		{34, 55, 13}, {56, 14, 35}, {15, 36, 57}, {37, 58, 16}, {59, 17, 38}, {18, 39, 60},
		{40, 61, 19}, {62, 20, 41}}
	for _, o := range order {
		enc(a[o[0]], a[o[1]], a[o[2]], 4)
	}
	enc(0, 0, a[63], 2)
	return out.String()
}

// cryptSalt extracts the salt (and rounds) of a "$6$" hash so a plain
// password can be re-hashed for comparison.
func cryptSalt(hash string) (string, int, bool) {
	if !strings.HasPrefix(hash, "$6$") {
		return "", 0, false
	}
	rest := hash[3:]
	rounds := 5000
	if strings.HasPrefix(rest, "rounds=") {
		spec, after, ok := strings.Cut(rest[len("rounds="):], "$")
		n, err := strconv.Atoi(spec)
		if !ok || err != nil {
			return "", 0, false
		}
		rounds, rest = min(max(n, 1000), 999999999), after
	}
	salt, _, ok := strings.Cut(rest, "$")
	return salt, rounds, ok
}

func shadowGenPassword(c *Context, args []any, kwargs map[string]any) (any, error) {
	const fn = "shadow.gen_password"
	kw, err := Bind(fn, args, kwargs, "password", "crypt_salt", "algorithm")
	if err != nil {
		return nil, err
	}
	if err := Require(fn, kw, "password"); err != nil {
		return nil, err
	}
	pw, err1 := Str(kw, "password", "")
	salt, err2 := Str(kw, "crypt_salt", "")
	algo, err3 := Str(kw, "algorithm", "sha512")
	if e := firstErr(err1, err2, err3); e != nil {
		return nil, fmt.Errorf("%s: %w", fn, e)
	}
	if algo != "sha512" {
		return nil, fmt.Errorf("%s: algorithm %q is not supported (sha512 only)", fn, algo)
	}
	rounds := 5000
	if s, r, ok := cryptSalt(salt); ok {
		salt, rounds = s, r
	}
	if salt == "" {
		const chars = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("%s: %w", fn, err)
		}
		for i := range b {
			b[i] = chars[int(b[i])%len(chars)]
		}
		salt = string(b)
	}
	return sha512Crypt(pw, salt, rounds), nil
}
