package highstate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/brine-cm/brine/pkg/fileclient"
	"github.com/brine-cm/brine/proto"
)

// writeTree writes files (relative path -> content) under a new temp dir.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for rel, content := range files {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var webGrains = map[string]any{
	"id": "web1", "os": "Debian", "os_family": "Debian",
	"roles": []any{"web", "cache"}, "ipv4": []any{"10.1.2.3", "127.0.0.1"},
}

func TestTopMatchTypes(t *testing.T) {
	salt := writeTree(t, map[string]string{"top.sls": `base:
  '*':
    - all
  'web*':
    - glob
  'db*':
    - never_glob
  '^web\d+$':
    - match: pcre
    - pcre
  'os_family:Debian':
    - match: grain
    - grain
  'os_family:RedHat':
    - match: grain
    - never_grain
  'db1,web1':
    - match: list
    - list
  'G@roles:web and not G@os:RedHat':
    - match: compound
    - compound
  'tier:front*':
    - match: pillar
    - pillar
  'webs':
    - match: nodegroup
    - nodegroup
  '10.1.0.0/16':
    - match: ipcidr
    - ipcidr
  'roles:ca.*':
    - match: grain_pcre
    - grain_pcre
  '{{ grains["id"] }}':
    - jinja
    - all
other:
  '*':
    - other_env
`})
	ec := newContext(t, webGrains, salt, "")
	ec.Pillar = map[string]any{"tier": "frontend"}
	ec.Opts["nodegroups"] = map[string]any{"webs": "L@web1,web2"}
	got, err := ec.Call("state.show_top", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"base":  []any{"all", "glob", "pcre", "grain", "list", "compound", "pillar", "nodegroup", "ipcidr", "grain_pcre", "jinja"},
		"other": []any{"other_env"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("show_top\n got %v\nwant %v", got, want)
	}
	got, _ = ec.Call("state.show_top", nil, map[string]any{"saltenv": "other"})
	if !reflect.DeepEqual(got, map[string]any{"other": []any{"other_env"}}) {
		t.Fatalf("saltenv=other: %v", got)
	}
}

func TestTopErrors(t *testing.T) {
	salt := writeTree(t, map[string]string{"top.sls": "base:\n  'G@os:Debian and (':\n    - match: compound\n    - a\n"})
	ec := newContext(t, webGrains, salt, "")
	got, _ := ec.Call("state.highstate", nil, nil)
	l, ok := got.([]string)
	if !ok || len(l) != 1 || !strings.Contains(l[0], `top file target "G@os:Debian and (" (line 2)`) {
		t.Fatalf("bad compound target not reported with its line: %#v", got)
	}
	empty := writeTree(t, map[string]string{"top.sls": "base:\n  'db*':\n    - a\n"})
	got, _ = newContext(t, webGrains, empty, "").Call("state.apply", nil, nil)
	if !reflect.DeepEqual(got, []string{msgNoTop}) {
		t.Fatalf("no match: %#v", got)
	}
	got, _ = newContext(t, webGrains, t.TempDir(), "").Call("state.apply", nil, nil)
	if !reflect.DeepEqual(got, []string{msgNoTop}) {
		t.Fatalf("no top file: %#v", got)
	}
}

func TestPillarIncludeMergeOrder(t *testing.T) {
	pillar := writeTree(t, map[string]string{
		"top.sls": "base:\n  '*':\n    - first\n    - second\n  'os_family:Debian':\n    - match: grain\n    - deb\n",
		"first/init.sls": `include:
  - .common
  - extra:
      key: 'nested:deep'
a:
  y: 3
`,
		"first/common.sls": "a:\n  x: 1\n  y: 2\nlist: [1, 2]\n",
		"extra.sls":        "k: v\n",
		"second.sls":       "a:\n  z: {{ pillar['a']['x'] + 3 }}\nlist: [9]\n",
		"deb.sls":          "pkg: {{ grains['os'] | lower }}\n",
	})
	ec := newContext(t, webGrains, t.TempDir(), "")
	got, err := CompilePillar(context.Background(), ec, []string{pillar})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"a":      map[string]any{"x": 1, "y": 3, "z": 4},
		"list":   []any{9},
		"nested": map[string]any{"deep": map[string]any{"k": "v"}},
		"pkg":    "debian",
	}
	if !reflect.DeepEqual(generic(t, got), generic(t, want)) {
		t.Fatalf("pillar\n got %v\nwant %v", got, want)
	}
}

