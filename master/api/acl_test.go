package api

import (
	"errors"
	"strings"
	"testing"
)

func TestACLAllow(t *testing.T) {
	acl, err := NewACL(map[string][]ACLRule{
		"alice": {{Target: "web*", Functions: []string{"test.*", "cmd.run"}}, {Target: "db1", Functions: []string{"test.ping"}}},
		"bob":   {{Target: "*", Functions: []string{"grains.items"}}},
	}, "root")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		op, fun string
		ids     []string
		ok      bool
		msg     string
	}{
		{"root", "cmd.run", []string{"db1"}, true, ""},
		{"alice", "test.ping", []string{"web1", "web2", "db1"}, true, ""},
		{"alice", "test.version", []string{"web1", "db1"}, false, "on db1"},
		{"alice", "cmd.run", []string{"web1"}, true, ""},
		{"alice", "cmd.run_all", []string{"web1"}, false, "cmd.run_all"},
		{"alice", "test.ping", nil, false, "matched no minion"},
		{"bob", "grains.items", []string{"a", "b"}, true, ""},
		{"bob", "test.ping", []string{"a"}, false, "may not run"},
		{"carol", "test.ping", []string{"web1"}, false, "no rules"},
	} {
		err := acl.Allow(c.op, c.fun, c.ids)
		if (err == nil) != c.ok || (err != nil && (!errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), c.msg))) {
			t.Errorf("%s %s %v: %v", c.op, c.fun, c.ids, err)
		}
	}
	// No rules at all: nobody is restricted.
	open, _ := NewACL(nil, "root")
	if open.Restricted("carol") || open.Allow("carol", "cmd.run", nil) != nil {
		t.Error("an empty ACL restricted an operator")
	}
	var none *ACL
	if none.Restricted("x") {
		t.Error("a nil ACL restricted an operator")
	}
	for _, bad := range []map[string][]ACLRule{
		{"a": {{Target: "", Functions: []string{"x"}}}},
		{"a": {{Target: "web[", Functions: []string{"x"}}}},
		{"a": {{Target: "web", Functions: nil}}},
	} {
		if _, err := NewACL(bad); err == nil {
			t.Errorf("NewACL(%v) accepted", bad)
		}
	}
}
