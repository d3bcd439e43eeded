package execmod_test

import (
	"context"
	"fmt"
	"os/exec"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/brine-cm/brine/pkg/backend"
	"github.com/brine-cm/brine/pkg/backend/pkgmgr"
	"github.com/brine-cm/brine/pkg/execmod"
	"github.com/brine-cm/brine/pkg/testkit"
)

// These tests run the pkg module on recorded apt output (the live apt
// tier is in states/pkg_test.go, which drives the same functions).

const (
	dpkgQuery = "dpkg-query -W -f=${Status}\\t${Package}\\t${Version}\\t${Architecture}\\n"
	aptPrefix = "apt-get -q -y -o DPkg::Options::=--force-confold -o DPkg::Options::=--force-confdef -o DPkg::Lock::Timeout=300 "
)

// newPkgAudit keeps "action name old -> new" per record.
func newPkgAudit() *testkit.Audit {
	return &testkit.Audit{Format: func(action string, d map[string]any) (string, bool) {
		return action + " " + d["name"].(string) + " " + d["old"].(string) + " -> " + d["new"].(string), true
	}}
}

func pkgFixture(t *testing.T, rec *backend.Recorded) (*execmod.Registry, *execmod.Context, *testkit.Audit) {
	t.Helper()
	rec.On("dpkg --print-architecture", backend.Result{Stdout: "amd64\n"})
	r := execmod.NewRegistry()
	execmod.PkgModule{Backend: func(*execmod.Context) (pkgmgr.Manager, error) { return pkgmgr.NewApt(rec), nil }}.Register(r)
	au := newPkgAudit()
	return r, &execmod.Context{Ctx: context.Background(), Registry: r, Audit: au}, au
}

func TestPkgInstallReturnsChanges(t *testing.T) {
	rec := backend.NewRecorded().
		On(dpkgQuery, backend.Result{Stdout: "install ok installed\tbash\t5.2.15-2+b8\tamd64\n"}).
		On(dpkgQuery, backend.Result{Stdout: "install ok installed\tbash\t5.2.15-2+b8\tamd64\ninstall ok installed\thello\t2.10-3\tamd64\n"}).
		On(aptPrefix+"install hello=2.10-3", backend.Result{})
	r, c, au := pkgFixture(t, rec)
	out, err := r.Call(c, "pkg.install", []any{"hello"}, map[string]any{"version": "2.10-3"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"hello": map[string]any{"old": "", "new": "2.10-3"}}
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("pkg.install = %v, want %v", out, want)
	}
	if want := []string{"pkg.installed hello  -> 2.10-3"}; !reflect.DeepEqual(au.Lines(), want) {
		t.Fatalf("audit = %q, want %q", au.Lines(), want)
	}
}

func TestPkgInstallResolvesWildcardsAndDowngrades(t *testing.T) {
	rec := backend.NewRecorded().
		On(dpkgQuery, backend.Result{Stdout: "install ok installed\tlibc6\t2.36-9+deb12u14\tamd64\n"}).
		On("apt-cache policy libc6", backend.Result{Stdout: "libc6:\n  Installed: 2.36-9+deb12u14\n  Candidate: 2.36-9+deb12u14\n  Version table:\n *** 2.36-9+deb12u14 500\n        500 http://deb.debian.org/debian bookworm/main amd64 Packages\n     2.36-9+deb12u7 500\n        500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages\n"}).
		On(aptPrefix+"--allow-downgrades install libc6=2.36-9+deb12u7", backend.Result{})
	r, c, _ := pkgFixture(t, rec)
	_, err := r.Call(c, "pkg.install", nil, map[string]any{"pkgs": []any{map[string]any{"libc6": "<2.36-9+deb12u14"}}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(rec.CommandLines(), "\n"), "--allow-downgrades install libc6=2.36-9+deb12u7") {
		t.Fatalf("commands: %q", rec.CommandLines())
	}
}

func TestPkgInstallFailureNamesAptError(t *testing.T) {
	rec := backend.NewRecorded().
		On(dpkgQuery, backend.Result{}).
		On(aptPrefix+"install nosuch", backend.Result{ExitCode: 100, Stderr: "E: Unable to locate package nosuch\n"})
	r, c, _ := pkgFixture(t, rec)
	_, err := r.Call(c, "pkg.install", []any{"nosuch"}, nil)
	if err == nil || !strings.Contains(err.Error(), "E: Unable to locate package nosuch") {
		t.Fatalf("err = %v", err)
	}
}

func TestPkgArgumentErrors(t *testing.T) {
	r, c, _ := pkgFixture(t, backend.NewRecorded())
	for _, tc := range []struct {
		fn     string
		args   []any
		kwargs map[string]any
		want   string
	}{
		{"pkg.install", nil, nil, "a package name or pkgs is required"},
		{"pkg.install", nil, map[string]any{"pkgs": []any{map[string]any{"a": "1", "b": "2"}}}, `argument "pkgs"`},
		{"pkg.install", nil, map[string]any{"pkgs": "[a, [b]]"}, `argument "pkgs"`},
		{"pkg.install", nil, map[string]any{"pkgs": "vim"}, `argument "pkgs": want a list, got "vim" (string)`},
		{"pkg.install", nil, map[string]any{"pkgs": map[string]any{"vim": "1"}}, `argument "pkgs": want a list`},
		{"pkg.version", nil, nil, "at least one package name is required"},
		{"pkg.upgrade_available", nil, nil, `missing required argument "name"`},
		{"pkg.install", []any{"hello"}, map[string]any{"refresh": "maybe"}, `argument "refresh"`},
	} {
		_, err := r.Call(c, tc.fn, tc.args, tc.kwargs)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %v %v: err = %v, want it to mention %q", tc.fn, tc.args, tc.kwargs, err, tc.want)
		}
	}
}