func TestPillarErrorsStopStateRuns(t *testing.T) {
	pillar := writeTree(t, map[string]string{
		"top.sls":    "base:\n  '*':\n    - good\n    - broken\n",
		"good.sls":   "a: 1\n",
		"broken.sls": "a: [1,\n",
	})
	salt := writeTree(t, map[string]string{"s.sls": "x:\n  test.nop: []\n"})
	ec := newContext(t, webGrains, salt, "")
	p, err := CompilePillar(context.Background(), ec, []string{pillar})
	var pe *PillarErrors
	if !errors.As(err, &pe) || len(pe.List) != 1 || !strings.Contains(pe.List[0], "broken.sls:") {
		t.Fatalf("want one located error for broken.sls, got %v", err)
	}
	if p["a"] != 1 {
		t.Errorf("good pillar lost: %v", p)
	}
	ec.Pillar = map[string]any{"_errors": []any{pe.List[0]}}
	got, _ := ec.Call("state.sls", []any{"s"}, nil)
	l, ok := got.([]string)
	if !ok || len(l) != 2 || l[0] != msgPillarFailed {
		t.Fatalf("state run with pillar errors: %#v", got)
	}
	if !Failed(got) {
		t.Error("Failed() false for an error list")
	}
}

func TestSLSKwargs(t *testing.T) {
	salt := writeTree(t, map[string]string{
		"app.sls": `include:
  - app.extra
first:
  test.succeed_with_changes:
    - name: {{ pillar.get('who', 'nobody') }}
second:
  test.succeed_without_changes: []
third:
  test.fail_without_changes:
    - require:
      - test: second
`,
		"app/extra.sls": "extra:\n  test.nop: []\n",
	})
	ec := newContext(t, webGrains, salt, "")
	results := func(ret any) map[string]proto.StateResult {
		t.Helper()
		m, ok := ret.(map[string]proto.StateResult)
		if !ok {
			t.Fatalf("not a state return: %#v", ret)
		}
		return m
	}
	ret, err := ec.Call("state.sls", []any{"app"}, map[string]any{"pillar": map[string]any{"who": "alice"}, "exclude": []any{map[string]any{"id": "third"}, "app.extra"}})
	if err != nil {
		t.Fatal(err)
	}
	r := results(ret)
	if len(r) != 2 || Failed(ret) {
		t.Fatalf("exclude not applied: %v", r)
	}
	if _, ok := r["test_|-first_|-alice_|-succeed_with_changes"]; !ok {
		t.Fatalf("pillar override not visible to Jinja: %v", r)
	}
	if ec.Pillar["who"] != nil {
		t.Fatal("pillar override leaked into the caller's context")
	}

	ret, _ = ec.Call("state.sls", []any{"app"}, map[string]any{"test": true})
	r = results(ret)
	if res := r["test_|-first_|-nobody_|-succeed_with_changes"].Result; res != nil {
		t.Errorf("test=True: want result None for a pending change, got %v", *res)
	}
	if !Failed(ret) {
		t.Error("a failing state did not make Failed() true")
	}

	ret, _ = ec.Call("state.sls_id", []any{"third", "app"}, nil)
	r = results(ret)
	if len(r) != 1 {
		t.Fatalf("sls_id ran %d states: %v", len(r), r)
	}
	if _, err := ec.Call("state.sls_id", []any{"nope", "app"}, nil); err == nil || !strings.Contains(err.Error(), "No matches for ID 'nope' found in SLS 'app' within saltenv 'base'") {
		t.Fatalf("sls_id on a missing ID: %v", err)
	}

	low, _ := ec.Call("state.show_lowstate", nil, nil)
	if l, ok := low.([]string); !ok || l[0] != msgNoTop {
		t.Fatalf("show_lowstate without a top file: %#v", low)
	}
}

