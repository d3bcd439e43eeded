package execmod

import (
	"context"
	"os/exec"
	"testing"

	"github.com/brine-cm/brine/pkg/testkit"
)

func acctCtx() *Context { return &Context{Ctx: context.Background(), Registry: Builtin()} }

func TestUserModule(t *testing.T) {
	testkit.NeedAccounts(t)
	c := acctCtx()
	name := testkit.AccountName(t)
	grp := testkit.AccountName(t)
	t.Cleanup(func() {
		exec.Command("userdel", "-r", name).Run()
		exec.Command("groupdel", grp).Run()
		exec.Command("groupdel", name).Run()
	})
	info, err := c.Call("user.info", []any{name}, nil)
	if err != nil || len(info.(map[string]any)) != 0 {
		t.Fatalf("info of missing user: %v %v", info, err)
	}
	if ok, err := c.Call("group.add", []any{grp}, nil); err != nil || ok != true {
		t.Fatalf("group.add: %v %v", ok, err)
	}
	ok, err := c.Call("user.add", []any{name}, map[string]any{"shell": "/bin/sh", "fullname": "Brine Test", "groups": []any{grp}, "createhome": false})
	if err != nil || ok != true {
		t.Fatalf("user.add: %v %v", ok, err)
	}
	if _, err := c.Call("user.add", []any{name}, nil); err == nil {
		t.Fatal("adding an existing user must fail")
	}
	info, _ = c.Call("user.info", []any{name}, nil)
	m := info.(map[string]any)
	if m["shell"] != "/bin/sh" || m["fullname"] != "Brine Test" {
		t.Fatalf("info %v", m)
	}
	groups, _ := c.Call("user.list_groups", []any{name}, nil)
	found := false
	for _, g := range groups.([]any) {
		found = found || g == grp
	}
	if !found {
		t.Fatalf("groups %v lack %s", groups, grp)
	}
	if ok, err := c.Call("user.chshell", []any{name, "/bin/bash"}, nil); err != nil || ok != true {
		t.Fatalf("chshell %v %v", ok, err)
	}
	if ok, err := c.Call("user.chhome", []any{name, "/tmp/" + name}, nil); err != nil || ok != true {
		t.Fatalf("chhome %v %v", ok, err)
	}
	if ok, err := c.Call("user.chgroups", []any{name, []any{name}}, nil); err != nil || ok != true {
		t.Fatalf("chgroups %v %v", ok, err)
	}
	info, _ = c.Call("user.info", []any{name}, nil)
	if m := info.(map[string]any); m["shell"] != "/bin/bash" || m["home"] != "/tmp/"+name || len(m["groups"].([]any)) != 1 {
		t.Fatalf("after changes %v", m)
	}
	all, err := c.Call("user.getent", nil, nil)
	if err != nil || len(all.([]any)) < 2 {
		t.Fatalf("getent %v %v", all, err)
	}
	if ok, err := c.Call("user.delete", []any{name}, map[string]any{"remove": true}); err != nil || ok != true {
		t.Fatalf("delete %v %v", ok, err)
	}
	if _, err := c.Call("user.chshell", []any{name, "/bin/sh"}, nil); err == nil {
		t.Fatal("chshell of a missing user must fail")
	}
	if _, err := c.Call("user.add", nil, nil); err == nil {
		t.Fatal("user.add without a name must fail")
	}
}

func TestGroupModule(t *testing.T) {
	testkit.NeedAccounts(t)
	c := acctCtx()
	g, u := testkit.AccountName(t), testkit.AccountName(t)
	t.Cleanup(func() {
		exec.Command("userdel", u).Run()
		exec.Command("groupdel", u).Run()
		exec.Command("groupdel", g).Run()
	})
	if _, err := c.Call("user.add", []any{u}, map[string]any{"createhome": false}); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.Call("group.add", []any{g}, map[string]any{"system": true}); err != nil || ok != true {
		t.Fatalf("add %v %v", ok, err)
	}
	if ok, err := c.Call("group.adduser", []any{g, u}, nil); err != nil || ok != true {
		t.Fatalf("adduser %v %v", ok, err)
	}
	info, _ := c.Call("group.info", []any{g}, nil)
	if m := info.(map[string]any); len(m["members"].([]any)) != 1 {
		t.Fatalf("info %v", m)
	}
	if ok, err := c.Call("group.deluser", []any{g, u}, nil); err != nil || ok != true {
		t.Fatalf("deluser %v %v", ok, err)
	}
	if ok, err := c.Call("group.members", []any{g, u}, nil); err != nil || ok != true {
		t.Fatalf("members %v %v", ok, err)
	}
	if ok, err := c.Call("group.chgid", []any{g, "nope"}, nil); err == nil {
		t.Fatalf("chgid with a bad gid: %v", ok)
	}
	if ok, err := c.Call("group.delete", []any{g}, nil); err != nil || ok != true {
		t.Fatalf("delete %v %v", ok, err)
	}
	info, _ = c.Call("group.info", []any{g}, nil)
	if len(info.(map[string]any)) != 0 {
		t.Fatalf("group still there: %v", info)
	}
}

// TestSHA512Crypt checks against hashes made by `openssl passwd -6`.
func TestSHA512Crypt(t *testing.T) {
	cases := []struct{ pw, salt, want string }{
		{"hello", "saltsalt", "$6$saltsalt$YTeBOLnmm3CoeJTzBuijUEtOEWCqrw/nQ8/AeMmON4LGp3k0ZiMjC1OdqzWFUAfDQBvYkOch9BWtQTBcZ1E/p0"},
		{"a-much-longer-password-that-exceeds-sixty-four-bytes-in-length-for-sure-yes", "abcdefghijklmnop",
			"$6$abcdefghijklmnop$94IcyV5YioClKRxxTIpGFCzKHEL1vY48n1OQtMHKa9cKA5MWZ./do3qhnUaMblNf5SfgLyDa0u7Gqv4SYzz.D1"},
		{"x", "s", "$6$s$SBlV1TrR7m/.1RRLMAAvh/x6acOyBKfXVqXOixcaFNbUhqE84RFnq6y5mvfWTW8EA6yIr1RuWU8IRsKA/9jfE."},
	}
	if got := sha512Crypt("secret", "roundsalt", 10000); got != "$6$rounds=10000$roundsalt$FF8gTAPk6fDkzddgXk3ExQY6VseKRuyJ8JlMjEybiRw9QL9Gu2AWV/IurQRsdk76m.WslkHULDeqF37ILdYlb/" {
		t.Errorf("rounds=10000: %s", got)
	}
	c := acctCtx()
	for _, tc := range cases {
		if got := sha512Crypt(tc.pw, tc.salt, 5000); got != tc.want {
			t.Errorf("sha512Crypt(%q, %q) = %s, want %s", tc.pw, tc.salt, got, tc.want)
		}
		// Re-hashing with the existing hash as crypt_salt reproduces it.
		got, err := c.Call("shadow.gen_password", []any{tc.pw}, map[string]any{"crypt_salt": tc.want})
		if err != nil || got != tc.want {
			t.Errorf("gen_password with existing hash: %v %v", got, err)
		}
	}
	h, err := c.Call("shadow.gen_password", []any{"pw"}, nil)
	if err != nil || len(h.(string)) != 3+16+1+86 {
		t.Fatalf("random salt hash %v %v", h, err)
	}
	if _, err := c.Call("shadow.gen_password", []any{"pw"}, map[string]any{"algorithm": "md5"}); err == nil {
		t.Fatal("unsupported algorithm must fail")
	}
}
