package execmod_test

import (
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/brine-cm/brine/pkg/fileclient"
)

func TestFileQueries(t *testing.T) {
	c, _ := newCtx(t)
	dir := t.TempDir()
	f := filepath.Join(dir, "hello.txt")
	if err := os.WriteFile(f, []byte("hello"), 0o640); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(f, link); err != nil {
		t.Fatal(err)
	}
	if call(t, c, "file.file_exists", []any{f}, nil) != true || call(t, c, "file.file_exists", []any{dir}, nil) != false {
		t.Error("file.file_exists")
	}
	if call(t, c, "file.directory_exists", []any{dir}, nil) != true || call(t, c, "file.directory_exists", []any{f}, nil) != false {
		t.Error("file.directory_exists")
	}
	hashes := map[string]string{
		"":       "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
		"md5":    "5d41402abc4b2a76b9719d911017c592",
		"sha1":   "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d",
		"sha512": "9b71d224bd62f3785d96d46ad3ea3d73319bfbc2890caadae2dff72519673ca72323c3d99ba5c11d7c7acc6e14b8c5da0c4663475c2e5c3adef46f73bcdec043",
	}
	for form, want := range hashes {
		kw := map[string]any{}
		if form != "" {
			kw["form"] = form
		}
		if got := call(t, c, "file.get_hash", []any{f}, kw); got != want {
			t.Errorf("get_hash form=%q = %v", form, got)
		}
	}
	if err := callErr(t, c, "file.get_hash", []any{f, "crc"}, nil); !strings.Contains(err.Error(), "Invalid hash type") {
		t.Errorf("bad form: %v", err)
	}
	if got := call(t, c, "file.read", []any{f}, nil); got != "hello" {
		t.Errorf("file.read = %v", got)
	}
	st := call(t, c, "file.stats", []any{f}, map[string]any{"hash_type": "md5"}).(map[string]any)
	for _, k := range []string{"inode", "uid", "gid", "user", "group", "atime", "mtime", "ctime", "size", "mode", "type", "target", "sum"} {
		if _, ok := st[k]; !ok {
			t.Errorf("file.stats lacks %q", k)
		}
	}
	if st["mode"] != "0640" || st["size"] != 5 || st["type"] != "file" || st["sum"] != hashes["md5"] || st["uid"] != os.Getuid() {
		t.Errorf("file.stats = %v", st)
	}
	lst := call(t, c, "file.stats", []any{link}, map[string]any{"follow_symlinks": false}).(map[string]any)
	if lst["type"] != "link" || lst["target"] != f {
		t.Errorf("file.stats of link = %v", lst)
	}
	if err := callErr(t, c, "file.stats", []any{filepath.Join(dir, "nope")}, nil); !strings.Contains(err.Error(), "Path not found") {
		t.Errorf("stats missing: %v", err)
	}
	if call(t, c, "file.is_link", []any{link}, nil) != true || call(t, c, "file.is_link", []any{f}, nil) != false {
		t.Error("file.is_link")
	}
	if got := call(t, c, "file.readlink", []any{link}, nil); got != f {
		t.Errorf("file.readlink = %v", got)
	}
	if err := callErr(t, c, "file.readlink", []any{f}, nil); err.Error() != "A valid link was not specified." {
		t.Errorf("readlink of file: %v", err)
	}
	if call(t, c, "file.access", []any{f, "r"}, nil) != true || call(t, c, "file.access", []any{filepath.Join(dir, "x"), "f"}, nil) != false {
		t.Error("file.access")
	}
	if call(t, c, "file.access", []any{f, "x"}, nil) != false {
		t.Error("file.access x on a 0640 file")
	}
	if got := call(t, c, "file.get_mode", []any{f}, nil); got != "0640" {
		t.Errorf("get_mode = %v", got)
	}
	if got := call(t, c, "file.set_mode", []any{f, 644}, nil); got != "0644" {
		t.Errorf("set_mode = %v", got)
	}
	if fi, _ := os.Stat(f); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode after set_mode: %v", fi.Mode())
	}
	if call(t, c, "file.contains", []any{f, "ell"}, nil) != true || call(t, c, "file.contains", []any{f, "xyz"}, nil) != false {
		t.Error("file.contains")
	}
	if call(t, c, "file.search", []any{f, "^h.l+o$"}, nil) != true || call(t, c, "file.search", []any{f, "^ello"}, nil) != false {
		t.Error("file.search")
	}
	if call(t, c, "file.search", []any{f, "HELLO"}, map[string]any{"flags": []any{"IGNORECASE"}}) != true {
		t.Error("file.search IGNORECASE")
	}
}

