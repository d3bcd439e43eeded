package compile_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/brine-cm/brine/pkg/execmod"
	"github.com/brine-cm/brine/pkg/fileclient"
	"github.com/brine-cm/brine/states"
	"github.com/brine-cm/brine/states/compile"
)

// tree writes files under a fresh file root and returns an execution
// context reading from it.
func tree(t testing.TB, files map[string]string) *execmod.Context {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return &execmod.Context{Ctx: context.Background(), Files: fileclient.NewLocal(dir), Saltenv: "base",
		Grains: map[string]any{}, Pillar: map[string]any{}, Opts: map[string]any{}}
}

func mustCompile(t *testing.T, ec *execmod.Context, mods ...string) []states.Chunk {
	t.Helper()
	chunks, err := compile.Compile(ec, mods, compile.Options{States: states.Builtin()})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return chunks
}

func TestLowChunks(t *testing.T) {
	ec := tree(t, map[string]string{"web/init.sls": `
nginx:
  pkg:
    - installed
  service.running:
    - enable: True
    - require:
      - pkg: nginx
files:
  test.nop:
    - names:
      - /a
      - /b:
        - comment: b
`})
	chunks := mustCompile(t, ec, "web")
	type lite struct {
		State, Fun, ID, Name, SLS string
		Order                     any
	}
	var got []lite
	for _, c := range chunks {
		got = append(got, lite{c.State, c.Fun, c.ID, c.Name, c.SLS, c.Order})
	}
	want := []lite{
		{"pkg", "installed", "nginx", "nginx", "web", 10000},
		{"service", "running", "nginx", "nginx", "web", 10001},
		{"test", "nop", "files", "/a", "web", 10002.0001},
		{"test", "nop", "files", "/b", "web", 10002.0002},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("chunks\n got %+v\nwant %+v", got, want)
	}
	if chunks[1].Args["enable"] != true {
		t.Errorf("enable arg lost: %v", chunks[1].Args)
	}
	if !reflect.DeepEqual(chunks[1].Args["require"], []any{map[string]any{"pkg": "nginx"}}) {
		t.Errorf("require arg: %v", chunks[1].Args["require"])
	}
	if chunks[3].Args["comment"] != "b" || chunks[2].Args["comment"] != nil {
		t.Errorf("per-name args leaked: %v / %v", chunks[2].Args, chunks[3].Args)
	}
	if chunks[0].Pos.File != "web/init.sls" || chunks[0].Pos.Line == 0 {
		t.Errorf("position not kept: %+v", chunks[0].Pos)
	}
	for _, c := range chunks {
		if _, ok := c.Args["__name_order__"]; ok {
			t.Errorf("internal key leaked into %s args", c.Name)
		}
	}
}

func TestStateAutoOrderOff(t *testing.T) {
	ec := tree(t, map[string]string{"main.sls": "zz:\n  test.nop\naa:\n  test.nop\n"})
	ec.Opts["state_auto_order"] = false
	chunks := mustCompile(t, ec, "main")
	if chunks[0].ID != "aa" || chunks[1].ID != "zz" {
		t.Fatalf("want lexicographic order without state_auto_order, got %s, %s", chunks[0].ID, chunks[1].ID)
	}
}

func TestHighMapShape(t *testing.T) {
	ec := tree(t, map[string]string{"main.sls": "A:\n  test.configurable_test_state:\n    - comment: hi\n"})
	high, err := compile.High(ec, []string{"main"}, compile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"A": map[string]any{
		"__sls__": "main", "__env__": "base",
		"test": []any{map[string]any{"comment": "hi"}, "configurable_test_state", map[string]any{"order": 10000}},
	}}
	if got := high.Map(); !reflect.DeepEqual(got, want) {
		t.Fatalf("show_sls shape\n got %#v\nwant %#v", got, want)
	}
	low, err := compile.Low(high)
	if err != nil || len(low) != 1 || low[0].Name != "A" {
		t.Fatalf("Low(High) = %+v, %v", low, err)
	}
}

func TestErrorsCarryPositions(t *testing.T) {
	ec := tree(t, map[string]string{"main.sls": "ok:\n  test.nop\nbad:\n  test.nop:\n    - require: A\n"})
	_, err := compile.Compile(ec, []string{"main"}, compile.Options{})
	var ce *compile.Errors
	if !errors.As(err, &ce) || len(ce.List) != 1 {
		t.Fatalf("want one *compile.Errors entry, got %v", err)
	}
	want := "main.sls:5:7: The require statement in state 'bad' in SLS 'main' needs to be formed as a list"
	if ce.List[0] != want {
		t.Fatalf("got  %q\nwant %q", ce.List[0], want)
	}
}

