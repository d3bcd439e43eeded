package execmod

import (
	"fmt"
	"strings"
)

// registerGroup adds Salt's group module (groupadd flavour), used by
// group.present and by operators to manage local groups.
func registerGroup(r *Registry) {
	r.Register("group.info", "Return information about a group: name, passwd, gid, members ({} if absent).\nCLI Example: brine-master run '*' group.info foo", groupInfo)
	r.Register("group.add", "Add a group with groupadd (system=True for a system group).\nCLI Example: brine-master run '*' group.add foo 3456", groupAdd)
	r.Register("group.delete", "Remove a group.\nCLI Example: brine-master run '*' group.delete foo", groupDelete)
	r.Register("group.adduser", "Add a user to a group.\nCLI Example: brine-master run '*' group.adduser foo bar", groupAddUser)
	r.Register("group.deluser", "Remove a user from a group.\nCLI Example: brine-master run '*' group.deluser foo bar", groupDelUser)
	r.Register("group.members", "Replace a group's members with a comma-separated list.\nCLI Example: brine-master run '*' group.members foo 'user1,user2'", groupMembers)
	r.Register("group.chgid", "Change a group's gid.\nCLI Example: brine-master run '*' group.chgid foo 4376", groupChgid)
	r.Register("group.getent", "Return information on every group.\nCLI Example: brine-master run '*' group.getent", groupGetent)
}

func groupInfoMap(g groupEntry) map[string]any {
	members := make([]any, len(g.members))
	for i, m := range g.members {
		members[i] = m
	}
	return map[string]any{"name": g.name, "passwd": g.passwd, "gid": g.gid, "members": members}
}

func lookupGroupEntry(c *Context, name string) (groupEntry, bool, error) {
	lines, err := getentLines(c, "group", name)
	if err != nil || len(lines) == 0 {
		return groupEntry{}, false, err
	}
	g, ok := parseGroupLine(lines[0])
	if !ok || g.name != name {
		return groupEntry{}, false, nil
	}
	return g, true, nil
}

func groupInfo(c *Context, args []any, kwargs map[string]any) (any, error) {
	_, name, err := nameArg("group.info", args, kwargs, "name")
	if err != nil {
		return nil, err
	}
	g, ok, err := lookupGroupEntry(c, name)
	if err != nil {
		return nil, fmt.Errorf("group.info: %w", err)
	}
	if !ok {
		return map[string]any{}, nil
	}
	return groupInfoMap(g), nil
}

func groupAdd(c *Context, args []any, kwargs map[string]any) (any, error) {
	const fn = "group.add"
	kw, name, err := nameArg(fn, args, kwargs, "name", "gid", "system", "root", "non_unique", "local")
	if err != nil {
		return nil, err
	}
	argv := []string{"groupadd"}
	if Has(kw, "gid") {
		gid, err := Int(kw, "gid", 0)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fn, err)
		}
		argv = append(argv, "-g", fmt.Sprint(gid))
		if nu, err := Bool(kw, "non_unique", false); err != nil {
			return nil, fmt.Errorf("%s: %w", fn, err)
		} else if nu {
			argv = append(argv, "-o")
		}
	}
	system, err := Bool(kw, "system", false)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	if system {
		argv = append(argv, "-r")
	}
	argv = append(argv, name)
	if err := acctCheck(c, argv...); err != nil {
		return false, fmt.Errorf("%s: %w", fn, err)
	}
	return true, nil
}

func groupDelete(c *Context, args []any, kwargs map[string]any) (any, error) {
	_, name, err := nameArg("group.delete", args, kwargs, "name")
	if err != nil {
		return nil, err
	}
	if err := acctCheck(c, "groupdel", name); err != nil {
		return false, fmt.Errorf("group.delete: %w", err)
	}
	return true, nil
}

func groupUserOp(c *Context, fn string, args []any, kwargs map[string]any, flag string, want bool) (any, error) {
	kw, name, err := nameArg(fn, args, kwargs, "name", "username")
	if err != nil {
		return nil, err
	}
	if err := Require(fn, kw, "username"); err != nil {
		return nil, err
	}
	user, err := Str(kw, "username", "")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	if err := acctCheck(c, "gpasswd", flag, user, name); err != nil {
		return false, fmt.Errorf("%s: %w", fn, err)
	}
	g, ok, err := lookupGroupEntry(c, name)
	if err != nil || !ok {
		return false, err
	}
	for _, m := range g.members {
		if m == user {
			return want, nil
		}
	}
	return !want, nil
}

func groupAddUser(c *Context, args []any, kwargs map[string]any) (any, error) {
	return groupUserOp(c, "group.adduser", args, kwargs, "-a", true)
}

func groupDelUser(c *Context, args []any, kwargs map[string]any) (any, error) {
	const fn = "group.deluser"
	kw, name, err := nameArg(fn, args, kwargs, "name", "username")
	if err != nil {
		return nil, err
	}
	g, ok, err := lookupGroupEntry(c, name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	user, _ := Str(kw, "username", "")
	if ok {
		found := false
		for _, m := range g.members {
			found = found || m == user
		}
		if !found {
			return true, nil
		}
	}
	return groupUserOp(c, fn, args, kwargs, "-d", false)
}

func groupMembers(c *Context, args []any, kwargs map[string]any) (any, error) {
	const fn = "group.members"
	kw, name, err := nameArg(fn, args, kwargs, "name", "members_list")
	if err != nil {
		return nil, err
	}
	members, err := StrList(kw, "members_list")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	if err := acctCheck(c, "gpasswd", "-M", strings.Join(members, ","), name); err != nil {
		return false, fmt.Errorf("%s: %w", fn, err)
	}
	return true, nil
}

func groupChgid(c *Context, args []any, kwargs map[string]any) (any, error) {
	const fn = "group.chgid"
	kw, name, err := nameArg(fn, args, kwargs, "name", "gid")
	if err != nil {
		return nil, err
	}
	gid, err := Int(kw, "gid", -1)
	if err != nil || gid < 0 {
		return nil, fmt.Errorf("%s: %w", fn, firstErr(err, &ArgError{Arg: "gid", Want: "a non-negative integer", Got: kw["gid"]}))
	}
	g, ok, err := lookupGroupEntry(c, name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	if !ok {
		return nil, fmt.Errorf("%s: Group '%s' does not exist", fn, name)
	}
	if g.gid == gid {
		return true, nil
	}
	if err := acctCheck(c, "groupmod", "-g", fmt.Sprint(gid), name); err != nil {
		return false, fmt.Errorf("%s: %w", fn, err)
	}
	return true, nil
}

func groupGetent(c *Context, args []any, kwargs map[string]any) (any, error) {
	groups, err := allGroups(c)
	if err != nil {
		return nil, fmt.Errorf("group.getent: %w", err)
	}
	out := make([]any, 0, len(groups))
	for _, g := range groups {
		out = append(out, groupInfoMap(g))
	}
	return out, nil
}