func TestPyPaths(t *testing.T) {
	c, _ := newCtx(t)
	for in, want := range map[string][2]string{
		"/a/b/c":  {"/a/b", "c"},
		"/a/b/":   {"/a/b", ""},
		"a":       {"", "a"},
		"/":       {"/", ""},
		"//a":     {"//", "a"},
		"a/b":     {"a", "b"},
		"/a//b//": {"/a//b", ""},
	} {
		if got := call(t, c, "file.dirname", []any{in}, nil); got != want[0] {
			t.Errorf("dirname(%q) = %q, want %q", in, got, want[0])
		}
		if got := call(t, c, "file.basename", []any{in}, nil); got != want[1] {
			t.Errorf("basename(%q) = %q, want %q", in, got, want[1])
		}
	}
	for _, tc := range []struct {
		parts []any
		want  string
	}{
		{[]any{"/etc", "nginx", "nginx.conf"}, "/etc/nginx/nginx.conf"},
		{[]any{"/etc/", "nginx"}, "/etc/nginx"},
		{[]any{"/etc", "/abs", "x"}, "/abs/x"},
		{[]any{"a", ""}, "a/"},
	} {
		if got := call(t, c, "file.join", tc.parts, nil); got != tc.want {
			t.Errorf("join(%v) = %q, want %q", tc.parts, got, tc.want)
		}
	}
}

