package execmod_test

import (
	"bytes"
	"context"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/brine-cm/brine/pkg/execmod"
)

func TestTestModule(t *testing.T) {
	c, _ := newCtx(t)
	if call(t, c, "test.ping", nil, nil) != true {
		t.Error("test.ping is not True")
	}
	if got := call(t, c, "test.echo", []any{"foo bar"}, nil); got != "foo bar" {
		t.Errorf("test.echo = %v", got)
	}
	got := call(t, c, "test.arg", []any{1, "two"}, map[string]any{"three": 3, "__pub_jid": "1"})
	want := map[string]any{"args": []any{1, "two"}, "kwargs": map[string]any{"three": 3}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("test.arg = %v", got)
	}
	if v, _ := call(t, c, "test.version", nil, nil).(string); v == "" {
		t.Error("test.version empty")
	}
	c.Grains["saltversion"] = "3007.1"
	if v := call(t, c, "test.version", nil, nil); v != "3007.1" {
		t.Errorf("test.version should report the saltversion grain, got %v", v)
	}
	if call(t, c, "test.true", nil, nil) != true || call(t, c, "test.false", nil, nil) != false {
		t.Error("test.true/false")
	}
	if err := callErr(t, c, "test.exception", []any{"Oh noes!"}, nil); err.Error() != "Oh noes!" {
		t.Errorf("test.exception = %v", err)
	}
	if err := callErr(t, c, "test.exception", nil, nil); err.Error() != "Test Exception" {
		t.Errorf("test.exception default = %v", err)
	}
	if call(t, c, "test.sleep", []any{"0.01"}, nil) != true {
		t.Error("test.sleep")
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.Ctx = ctx
	done := make(chan error, 1)
	go func() { _, err := c.Call("test.sleep", []any{60}, nil); done <- err }()
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Error("cancelled test.sleep returned no error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("test.sleep ignored cancellation")
	}
	if err := callErr(t, c, "test.echo", nil, nil); !strings.Contains(err.Error(), `missing required argument "text"`) {
		t.Errorf("test.echo without text: %v", err)
	}
}

func TestLogModule(t *testing.T) {
	c, _ := newCtx(t)
	var buf bytes.Buffer
	c.Log = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	call(t, c, "log.warning", []any{"disk nearly full"}, nil)
	call(t, c, "log.debug", nil, map[string]any{"message": "details"})
	out := buf.String()
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, `msg="disk nearly full"`) || !strings.Contains(out, "msg=details") {
		t.Errorf("log output: %s", out)
	}
}

func TestSysModule(t *testing.T) {
	r := execmod.NewRegistry()
	nop := func(*execmod.Context, []any, map[string]any) (any, error) { return nil, nil }
	r.Register("sys.doc", "doc of sys.doc", nop)
	r.Register("sys.list_functions", "lists", nop)
	r.Register("sysctl.get", "sysctl", nop)
	r.Register("cmd.run", "runs", nop)
	c := &execmod.Context{Registry: r}
	real := execmod.Builtin()
	for _, fn := range []string{"sys.list_functions", "sys.list_modules", "sys.doc"} {
		e, _ := real.Lookup(fn)
		out, err := e.Fn(c, nil, nil)
		if err != nil || out == nil {
			t.Fatalf("%s: %v", fn, err)
		}
	}
	lf, _ := real.Lookup("sys.list_functions")
	got, _ := lf.Fn(c, []any{"sys"}, nil)
	if !reflect.DeepEqual(got, []any{"sys.doc", "sys.list_functions"}) {
		t.Errorf("list_functions sys = %v (must not include sysctl)", got)
	}
	got, _ = lf.Fn(c, []any{"sys*"}, nil)
	if !reflect.DeepEqual(got, []any{"sys.doc", "sys.list_functions", "sysctl.get"}) {
		t.Errorf("list_functions sys* = %v", got)
	}
	got, _ = lf.Fn(c, nil, nil)
	if len(got.([]any)) != 4 {
		t.Errorf("list_functions = %v", got)
	}
	lm, _ := real.Lookup("sys.list_modules")
	got, _ = lm.Fn(c, nil, nil)
	if !reflect.DeepEqual(got, []any{"cmd", "sys", "sysctl"}) {
		t.Errorf("list_modules = %v", got)
	}
	doc, _ := real.Lookup("sys.doc")
	got, _ = doc.Fn(c, []any{"cmd.run"}, nil)
	if !reflect.DeepEqual(got, map[string]any{"cmd.run": "runs"}) {
		t.Errorf("sys.doc cmd.run = %v", got)
	}
	got, _ = doc.Fn(c, []any{"sys"}, nil)
	if len(got.(map[string]any)) != 2 {
		t.Errorf("sys.doc sys = %v", got)
	}
}

