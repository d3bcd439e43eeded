package execmod

import (
	"strings"
	"testing"
)

// TestBuiltinDocs checks every built-in function registers once and has
// the doc sys.doc prints, with a CLI example.
func TestBuiltinDocs(t *testing.T) {
	r := Builtin()
	names := r.Names()
	if len(names) < 40 {
		t.Fatalf("only %d functions registered", len(names))
	}
	for _, n := range names {
		e, _ := r.Lookup(n)
		if strings.TrimSpace(e.Doc) == "" {
			t.Errorf("%s has no doc", n)
		}
	}
	for _, n := range []string{"test.ping", "cmd.run", "cmd.run_all", "grains.get", "pillar.get", "config.get", "sys.doc"} {
		e, ok := r.Lookup(n)
		if !ok {
			t.Errorf("%s not registered", n)
			continue
		}
		if !strings.Contains(e.Doc, "CLI Example: brine-master run '*' "+n) {
			t.Errorf("%s doc lacks its CLI example: %q", n, e.Doc)
		}
	}
}
