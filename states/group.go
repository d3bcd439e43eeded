package states

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/brine-cm/brine/pkg/execmod"
)

// Group is Salt's group state module: local groups and their members,
// converged through the group execution module.
func Group() *Module {
	return &Module{
		Name:  "group",
		Funcs: map[string]Func{"present": groupPresent, "absent": groupAbsent},
		Args: map[string][]string{
			"present": {"gid", "system", "addusers", "delusers", "members", "non_unique", "local"},
			"absent":  {"local"},
		},
	}
}

// groupChanges is Salt's group._changes: what differs between the group
// and the wanted gid and members; nil, false when the group is absent.
func groupChanges(r *Request, name string, gid int, haveGID bool, add, del, members []string, haveMembers bool) (map[string]any, bool, error) {
	info, err := callMap(r, "group.info", name)
	if err != nil {
		return nil, false, err
	}
	if len(info) == 0 {
		return nil, false, nil
	}
	cur := strsOf(info["members"])
	has := map[string]bool{}
	for _, m := range cur {
		has[m] = true
	}
	ch := map[string]any{}
	if haveGID {
		if g, _ := execmod.ToInt(info["gid"]); g != gid {
			ch["gid"] = gid
		}
	}
	if haveMembers {
		if !sameMembers(cur, members) {
			if len(members) == 0 {
				ch["delusers"] = toAnyList(cur)
			} else {
				ch["members"] = toAnyList(members)
			}
		}
	}
	var toAdd, toDel []string
	for _, u := range add {
		if !has[u] {
			toAdd = append(toAdd, u)
		}
	}
	for _, u := range del {
		if has[u] {
			toDel = append(toDel, u)
		}
	}
	if len(toAdd) > 0 {
		ch["addusers"] = toAnyList(toAdd)
	}
	if len(toDel) > 0 {
		ch["delusers"] = toAnyList(toDel)
	}
	return ch, true, nil
}

func sameMembers(a, b []string) bool {
	x := append([]string(nil), a...)
	y := append([]string(nil), b...)
	sort.Strings(x)
	sort.Strings(y)
	return strings.Join(x, ",") == strings.Join(y, ",")
}

func toAnyList(l []string) []any {
	out := make([]any, len(l))
	for i, s := range l {
		out[i] = s
	}
	return out
}

