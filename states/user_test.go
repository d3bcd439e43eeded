package states

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brine-cm/brine/pkg/testkit"
)

func TestUserPresentAbsent(t *testing.T) {
	testkit.NeedAccounts(t)
	e := newFileEnv(t)
	name, grp := testkit.AccountName(t), testkit.AccountName(t)
	home := filepath.Join(e.dir, "home-"+name)
	t.Cleanup(func() {
		exec.Command("userdel", name).Run()
		exec.Command("groupdel", name).Run()
		exec.Command("groupdel", grp).Run()
	})
	args := func() map[string]any {
		return map[string]any{"shell": "/bin/sh", "home": home, "fullname": "Brine Test",
			"groups": []any{grp}, "password": "$6$salt$hash"}
	}
	r := e.run(userPresent, name, false, args())
	expect(t, "missing group", r, no, "The following group(s) are not present: "+grp, 0)
	if out, err := exec.Command("groupadd", grp).CombinedOutput(); err != nil {
		t.Fatal(string(out))
	}
	r = e.run(userPresent, name, true, args())
	expect(t, "test new", r, nil, "User "+name+" set to be added", -1)
	if out, _ := exec.Command("getent", "passwd", name).Output(); len(out) > 0 {
		t.Fatal("test mode created the user")
	}
	r = e.run(userPresent, name, false, args())
	expect(t, "create", r, yes, "New user "+name+" created", -1)
	if r.Changes["shell"] != "/bin/sh" || r.Changes["password"] != redacted || r.Changes["home"] != home {
		t.Fatalf("changes %v", r.Changes)
	}
	if fi, err := os.Stat(home); err != nil || !fi.IsDir() {
		t.Fatal("home not created")
	}
	shadow, _ := os.ReadFile("/etc/shadow")
	if !strings.Contains(string(shadow), name+":$6$salt$hash:") {
		t.Fatal("password hash not set")
	}
	r = e.run(userPresent, name, false, args())
	expect(t, "again", r, yes, "User "+name+" is present and up to date", 0)
	expect(t, "again test", e.run(userPresent, name, true, args()), yes, "is present and up to date", 0)

	changed := args()
	changed["shell"] = "/bin/bash"
	changed["groups"] = []any{}
	r = e.run(userPresent, name, true, changed)
	expect(t, "test change", r, nil, "The following user attributes are set to be changed:\ngroups: []\nshell: /bin/bash\n", 2)
	r = e.run(userPresent, name, false, changed)
	expect(t, "change", r, yes, "Updated user "+name, -1)
	if r.Changes["shell"] != "/bin/bash" {
		t.Fatalf("changes %v", r.Changes)
	}
	expect(t, "change again", e.run(userPresent, name, false, changed), yes, "up to date", 0)
	bad := args()
	bad["uid"] = 12345
	expect(t, "uid change refused", e.run(userPresent, name, false, bad), no, "not permitted, set allow_uid_change", 0)

	plain := args()
	plain["password"] = "s3cret"
	plain["hash_password"] = true
	expect(t, "hash_password", e.run(userPresent, name, false, plain), yes, "Updated user", -1)
	expect(t, "hash_password again", e.run(userPresent, name, false, plain), yes, "up to date", 0)
	shadow, _ = os.ReadFile("/etc/shadow")
	if !strings.Contains(string(shadow), name+":$6$") {
		t.Fatal("password not hashed with SHA-512 crypt")
	}

	expect(t, "bad uid", e.run(userPresent, name, false, map[string]any{"uid": "abc"}), no, `user.present: argument "uid"`, 0)
	expect(t, "bad createhome", e.run(userPresent, name, false, map[string]any{"createhome": "maybe"}), no, `user.present: argument "createhome"`, 0)

	expect(t, "absent test", e.run(userAbsent, name, true, nil), nil, "User "+name+" set for removal", 1)
	r = e.run(userAbsent, name, false, nil)
	expect(t, "absent", r, yes, "Removed user "+name, -1)
	if r.Changes[name] != "removed" {
		t.Fatalf("changes %v", r.Changes)
	}
	expect(t, "absent again", e.run(userAbsent, name, false, nil), yes, "User "+name+" is not present", 0)
	if n := strings.Count(strings.Join(e.audit.Actions, " "), "user.changed"); n != 4 {
		t.Fatalf("audit %v", e.audit.Actions)
	}
}

func TestGroupPresentAbsent(t *testing.T) {
	testkit.NeedAccounts(t)
	e := newFileEnv(t)
	g, u1, u2 := testkit.AccountName(t), testkit.AccountName(t), testkit.AccountName(t)
	t.Cleanup(func() {
		for _, u := range []string{u1, u2} {
			exec.Command("userdel", u).Run()
			exec.Command("groupdel", u).Run()
		}
		exec.Command("groupdel", g).Run()
	})
	for _, u := range []string{u1, u2} {
		if out, err := exec.Command("useradd", "-M", u).CombinedOutput(); err != nil {
			t.Fatal(string(out))
		}
	}
	args := func() map[string]any { return map[string]any{"members": []any{u1}, "system": true} }
	expect(t, "test new", e.run(groupPresent, g, true, args()), nil, "Group "+g+" set to be added", 1)
	r := e.run(groupPresent, g, false, args())
	expect(t, "create", r, yes, "New group "+g+" created", 4)
	if m := strsOf(r.Changes["members"]); len(m) != 1 || m[0] != u1 {
		t.Fatalf("changes %v", r.Changes)
	}
	expect(t, "again", e.run(groupPresent, g, false, args()), yes, "Group "+g+" is present and up to date", 0)

	add := map[string]any{"addusers": []any{u2}, "delusers": []any{u1}}
	r = e.run(groupPresent, g, true, add)
	expect(t, "test add", r, nil, "The following group attributes are set to be changed:\naddusers: ["+u2+"]\ndelusers: ["+u1+"]\n", 2)
	r = e.run(groupPresent, g, false, add)
	expect(t, "add", r, yes, "addusers", 1)
	if r.Changes["Final"] != "All changes applied successfully" {
		t.Fatalf("changes %v", r.Changes)
	}
	expect(t, "add again", e.run(groupPresent, g, false, add), yes, "up to date", 0)
	expect(t, "conflict", e.run(groupPresent, g, false, map[string]any{"members": []any{u1}, "addusers": []any{u2}}), nil, "Conflicting options", 0)
	expect(t, "bad gid", e.run(groupPresent, g, false, map[string]any{"gid": []any{1}}), no, `group.present: argument "gid"`, 0)

	expect(t, "absent test", e.run(groupAbsent, g, true, nil), nil, "Group "+g+" is set for removal", 1)
	expect(t, "absent", e.run(groupAbsent, g, false, nil), yes, "Removed group "+g, 1)
	expect(t, "absent again", e.run(groupAbsent, g, false, nil), yes, "Group not present", 0)
}
