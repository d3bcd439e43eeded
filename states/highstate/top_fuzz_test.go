package highstate

import (
	"testing"

	"github.com/brine-cm/brine/pkg/execmod"
)

// FuzzTopFile feeds arbitrary YAML to the top-file reader and matcher:
// nothing may panic, and every target read has a match type.
func FuzzTopFile(f *testing.F) {
	for _, s := range []string{
		"base:\n  '*':\n    - a\n",
		"base:\n  'os:Debian':\n    - match: grain\n    - b\n",
		"base:\n  'G@x:y and (':\n    - match: compound\n",
		"base: []\n", "- a\n", "base:\n  x: y\n", "base:\n  '*':\n    - {a: 1}\n    - 3\n",
	} {
		f.Add(s)
	}
	ec := &execmod.Context{Grains: map[string]any{"id": "m1", "os": "Debian"}, Opts: map[string]any{"id": "m1"}}
	m := newMatcher(ec, nil)
	f.Fuzz(func(t *testing.T, src string) {
		top, err := renderTop(ec, "top.sls", []byte("#!yaml\n"+src))
		if err != nil {
			return
		}
		for _, env := range top.Envs {
			for _, tg := range env.Targets {
				if tg.Match == "" {
					t.Fatalf("target %q without a match type", tg.Expr)
				}
			}
		}
		top.matches(m, "")
	})
}