var grainsFixture = map[string]any{
	"os":        "Ubuntu",
	"os_family": "Debian",
	"osrelease": "24.04",
	"host":      "web01",
	"roles":     []any{"db", "web"},
	"pkg":       map[string]any{"apache": "apache2", "list": []any{map[string]any{"a": 1}, "x"}},
	"num_cpus":  4,
}

func TestGrainsModule(t *testing.T) {
	c, _ := newCtx(t)
	c.Grains = grainsFixture
	if got := call(t, c, "grains.get", []any{"pkg:apache"}, nil); got != "apache2" {
		t.Errorf("grains.get pkg:apache = %v", got)
	}
	if got := call(t, c, "grains.get", []any{"pkg:list:0:a"}, nil); got != 1 {
		t.Errorf("grains.get list index = %v", got)
	}
	if got := call(t, c, "grains.get", []any{"pkg:list:a"}, nil); got != 1 {
		t.Errorf("grains.get list dict key = %v", got)
	}
	if got := call(t, c, "grains.get", []any{"pkg:nope"}, nil); got != "" {
		t.Errorf("grains.get missing = %#v, want ''", got)
	}
	if got := call(t, c, "grains.get", []any{"pkg:nope", "fallback"}, nil); got != "fallback" {
		t.Errorf("grains.get default = %v", got)
	}
	if got := call(t, c, "grains.get", []any{"pkg.apache"}, map[string]any{"delimiter": "."}); got != "apache2" {
		t.Errorf("grains.get delimiter = %v", got)
	}
	got := call(t, c, "grains.item", []any{"os", "pkg:apache", "missing"}, nil)
	if !reflect.DeepEqual(got, map[string]any{"os": "Ubuntu", "pkg:apache": "apache2", "missing": ""}) {
		t.Errorf("grains.item = %v", got)
	}
	ls := call(t, c, "grains.ls", nil, nil).([]any)
	if len(ls) != len(grainsFixture) || ls[0] != "host" {
		t.Errorf("grains.ls = %v", ls)
	}
	if call(t, c, "grains.has_value", []any{"pkg:apache"}, nil) != true || call(t, c, "grains.has_value", []any{"pkg:x"}, nil) != false {
		t.Error("grains.has_value")
	}
	if !reflect.DeepEqual(call(t, c, "grains.items", nil, nil), grainsFixture) {
		t.Error("grains.items")
	}
}

