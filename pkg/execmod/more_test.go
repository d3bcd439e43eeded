package execmod_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/brine-cm/brine/pkg/execmod"
	"github.com/brine-cm/brine/pkg/fileclient"
)

func TestDefaultsGet(t *testing.T) {
	c, _ := newCtx(t)
	root := t.TempDir()
	for p, s := range map[string]string{
		"core/defaults.yaml":   "users:\n  root:\n    shell: /bin/bash\n  list: [a, b]\n",
		"web/defaults.json":    `{"port": 80, "ssl": {"enabled": false}}`,
		"web/defaults.yaml":    "port: 8080\n",
		"broken/defaults.yaml": "a: [unclosed\n",
	} {
		full := filepath.Join(root, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		os.WriteFile(full, []byte(s), 0o644)
	}
	c.Files = fileclient.NewLocal(root)
	cases := []struct {
		key  string
		def  any
		want any
	}{
		{"core:users:root:shell", nil, "/bin/bash"},
		{"core:users:list:1", nil, "b"},
		{"core:users:nobody", "dflt", "dflt"},
		{"core:users:nobody", nil, ""},
		{"web:port", nil, 80}, // defaults.json wins over defaults.yaml
		{"web:ssl:enabled", nil, false},
		{"missing:x", "d", "d"},
	}
	for _, tc := range cases {
		kw := map[string]any{}
		if tc.def != nil {
			kw["default"] = tc.def
		}
		if got := call(t, c, "defaults.get", []any{tc.key}, kw); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("defaults.get %s = %#v, want %#v", tc.key, got, tc.want)
		}
	}
	if got := call(t, c, "defaults.get", []any{"web"}, nil); !reflect.DeepEqual(got, map[string]any{"port": 80, "ssl": map[string]any{"enabled": false}}) {
		t.Errorf("defaults.get web = %v", got)
	}
	if err := callErr(t, c, "defaults.get", []any{"broken:a"}, nil); !strings.Contains(err.Error(), "salt://broken/defaults.yaml") {
		t.Errorf("broken defaults error: %v", err)
	}
}

func TestTraverse(t *testing.T) {
	data := map[string]any{
		"a": map[string]any{"b": []any{"x", map[string]any{"c": 1}, []any{"n0", "n1"}}},
		"m": map[any]any{"k": "v", 3: "three"},
	}
	cases := []struct {
		key   string
		want  any
		found bool
	}{
		{"a:b:0", "x", true},
		{"a:b:-1:1", "n1", true},
		{"a:b:c", 1, true},
		{"a:b:9", nil, false},
		{"a:b:zz", nil, false},
		{"a:nope", nil, false},
		{"a:b:0:deeper", nil, false},
		{"m:k", "v", true},
		{"m:3", "three", true},
	}
	for _, tc := range cases {
		got, ok := execmod.Traverse(data, tc.key, "")
		if ok != tc.found || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Traverse(%q) = %v, %v; want %v, %v", tc.key, got, ok, tc.want, tc.found)
		}
	}
	if got, ok := execmod.Traverse(data, "a/b/0", "/"); !ok || got != "x" {
		t.Errorf("custom delimiter: %v %v", got, ok)
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[any]fs.FileMode{
		"0644": 0o644, "644": 0o644, 644: 0o644, "0o600": 0o600, "4755": 0o755 | fs.ModeSetuid,
		"1777": 0o777 | fs.ModeSticky, "0": 0,
	} {
		got, err := execmod.ParseMode("mode", in)
		if err != nil || got != want {
			t.Errorf("ParseMode(%v) = %v, %v; want %v", in, got, err, want)
		}
		if s := execmod.FileMode(got); in == "4755" && s != "4755" {
			t.Errorf("FileMode(%v) = %s", got, s)
		}
	}
	for _, bad := range []any{"rwx", "999", 99999, []any{1}} {
		if _, err := execmod.ParseMode("mode", bad); err == nil {
			t.Errorf("ParseMode(%v) accepted", bad)
		}
	}
}

