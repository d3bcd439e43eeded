package pkgmgr

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/brine-cm/brine/pkg/backend"
)

func TestCompareDebian(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"1.0", "1.0", 0},
		{"1.0", "1.0-0", 0},
		{"1.0-1", "1.0-2", -1},
		{"1.0~rc1", "1.0", -1},
		{"1.0~rc1", "1.0~rc2", -1},
		{"1.0~~", "1.0~", -1},
		{"1.0", "1.0a", -1},
		{"1.0a", "1.0+", -1},
		{"1:0.1", "2.0", 1},
		{"0:2.0", "2.0", 0},
		{"2.10-3", "2.9-1", 1},
		{"1.010", "1.10", 0},
		{"5.2.15-2+b8", "5.2.15-2+b13", -1},
		{"2.36-9+deb12u7", "2.36-9+deb12u14", -1},
		{"3.0.15-1~deb12u1", "3.0.15-1", -1},
		{"1.2.3-4ubuntu1", "1.2.3-4", 1},
	}
	for _, c := range cases {
		if got := CompareDebian(c.a, c.b); got != c.want {
			t.Errorf("CompareDebian(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := CompareDebian(c.b, c.a); got != -c.want {
			t.Errorf("CompareDebian(%q, %q) = %d, want %d (antisymmetry)", c.b, c.a, got, -c.want)
		}
	}
}

func TestSpec(t *testing.T) {
	cases := []struct {
		installed, spec string
		want            bool
	}{
		{"2.10-3", "2.10-3", true},
		{"2.10-3", "=2.10-3", true},
		{"2.10-3", "2.10*", true},
		{"2.10-3", "2.9*", false},
		{"2.10-3", ">=2.9", true},
		{"2.10-3", ">=2.9,<2.10", false},
		{"2.10-3", "!=2.10-3", false},
		{"1:2.10-3", "2.10-3", true}, // epoch ignored for equality without one
		{"1:2.10-3", "0:2.10-3", false},
		{"", "1.0", false},
	}
	for _, c := range cases {
		conds, err := ParseSpec(c.spec)
		if err != nil {
			t.Fatalf("ParseSpec(%q): %v", c.spec, err)
		}
		if got := Satisfies(c.installed, conds, CompareDebian); got != c.want {
			t.Errorf("Satisfies(%q, %q) = %v, want %v", c.installed, c.spec, got, c.want)
		}
	}
	if _, err := ParseSpec(">="); err == nil {
		t.Error("ParseSpec(\">=\") accepted an operator without a version")
	}
	conds, _ := ParseSpec("2.36*")
	if got := Resolve([]string{"2.36-9+deb12u7", "2.36-9+deb12u14", "2.37-1"}, conds, CompareDebian); got != "2.36-9+deb12u14" {
		t.Errorf("Resolve picked %q", got)
	}
	if IsExact(conds) {
		t.Error("a wildcard spec is not exact")
	}
}

func TestParseDpkgQueryRecorded(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "dpkg-query-full.txt"))
	if err != nil {
		t.Fatal(err)
	}
	inv := ParseDpkgQuery(string(b), "amd64")
	if n := strings.Count(string(b), "install ok installed"); len(inv.Installed) != n || n < 100 {
		t.Fatalf("parsed %d installed packages, the recording lists %d", len(inv.Installed), n)
	}
	for name, want := range map[string]string{"adduser": "3.134", "bash": "5.2.15-2+b8", "libc6": "2.36-9+deb12u14"} {
		if got := inv.Installed[name]; got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

func TestParseDpkgQueryStates(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "dpkg-query-mixed.txt"))
	if err != nil {
		t.Fatal(err)
	}
	inv := ParseDpkgQuery(string(b), "amd64")
	wantInst := map[string]string{
		"hello":      "2.10-3",
		"libc6":      "2.36-9+deb12u14",
		"libc6:i386": "2.36-9+deb12u14",
		"openssl":    "3.0.15-1~deb12u1",
		"tzdata":     "2025b-0+deb12u1",
	}
	if !reflect.DeepEqual(inv.Installed, wantInst) {
		t.Errorf("Installed = %v\nwant %v", inv.Installed, wantInst)
	}
	if want := map[string]bool{"openssl": true}; !reflect.DeepEqual(inv.Held, want) {
		t.Errorf("Held = %v, want %v", inv.Held, want)
	}
	if want := map[string]string{"nginx-common": "1.22.1-9"}; !reflect.DeepEqual(inv.ConfigFiles, want) {
		t.Errorf("ConfigFiles = %v, want %v", inv.ConfigFiles, want)
	}
}