// TestFilterBy follows the examples of Salt's grains.filter_by docs.
func TestFilterBy(t *testing.T) {
	c, _ := newCtx(t)
	c.Grains = grainsFixture
	apache := map[string]any{
		"Debian": map[string]any{"pkg": "apache2", "srv": "apache2"},
		"RedHat": map[string]any{"pkg": "httpd", "srv": "httpd"},
	}
	cases := []struct {
		name string
		args []any
		kw   map[string]any
		want any
	}{
		{"os_family by default", []any{apache}, nil, map[string]any{"pkg": "apache2", "srv": "apache2"}},
		{"CLI string form", []any{"{Debian: Debheads rule, RedHat: I love my hat}"}, nil, "Debheads rule"},
		{"other grain", []any{map[string]any{"Ubuntu": "u", "Debian": "d"}, "os"}, nil, "u"},
		{"no match, no default", []any{map[string]any{"RedHat": "r"}}, nil, nil},
		{"default key", []any{map[string]any{"RedHat": "r", "default": "dflt"}}, nil, "dflt"},
		{"named default", []any{map[string]any{"RedHat": "r", "Arch": "a"}}, map[string]any{"default": "Arch"}, "a"},
		{"glob keys", []any{map[string]any{"web*": "webserver", "db*": "database"}, "host"}, nil, "webserver"},
		{"glob class", []any{map[string]any{"web0[0-9]": "yes"}, "host"}, nil, "yes"},
		{"exact beats glob", []any{map[string]any{"Deb*": "glob", "Debian": "exact"}}, nil, "exact"},
		{"list grain, first element that matches", []any{map[string]any{"web": "W", "db": "D"}, "roles"}, nil, "D"},
		{"nested grain path", []any{map[string]any{"apache2": "deb-style"}, "pkg:apache"}, nil, "deb-style"},
		{"int grain", []any{map[string]any{"4": "quad"}, "num_cpus"}, nil, "quad"},
		{"merge over match", []any{apache}, map[string]any{"merge": map[string]any{"srv": "apache-custom", "extra": true}},
			map[string]any{"pkg": "apache2", "srv": "apache-custom", "extra": true}},
		{"merge from an unset pillar ('') is no merge", []any{apache}, map[string]any{"merge": ""},
			map[string]any{"pkg": "apache2", "srv": "apache2"}},
		{"merge from a CLI flow map", []any{apache}, map[string]any{"merge": "{srv: x}"},
			map[string]any{"pkg": "apache2", "srv": "x"}},
		{"merge with no match", []any{map[string]any{"RedHat": map[string]any{"a": 1}}}, map[string]any{"merge": map[string]any{"b": 2}},
			map[string]any{"b": 2}},
		{"base under match", []any{map[string]any{
			"default": map[string]any{"pkg": "apache2", "conf": "/etc/apache2/apache2.conf", "opts": map[string]any{"a": 1, "b": 1}},
			"Debian":  map[string]any{"srv": "apache2", "opts": map[string]any{"b": 2}},
		}}, map[string]any{"base": "default"},
			map[string]any{"pkg": "apache2", "conf": "/etc/apache2/apache2.conf", "srv": "apache2", "opts": map[string]any{"a": 1, "b": 2}}},
		{"base alone when nothing matches", []any{map[string]any{
			"common": map[string]any{"x": 1}, "RedHat": map[string]any{"y": 2},
		}}, map[string]any{"base": "common", "default": "none"}, map[string]any{"x": 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := call(t, c, "grains.filter_by", tc.args, tc.kw)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
	// The lookup table is not changed by merge or base.
	before := execmod.DeepCopy(apache)
	call(t, c, "grains.filter_by", []any{apache}, map[string]any{"merge": map[string]any{"srv": "x"}})
	if !reflect.DeepEqual(apache, before) {
		t.Error("filter_by changed its lookup_dict")
	}
	err := callErr(t, c, "grains.filter_by", []any{map[string]any{"default": map[string]any{"a": 1}, "Debian": "str"}}, map[string]any{"base": "default"})
	if !strings.Contains(err.Error(), "filter_by default and look-up values must both be dictionaries") {
		t.Errorf("base mismatch error: %v", err)
	}
	err = callErr(t, c, "grains.filter_by", []any{apache}, map[string]any{"merge": "not a map"})
	if !strings.Contains(err.Error(), "merge argument must be a dictionary") {
		t.Errorf("bad merge error: %v", err)
	}
	c.Pillar = map[string]any{"role": "db"}
	if got := call(t, c, "pillar.filter_by", []any{map[string]any{"web": "Serve", "db": "Store"}}, map[string]any{"pillar": "role"}); got != "Store" {
		t.Errorf("pillar.filter_by = %v", got)
	}
}

var pillarFixture = map[string]any{
	"apache": map[string]any{
		"port":  8080,
		"sites": map[string]any{"a.example": map[string]any{"root": "/srv/a"}},
		"mods":  []any{"ssl", "rewrite"},
	},
	"users":  []any{map[string]any{"alice": map[string]any{"uid": 1001}}, map[string]any{"bob": map[string]any{"uid": 1002}}},
	"master": map[string]any{"from_master": "m", "shared": "master"},
	"shared": "pillar",
}

func TestPillarModule(t *testing.T) {
	c, _ := newCtx(t)
	c.Pillar = pillarFixture
	cases := []struct {
		name string
		args []any
		kw   map[string]any
		want any
	}{
		{"top", []any{"shared"}, nil, "pillar"},
		{"nested", []any{"apache:port"}, nil, 8080},
		{"deep", []any{"apache:sites:a.example:root"}, nil, "/srv/a"},
		{"list index", []any{"apache:mods:1"}, nil, "rewrite"},
		{"list of maps by key", []any{"users:bob:uid"}, nil, 1002},
		{"missing gives ''", []any{"apache:nope"}, nil, ""},
		{"default", []any{"apache:nope", 42}, nil, 42},
		{"default kw", []any{"apache:nope"}, map[string]any{"default": "d"}, "d"},
		{"delimiter", []any{"apache/port"}, map[string]any{"delimiter": "/"}, 8080},
		{"merge map default", []any{"apache"}, map[string]any{"default": map[string]any{"port": 80, "user": "www-data"}, "merge": true},
			map[string]any{"port": 8080, "user": "www-data", "sites": map[string]any{"a.example": map[string]any{"root": "/srv/a"}}, "mods": []any{"ssl", "rewrite"}}},
		{"merge list default", []any{"apache:mods"}, map[string]any{"default": []any{"headers", "ssl"}, "merge": true},
			[]any{"headers", "ssl", "rewrite"}},
		{"merge missing key keeps default", []any{"nginx"}, map[string]any{"default": map[string]any{"port": 80}, "merge": true},
			map[string]any{"port": 80}},
		{"merge type mismatch falls back", []any{"apache:port"}, map[string]any{"default": map[string]any{"a": 1}, "merge": true}, 8080},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := call(t, c, "pillar.get", tc.args, tc.kw)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("pillar.get = %#v, want %#v", got, tc.want)
			}
		})
	}
	if pillarFixture["apache"].(map[string]any)["port"] != 8080 {
		t.Error("pillar.get merge changed the pillar")
	}
	got := call(t, c, "pillar.item", []any{"shared", "apache:port"}, nil)
	if !reflect.DeepEqual(got, map[string]any{"shared": "pillar", "apache:port": 8080}) {
		t.Errorf("pillar.item = %v", got)
	}
	if !reflect.DeepEqual(call(t, c, "pillar.ls", nil, nil), []any{"apache", "master", "shared", "users"}) {
		t.Error("pillar.ls")
	}
	if !reflect.DeepEqual(call(t, c, "pillar.keys", []any{"apache"}, nil), []any{"mods", "port", "sites"}) {
		t.Error("pillar.keys")
	}
	if err := callErr(t, c, "pillar.keys", []any{"shared"}, nil); !strings.Contains(err.Error(), "is not a dict") {
		t.Errorf("pillar.keys on a string: %v", err)
	}
	if !reflect.DeepEqual(call(t, c, "pillar.items", nil, nil), pillarFixture) {
		t.Error("pillar.items")
	}
}