func groupPresent(r *Request) Result {
	name := r.Name
	out := newOutcome(name)
	a := newModArgs("group.present", r)
	gid, _, haveGID := idArg(a, "gid", false)
	system := a.boolean("system", false)
	nonUnique := a.boolean("non_unique", false)
	add := a.strList("addusers")
	del := a.strList("delusers")
	members := a.strList("members")
	haveMembers := a.has("members")
	if a.err != nil {
		return argFail(name, a.err)
	}
	if name == "" {
		return argFail(name, errors.New("group.present: a group name is required"))
	}
	if r.Exec == nil {
		return out.failed("group.present: no execution context")
	}
	if haveMembers && (a.has("addusers") || a.has("delusers")) {
		return out.pending(`Error: Conflicting options "members" with "addusers" and/or "delusers" can not be used together. `)
	}
	for _, u := range add {
		for _, d := range del {
			if u == d {
				return out.pending("Error. Same user(s) can not be added and deleted simultaneously")
			}
		}
	}
	ch, exists, err := groupChanges(r, name, gid, haveGID, add, del, members, haveMembers)
	if err != nil {
		return out.failed(err.Error())
	}
	if exists {
		if len(ch) == 0 {
			return out.ok(fmt.Sprintf("Group %s is present and up to date", name))
		}
		var b strings.Builder
		b.WriteString("The following group attributes are set to be changed:\n")
		for _, k := range sortedMapKeys(ch) {
			fmt.Fprintf(&b, "%s: %s\n", k, pyRepr(ch[k]))
		}
		if r.Test() {
			out.changes = ch
			return out.pending(b.String())
		}
		var failed []string
		call := func(fn string, args ...any) {
			if _, err := r.Exec.Call(fn, args, nil); err != nil {
				failed = append(failed, err.Error())
			}
		}
		for _, k := range sortedMapKeys(ch) {
			switch k {
			case "gid":
				call("group.chgid", name, gid)
			case "addusers":
				for _, u := range strsOf(ch[k]) {
					call("group.adduser", name, u)
				}
			case "delusers":
				for _, u := range strsOf(ch[k]) {
					call("group.deluser", name, u)
				}
			case "members":
				call("group.members", name, strings.Join(members, ","))
			}
		}
		after, _, err := groupChanges(r, name, gid, haveGID, add, del, members, haveMembers)
		if err != nil {
			return out.failed(err.Error())
		}
		r.Exec.Record("group.changed", map[string]any{"name": name, "action": "update", "changed": sortedMapKeys(ch)})
		if len(after) > 0 || len(failed) > 0 {
			out.changes = map[string]any{"Failed": after}
			msg := b.String() + "Some changes could not be applied"
			if len(failed) > 0 {
				msg += ": " + strings.Join(failed, "; ")
			}
			return out.failed(msg)
		}
		out.changes = map[string]any{"Final": "All changes applied successfully"}
		return out.ok(b.String())
	}

	if r.Test() {
		out.changes[name] = "new"
		return out.pending(fmt.Sprintf("Group %s set to be added", name))
	}
	if haveGID && !nonUnique {
		all, err := r.Exec.Call("group.getent", nil, nil)
		if err != nil {
			return out.failed(err.Error())
		}
		l, _ := all.([]any)
		for _, e := range l {
			m, _ := e.(map[string]any)
			if g, ok := execmod.ToInt(m["gid"]); ok && g == gid {
				return out.failed(fmt.Sprintf("Group %s is not present but gid %d is already taken by group %v", name, gid, m["name"]))
			}
		}
	}
	kw := map[string]any{"system": system, "non_unique": nonUnique}
	if haveGID {
		kw["gid"] = gid
	}
	if _, err := r.Exec.Call("group.add", []any{name}, kw); err != nil {
		return out.failed(fmt.Sprintf("Failed to create new group %s: %v", name, err))
	}
	initial := members
	if len(add) > 0 {
		initial = add
	}
	if len(initial) > 0 {
		if _, err := r.Exec.Call("group.members", []any{name, strings.Join(initial, ",")}, nil); err != nil {
			return out.failed(fmt.Sprintf("Group %s has been created but, some changes could not be applied: %v", name, err))
		}
	}
	info, err := callMap(r, "group.info", name)
	if err != nil {
		return out.failed(err.Error())
	}
	out.changes = info
	r.Exec.Record("group.changed", map[string]any{"name": name, "action": "add", "gid": info["gid"]})
	if after, _, err := groupChanges(r, name, gid, haveGID, add, del, members, haveMembers); err == nil && len(after) > 0 {
		out.changes = map[string]any{"Failed": after}
		return out.failed(fmt.Sprintf("Group %s has been created but, some changes could not be applied", name))
	}
	return out.ok(fmt.Sprintf("New group %s created", name))
}

func groupAbsent(r *Request) Result {
	name := r.Name
	out := newOutcome(name)
	if r.Exec == nil {
		return out.failed("group.absent: no execution context")
	}
	a := newModArgs("group.absent", r)
	a.boolean("local", false)
	if a.err != nil {
		return argFail(name, a.err)
	}
	info, err := callMap(r, "group.info", name)
	if err != nil {
		return out.failed(err.Error())
	}
	if len(info) == 0 {
		return out.ok("Group not present")
	}
	if r.Test() {
		out.changes[name] = ""
		return out.pending(fmt.Sprintf("Group %s is set for removal", name))
	}
	if _, err := r.Exec.Call("group.delete", []any{name}, nil); err != nil {
		return out.failed(fmt.Sprintf("Failed to remove group %s: %v", name, err))
	}
	out.changes[name] = ""
	r.Exec.Record("group.changed", map[string]any{"name": name, "action": "delete"})
	return out.ok(fmt.Sprintf("Removed group %s", name))
}