func TestShowLowstateAndHighstate(t *testing.T) {
	salt := writeTree(t, map[string]string{
		"top.sls": "base:\n  '*':\n    - a\n",
		"a.sls":   "one:\n  test.nop:\n    - name: n1\ntwo:\n  test.nop:\n    - require:\n      - test: one\n",
	})
	ec := newContext(t, webGrains, salt, "")
	low, err := ec.Call("state.show_lowstate", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	l, ok := low.([]any)
	if !ok || len(l) != 2 {
		t.Fatalf("lowstate %#v", low)
	}
	c0 := l[0].(map[string]any)
	for k, v := range map[string]any{"state": "test", "fun": "nop", "__id__": "one", "name": "n1", "__sls__": "a", "__env__": "base"} {
		if c0[k] != v {
			t.Errorf("chunk[0][%s] = %v, want %v", k, c0[k], v)
		}
	}
	if _, ok := l[1].(map[string]any)["require"]; !ok {
		t.Errorf("requisite missing from lowstate: %v", l[1])
	}
	high, _ := ec.Call("state.show_highstate", nil, nil)
	hm, ok := high.(map[string]any)
	if !ok || hm["one"] == nil || hm["two"] == nil {
		t.Fatalf("show_highstate %#v", high)
	}
	single, err := ec.Call("state.single", []any{"test.succeed_with_changes", "x"}, map[string]any{"test": true})
	if err != nil {
		t.Fatal(err)
	}
	sr := single.(map[string]proto.StateResult)["test_|-x_|-x_|-succeed_with_changes"]
	if sr.Result != nil {
		t.Errorf("state.single test=True: result %v", sr.Result)
	}
	bad, _ := ec.Call("state.single", []any{"nosuch.fn", "x"}, nil)
	if !Failed(bad) {
		t.Errorf("unknown state function not reported: %#v", bad)
	}
}

func TestResolveRelative(t *testing.T) {
	for _, c := range [][3]string{
		{"a.b", ".c", "a.c"}, {"a.init", ".c", "a.c"}, {"a.b.c", "..d", "a.d"}, {"a", ".b", "b"}, {"x", "y.z", "y.z"},
	} {
		if got := resolveRelative(c[0], c[1]); got != c[2] {
			t.Errorf("resolveRelative(%q, %q) = %q, want %q", c[0], c[1], got, c[2])
		}
	}
}

func TestMergeReplacesLists(t *testing.T) {
	dst := map[string]any{"a": map[string]any{"l": []any{1}, "k": 1}, "s": "x"}
	Merge(dst, map[string]any{"a": map[string]any{"l": []any{2}}, "s": map[string]any{"now": "map"}})
	want := map[string]any{"a": map[string]any{"l": []any{2}, "k": 1}, "s": map[string]any{"now": "map"}}
	if !reflect.DeepEqual(dst, want) {
		t.Fatalf("merge %v", dst)
	}
}

func TestShowLowSLSStatesAndExists(t *testing.T) {
	salt := writeTree(t, map[string]string{
		"top.sls": "base:\n  '*':\n    - b\n    - a\n",
		"a.sls":   "include:\n  - c\none:\n  test.nop: []\n",
		"b.sls":   "two:\n  test.succeed_with_changes: []\n",
		"c.sls":   "three:\n  test.nop: []\n",
		"bad.sls": "x: [\n",
	})
	ec := newContext(t, webGrains, salt, "")
	low, _ := ec.Call("state.show_low_sls", []any{"a"}, nil)
	l, ok := low.([]any)
	if !ok || len(l) != 2 || l[0].(map[string]any)["__id__"] != "three" {
		t.Fatalf("show_low_sls a: %#v", low)
	}
	st, _ := ec.Call("state.show_states", nil, nil)
	if !reflect.DeepEqual(st, []any{"b", "c", "a"}) {
		t.Fatalf("show_states: %#v", st)
	}
	for sls, want := range map[string]bool{"a": true, "bad": false, "missing": false} {
		got, err := ec.Call("state.sls_exists", []any{sls}, nil)
		if err != nil || got != want {
			t.Errorf("sls_exists %s = %v, %v; want %v", sls, got, err, want)
		}
	}
	ret, _ := ec.Call("state.test", []any{"b"}, nil)
	r, ok := ret.(map[string]proto.StateResult)
	if !ok || r["test_|-two_|-two_|-succeed_with_changes"].Result != nil {
		t.Fatalf("state.test did not run in test mode: %#v", ret)
	}
}

func TestStateTop(t *testing.T) {
	salt := writeTree(t, map[string]string{
		"top.sls":   "base:\n  '*':\n    - a\n",
		"other.sls": "base:\n  'web*':\n    - b\n",
		"a.sls":     "one:\n  test.nop: []\n",
		"b.sls":     "two:\n  test.nop: []\n",
	})
	ec := newContext(t, webGrains, salt, "")
	ret, err := ec.Call("state.top", []any{"other.sls"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := ret.(map[string]proto.StateResult)
	if _, ran := r["test_|-two_|-two_|-nop"]; !ok || len(r) != 1 || !ran {
		t.Fatalf("state.top other.sls ran %#v", ret)
	}
}

func TestTopMergeAcrossEnvironments(t *testing.T) {
	base := writeTree(t, map[string]string{
		"top.sls": "base:\n  '*':\n    - common\ndev:\n  '*':\n    - from_base_top\n",
	})
	dev := writeTree(t, map[string]string{
		"top.sls": "dev:\n  'web*':\n    - from_dev_top\n  '*':\n    - from_base_top\n",
	})
	ec := newContext(t, webGrains, base, "")
	ec.Files = &fileclient.Local{Roots: []string{base}, Envs: map[string][]string{"base": {base}, "dev": {dev}}}
	ec.Opts["file_roots"] = map[string]any{"base": []any{base}, "dev": []any{dev}}
	got, err := ec.Call("state.show_top", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"base": []any{"common"}, "dev": []any{"from_base_top", "from_dev_top"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("merged top\n got %v\nwant %v", got, want)
	}
	got, _ = ec.Call("state.show_top", nil, map[string]any{"saltenv": "dev"})
	if !reflect.DeepEqual(got, map[string]any{"dev": []any{"from_dev_top", "from_base_top"}}) {
		t.Fatalf("saltenv=dev reads only dev's top file: %v", got)
	}
}

// One highstate over two saltenvs is one compile as far as IDs go: the
// same ID declared in base and in dev stops the run before anything
// executes, with Salt's conflict message, for state.apply and for
// state.show_highstate alike; distinct IDs run from both.
func TestHighstateConflictingIDsAcrossEnvironments(t *testing.T) {
	base := writeTree(t, map[string]string{
		"top.sls": "base:\n  '*':\n    - app\ndev:\n  '*':\n    - tools\n",
		"app.sls": "shared:\n  test.succeed_with_changes: []\nonly_base:\n  test.nop: []\n",
	})
	dev := writeTree(t, map[string]string{
		"tools.sls": "shared:\n  test.succeed_with_changes: []\nonly_dev:\n  test.nop: []\n",
	})
	ec := newContext(t, webGrains, base, "")
	ec.Files = &fileclient.Local{Roots: []string{base}, Envs: map[string][]string{"base": {base}, "dev": {dev}}}
	ec.Opts["file_roots"] = map[string]any{"base": []any{base}, "dev": []any{dev}}
	want := "Detected conflicting IDs, SLS IDs need to be globally unique.\n    The conflicting ID is 'shared' and is found in SLS 'base:app' and SLS 'dev:tools'"
	for _, fun := range []string{"state.apply", "state.highstate", "state.show_highstate"} {
		got, err := ec.Call(fun, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", fun, err)
		}
		if !reflect.DeepEqual(got, []string{want}) {
			t.Fatalf("%s: %#v, want the conflict", fun, got)
		}
	}

	if err := os.WriteFile(filepath.Join(dev, "tools.sls"), []byte("also_dev:\n  test.nop: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ec.Call("state.apply", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := got.(map[string]proto.StateResult)
	if !ok || len(r) != 3 {
		t.Fatalf("without the conflict: %#v", got)
	}
}