// TestConfigGet checks Salt's search order: minion options, grains,
// pillar, then the master options in pillar["master"].
func TestConfigGet(t *testing.T) {
	c, _ := newCtx(t)
	c.Opts = map[string]any{"shared": "opts", "file_client": "local", "nested": map[string]any{"a": 1}}
	c.Grains = map[string]any{"shared": "grains", "only_grain": "g", "nested": map[string]any{"b": 2}}
	c.Pillar = map[string]any{"shared": "pillar", "only_pillar": "p", "nested": map[string]any{"c": 3, "a": 9},
		"master": map[string]any{"shared": "master", "only_master": "m"}}
	cases := []struct {
		args []any
		kw   map[string]any
		want any
	}{
		{[]any{"shared"}, nil, "opts"},
		{[]any{"shared"}, map[string]any{"omit_opts": true}, "grains"},
		{[]any{"shared"}, map[string]any{"omit_opts": true, "omit_grains": true}, "pillar"},
		{[]any{"shared"}, map[string]any{"omit_opts": true, "omit_grains": true, "omit_pillar": true}, "master"},
		{[]any{"only_grain"}, nil, "g"},
		{[]any{"only_pillar"}, nil, "p"},
		{[]any{"only_master"}, nil, "m"},
		{[]any{"only_master"}, map[string]any{"omit_master": "True"}, ""},
		{[]any{"nested:c"}, nil, nil}, // opts has nested, but not nested:c -> keeps looking
		{[]any{"nested:a"}, nil, 1},
		{[]any{"missing", "dflt"}, nil, "dflt"},
		{[]any{"nested"}, map[string]any{"merge": "recurse"}, map[string]any{"a": 1, "b": 2, "c": 3}},
	}
	cases[8].want = 3
	for _, tc := range cases {
		got := call(t, c, "config.get", tc.args, tc.kw)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("config.get %v %v = %#v, want %#v", tc.args, tc.kw, got, tc.want)
		}
	}
	if got := call(t, c, "config.option", []any{"shared"}, nil); got != "opts" {
		t.Errorf("config.option = %v", got)
	}
	if got := call(t, c, "config.option", []any{"nested:a"}, nil); got != "" {
		t.Errorf("config.option does not traverse, got %v", got)
	}
	if got := call(t, c, "config.option", []any{"only_master"}, nil); got != "m" {
		t.Errorf("config.option master = %v", got)
	}
}

