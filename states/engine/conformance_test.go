package engine_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/brine-cm/brine/pkg/execmod"
	"github.com/brine-cm/brine/pkg/fileclient"
	"github.com/brine-cm/brine/proto"
	"github.com/brine-cm/brine/states"
	"github.com/brine-cm/brine/states/compile"
	"github.com/brine-cm/brine/states/engine"
)

// confCase is one conformance case: an SLS tree and the Salt result it
// must produce. Cases live in testdata/conformance/*.yaml so more can be
// added without code.
type confCase struct {
	Name     string                    `yaml:"name"`
	SLS      string                    `yaml:"sls"`
	Files    map[string]string         `yaml:"files"`
	Mods     []string                  `yaml:"mods"`
	Test     bool                      `yaml:"test"`
	Failhard bool                      `yaml:"failhard"`
	Error    string                    `yaml:"error"`
	Expect   map[string]map[string]any `yaml:"expect"`
	Order    []string                  `yaml:"order"`
	Absent   []string                  `yaml:"absent"`
	Partial  bool                      `yaml:"partial"`
}

var startRe = regexp.MustCompile(`^\d{2}:\d{2}:\d{2}\.\d{6}$`)

func loadCases(t testing.TB) []confCase {
	t.Helper()
	files, err := filepath.Glob("testdata/conformance/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no conformance cases: %v", err)
	}
	sort.Strings(files)
	var all []confCase
	seen := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var cases []confCase
		if err := yaml.Unmarshal(b, &cases); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, c := range cases {
			if seen[c.Name] {
				t.Fatalf("%s: duplicate case name %q", f, c.Name)
			}
			seen[c.Name] = true
			all = append(all, c)
		}
	}
	return all
}

// runCase compiles and runs a case's SLS tree from a real file root.
func runCase(t testing.TB, c confCase) (map[string]proto.StateResult, string, error) {
	dir := t.TempDir()
	sub := func(s string) string { return strings.ReplaceAll(s, "@TMP@", dir) }
	write := func(name, content string) {
		p := filepath.Join(dir, "root", filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(sub(content)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if c.SLS != "" {
		write("main.sls", c.SLS)
	}
	for name, content := range c.Files {
		write(name, content)
	}
	if err := os.WriteFile(filepath.Join(dir, "exists"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	mods := c.Mods
	if len(mods) == 0 {
		mods = []string{"main"}
	}
	ctx := context.Background()
	ec := &execmod.Context{
		Ctx: ctx, Files: fileclient.NewLocal(filepath.Join(dir, "root")), Registry: execmod.Builtin(),
		Test: c.Test, Saltenv: "base", Grains: map[string]any{}, Pillar: map[string]any{}, Opts: map[string]any{},
	}
	reg := states.Builtin()
	chunks, err := compile.Compile(ec, mods, compile.Options{States: reg})
	if err != nil {
		return nil, dir, err
	}
	res, err := engine.Run(ctx, chunks, engine.Options{States: reg, Exec: ec, Failhard: c.Failhard})
	return res, dir, err
}

func TestConformance(t *testing.T) {
	cases := loadCases(t)
	if len(cases) < 60 {
		t.Fatalf("want at least 60 conformance cases, have %d", len(cases))
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			res, dir, err := runCase(t, c)
			sub := func(s string) string { return strings.ReplaceAll(s, "@TMP@", dir) }
			if c.Error != "" {
				if err == nil {
					t.Fatalf("want error containing %q, got results %v", c.Error, keys(res))
				}
				if !strings.Contains(err.Error(), sub(c.Error)) {
					t.Fatalf("error %q does not contain %q", err, sub(c.Error))
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			checkFilled(t, res)
			for key, want := range c.Expect {
				got, ok := res[key]
				if !ok {
					t.Errorf("missing %s; have %v", key, keys(res))
					continue
				}
				checkResult(t, key, got, want, sub)
			}
			if !c.Partial && len(c.Expect) > 0 {
				for k := range res {
					if _, ok := c.Expect[k]; !ok {
						t.Errorf("unexpected result %s: %+v", k, res[k])
					}
				}
			}
			for _, k := range c.Absent {
				if _, ok := res[k]; ok {
					t.Errorf("%s should not have run", k)
				}
			}
			if len(c.Order) > 0 {
				var got []string
				for _, k := range keys(res) {
					for _, o := range c.Order {
						if o == k {
							got = append(got, k)
						}
					}
				}
				if !reflect.DeepEqual(got, c.Order) {
					t.Errorf("run order\n got %v\nwant %v", got, c.Order)
				}
			}
		})
	}
}

// keys lists result keys in run order.
func keys(m map[string]proto.StateResult) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return m[out[i]].RunNum < m[out[j]].RunNum })
	return out
}

// checkFilled asserts every field of Salt's return is present and run
// numbers are unique (Salt leaves gaps where mod_watch or a retry ran).
func checkFilled(t *testing.T, res map[string]proto.StateResult) {
	t.Helper()
	nums := map[int]bool{}
	for k, r := range res {
		if r.ID == "" || r.SLS == "" || r.Name == "" || r.Changes == nil || !startRe.MatchString(r.StartTime) || r.Duration < 0 {
			t.Errorf("%s: incomplete result %+v", k, r)
		}
		if nums[r.RunNum] {
			t.Errorf("%s: duplicate __run_num__ %d", k, r.RunNum)
		}
		nums[r.RunNum] = true
	}
}

func normalize(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

func checkResult(t *testing.T, key string, got proto.StateResult, want map[string]any, sub func(string) string) {
	t.Helper()
	for field, w := range want {
		switch field {
		case "result":
			switch wv := w.(type) {
			case nil:
				if got.Result != nil {
					t.Errorf("%s: result %v, want None", key, *got.Result)
				}
			case bool:
				if got.Result == nil || *got.Result != wv {
					t.Errorf("%s: result %v, want %v (comment %q)", key, ptr(got.Result), wv, got.Comment)
				}
			}
		case "changes":
			switch wv := w.(type) {
			case bool:
				if (len(got.Changes) > 0) != wv {
					t.Errorf("%s: changes %v, want non-empty=%v", key, got.Changes, wv)
				}
			default:
				if !reflect.DeepEqual(normalize(got.Changes), normalize(wv)) {
					t.Errorf("%s: changes %v, want %v", key, got.Changes, wv)
				}
			}
		case "comment":
			if got.Comment != sub(w.(string)) {
				t.Errorf("%s: comment\n got %q\nwant %q", key, got.Comment, sub(w.(string)))
			}
		case "comment_contains":
			if !strings.Contains(got.Comment, sub(w.(string))) {
				t.Errorf("%s: comment %q does not contain %q", key, got.Comment, sub(w.(string)))
			}
		case "run_num":
			if got.RunNum != w.(int) {
				t.Errorf("%s: __run_num__ %d, want %d", key, got.RunNum, w)
			}
		case "name":
			if got.Name != w.(string) {
				t.Errorf("%s: name %q, want %q", key, got.Name, w)
			}
		case "sls":
			if got.SLS != w.(string) {
				t.Errorf("%s: __sls__ %q, want %q", key, got.SLS, w)
			}
		default:
			t.Fatalf("%s: unknown expectation field %q", key, field)
		}
	}
}

func ptr(b *bool) any {
	if b == nil {
		return nil
	}
	return *b
}