func TestParseAptPolicyRecorded(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "apt-cache-policy.txt"))
	if err != nil {
		t.Fatal(err)
	}
	got := ParseAptPolicy(string(b))
	want := map[string]Policy{
		"hello": {Installed: "", Candidate: "2.10-3", Versions: []string{"2.10-3"}},
		"bash":  {Installed: "5.2.15-2+b8", Candidate: "5.2.15-2+b13", Versions: []string{"5.2.15-2+b13", "5.2.15-2+b8"}},
		"libc6": {Installed: "2.36-9+deb12u14", Candidate: "2.36-9+deb12u14", Versions: []string{"2.36-9+deb12u14", "2.36-9+deb12u7"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseAptPolicy:\n got %+v\nwant %+v", got, want)
	}
}

func TestParseAptUpdateRecorded(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "apt-get-update.txt"))
	if err != nil {
		t.Fatal(err)
	}
	rr := ParseAptUpdate(string(b))
	want := map[string]any{
		"http://deb.debian.org/debian bookworm InRelease":                   true,
		"http://deb.debian.org/debian bookworm-updates InRelease":           true,
		"http://deb.debian.org/debian-security bookworm-security InRelease": true,
	}
	if !reflect.DeepEqual(rr.Repos, want) || len(rr.Errors) != 0 {
		t.Fatalf("ParseAptUpdate = %v, errors %v", rr.Repos, rr.Errors)
	}

	// apt-get update exits 0 when a source is unreachable; only the Err:
	// and "W: Failed to fetch" lines tell.
	b, err = os.ReadFile(filepath.Join("testdata", "apt-get-update-unreachable.txt"))
	if err != nil {
		t.Fatal(err)
	}
	rr = ParseAptUpdate(string(b))
	if v, ok := rr.Repos["http://127.0.0.1:9/debian bookworm InRelease"]; !ok || v != false {
		t.Errorf("unreachable source = %v (present %v), want false", v, ok)
	}
	if len(rr.Errors) != 2 || !strings.HasPrefix(rr.Errors[0], "Err:1") || !strings.Contains(rr.Errors[1], "Failed to fetch") {
		t.Errorf("Errors = %q", rr.Errors)
	}
}

func TestAptCommandLines(t *testing.T) {
	ctx := context.Background()
	rec := backend.NewRecorded().
		On("apt-get -q -y -o DPkg::Options::=--force-confold -o DPkg::Options::=--force-confdef -o DPkg::Lock::Timeout=300 --allow-downgrades install hello=2.10-3 sl", backend.Result{}).
		On("apt-get -q -y -o DPkg::Lock::Timeout=300 remove hello", backend.Result{}).
		On("apt-get -q -y -o DPkg::Lock::Timeout=300 purge hello sl", backend.Result{}).
		On("apt-cache policy hello", backend.Result{Stdout: "hello:\n  Installed: (none)\n  Candidate: 2.10-3\n  Version table:\n     2.10-3 500\n        500 http://deb.debian.org/debian bookworm/main amd64 Packages\n"}).
		On("dpkg --print-architecture", backend.Result{Stdout: "amd64\n"}).
		On("dpkg-query -W -f="+dpkgFormat, backend.Result{Stdout: "install ok installed\thello\t2.10-3\tamd64\n"})
	a := NewApt(rec)
	if err := a.Install(ctx, []Target{{Name: "hello", Version: "2.10-3"}, {Name: "sl"}}, InstallOptions{AllowDowngrades: true}); err != nil {
		t.Fatal(err)
	}
	if err := a.Remove(ctx, []string{"hello"}, false); err != nil {
		t.Fatal(err)
	}
	if err := a.Remove(ctx, []string{"hello", "sl"}, true); err != nil {
		t.Fatal(err)
	}
	pol, err := a.Policy(ctx, []string{"hello"})
	if err != nil || pol["hello"].Candidate != "2.10-3" {
		t.Fatalf("Policy = %v, %v", pol, err)
	}
	inv, err := a.List(ctx)
	if err != nil || inv.Installed["hello"] != "2.10-3" {
		t.Fatalf("List = %v, %v", inv, err)
	}
	for _, c := range rec.Calls() {
		if c.Env["DEBIAN_FRONTEND"] != "noninteractive" || c.Env["LC_ALL"] != "C" {
			t.Errorf("%s: environment %v lacks DEBIAN_FRONTEND=noninteractive or LC_ALL=C", c, c.Env)
		}
	}
}