func TestFileChanges(t *testing.T) {
	c, rec := newCtx(t)
	dir := t.TempDir()
	deep := filepath.Join(dir, "a", "b", "c")
	if call(t, c, "file.mkdir", []any{deep}, map[string]any{"mode": "0750"}) != true {
		t.Error("file.mkdir")
	}
	for _, p := range []string{filepath.Join(dir, "a"), deep} {
		fi, err := os.Stat(p)
		if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o750 {
			t.Errorf("mkdir %s: %v %v", p, fi, err)
		}
	}
	if got := call(t, c, "file.makedirs", []any{filepath.Join(dir, "m", "n") + "/"}, nil); got != true {
		t.Errorf("makedirs = %v", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "m", "n")); err != nil {
		t.Errorf("makedirs did not create: %v", err)
	}
	f := filepath.Join(deep, "touched")
	if call(t, c, "file.touch", []any{f}, map[string]any{"mtime": 1000000000}) != true {
		t.Error("touch")
	}
	if fi, err := os.Stat(f); err != nil || fi.ModTime().Unix() != 1000000000 {
		t.Errorf("touch mtime: %v %v", fi, err)
	}
	conf := filepath.Join(dir, "httpd.conf")
	if err := os.WriteFile(conf, []byte("LogLevel warn\nListen 80\nListen 8080\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	diff := call(t, c, "file.replace", []any{conf}, map[string]any{"pattern": `^Listen (\d+)$`, "repl": `Listen 127.0.0.1:\1`, "count": 1})
	if !strings.Contains(diff.(string), "-Listen 80\n+Listen 127.0.0.1:80\n") {
		t.Errorf("replace diff: %q", diff)
	}
	b, _ := os.ReadFile(conf)
	if string(b) != "LogLevel warn\nListen 127.0.0.1:80\nListen 8080\n" {
		t.Errorf("after replace: %q", b)
	}
	if bak, err := os.ReadFile(conf + ".bak"); err != nil || !strings.Contains(string(bak), "Listen 80\n") {
		t.Errorf("backup: %q %v", bak, err)
	}
	if fi, _ := os.Stat(conf); fi.Mode().Perm() != 0o600 {
		t.Errorf("replace changed the mode: %v", fi.Mode())
	}
	if got := call(t, c, "file.replace", []any{conf, "nothing-here", "x"}, map[string]any{"show_changes": false}); got != false {
		t.Errorf("replace no match = %v", got)
	}
	call(t, c, "file.replace", []any{conf, "^ServerName .*$", "ServerName web"}, map[string]any{"append_if_not_found": true, "backup": false})
	b, _ = os.ReadFile(conf)
	if !strings.HasSuffix(string(b), "Listen 8080\nServerName web\n") {
		t.Errorf("append_if_not_found: %q", b)
	}
	if got := call(t, c, "file.replace", []any{conf, "warn", "debug"}, map[string]any{"dry_run": true}); !strings.Contains(got.(string), "+LogLevel debug") {
		t.Errorf("dry_run diff: %v", got)
	}
	if b2, _ := os.ReadFile(conf); string(b2) != string(b) {
		t.Error("dry_run changed the file")
	}
	if got := call(t, c, "file.write", []any{filepath.Join(dir, "motd"), "one", "two"}, nil); got != `Wrote 2 lines to "`+filepath.Join(dir, "motd")+`"` {
		t.Errorf("file.write = %v", got)
	}
	call(t, c, "file.append", []any{filepath.Join(dir, "motd"), "three"}, nil)
	if b, _ := os.ReadFile(filepath.Join(dir, "motd")); string(b) != "one\ntwo\nthree\n" {
		t.Errorf("write+append: %q", b)
	}
	if call(t, c, "file.remove", []any{filepath.Join(dir, "a")}, nil) != true {
		t.Error("remove tree")
	}
	if _, err := os.Stat(filepath.Join(dir, "a")); !os.IsNotExist(err) {
		t.Errorf("tree still there: %v", err)
	}
	if call(t, c, "file.remove", []any{filepath.Join(dir, "a")}, nil) != false {
		t.Error("remove of missing path should be False")
	}
	if err := callErr(t, c, "file.remove", []any{"relative/path"}, nil); !strings.Contains(err.Error(), "must be absolute") {
		t.Errorf("relative remove: %v", err)
	}
	rec.Lock()
	defer rec.Unlock()
	seen := map[string]bool{}
	for _, a := range rec.Actions {
		seen[a] = true
	}
	for _, a := range []string{"file.mkdir", "file.replace", "file.remove", "file.touch", "file.write"} {
		if !seen[a] {
			t.Errorf("%s not recorded (have %v)", a, rec.Actions)
		}
	}
}

func TestCpModule(t *testing.T) {
	c, rec := newCtx(t)
	root := t.TempDir()
	dev := t.TempDir()
	for p, s := range map[string]string{"vimrc": "set nu\n", "nginx/nginx.conf": "worker 1;\n", "nginx/files/site": "site\n"} {
		full := filepath.Join(root, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		os.WriteFile(full, []byte(s), 0o644)
	}
	os.WriteFile(filepath.Join(dev, "vimrc"), []byte("dev\n"), 0o644)
	c.Files = &fileclient.Local{Roots: []string{root}, Envs: map[string][]string{"dev": {dev}}}

	if got := call(t, c, "cp.list_master", nil, nil); !reflect.DeepEqual(got, []any{"nginx/files/site", "nginx/nginx.conf", "vimrc"}) {
		t.Errorf("list_master = %v", got)
	}
	if got := call(t, c, "cp.list_master", nil, map[string]any{"prefix": "nginx/files"}); !reflect.DeepEqual(got, []any{"nginx/files/site"}) {
		t.Errorf("list_master prefix = %v", got)
	}
	if got := call(t, c, "cp.list_master", []any{"dev"}, nil); !reflect.DeepEqual(got, []any{"vimrc"}) {
		t.Errorf("list_master dev = %v", got)
	}
	if got := call(t, c, "cp.list_master_dirs", nil, nil); !reflect.DeepEqual(got, []any{"nginx", "nginx/files"}) {
		t.Errorf("list_master_dirs = %v", got)
	}
	dest := filepath.Join(t.TempDir(), "etc", "deep", "vimrc")
	if err := callErr(t, c, "cp.get_file", []any{"salt://vimrc", dest}, nil); !strings.Contains(err.Error(), "makedirs") {
		t.Errorf("get_file without makedirs: %v", err)
	}
	if got := call(t, c, "cp.get_file", []any{"salt://vimrc", dest}, map[string]any{"makedirs": true}); got != dest {
		t.Errorf("get_file = %v", got)
	}
	if b, _ := os.ReadFile(dest); string(b) != "set nu\n" {
		t.Errorf("get_file content %q", b)
	}
	if got := call(t, c, "cp.get_file", []any{"salt://vimrc", dest}, map[string]any{"saltenv": "dev"}); got != dest {
		t.Errorf("get_file dev = %v", got)
	}
	if b, _ := os.ReadFile(dest); string(b) != "dev\n" {
		t.Errorf("get_file saltenv content %q", b)
	}
	intoDir := t.TempDir()
	if got := call(t, c, "cp.get_file", []any{"salt://nginx/nginx.conf", intoDir}, nil); got != filepath.Join(intoDir, "nginx.conf") {
		t.Errorf("get_file into a directory = %v", got)
	}
	if got := call(t, c, "cp.get_file", []any{"salt://missing", dest}, nil); got != "" {
		t.Errorf("get_file missing = %#v, want ''", got)
	}
	if got := call(t, c, "cp.cache_file", []any{"salt://nginx/nginx.conf"}, nil); got != filepath.Join(root, "nginx", "nginx.conf") {
		t.Errorf("cache_file = %v", got)
	}
	if got := call(t, c, "cp.cache_file", []any{"salt://missing"}, nil); got != false {
		t.Errorf("cache_file missing = %v", got)
	}
	if got := call(t, c, "cp.get_file_str", []any{"salt://nginx/nginx.conf"}, nil); got != "worker 1;\n" {
		t.Errorf("get_file_str = %v", got)
	}
	if err := callErr(t, c, "cp.get_file_str", []any{"salt://../../etc/passwd"}, nil); !strings.Contains(err.Error(), "outside root") {
		t.Errorf("escape: %v", err)
	}
	h := call(t, c, "cp.hash_file", []any{"salt://nginx/files/site"}, nil).(map[string]any)
	if h["hash_type"] != "sha256" || len(h["hsum"].(string)) != 64 {
		t.Errorf("hash_file = %v", h)
	}
	rec.Lock()
	defer rec.Unlock()
	if len(rec.Actions) == 0 || rec.Actions[0] != "cp.get_file" || rec.Details[0]["path"] != dest {
		t.Errorf("cp.get_file not recorded: %v %v", rec.Actions, rec.Details)
	}
}

func TestNetworkConnect(t *testing.T) {
	c, _ := newCtx(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	got := call(t, c, "network.connect", []any{"127.0.0.1", port}, nil).(map[string]any)
	want := map[string]any{"result": true, "comment": "Successfully connected to 127.0.0.1 (127.0.0.1) on tcp port " + strconv.Itoa(port)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("connect open = %v", got)
	}
	got = call(t, c, "network.connect", []any{"localhost"}, map[string]any{"port": strconv.Itoa(port), "timeout": 2, "family": "ipv4"}).(map[string]any)
	if got["result"] != true || !strings.Contains(got["comment"].(string), "localhost (127.0.0.1)") {
		t.Errorf("connect by name = %v", got)
	}
	// A port nobody listens on: take one and close it.
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	cport := closed.Addr().(*net.TCPAddr).Port
	closed.Close()
	got = call(t, c, "network.connect", []any{"127.0.0.1", cport}, map[string]any{"timeout": 2}).(map[string]any)
	if got["result"] != false || got["comment"] != "Unable to connect to 127.0.0.1 (127.0.0.1) on tcp port "+strconv.Itoa(cport) {
		t.Errorf("connect closed = %v", got)
	}
	got = call(t, c, "network.connect", []any{"127.0.0.1"}, nil).(map[string]any)
	if got["result"] != false || got["comment"] != "Required argument, port, is missing." {
		t.Errorf("connect without port = %v", got)
	}
	// UDP: a listener that answers, and a closed port that refuses.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 16)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], addr)
		}
	}()
	uport := pc.LocalAddr().(*net.UDPAddr).Port
	got = call(t, c, "network.connect", []any{"127.0.0.1", uport}, map[string]any{"proto": "udp", "timeout": 2}).(map[string]any)
	if got["result"] != true || !strings.Contains(got["comment"].(string), "on udp port") {
		t.Errorf("connect udp = %v", got)
	}
}

func TestNetworkAddrs(t *testing.T) {
	c, _ := newCtx(t)
	lo := call(t, c, "network.ip_addrs", nil, map[string]any{"include_loopback": true}).([]any)
	if !containsAny(lo, "127.0.0.1") {
		t.Errorf("ip_addrs include_loopback = %v", lo)
	}
	nolo := call(t, c, "network.ip_addrs", nil, nil).([]any)
	if containsAny(nolo, "127.0.0.1") {
		t.Errorf("ip_addrs without loopback = %v", nolo)
	}
	if got := call(t, c, "network.ip_addrs", nil, map[string]any{"interface": "lo", "include_loopback": true}); !reflect.DeepEqual(got, []any{"127.0.0.1"}) {
		t.Errorf("ip_addrs interface=lo = %v", got)
	}
	if got := call(t, c, "network.ip_addrs", nil, map[string]any{"cidr": "127.0.0.0/8", "include_loopback": true}); !reflect.DeepEqual(got, []any{"127.0.0.1"}) {
		t.Errorf("ip_addrs cidr = %v", got)
	}
	ifs := call(t, c, "network.interfaces", nil, nil).(map[string]any)
	loIf, ok := ifs["lo"].(map[string]any)
	if !ok {
		t.Fatalf("no lo in interfaces: %v", ifs)
	}
	inet := loIf["inet"].([]any)[0].(map[string]any)
	if inet["address"] != "127.0.0.1" || inet["netmask"] != "255.0.0.0" || inet["label"] != "lo" || loIf["up"] != true || loIf["hwaddr"] != "00:00:00:00:00:00" {
		t.Errorf("interfaces lo = %v", loIf)
	}
	if _, hasBrd := inet["broadcast"]; hasBrd {
		t.Errorf("loopback has no broadcast: %v", inet)
	}
	if v6, ok := loIf["inet6"].([]any); ok {
		e := v6[0].(map[string]any)
		if e["address"] != "::1" || e["prefixlen"] != "128" || e["scope"] != "host" {
			t.Errorf("lo inet6 = %v", e)
		}
	}
	if got := call(t, c, "network.hw_addr", []any{"lo"}, nil); got != "00:00:00:00:00:00" {
		t.Errorf("hw_addr lo = %v", got)
	}
	subs := call(t, c, "network.subnets", nil, nil).([]any)
	for _, s := range subs {
		if strings.HasPrefix(s.(string), "127.") {
			t.Errorf("subnets includes loopback: %v", subs)
		}
	}
	if call(t, c, "network.in_subnet", []any{"127.0.0.0/8"}, nil) != true {
		t.Error("network.in_subnet 127.0.0.0/8 is false")
	}
	if call(t, c, "network.in_subnet", []any{"255.255.255.254/32"}, nil) != false {
		t.Error("network.in_subnet of an unassigned /32 is true")
	}
	if call(t, c, "network.ip_in_subnet", []any{"172.17.0.4", "172.16.0.0/12"}, nil) != true || call(t, c, "network.ip_in_subnet", []any{"10.0.0.1", "172.16.0.0/12"}, nil) != false {
		t.Error("network.ip_in_subnet")
	}
	if err := callErr(t, c, "network.ip_addrs", nil, map[string]any{"cidr": "nonsense"}); !strings.Contains(err.Error(), `argument "cidr"`) {
		t.Errorf("bad cidr: %v", err)
	}
}

func TestNetworkPing(t *testing.T) {
	c, _ := newCtx(t)
	if _, err := os.Stat("/bin/ping"); err != nil {
		if _, err := os.Stat("/usr/bin/ping"); err != nil {
			err := callErr(t, c, "network.ping", []any{"127.0.0.1"}, nil)
			if !strings.Contains(err.Error(), "ping binary is not installed") {
				t.Errorf("ping without binary: %v", err)
			}
			return
		}
	}
	got := call(t, c, "network.ping", []any{"127.0.0.1"}, map[string]any{"return_boolean": true, "timeout": 2})
	if _, ok := got.(bool); !ok {
		t.Errorf("ping return_boolean = %v", got)
	}
	if err := callErr(t, c, "network.ping", []any{"-f; rm -rf /"}, nil); !strings.Contains(err.Error(), `argument "host"`) {
		t.Errorf("hostile host: %v", err)
	}
}

func containsAny(l []any, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}