func TestMergeTables(t *testing.T) {
	a := map[string]any{"x": 1, "sub": map[string]any{"k": "a", "l": []any{1, 2}}, "onlya": true}
	b := map[string]any{"x": 2, "sub": map[string]any{"m": "b", "l": []any{2, 3}}, "onlyb": true}
	cases := []struct {
		strategy   string
		mergeLists bool
		want       map[string]any
	}{
		{"smart", false, map[string]any{"x": 2, "sub": map[string]any{"k": "a", "m": "b", "l": []any{2, 3}}, "onlya": true, "onlyb": true}},
		{"recurse", true, map[string]any{"x": 2, "sub": map[string]any{"k": "a", "m": "b", "l": []any{1, 2, 3}}, "onlya": true, "onlyb": true}},
		{"overwrite", false, map[string]any{"x": 2, "sub": map[string]any{"m": "b", "l": []any{2, 3}}, "onlya": true, "onlyb": true}},
		{"list", false, map[string]any{"x": []any{1, 2}, "sub": []any{a["sub"], b["sub"]}, "onlya": true}},
	}
	c, _ := newCtx(t)
	for _, tc := range cases {
		aCopy := execmod.DeepCopy(a)
		got := call(t, c, "slsutil.merge", []any{a, b}, map[string]any{"strategy": tc.strategy, "merge_lists": tc.mergeLists})
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("slsutil.merge strategy=%s merge_lists=%v = %#v\nwant %#v", tc.strategy, tc.mergeLists, got, tc.want)
		}
		if !reflect.DeepEqual(a, aCopy) {
			t.Errorf("slsutil.merge strategy=%s changed obj_a", tc.strategy)
		}
	}
	if err := callErr(t, c, "slsutil.merge", []any{a, b, "bogus"}, nil); !strings.Contains(err.Error(), "unknown merge strategy") {
		t.Errorf("bogus strategy: %v", err)
	}
	got := call(t, c, "slsutil.merge_all", []any{[]any{map[string]any{"a": 1, "s": map[string]any{"x": 1}}, map[string]any{"a": 2, "s": map[string]any{"y": 2}}, map[string]any{"b": 3}}}, nil)
	if !reflect.DeepEqual(got, map[string]any{"a": 2, "b": 3, "s": map[string]any{"x": 1, "y": 2}}) {
		t.Errorf("merge_all = %v", got)
	}
	dest := map[string]any{"a": map[string]any{"x": 1}}
	call(t, c, "slsutil.update", []any{dest, map[string]any{"a": map[string]any{"y": 2}}}, nil)
	if !reflect.DeepEqual(dest, map[string]any{"a": map[string]any{"x": 1, "y": 2}}) {
		t.Errorf("slsutil.update in place: %v", dest)
	}
	dest = map[string]any{"a": map[string]any{"x": 1}}
	got = call(t, c, "slsutil.update", []any{dest, map[string]any{"a": map[string]any{"y": 2}}}, map[string]any{"recursive_update": false})
	if !reflect.DeepEqual(got, map[string]any{"a": map[string]any{"y": 2}}) {
		t.Errorf("slsutil.update non-recursive: %v", got)
	}
}

