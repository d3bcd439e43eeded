package states

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// Every built-in state function, run in test mode with each of its
// arguments set to a value of the wrong shape, returns a result (a
// failure or a pending change) and never panics. Test mode keeps the
// host untouched; names point into a scratch directory.
func TestStatesSurviveBadArgumentsInTestMode(t *testing.T) {
	e := newFileEnv(t)
	e.root("src/a", "x")
	bad := []any{[]any{1}, map[string]any{"a": 1}, "maybe", 1.5}
	common := []string{"name", "user", "group", "mode", "makedirs", "source", "contents", "onlyif", "unless", "env", "timeout"}
	reg := Builtin()
	var mods []string
	for _, b := range builtins {
		mods = append(mods, b().Name)
	}
	sort.Strings(mods)
	calls := 0
	for _, mn := range mods {
		if mn == "pkg" {
			// Each pkg call queries apt (about a second); its argument
			// checks are covered by TestPkgStateBadArguments.
			continue
		}
		m, _ := reg.Module(mn)
		var funs []string
		for f := range m.Funcs {
			funs = append(funs, f)
		}
		sort.Strings(funs)
		for _, fn := range funs {
			args := append(append([]string{}, common...), m.Args[fn]...)
			for i, arg := range args {
				for j, b := range bad {
					name := filepath.Join(e.dir, fmt.Sprintf("%s-%s-%d-%d", mn, fn, i, j))
					if mn == "service" || mn == "user" || mn == "group" {
						name = "brine-no-such-" + fmt.Sprint(i, j)
					}
					a := map[string]any{arg: b, "test": true}
					if arg == "name" {
						delete(a, "name")
					}
					func() {
						defer func() {
							if p := recover(); p != nil {
								t.Errorf("%s.%s with %s=%v panicked: %v", mn, fn, arg, b, p)
							}
						}()
						r := m.Funcs[fn](&Request{Exec: e.ec, ID: "bad", Name: name, Args: a})
						calls++
						if r.Result != nil && *r.Result && len(r.Changes) > 0 {
							t.Errorf("%s.%s with %s=%v reported changes in test mode with result True", mn, fn, arg, b)
						}
					}()
				}
			}
		}
	}
	if calls < 300 {
		t.Fatalf("only %d calls made", calls)
	}
	entries, err := os.ReadDir(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("test mode created %d entries in the scratch dir, first %s", len(entries), entries[0].Name())
	}
}