func TestPkgQueries(t *testing.T) {
	list := "install ok installed\tbash\t5.2.15-2+b8\tamd64\ninstall ok installed\tlibc6\t2.36-9+deb12u14\tamd64\ndeinstall ok config-files\tnginx-common\t1.22.1-9\tall\n"
	policy := "bash:\n  Installed: 5.2.15-2+b8\n  Candidate: 5.2.15-2+b13\n  Version table:\n     5.2.15-2+b13 500\n        500 http://deb.debian.org/debian bookworm/main amd64 Packages\n *** 5.2.15-2+b8 100\n        100 /var/lib/dpkg/status\n" +
		"libc6:\n  Installed: 2.36-9+deb12u14\n  Candidate: 2.36-9+deb12u14\n  Version table:\n *** 2.36-9+deb12u14 500\n        500 http://deb.debian.org/debian bookworm/main amd64 Packages\n" +
		"hello:\n  Installed: (none)\n  Candidate: 2.10-3\n  Version table:\n     2.10-3 500\n        500 http://deb.debian.org/debian bookworm/main amd64 Packages\n"
	rec := backend.NewRecorded().
		On(dpkgQuery, backend.Result{Stdout: list}).
		On("apt-cache policy bash libc6 hello nosuch", backend.Result{Stdout: policy}).
		On("apt-cache policy bash", backend.Result{Stdout: policy}).
		On("apt-get -q -o DPkg::Lock::Timeout=300 update", backend.Result{Stdout: "Hit:1 http://deb.debian.org/debian bookworm InRelease\nErr:2 http://127.0.0.1:9/debian bookworm InRelease\n  Could not connect\nW: Failed to fetch http://127.0.0.1:9/debian/dists/bookworm/InRelease\n"})
	r, c, _ := pkgFixture(t, rec)
	call := func(fn string, args []any, kw map[string]any) any {
		t.Helper()
		out, err := r.Call(c, fn, args, kw)
		if err != nil {
			t.Fatalf("%s: %v", fn, err)
		}
		return out
	}
	if got := call("pkg.version", []any{"bash"}, nil); got != "5.2.15-2+b8" {
		t.Errorf("pkg.version bash = %v", got)
	}
	if got, want := call("pkg.version", []any{"bash", "nosuch"}, nil), map[string]any{"bash": "5.2.15-2+b8", "nosuch": ""}; !reflect.DeepEqual(got, want) {
		t.Errorf("pkg.version bash nosuch = %v", got)
	}
	got := call("pkg.latest_version", []any{"bash", "libc6", "hello", "nosuch"}, map[string]any{"refresh": false})
	if want := map[string]any{"bash": "5.2.15-2+b13", "libc6": "", "hello": "2.10-3", "nosuch": ""}; !reflect.DeepEqual(got, want) {
		t.Errorf("pkg.latest_version = %v, want %v", got, want)
	}
	if got := call("pkg.upgrade_available", []any{"bash"}, map[string]any{"refresh": false}); got != true {
		t.Errorf("pkg.upgrade_available bash = %v", got)
	}
	if got, want := call("pkg.list_pkgs", nil, nil), map[string]any{"bash": "5.2.15-2+b8", "libc6": "2.36-9+deb12u14"}; !reflect.DeepEqual(got, want) {
		t.Errorf("pkg.list_pkgs = %v", got)
	}
	if got, want := call("pkg.list_pkgs", nil, map[string]any{"versions_as_list": true, "removed": true}), map[string]any{"nginx-common": []any{"1.22.1-9"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("pkg.list_pkgs removed = %v", got)
	}
	if got, want := call("pkg.list_repo_pkgs", []any{"bash"}, nil), map[string]any{"bash": []any{"5.2.15-2+b13", "5.2.15-2+b8"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("pkg.list_repo_pkgs = %v", got)
	}
	repos := call("pkg.refresh_db", nil, nil).(map[string]any)
	if repos["http://deb.debian.org/debian bookworm InRelease"] != false || repos["http://127.0.0.1:9/debian bookworm InRelease"] != false {
		t.Errorf("pkg.refresh_db = %v", repos)
	}
	if _, err := r.Call(c, "pkg.refresh_db", nil, map[string]any{"failhard": true}); err == nil || !strings.Contains(err.Error(), "Failed to fetch") {
		t.Errorf("pkg.refresh_db failhard=True: err = %v", err)
	}
}

func TestPkgPurgeShape(t *testing.T) {
	rec := backend.NewRecorded().
		On(dpkgQuery, backend.Result{Stdout: "install ok installed\thello\t2.10-3\tamd64\ndeinstall ok config-files\tnginx-common\t1.22.1-9\tall\n"}).
		On(dpkgQuery, backend.Result{Stdout: ""}).
		On("apt-get -q -y -o DPkg::Lock::Timeout=300 purge hello nginx-common", backend.Result{})
	r, c, au := pkgFixture(t, rec)
	out, err := r.Call(c, "pkg.purge", nil, map[string]any{"pkgs": "[hello, nginx-common, absent]"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"removed":   map[string]any{"nginx-common": map[string]any{"old": "1.22.1-9", "new": ""}},
		"installed": map[string]any{"hello": map[string]any{"old": "2.10-3", "new": ""}},
	}
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("pkg.purge = %v\nwant %v", out, want)
	}
	if want := []string{"pkg.removed hello 2.10-3 -> "}; !reflect.DeepEqual(au.Lines(), want) {
		t.Fatalf("audit = %q", au.Lines())
	}
	// Nothing to do: no command, empty changes.
	rec2 := backend.NewRecorded().On(dpkgQuery, backend.Result{})
	r2, c2, _ := pkgFixture(t, rec2)
	out, err = r2.Call(c2, "pkg.remove", []any{"hello"}, nil)
	if err != nil || !reflect.DeepEqual(out, map[string]any{}) {
		t.Fatalf("pkg.remove of an absent package = %v, %v", out, err)
	}
}

func TestPkgRefusesOtherFamilies(t *testing.T) {
	r := execmod.Builtin()
	c := &execmod.Context{Ctx: context.Background(), Registry: r, Grains: map[string]any{"os_family": "RedHat"}}
	_, err := r.Call(c, "pkg.list_pkgs", nil, nil)
	if err == nil || err.Error() != "pkg: no backend for os_family RedHat (supported: Debian)" {
		t.Fatalf("err = %v", err)
	}
}

type anyAudit struct {
	mu      sync.Mutex
	actions []string
}

func (a *anyAudit) Record(action string, d map[string]any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.actions = append(a.actions, action+" "+fmt.Sprint(d["cmd"]))
}

// TestPkgRunsThroughCmdRunAll reads the real package database through
// the builtin registry, where backend commands go through cmd.run_all
// (so they are logged and audited like any command).
func TestPkgRunsThroughCmdRunAll(t *testing.T) {
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		t.Skip("not a Debian host: no dpkg-query")
	}
	out, err := exec.Command("dpkg-query", "-W", "-f=${Version}", "dpkg").Output()
	if err != nil {
		t.Fatal(err)
	}
	r := execmod.Builtin()
	au := &anyAudit{}
	c := &execmod.Context{Ctx: context.Background(), Registry: r, Audit: au, Grains: map[string]any{"os_family": "Debian"}}
	got, err := r.Call(c, "pkg.version", []any{"dpkg"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(out) {
		t.Fatalf("pkg.version dpkg = %v, dpkg-query says %q", got, out)
	}
	if !strings.Contains(strings.Join(au.actions, "\n"), "dpkg-query") {
		t.Fatalf("dpkg-query did not go through cmd.run_all; audit: %q", au.actions)
	}
}

func TestPkgInstallOptions(t *testing.T) {
	rec := backend.NewRecorded().
		On(dpkgQuery, backend.Result{}).
		On(aptPrefix+"-t bookworm-backports --no-install-recommends --allow-unauthenticated install hello", backend.Result{})
	r, c, _ := pkgFixture(t, rec)
	if _, err := r.Call(c, "pkg.install", []any{"hello"}, map[string]any{"fromrepo": "bookworm-backports", "install_recommends": false, "skip_verify": true}); err != nil {
		t.Fatalf("%v (commands %q)", err, rec.CommandLines())
	}
}

func TestPkgUpgradeFunctions(t *testing.T) {
	rec := backend.NewRecorded().
		On("apt-get -q -s -o DPkg::Lock::Timeout=300 dist-upgrade", backend.Result{Stdout: "Inst bash [5.2.15-2+b8] (5.2.15-2+b13 Debian:12.15/oldstable [amd64])\nConf bash (5.2.15-2+b13 Debian:12.15/oldstable [amd64])\n"}).
		On(dpkgQuery, backend.Result{Stdout: "install ok installed\tbash\t5.2.15-2+b8\tamd64\n"}).
		On(dpkgQuery, backend.Result{Stdout: "install ok installed\tbash\t5.2.15-2+b13\tamd64\n"}).
		On(aptPrefix+"--only-upgrade install bash", backend.Result{})
	r, c, au := pkgFixture(t, rec)
	got, err := r.Call(c, "pkg.list_upgrades", nil, map[string]any{"refresh": false})
	if err != nil || !reflect.DeepEqual(got, map[string]any{"bash": "5.2.15-2+b13"}) {
		t.Fatalf("pkg.list_upgrades = %v, %v", got, err)
	}
	got, err = r.Call(c, "pkg.upgrade", nil, map[string]any{"refresh": false, "pkgs": []any{"bash"}})
	if want := map[string]any{"bash": map[string]any{"old": "5.2.15-2+b8", "new": "5.2.15-2+b13"}}; err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("pkg.upgrade = %v, %v; want %v", got, err, want)
	}
	if want := []string{"pkg.installed bash 5.2.15-2+b8 -> 5.2.15-2+b13"}; !reflect.DeepEqual(au.Lines(), want) {
		t.Fatalf("audit = %q", au.Lines())
	}
}

func TestPkgHold(t *testing.T) {
	rec := backend.NewRecorded().
		On(dpkgQuery, backend.Result{Stdout: "install ok installed\thello\t2.10-3\tamd64\nhold ok installed\tbash\t5.2.15-2+b8\tamd64\n"}).
		On("apt-mark hold hello", backend.Result{Stdout: "hello set on hold.\n"})
	r, c, au := pkgFixture(t, rec)
	out, err := r.Call(c, "pkg.hold", nil, map[string]any{"pkgs": []any{"hello", "bash", "absent"}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"hello":  map[string]any{"name": "hello", "changes": map[string]any{"old": "install", "new": "hold"}, "result": true, "comment": "Package hello is now being held."},
		"bash":   map[string]any{"name": "bash", "changes": map[string]any{}, "result": true, "comment": "Package bash is already set to be held."},
		"absent": map[string]any{"name": "absent", "changes": map[string]any{}, "result": false, "comment": "Package absent not currently held."},
	}
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("pkg.hold = %v\nwant %v", out, want)
	}
	if want := []string{"pkg.hold hello install -> hold"}; !reflect.DeepEqual(au.Lines(), want) {
		t.Fatalf("audit = %q", au.Lines())
	}
	out, err = r.Call(c, "pkg.unhold", []any{"bash"}, map[string]any{"test": true})
	if err != nil {
		t.Fatal(err)
	}
	if got := out.(map[string]any)["bash"].(map[string]any); got["result"] != nil || got["comment"] != "Package bash is set not to be held." {
		t.Fatalf("pkg.unhold test=True = %v", got)
	}
	for _, l := range rec.CommandLines() {
		if strings.Contains(l, "unhold") {
			t.Fatalf("test mode ran %q", l)
		}
	}
}