func TestAptInstallFailureCarriesAptMessage(t *testing.T) {
	rec := backend.NewRecorded().On(
		"apt-get -q -y -o DPkg::Options::=--force-confold -o DPkg::Options::=--force-confdef -o DPkg::Lock::Timeout=300 install hello=9.9",
		backend.Result{ExitCode: 100, Stdout: "Reading package lists...\n", Stderr: "E: Version '9.9' for 'hello' was not found\n"})
	err := NewApt(rec).Install(context.Background(), []Target{{Name: "hello", Version: "9.9"}}, InstallOptions{})
	var ce *backend.CommandError
	if !errors.As(err, &ce) || ce.ExitCode != 100 || !strings.Contains(err.Error(), "Version '9.9' for 'hello' was not found") {
		t.Fatalf("got %v", err)
	}
}

func TestSelect(t *testing.T) {
	for fam := range map[string]bool{"RedHat": true, "Alpine": true, "Arch": true, "Suse": true} {
		_, err := Select(map[string]any{"os_family": fam}, backend.NewRecorded())
		want := "pkg: no backend for os_family " + fam + " (supported: Debian)"
		if err == nil || err.Error() != want || !errors.Is(err, backend.ErrNoBackend) {
			t.Errorf("os_family %s: got %v, want %q", fam, err, want)
		}
	}
	if _, err := os.Stat("/etc/debian_version"); err != nil {
		t.Skip("not a Debian host: the apt probe cannot pass here")
	}
	m, err := Select(map[string]any{"os_family": "Debian"}, backend.NewRecorded())
	if err != nil || m.Name() != "apt" {
		t.Fatalf("Debian: %v, %v", m, err)
	}
	// Missing os_family: the release file decides.
	if m, err := Select(map[string]any{}, backend.NewRecorded()); err != nil || m.Name() != "apt" {
		t.Fatalf("no os_family grain on Debian: %v, %v", m, err)
	}
}

func BenchmarkParseDpkgQuery(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "dpkg-query-full.txt"))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		ParseDpkgQuery(string(data), "amd64")
	}
}

func FuzzCompareDebian(f *testing.F) {
	for _, s := range [][2]string{{"1.0", "1.0~rc1"}, {"1:2.10-3", "2.10-3"}, {"5.2.15-2+b8", "5.2.15-2+b13"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if x, y := CompareDebian(a, b), CompareDebian(b, a); x != -y {
			t.Fatalf("CompareDebian(%q,%q)=%d but reverse=%d", a, b, x, y)
		}
		if CompareDebian(a, a) != 0 {
			t.Fatalf("CompareDebian(%q,%q) != 0", a, a)
		}
	})
}

func BenchmarkParseAptPolicy(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "apt-cache-policy.txt"))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		ParseAptPolicy(string(data))
	}
}

func TestParseAptSimulateRecorded(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "apt-get-simulate-dist-upgrade.txt"))
	if err != nil {
		t.Fatal(err)
	}
	ups := ParseAptSimulate(string(b))
	if n := strings.Count(string(b), "\nConf "); len(ups) != n || n == 0 {
		t.Fatalf("parsed %d upgrades, the recording configures %d", len(ups), n)
	}
	for name, want := range map[string]string{"bash": "5.2.15-2+b13", "base-files": "12.4+deb12u15", "libgcrypt20": "1.10.1-3+deb12u1"} {
		if ups[name] != want {
			t.Errorf("%s -> %q, want %q", name, ups[name], want)
		}
	}
}

func TestAptUpgradeCommandLines(t *testing.T) {
	ctx := context.Background()
	flags := "apt-get -q -y -o DPkg::Options::=--force-confold -o DPkg::Options::=--force-confdef -o DPkg::Lock::Timeout=300 "
	rec := backend.NewRecorded().
		On(flags+"upgrade", backend.Result{}).
		On(flags+"dist-upgrade", backend.Result{}).
		On(flags+"--only-upgrade install bash", backend.Result{}).
		On("apt-get -q -s -o DPkg::Lock::Timeout=300 upgrade", backend.Result{Stdout: "Inst bash [5.2.15-2+b8] (5.2.15-2+b13 Debian:12.15/oldstable [amd64])\nConf bash (5.2.15-2+b13 Debian:12.15/oldstable [amd64])\n"})
	a := NewApt(rec)
	for _, tc := range []struct {
		dist bool
		only []string
	}{{false, nil}, {true, nil}, {false, []string{"bash"}}} {
		if err := a.Upgrade(ctx, tc.dist, tc.only, InstallOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ups, err := a.Upgrades(ctx, false)
	if err != nil || !reflect.DeepEqual(ups, map[string]string{"bash": "5.2.15-2+b13"}) {
		t.Fatalf("Upgrades = %v, %v", ups, err)
	}
}
