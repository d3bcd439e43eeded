package proto

import (
	"strings"
	"testing"
)

func TestProgressSubjects(t *testing.T) {
	jid := "20261126001500123456"
	a, b := ProgressSubject("web1.example.com", jid), ProgressSubject("web2", jid)
	if a == b {
		t.Fatal("two minions share a progress subject")
	}
	tok, rest, ok := SplitTokenSubject(a, EventPrefix)
	if !ok || tok != Token("web1.example.com") || rest != "progress."+jid {
		t.Fatalf("ProgressSubject = %q: token %q rest %q ok %v", a, tok, rest, ok)
	}
	if !strings.HasPrefix(a, EventPrefix+Token("web1.example.com")+".") {
		t.Fatalf("progress subject %q is not under the minion's own events", a)
	}
	op := OperatorProgressSubject("alice", "abc123")
	if !strings.HasPrefix(op, OperatorInbox("alice")+".") || strings.HasPrefix(op, OperatorInbox("bob")+".") {
		t.Fatalf("operator progress subject %q is not under alice's inbox only", op)
	}
	if strings.Count(op, ".") != strings.Count(OperatorInbox("alice"), ".")+2 {
		t.Fatalf("operator progress subject %q has extra tokens", op)
	}
}

func TestValidProgressTag(t *testing.T) {
	for _, ok := range []string{"a", "0123456789abcdef", strings.Repeat("z", 64)} {
		if !ValidProgressTag(ok) {
			t.Errorf("ValidProgressTag(%q) = false", ok)
		}
	}
	for _, bad := range []string{"", "*", ">", "a.b", "A", "a b", strings.Repeat("z", 65), "tag-1"} {
		if ValidProgressTag(bad) {
			t.Errorf("ValidProgressTag(%q) = true", bad)
		}
	}
}