func TestRenderErrorsAreReported(t *testing.T) {
	ec := tree(t, map[string]string{"main.sls": "A:\n  test.nop:\n    - name: [unclosed\n"})
	_, err := compile.Compile(ec, []string{"main"}, compile.Options{})
	if err == nil || !strings.Contains(err.Error(), "Rendering SLS 'base:main' failed") {
		t.Fatalf("want render failure, got %v", err)
	}
}

func TestEmptySLS(t *testing.T) {
	ec := tree(t, map[string]string{"main.sls": "# nothing here\n"})
	chunks := mustCompile(t, ec, "main")
	if len(chunks) != 0 {
		t.Fatalf("want no chunks, got %v", chunks)
	}
}

func TestJinjaLoopWithRequisiteIn(t *testing.T) {
	ec := tree(t, map[string]string{"main.sls": `
svc:
  test.nop
{% for f in ['a', 'b'] %}
conf-{{ f }}:
  test.succeed_with_changes:
    - watch_in:
      - test: svc
{% endfor %}
`})
	chunks := mustCompile(t, ec, "main")
	var svc states.Chunk
	for _, c := range chunks {
		if c.ID == "svc" {
			svc = c
		}
	}
	want := []any{map[string]any{"test": "conf-a"}, map[string]any{"test": "conf-b"}}
	if !reflect.DeepEqual(svc.Args["watch"], want) {
		t.Fatalf("watch_in not folded into svc: %v", svc.Args["watch"])
	}
}

func TestFnmatch(t *testing.T) {
	cases := []struct {
		pat, s string
		want   bool
	}{
		{"*", "anything/with.dots", true},
		{"/etc/apache2/*", "/etc/apache2/sites/a.conf", true},
		{"/etc/apache2/*", "/etc/nginx/a.conf", false},
		{"web?", "web1", true},
		{"web?", "web10", false},
		{"web[12]", "web2", true},
		{"web[!12]", "web2", false},
		{"web[0-9]x", "web5x", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"[", "[", true},
		{"plain", "plain", true},
		{"plain", "plainer", false},
	}
	for _, c := range cases {
		if got := compile.Fnmatch(c.pat, c.s); got != c.want {
			t.Errorf("Fnmatch(%q, %q) = %v, want %v", c.pat, c.s, got, c.want)
		}
	}
}

func FuzzCompile(f *testing.F) {
	seeds := []string{
		"A:\n  test.nop\n",
		"A:\n  test.nop:\n    - require:\n      - test: B\nB:\n  test.succeed_with_changes\n",
		"include:\n  - .x\nextend:\n  A:\n    test:\n      - comment: x\nexclude:\n  - id: A\n",
		"A:\n  test.nop:\n    - names:\n      - a\n      - b: [{comment: c}]\n",
		"A:\n  test.nop:\n    - require_in:\n        test: B\n    - use: [{test: B}]\nB:\n  test.nop: []\n",
		"- a\n- b\n",
		"A: 1\n",
		"1: {test: [nop]}\n",
		"A:\n  test.nop:\n    - {a: 1, b: 2}\n",
		"A:\n  test.nop:\n    - order: last\n    - listen: [B]\nB:\n  test:\n    - nop\n    - order: first\n",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	reg := states.NewRegistry()
	reg.Register(states.Test())
	f.Fuzz(func(t *testing.T, sls string) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "main.sls"), []byte(sls), 0o644); err != nil {
			t.Fatal(err)
		}
		// No execution-module registry: templates cannot call out.
		ec := &execmod.Context{Ctx: context.Background(), Files: fileclient.NewLocal(dir), Saltenv: "base",
			Grains: map[string]any{}, Pillar: map[string]any{}, Opts: map[string]any{}}
		high, err := compile.High(ec, []string{"main"}, compile.Options{States: reg})
		if err != nil {
			var ce *compile.Errors
			if !errors.As(err, &ce) || len(ce.List) == 0 {
				t.Fatalf("error of unexpected type %T: %v", err, err)
			}
			return
		}
		_ = high.Map()
		chunks, err := compile.Low(high)
		if err != nil {
			return
		}
		for i, c := range chunks {
			if c.State == "" || c.Fun == "" || c.ID == "" {
				t.Fatalf("chunk %d incomplete: %+v", i, c)
			}
		}
	})
}