func TestFileOwnership(t *testing.T) {
	c, _ := newCtx(t)
	f := filepath.Join(t.TempDir(), "owned")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	uid := call(t, c, "file.get_uid", []any{f}, nil)
	if uid != os.Getuid() {
		t.Errorf("get_uid = %v", uid)
	}
	if call(t, c, "file.get_gid", []any{f}, nil) != os.Getgid() {
		t.Error("get_gid")
	}
	user := call(t, c, "file.get_user", []any{f}, nil).(string)
	group := call(t, c, "file.get_group", []any{f}, nil).(string)
	if user == "" || group == "" {
		t.Errorf("get_user/get_group = %q/%q", user, group)
	}
	if os.Geteuid() == 0 {
		call(t, c, "file.chown", []any{f, "nobody", "nogroup"}, nil)
		if got := call(t, c, "file.get_user", []any{f}, nil); got != "nobody" {
			t.Errorf("after chown user = %v", got)
		}
		call(t, c, "file.chown", []any{f, user, group}, nil)
	}
	if err := callErr(t, c, "file.chown", []any{f, "no-such-user-xyz", ""}, nil); !strings.Contains(err.Error(), "User does not exist") {
		t.Errorf("chown unknown user: %v", err)
	}
	home, _ := os.UserHomeDir()
	if got := execmod.ExpandUser("~/x"); got != filepath.Join(home, "x") {
		t.Errorf("ExpandUser(~/x) = %s", got)
	}
	if got := execmod.ExpandUser("~root"); got != "/root" {
		t.Errorf("ExpandUser(~root) = %s", got)
	}
	if got := execmod.ExpandUser("~no-such-user-xyz/x"); got != "~no-such-user-xyz/x" {
		t.Errorf("ExpandUser of unknown user = %s", got)
	}
}

func TestMiscFunctions(t *testing.T) {
	c, _ := newCtx(t)
	c.Pillar = map[string]any{"roles": []any{"web"}, "a": map[string]any{"b": 1}}
	if got := call(t, c, "pillar.raw", nil, map[string]any{"key": "roles"}); !reflect.DeepEqual(got, []any{"web"}) {
		t.Errorf("pillar.raw key = %v", got)
	}
	if got := call(t, c, "pillar.raw", nil, nil); !reflect.DeepEqual(got, c.Pillar) {
		t.Errorf("pillar.raw = %v", got)
	}
	if call(t, c, "pillar.has_value", []any{"a:b"}, nil) != true || call(t, c, "pillar.has_value", []any{"a:c"}, nil) != false {
		t.Error("pillar.has_value")
	}
	c.Opts = map[string]any{"id": "m1"}
	if !reflect.DeepEqual(call(t, c, "config.items", nil, nil), c.Opts) {
		t.Error("config.items")
	}
	if got := call(t, c, "test.kwarg", nil, map[string]any{"a": 1, "__pub_fun": "x"}); !reflect.DeepEqual(got, map[string]any{"a": 1}) {
		t.Errorf("test.kwarg = %v", got)
	}
	host, _ := os.Hostname()
	if got := call(t, c, "network.get_hostname", nil, nil); got != host {
		t.Errorf("get_hostname = %v", got)
	}
	v6 := call(t, c, "network.ip_addrs6", nil, map[string]any{"include_loopback": true}).([]any)
	for _, a := range v6 {
		if !strings.Contains(a.(string), ":") {
			t.Errorf("ip_addrs6 returned %v", a)
		}
	}
	if _, err := os.Stat("/proc/net/if_inet6"); err == nil && !containsAny(v6, "::1") {
		t.Errorf("ip_addrs6 include_loopback lacks ::1: %v", v6)
	}
	for _, s := range call(t, c, "network.subnets6", nil, nil).([]any) {
		if s == "::1/128" {
			t.Error("subnets6 includes loopback")
		}
	}
	priv := call(t, c, "network.ip_addrs", nil, map[string]any{"type": "private", "include_loopback": true}).([]any)
	if !containsAny(priv, "127.0.0.1") {
		t.Errorf("private addresses lack loopback: %v", priv)
	}
	pub := call(t, c, "network.ip_addrs", nil, map[string]any{"type": "public", "include_loopback": true}).([]any)
	if containsAny(pub, "127.0.0.1") {
		t.Errorf("public addresses include loopback: %v", pub)
	}
	if got := call(t, c, "network.hw_addr", []any{"nope0"}, nil); !strings.Contains(got.(string), `Interface "nope0" not in available interfaces`) {
		t.Errorf("hw_addr unknown = %v", got)
	}
	// A command killed by a signal reports 128+signal, as a shell does.
	if got := call(t, c, "cmd.retcode", []any{"kill -9 $$"}, map[string]any{"python_shell": true}); got != 137 {
		t.Errorf("killed command retcode = %v", got)
	}
}
