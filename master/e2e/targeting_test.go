package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fleetMinion is one minion of a test fleet: its id and the static grains
// its config file gives it.
type fleetMinion struct {
	id     string
	grains string // YAML body under grains:
}

// startMasterCfg starts a master with a config file (nodegroups, pillar
// roots, autosign) on port (0: any).
func startMasterCfg(t *testing.T, dir string, port int, config string) *master {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(filepath.Dir(dir), filepath.Base(dir)+".yaml")
	if err := os.WriteFile(cfgFile, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	m := startServe(t, dir, "--config", cfgFile, "--data-dir", dir, "--listen", "127.0.0.1:"+strconv.Itoa(port), "--log-level", "debug")
	m.port = port
	if port == 0 {
		_, ps, _ := strings.Cut(strings.TrimPrefix(m.url, "tls://"), ":")
		m.port, _ = strconv.Atoi(ps)
	}
	return m
}

// fleet is a master whose autosign file accepts every id, and minions
// started with static grains from their own config files.
type fleet struct {
	t       *testing.T
	m       *master
	root    string
	minions map[string]*minionProc
	grains  map[string]string
}

func newFleet(t *testing.T, extraConfig string, ms []fleetMinion) *fleet {
	t.Helper()
	root := t.TempDir()
	autosign := filepath.Join(root, "autosign.conf")
	if err := os.WriteFile(autosign, []byte("*\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("autosign_file: %s\n%s", autosign, extraConfig)
	f := &fleet{t: t, root: root, minions: map[string]*minionProc{}, grains: map[string]string{}}
	f.m = startMasterCfg(t, filepath.Join(root, "master"), 0, cfg)
	for _, fm := range ms {
		f.grains[fm.id] = fm.grains
		f.start(fm.id)
	}
	for id, mp := range f.minions {
		waitFor(t, 30*time.Second, id+" receiving jobs", func() bool { return mp.out.Count("receiving jobs") > 0 })
	}
	return f
}

// start (re)starts one minion with its data dir and grains.
func (f *fleet) start(id string) *minionProc {
	f.t.Helper()
	dir := filepath.Join(f.root, "minions", id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		f.t.Fatal(err)
	}
	cfg := filepath.Join(f.root, "minions", id+".yaml")
	body := "grains:\n"
	for _, l := range strings.Split(strings.TrimSpace(f.grains[id]), "\n") {
		body += "  " + l + "\n"
	}
	if strings.TrimSpace(f.grains[id]) == "" {
		body = ""
	}
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		f.t.Fatal(err)
	}
	mp := &minionProc{proc: start(f.t, "brine-minion", "--config", cfg, "--id", id, "--master", f.m.url, "--data-dir", dir,
		"--log-level", "debug"), id: id, dir: dir}
	f.minions[id] = mp
	return mp
}

// startReady restarts a minion and waits until it receives jobs.
func (f *fleet) startReady(id string) *minionProc {
	f.t.Helper()
	mp := f.start(id)
	waitFor(f.t, 30*time.Second, id+" receiving jobs", func() bool { return mp.out.Count("receiving jobs") > 0 })
	return mp
}

// cliCode runs the CLI and returns stdout, stderr and the exit code.
func (m *master) cliCode(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "brine-master"), append([]string{"--data-dir", m.dir}, args...)...)
	var out, errb logBuf
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

func (m *master) preview(t *testing.T, flags ...string) []string {
	t.Helper()
	out, errs, code := m.cliCode(t, append([]string{"run", "--preview", "--out", "json"}, flags...)...)
	if code == 2 && strings.Contains(errs, "No minions matched") {
		return []string{}
	}
	if code != 0 {
		t.Fatalf("preview %v: exit %d: %s%s", flags, code, out, errs)
	}
	var ids []string
	if err := json.Unmarshal([]byte(out), &ids); err != nil {
		t.Fatalf("preview %v output %q: %v", flags, out, err)
	}
	return ids
}

// ping runs test.ping on the target and returns the sorted ids that
// answered True.
func (m *master) ping(t *testing.T, flags ...string) []string {
	t.Helper()
	out, errs, code := m.cliCode(t, append([]string{"run", "--out", "json", "-t", "20"}, append(flags, "test.ping")...)...)
	if code == 2 && strings.Contains(errs, "No minions matched") {
		return []string{}
	}
	if code != 0 {
		t.Fatalf("test.ping %v: exit %d: %s%s", flags, code, out, errs)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("test.ping %v output %q: %v", flags, out, err)
	}
	ids := []string{}
	for id, v := range res {
		if v != true {
			t.Fatalf("test.ping %v: %s answered %v", flags, id, v)
		}
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// jobCount is how many jobs the master has recorded.
func (m *master) jobCount(t *testing.T) int {
	t.Helper()
	out, errs, code := m.cliCode(t, "jobs", "list", "--out", "json")
	if code != 0 {
		t.Fatalf("jobs list: exit %d: %s", code, errs)
	}
	var l map[string]any
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("jobs list output %q: %v", out, err)
	}
	return len(l)
}

var targetFleet = []fleetMinion{
	{"web1", "os: Debian\ncpuarch: x86_64\nroles: [web]\nipv4: [10.1.0.11]\nsite: {dc: fra, rack: r1}"},
	{"web2", "os: Debian\ncpuarch: aarch64\nroles: [web, cache]\nipv4: [10.1.0.12]\nsite: {dc: fra, rack: r2}"},
	{"db1", "os: CentOS\ncpuarch: x86_64\nroles: [db]\nipv4: [10.2.0.21]\nsite: {dc: ams, rack: r1}"},
	{"db2.example.com", "os: Ubuntu\ncpuarch: x86_64\nroles: [db, backup]\nipv4: [10.2.0.22]\nsite: {dc: ams, rack: r7}"},
	{"cache1", "os: Ubuntu\ncpuarch: aarch64\nroles: [cache]\nipv4: [192.168.5.7]\nsite: {dc: nyc}"},
	{"mon1", "os: Alpine\ncpuarch: x86_64\nroles: [monitor]\nipv4: [192.168.5.8]"},
}

// Every targeting kind selects exactly the expected minions, both in
// --preview and in a real test.ping, and bad expressions are refused with
// the expression and the column before anything is published.
func TestTargetingKinds(t *testing.T) {
	pillarRoot := t.TempDir()
	files := map[string]string{
		"top.sls":   "base:\n  'web*':\n    - web\n  'db*':\n    - db\n",
		"web.sls":   "app:\n  tier: frontend\n  port: 8080\n",
		"db.sls":    "app:\n  tier: backend\n  port: 5432\n",
		"empty.sls": "{}\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(pillarRoot, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := fmt.Sprintf(`pillar_roots: [%s]
nodegroups:
  webs: 'web*'
  dbs: 'L@db1,db2.example.com'
  arm: 'G@cpuarch:aarch64'
  armweb: 'N@webs and N@arm'
`, pillarRoot)
	f := newFleet(t, cfg, targetFleet)
	m := f.m

	cases := []struct {
		name  string
		flags []string
		want  string
	}{
		{"glob", []string{"web*"}, "web1,web2"},
		{"glob all", []string{"*"}, "cache1,db1,db2.example.com,mon1,web1,web2"},
		{"glob class", []string{"[dw]*[12]"}, "db1,web1,web2"},
		{"glob literal", []string{"db2.example.com"}, "db2.example.com"},
		{"pcre", []string{"-E", `(web|db)\d$`}, "db1,web1,web2"},
		{"pcre fqdn", []string{"-E", `.*\.example\.com`}, "db2.example.com"},
		{"list", []string{"-L", "web1,mon1,nosuch"}, "mon1,web1"},
		{"grain", []string{"-G", "os:Debian"}, "web1,web2"},
		{"grain glob", []string{"-G", "os:*u*"}, "cache1,db2.example.com"},
		{"grain list element", []string{"-G", "roles:cache"}, "cache1,web2"},
		{"grain nested", []string{"-G", "site:dc:fra"}, "web1,web2"},
		{"grain nested glob", []string{"-G", "site:rack:r[12]"}, "db1,web1,web2"},
		{"grain pcre", []string{"-P", "os:(Debian|Alpine)"}, "mon1,web1,web2"},
		{"grain pcre nested", []string{"-P", `site:dc:^(ams|nyc)$`}, "cache1,db1,db2.example.com"},
		{"pillar", []string{"-I", "app:tier:frontend"}, "web1,web2"},
		{"pillar glob", []string{"-I", "app:port:5*"}, "db1,db2.example.com"},
		{"pillar pcre", []string{"-J", "app:tier:^(front|back)end$"}, "db1,db2.example.com,web1,web2"},
		{"subnet", []string{"-S", "10.2.0.0/16"}, "db1,db2.example.com"},
		{"subnet wide", []string{"-S", "192.168.0.0/16"}, "cache1,mon1"},
		{"single ip", []string{"-S", "10.1.0.12"}, "web2"},
		{"nodegroup", []string{"-N", "dbs"}, "db1,db2.example.com"},
		{"nodegroup nested", []string{"-N", "armweb"}, "web2"},
		{"compound and", []string{"-C", "G@os:Ubuntu and G@cpuarch:x86_64"}, "db2.example.com"},
		{"compound or", []string{"-C", "web1 or L@db1,mon1"}, "db1,mon1,web1"},
		{"compound not", []string{"-C", "* and not G@os:Debian"}, "cache1,db1,db2.example.com,mon1"},
		{"compound parens", []string{"-C", "( G@roles:web or G@roles:db ) and not ( E@.*2.* or S@10.2.0.21 )"}, "web1"},
		{"compound mixed", []string{"-C", "N@arm or ( I@app:tier:backend and P@os:^C )"}, "cache1,db1,web2"},
		{"compound pillar and subnet", []string{"-C", "J@app:port:^80 and S@10.1.0.0/24"}, "web1,web2"},
		{"no match", []string{"-G", "os:Windows"}, ""},
	}
	for _, c := range cases {
		want := []string{}
		if c.want != "" {
			want = strings.Split(c.want, ",")
		}
		if got := m.preview(t, c.flags...); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: preview %q = %v, want %v", c.name, c.flags, got, want)
		}
		if got := m.ping(t, c.flags...); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: test.ping %q answered by %v, want %v", c.name, c.flags, got, want)
		}
	}

	// A target matching nothing says so and exits 2, with no job.
	before := m.jobCount(t)
	_, errs, code := m.cliCode(t, "run", "nosuch*", "test.ping")
	if code != 2 || !strings.Contains(errs, "No minions matched the target") {
		t.Errorf("empty target: exit %d, stderr %q", code, errs)
	}

	bad := []struct {
		flags []string
		col   string
	}{
		{[]string{"-E", "web(1"}, "column"},
		{[]string{"-C", "( web1 or db1"}, "column 1"},
		{[]string{"-C", "web1 and ) db1"}, "column 6"},
		{[]string{"-C", "Q@foo and web1"}, "column 1"},
		{[]string{"-C", "web1 and X@bar"}, "column 10"},
		{[]string{"-N", "nosuchgroup"}, "column 1"},
		{[]string{"-C", "N@nosuchgroup or web1"}, "column 3"},
		{[]string{"-S", "10.0.0.1/8"}, "column 1"},
		{[]string{"-P", "os:("}, "column"},
	}
	for _, b := range bad {
		expr := b.flags[len(b.flags)-1]
		out, errs, code := m.cliCode(t, append(append([]string{"run"}, b.flags...), "cmd.run", "touch "+filepath.Join(f.root, "never"))...)
		if code != 2 {
			t.Errorf("bad target %q: exit %d, want 2 (stdout %q, stderr %q)", b.flags, code, out, errs)
		}
		if !strings.Contains(errs, strconv.Quote(expr)) || !strings.Contains(errs, b.col) {
			t.Errorf("bad target %q: stderr %q lacks the expression or %q", b.flags, errs, b.col)
		}
		if _, errs, code := m.cliCode(t, append([]string{"run", "--preview"}, b.flags...)...); code != 2 || !strings.Contains(errs, "column") {
			t.Errorf("bad target %q in preview: exit %d, stderr %q", b.flags, code, errs)
		}
	}
	if after := m.jobCount(t); after != before {
		t.Errorf("refused targets published jobs: %d jobs before, %d after", before, after)
	}
	if _, err := os.Stat(filepath.Join(f.root, "never")); err == nil {
		t.Error("a command with a bad target ran")
	}

	// Grains are refreshed when a minion reconnects with new ones.
	f.minions["mon1"].stop(syscall.SIGTERM)
	f.grains["mon1"] = strings.Replace(f.grains["mon1"], "os: Alpine", "os: Gentoo", 1)
	f.startReady("mon1")
	waitFor(t, 20*time.Second, "mon1's new grains", func() bool {
		return reflect.DeepEqual(m.preview(t, "-G", "os:Gentoo"), []string{"mon1"})
	})
	if got := m.ping(t, "-G", "os:Alpine"); len(got) != 0 {
		t.Errorf("old grain still targets %v", got)
	}
}
