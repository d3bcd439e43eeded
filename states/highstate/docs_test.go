package highstate

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/brine-cm/brine/pkg/execmod"
	"github.com/brine-cm/brine/states"
)

// reference renders the list of state and execution functions with their
// arguments, the generated part of docs/states.md.
func reference(sr *states.Registry, er *execmod.Registry) string {
	var b strings.Builder
	b.WriteString("### State functions\n\n")
	b.WriteString("Every state also takes `name`, `names`, the requisites, `order`, `failhard`, `test`, `onlyif`/`unless`/`creates` where the module supports them.\n\n")
	b.WriteString("| state | arguments |\n| --- | --- |\n")
	for _, n := range sr.Names() {
		mod, fun, _ := strings.Cut(n, ".")
		m, _ := sr.Module(mod)
		args := "`name`"
		if a := m.Args[fun]; len(a) > 0 {
			args = "`" + strings.Join(a, "`, `") + "`"
		}
		extra := ""
		if m.ModWatch != nil {
			extra = " (reacts to `watch`)"
		}
		b.WriteString("| `" + n + "`" + extra + " | " + args + " |\n")
	}
	b.WriteString("\n### Execution functions\n\n")
	b.WriteString("Callable with `brine-minion call`, `brine-master run` and from templates as `salt['name'](...)`.\n\n")
	b.WriteString("| function | what |\n| --- | --- |\n")
	for _, n := range er.Names() {
		e, _ := er.Lookup(n)
		doc, _, _ := strings.Cut(e.Doc, "\n")
		doc = strings.ReplaceAll(doc, "|", "\\|")
		b.WriteString("| `" + n + "` | " + doc + " |\n")
	}
	return b.String()
}

// TestStatesReference regenerates the reference section of docs/states.md
// when BRINE_UPDATE_DOCS=1; otherwise it checks the generator lists every
// registered function.
func TestStatesReference(t *testing.T) {
	sr := states.Builtin()
	er := execmod.Builtin()
	Register(er, sr)
	ref := reference(sr, er)
	for _, n := range append(sr.Names(), er.Names()...) {
		if !strings.Contains(ref, "`"+n+"`") {
			t.Errorf("reference lacks %s", n)
		}
	}
	if os.Getenv("BRINE_UPDATE_DOCS") == "" {
		return
	}
	_, file, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(file), "..", "..", "docs", "states.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- reference:begin -->\n", "<!-- reference:end -->"
	i, j := strings.Index(string(doc), begin), strings.Index(string(doc), end)
	if i < 0 || j < i {
		t.Fatal("docs/states.md lacks the reference markers")
	}
	out := string(doc[:i+len(begin)]) + ref + string(doc[j:])
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
}