// A list or mapping where a state's name belongs is refused at compile
// time, naming the state, the SLS and the position, instead of running
// the state on a name printed in Go's notation.
func TestNonScalarNameIsACompileError(t *testing.T) {
	for src, want := range map[string]string{
		"A:\n  test.nop:\n    - name: [x, y]\n":        "main.sls:3:7: The 'name' argument in state 'A' in SLS 'main' must be a string, not a list",
		"A:\n  test.nop:\n    - name: {k: v}\n":        "main.sls:3:7: The 'name' argument in state 'A' in SLS 'main' must be a string, not a mapping",
		"A:\n  test.nop:\n    - names:\n      - [x]\n": "main.sls:3:7: The 'names' argument in state 'A' in SLS 'main' holds a list",
	} {
		ec := tree(t, map[string]string{"main.sls": src})
		_, err := compile.Compile(ec, []string{"main"}, compile.Options{})
		var ce *compile.Errors
		if !errors.As(err, &ce) || len(ce.List) != 1 || !strings.HasPrefix(ce.List[0], want) {
			t.Errorf("%q: got %v, want %q", src, err, want)
		}
	}
	ec := tree(t, map[string]string{"main.sls": "A:\n  test.nop:\n    - name: yes\nB:\n  test.nop:\n    - names: [no, 5]\n"})
	low, err := compile.Compile(ec, []string{"main"}, compile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range low {
		names = append(names, c.Name)
	}
	if strings.Join(names, ",") != "True,False,5" {
		t.Fatalf("scalar names = %v, want True,False,5 as Salt's str() prints them", names)
	}
}

// A names list repeating a name yields one chunk per distinct name, in
// first-seen order.
func TestNamesRepeatedOnce(t *testing.T) {
	ec := tree(t, map[string]string{"main.sls": "A:\n  test.nop:\n    - names: [b, a, b, c, a]\n"})
	low, err := compile.Compile(ec, []string{"main"}, compile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range low {
		got = append(got, c.Name)
	}
	if strings.Join(got, ",") != "b,a,c" {
		t.Fatalf("names = %v, want b,a,c", got)
	}
}

// BenchmarkLowManyNames compiles one ID expanding 20,000 names; the
// duplicate check once made this quadratic.
func BenchmarkLowManyNames(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("A:\n  test.nop:\n    - names:\n")
	for i := 0; i < 20000; i++ {
		fmt.Fprintf(&sb, "      - n%d\n", i)
	}
	ec := tree(b, map[string]string{"main.sls": sb.String()})
	high, err := compile.High(ec, []string{"main"}, compile.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := compile.Low(high); err != nil {
			b.Fatal(err)
		}
	}
}

// `- env: sls` includes the SLS from that environment's roots, renders it
// with that saltenv, and refuses an environment the roots do not define.
func TestIncludeFromAnotherEnvironment(t *testing.T) {
	ec := tree(t, map[string]string{
		"base/main.sls":   "include:\n  - prod: shared\n  - _xenv: local\nM:\n  test.nop: []\n",
		"base/local.sls":  "L:\n  test.nop:\n    - env: {{ saltenv }}\n",
		"base/shared.sls": "WRONG:\n  test.nop: []\n",
		"prod/shared.sls": "S:\n  test.nop:\n    - env: {{ saltenv }}\n",
		"base/bad.sls":    "include:\n  - nosuchenv: shared\n",
	})
	root := ec.Files.(*fileclient.Local).Roots[0]
	ec.Files = &fileclient.Local{Roots: []string{filepath.Join(root, "base")},
		Envs: map[string][]string{"prod": {filepath.Join(root, "prod")}}}
	high, err := compile.High(ec, []string{"main"}, compile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, l := high.Decls["S"], high.Decls["L"]
	if s == nil || s.Env != "prod" || high.Decls["WRONG"] != nil || l == nil || l.Env != "base" {
		t.Fatalf("decls = %v", high.IDs)
	}
	if len(s.IncludedFrom) != 1 || s.IncludedFrom[0] != "main" {
		t.Fatalf("prod:shared included from %v, want [main] so sls: main covers it", s.IncludedFrom)
	}
	if v, _ := s.States[0].Arg("env"); v != "prod" {
		t.Fatalf("saltenv while rendering prod:shared = %v", v)
	}
	if v, _ := l.States[0].Arg("env"); v != "base" {
		t.Fatalf("saltenv while rendering base:local = %v", v)
	}
	_, err = compile.High(ec, []string{"bad"}, compile.Options{})
	if err == nil || !strings.Contains(err.Error(), "bad.sls:2:5: Nonexistent saltenv 'nosuchenv' found in include of 'shared' within SLS 'base:bad'") {
		t.Fatalf("unknown env: %v", err)
	}
}