func TestDefaultsModule(t *testing.T) {
	c, _ := newCtx(t)
	dest := map[string]any{"pkg": "nginx", "opts": map[string]any{"a": 1}, "l": []any{1}}
	src := map[string]any{"opts": map[string]any{"b": 2}, "l": []any{2}}
	got := call(t, c, "defaults.merge", []any{dest, src}, map[string]any{"in_place": false})
	if !reflect.DeepEqual(got, map[string]any{"pkg": "nginx", "opts": map[string]any{"a": 1, "b": 2}, "l": []any{2}}) {
		t.Errorf("defaults.merge = %v", got)
	}
	if _, ok := dest["opts"].(map[string]any)["b"]; ok {
		t.Error("in_place=False changed dest")
	}
	got = call(t, c, "defaults.merge", []any{dest, src}, map[string]any{"merge_lists": true})
	if !reflect.DeepEqual(got.(map[string]any)["l"], []any{1, 2}) || dest["opts"].(map[string]any)["b"] != 2 {
		t.Errorf("defaults.merge in place with merge_lists: %v / %v", got, dest)
	}
	got = call(t, c, "defaults.merge", []any{nil, map[string]any{"a": 1}}, nil)
	if !reflect.DeepEqual(got, map[string]any{"a": 1}) {
		t.Errorf("defaults.merge convert_none: %v", got)
	}
	nodes := map[string]any{
		"host1": map[string]any{"port": 8080, "tags": []any{"x"}},
		"host2": map[string]any{},
	}
	defs := map[string]any{"port": 80, "ssl": false, "tags": []any{"base"}}
	got = call(t, c, "defaults.update", []any{nodes, defs}, nil)
	want := map[string]any{
		"host1": map[string]any{"port": 8080, "ssl": false, "tags": []any{"base", "x"}},
		"host2": map[string]any{"port": 80, "ssl": false, "tags": []any{"base"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("defaults.update = %v", got)
	}
	if !reflect.DeepEqual(defs["tags"], []any{"base"}) {
		t.Error("defaults.update changed the defaults")
	}
	src2 := map[string]any{"l": []any{map[string]any{"a": 1}}}
	cp := call(t, c, "defaults.deepcopy", []any{src2}, nil).(map[string]any)
	cp["l"].([]any)[0].(map[string]any)["a"] = 2
	if src2["l"].([]any)[0].(map[string]any)["a"] != 1 {
		t.Error("defaults.deepcopy is shallow")
	}
}
