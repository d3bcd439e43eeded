package states

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/brine-cm/brine/pkg/execmod"
)

// User is Salt's user state module: local accounts converged through the
// user, group and shadow execution modules.
func User() *Module {
	return &Module{
		Name:  "user",
		Funcs: map[string]Func{"present": userPresent, "absent": userAbsent},
		Args: map[string][]string{
			"present": {"uid", "gid", "usergroup", "groups", "optional_groups", "remove_groups",
				"home", "createhome", "password", "hash_password", "enforce_password",
				"empty_password", "shell", "unique", "system", "fullname", "roomnumber",
				"workphone", "homephone", "other", "loginclass", "date", "mindays", "maxdays",
				"inactdays", "warndays", "expire", "nologinit", "allow_uid_change",
				"allow_gid_change", "password_lock", "local", "gid_from_name"},
			"absent": {"purge", "force"},
		},
	}
}

// redacted replaces password hashes in results, as Salt does.
const redacted = "XXX-REDACTED-XXX"

func callMap(r *Request, fn string, args ...any) (map[string]any, error) {
	out, err := r.Exec.Call(fn, args, nil)
	if err != nil {
		return nil, err
	}
	m, _ := out.(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

func strsOf(v any) []string {
	l, _ := execmod.ToStrList("", v)
	return l
}

// idArg reads a uid or gid given as an int or a numeric string; for gid a
// group name is allowed and returned in name.
func idArg(a *modArgs, key string, allowName bool) (id int, name string, ok bool) {
	v, present := a.m[key]
	if !present || v == nil {
		return 0, "", false
	}
	if i, isInt := execmod.ToInt(v); isInt && i >= 0 {
		return i, "", true
	}
	if s, isStr := v.(string); isStr && allowName && s != "" {
		return -1, s, true
	}
	a.fail(&execmod.ArgError{Arg: key, Want: "a non-negative integer", Got: v})
	return 0, "", false
}

func userPresent(r *Request) Result {
	name := r.Name
	out := newOutcome(name)
	a := newModArgs("user.present", r)
	uid, _, haveUID := idArg(a, "uid", false)
	gid, gidName, haveGID := idArg(a, "gid", true)
	groups := a.strList("groups")
	groupsGiven := a.has("groups")
	optional := a.strList("optional_groups")
	removeGroups := a.boolean("remove_groups", true)
	home := a.str("home", "")
	createhome := a.boolean("createhome", true)
	password := a.str("password", "")
	emptyPassword := a.boolean("empty_password", false)
	enforcePassword := a.boolean("enforce_password", true)
	shell := a.str("shell", "")
	fullname, haveFullname := a.str("fullname", ""), a.has("fullname")
	system := a.boolean("system", false)
	unique := a.boolean("unique", true)
	allowUID := a.boolean("allow_uid_change", false)
	allowGID := a.boolean("allow_gid_change", false)
	if a.err != nil {
		return argFail(name, a.err)
	}
	if name == "" {
		return argFail(name, errors.New("user.present: a user name is required"))
	}
	if r.Exec == nil {
		return out.failed("user.present: no execution context")
	}
	if password != "" && a.boolean("hash_password", false) {
		// Hash with the current hash's salt so an unchanged password
		// gives the same hash and the state stays idempotent.
		kw := map[string]any{}
		if sh, err := callMap(r, "shadow.info", name); err == nil {
			if cur, _ := sh["passwd"].(string); strings.HasPrefix(cur, "$6$") {
				kw["crypt_salt"] = cur
			}
		}
		h, err := r.Exec.Call("shadow.gen_password", []any{password}, kw)
		if err != nil {
			return out.failed(err.Error())
		}
		password, _ = h.(string)
	}
	var missing []string
	for _, g := range groups {
		info, err := callMap(r, "group.info", g)
		if err != nil {
			return out.failed(err.Error())
		}
		if len(info) == 0 {
			missing = append(missing, g)
		}
	}
	if len(missing) > 0 {
		return out.failed(fmt.Sprintf("The following group(s) are not present: %s", strings.Join(missing, ",")))
	}
	for _, g := range optional {
		if info, err := callMap(r, "group.info", g); err == nil && len(info) > 0 {
			groups = append(groups, g)
		}
	}
	groupsGiven = groupsGiven || len(optional) > 0
	if gidName != "" {
		info, err := callMap(r, "group.info", gidName)
		if err != nil {
			return out.failed(err.Error())
		}
		if len(info) == 0 {
			return out.failed(fmt.Sprintf("Default group with name \"%s\" is not present", gidName))
		}
		gid, _ = execmod.ToInt(info["gid"])
	}

	pre, err := callMap(r, "user.info", name)
	if err != nil {
		return out.failed(err.Error())
	}
	if len(pre) == 0 {
		return userCreate(r, out, name, a, groups, uid, haveUID, gid, haveGID, home, shell, createhome, system, unique, password, fullname)
	}

	// The user exists: work out what differs.
	change := map[string]any{}
	curUID, _ := execmod.ToInt(pre["uid"])
	curGID, _ := execmod.ToInt(pre["gid"])
	if haveUID && curUID != uid {
		if !allowUID {
			return out.failed(fmt.Sprintf("Changing uid (%d -> %d) not permitted, set allow_uid_change to True to force this change. Note that this will not change file ownership.", curUID, uid))
		}
		change["uid"] = uid
	}
	if haveGID && curGID != gid {
		if !allowGID {
			return out.failed(fmt.Sprintf("Changing gid (%d -> %d) not permitted, set allow_gid_change to True to force this change. Note that this will not change file ownership.", curGID, gid))
		}
		change["gid"] = gid
	}
	var wanted []string
	if groupsGiven {
		cur := strsOf(pre["groups"])
		set := map[string]bool{}
		for _, g := range groups {
			set[g] = true
		}
		if !removeGroups {
			for _, g := range cur {
				set[g] = true
			}
		}
		primaryGID := curGID
		if haveGID {
			primaryGID = gid
		}
		primary := groupNameOf(r, primaryGID)
		delete(set, primary)
		for g := range set {
			wanted = append(wanted, g)
		}
		sort.Strings(wanted)
		var have []string
		for _, g := range cur {
			if g == primary || (g == name && !set[name]) {
				continue
			}
			have = append(have, g)
		}
		sort.Strings(have)
		if strings.Join(have, ",") != strings.Join(wanted, ",") {
			if removeGroups || !subset(wanted, have) {
				l := make([]any, len(wanted))
				for i, g := range wanted {
					l[i] = g
				}
				change["groups"] = l
			}
		}
	}
	if home != "" && pre["home"] != home {
		change["home"] = home
	}
	if createhome {
		newhome := home
		if newhome == "" {
			newhome, _ = pre["home"].(string)
		}
		if newhome != "" {
			if fi, err := os.Stat(newhome); err != nil || !fi.IsDir() {
				change["homeDoesNotExist"] = newhome
			}
		}
	}
	if shell != "" && pre["shell"] != shell {
		change["shell"] = shell
	}
	if haveFullname && pre["fullname"] != fullname {
		change["fullname"] = fullname
	}
	if password != "" && !emptyPassword {
		sh, err := callMap(r, "shadow.info", name)
		if err == nil && sh["passwd"] != password && enforcePassword {
			change["passwd"] = password
		}
	}
	if len(change) == 0 {
		return out.ok(fmt.Sprintf("User %s is present and up to date", name))
	}
	if r.Test() {
		var b strings.Builder
		b.WriteString("The following user attributes are set to be changed:\n")
		for _, k := range sortedMapKeys(change) {
			v := change[k]
			if k == "passwd" {
				v = redacted
			}
			out.changes[k] = v
			fmt.Fprintf(&b, "%s: %v\n", k, pyRepr(v))
		}
		return out.pending(b.String())
	}
	var failed []string
	call := func(fn string, args ...any) {
		if res, err := r.Exec.Call(fn, args, nil); err != nil {
			failed = append(failed, err.Error())
		} else if b, ok := res.(bool); ok && !b {
			failed = append(failed, fn+" failed")
		}
	}
	for _, k := range sortedMapKeys(change) {
		v := change[k]
		switch k {
		case "uid":
			call("user.chuid", name, v)
		case "gid":
			call("user.chgid", name, v)
		case "groups":
			call("user.chgroups", name, v, !removeGroups)
		case "home":
			call("user.chhome", name, v)
		case "shell":
			call("user.chshell", name, v)
		case "fullname":
			call("user.chfullname", name, v)
		case "passwd":
			call("shadow.set_password", name, v)
		case "homeDoesNotExist":
			p := v.(string)
			if err := os.MkdirAll(p, 0o755); err != nil {
				failed = append(failed, err.Error())
			} else {
				_ = os.Chown(p, firstInt(change["uid"], curUID), firstInt(change["gid"], curGID))
			}
		}
	}
	post, err := callMap(r, "user.info", name)
	if err != nil {
		return out.failed(err.Error())
	}
	for k, v := range post {
		if fmt.Sprint(pre[k]) != fmt.Sprint(v) {
			out.changes[k] = v
		}
	}
	if _, ok := change["passwd"]; ok && len(failed) == 0 {
		out.changes["passwd"] = redacted
	}
	if p, ok := change["homeDoesNotExist"]; ok {
		out.changes["homeDoesNotExist"] = p
	}
	r.Exec.Record("user.changed", map[string]any{"name": name, "action": "update", "changed": sortedMapKeys(out.changes)})
	if len(failed) > 0 {
		return out.failed("These values could not be changed: " + strings.Join(failed, "; "))
	}
	return out.ok(fmt.Sprintf("Updated user %s", name))
}

func firstInt(v any, def int) int {
	if i, ok := execmod.ToInt(v); ok {
		return i
	}
	return def
}

func subset(a, b []string) bool {
	m := map[string]bool{}
	for _, x := range b {
		m[x] = true
	}
	for _, x := range a {
		if !m[x] {
			return false
		}
	}
	return true
}

// groupNameOf maps a gid to its group name ("" when unknown).
func groupNameOf(r *Request, gid int) string {
	out, err := r.Exec.Call("group.getent", nil, nil)
	if err != nil {
		return ""
	}
	l, _ := out.([]any)
	for _, e := range l {
		m, _ := e.(map[string]any)
		if g, ok := execmod.ToInt(m["gid"]); ok && g == gid {
			s, _ := m["name"].(string)
			return s
		}
	}
	return ""
}

// pyRepr prints a value the way Salt's comments show Python values.
func pyRepr(v any) string {
	switch x := v.(type) {
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = pyRepr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case string:
		return x
	}
	return fmt.Sprint(v)
}

func quoteList(l []string) string {
	parts := make([]string, len(l))
	for i, s := range l {
		parts[i] = "'" + s + "'"
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func userCreate(r *Request, out *outcome, name string, a *modArgs, groups []string, uid int, haveUID bool,
	gid int, haveGID bool, home, shell string, createhome, system, unique bool, password, fullname string) Result {
	if r.Test() {
		out.changes[name] = "new"
		if len(groups) > 0 {
			out.changes["groups"] = quoteList(groups)
		}
		return out.pending(fmt.Sprintf("User %s set to be added", name))
	}
	kw := map[string]any{"createhome": createhome, "system": system, "unique": unique}
	if haveUID {
		kw["uid"] = uid
	}
	if haveGID {
		kw["gid"] = gid
	}
	if len(groups) > 0 {
		l := make([]any, len(groups))
		for i, g := range groups {
			l[i] = g
		}
		kw["groups"] = l
	}
	if home != "" {
		kw["home"] = home
	}
	if shell != "" {
		kw["shell"] = shell
	}
	for _, k := range []string{"fullname", "roomnumber", "workphone", "homephone", "other"} {
		if a.has(k) {
			kw[k] = a.str(k, "")
		}
	}
	if a.has("usergroup") {
		kw["usergroup"] = a.boolean("usergroup", true)
	}
	if a.has("nologinit") {
		kw["nologinit"] = a.boolean("nologinit", false)
	}
	if _, err := r.Exec.Call("user.add", []any{name}, kw); err != nil {
		return out.failed(fmt.Sprintf("Failed to create new user %s: %v", name, err))
	}
	if password != "" && !a.boolean("empty_password", false) {
		if _, err := r.Exec.Call("shadow.set_password", []any{name, password}, nil); err != nil {
			return out.failed(fmt.Sprintf("User %s created but failed to set password: %v", name, err))
		}
	}
	info, err := callMap(r, "user.info", name)
	if err != nil {
		return out.failed(err.Error())
	}
	out.changes = info
	if password != "" {
		out.changes["password"] = redacted
	}
	r.Exec.Record("user.changed", map[string]any{"name": name, "action": "add", "uid": info["uid"]})
	return out.ok(fmt.Sprintf("New user %s created", name))
}

func userAbsent(r *Request) Result {
	name := r.Name
	out := newOutcome(name)
	a := newModArgs("user.absent", r)
	purge := a.boolean("purge", false)
	force := a.boolean("force", false)
	if a.err != nil {
		return argFail(name, a.err)
	}
	if r.Exec == nil {
		return out.failed("user.absent: no execution context")
	}
	info, err := callMap(r, "user.info", name)
	if err != nil {
		return out.failed(err.Error())
	}
	if len(info) == 0 {
		return out.ok(fmt.Sprintf("User %s is not present", name))
	}
	if r.Test() {
		out.changes[name] = "removed"
		return out.pending(fmt.Sprintf("User %s set for removal", name))
	}
	before := strsOf(info["groups"])
	if _, err := r.Exec.Call("user.delete", []any{name}, map[string]any{"remove": purge, "force": force}); err != nil {
		return out.failed(fmt.Sprintf("Failed to remove user %s: %v", name, err))
	}
	for _, g := range before {
		if gi, err := callMap(r, "group.info", g); err == nil && len(gi) == 0 {
			out.changes[g+" group"] = "removed"
		}
	}
	out.changes[name] = "removed"
	r.Exec.Record("user.changed", map[string]any{"name": name, "action": "delete", "purge": purge})
	return out.ok(fmt.Sprintf("Removed user %s", name))
}
