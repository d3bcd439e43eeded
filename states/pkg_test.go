package states_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/brine-cm/brine/pkg/execmod"
	"github.com/brine-cm/brine/pkg/testkit"
	"github.com/brine-cm/brine/states"
)

// The pkg states and the pkg execution module against the real apt and
// the Debian archive, with `hello` (one small package from Debian 12's
// main archive, depending only on libc6). CI runs this as root.

const pkgTestPkg = "hello"

// newPkgTestAudit keeps one line per pkg.* record.
func newPkgTestAudit() *testkit.Audit {
	return &testkit.Audit{Format: func(action string, d map[string]any) (string, bool) {
		return fmt.Sprintf("%s %v %v -> %v", action, d["name"], d["old"], d["new"]), strings.HasPrefix(action, "pkg.")
	}}
}

type ptLogWriter struct{ t testing.TB }

func (w ptLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// pkgTestEnv is a registry and a context on the real host.
type pkgTestEnv struct {
	t     *testing.T
	reg   *execmod.Registry
	audit *testkit.Audit
	mod   *states.Module
}

func (e *pkgTestEnv) ctx(test bool) *execmod.Context {
	var w io.Writer = ptLogWriter{e.t}
	return &execmod.Context{
		Ctx:      context.Background(),
		Grains:   map[string]any{"os_family": "Debian", "init": "sysvinit"},
		Registry: e.reg,
		Audit:    e.audit,
		Test:     test,
		Log:      slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
}

func (e *pkgTestEnv) state(fun, name string, args map[string]any, test bool) states.Result {
	e.t.Helper()
	f, ok := e.mod.Funcs[fun]
	if !ok {
		e.t.Fatalf("pkg.%s not registered", fun)
	}
	if args == nil {
		args = map[string]any{}
	}
	res := f(&states.Request{Exec: e.ctx(test), ID: "id-" + name, Name: name, SLS: "test", Args: args})
	e.t.Logf("pkg.%s %s %v test=%v -> result=%v comment=%q changes=%v", fun, name, args, test, ptFmt(res.Result), res.Comment, res.Changes)
	return res
}

func (e *pkgTestEnv) call(fn string, args []any, kw map[string]any) any {
	e.t.Helper()
	out, err := e.reg.Call(e.ctx(false), fn, args, kw)
	if err != nil {
		e.t.Fatalf("%s: %v", fn, err)
	}
	return out
}

func ptFmt(b *bool) string {
	if b == nil {
		return "None"
	}
	return fmt.Sprint(*b)
}

func ptWantResult(t *testing.T, what string, res states.Result, result *bool, comment string) {
	t.Helper()
	if ptFmt(res.Result) != ptFmt(result) {
		t.Errorf("%s: result = %s, want %s (comment %q)", what, ptFmt(res.Result), ptFmt(result), res.Comment)
	}
	if res.Comment != comment {
		t.Errorf("%s: comment = %q, want %q", what, res.Comment, comment)
	}
}

func ptWantChanges(t *testing.T, what string, got, want map[string]any) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: changes = %v, want %v", what, got, want)
	}
}

func ptBool(b bool) *bool { return &b }

// ptDpkgStatus is dpkg's own answer, independent of the code under test:
// the version and the status word ("installed", "config-files") or "".
func ptDpkgStatus(t *testing.T, name string) (version, status string) {
	t.Helper()
	out, err := exec.Command("dpkg-query", "-W", "-f=${Version}\t${Status}", name).Output()
	if err != nil {
		return "", ""
	}
	v, st, _ := strings.Cut(string(out), "\t")
	f := strings.Fields(st)
	if len(f) != 3 || f[2] == "not-installed" {
		return "", ""
	}
	return v, f[2]
}

// ptArchiveVersion is the candidate apt-cache reports, read here directly.
func ptArchiveVersion(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("apt-cache", "policy", name).Output()
	if err != nil {
		t.Fatalf("apt-cache policy %s: %v", name, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Candidate:"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("apt-cache policy %s: no candidate in %q", name, out)
	return ""
}

func newPkgTestEnv(t *testing.T) *pkgTestEnv {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: installs and removes a Debian package with apt (CI runs as root)")
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Fatal("apt-get not found: this tier needs a Debian host")
	}
	// The test owns the host's package database while it runs: another
	// run of it on the same host (a second checkout, a developer's loop)
	// would install and remove the same package underneath it. An
	// advisory lock serialises such runs; the kernel drops it if the test
	// process dies.
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "brine-live-apt.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatalf("open apt test lock: %v", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("take apt test lock: %v", err)
	}
	t.Cleanup(func() { lock.Close() })
	e := &pkgTestEnv{t: t, reg: execmod.Builtin(), audit: newPkgTestAudit(), mod: states.Pkg()}
	// The archive must be reachable: a stale or failing package database
	// would make every result below meaningless, so fail loudly.
	if _, err := e.reg.Call(e.ctx(false), "pkg.refresh_db", nil, map[string]any{"failhard": true}); err != nil {
		t.Fatalf("apt cannot reach the Debian archive (apt-get update failed); this test installs %s from it: %v", pkgTestPkg, err)
	}
	if v := ptArchiveVersion(t, pkgTestPkg); v == "" || v == "(none)" {
		t.Fatalf("package %s is not in the configured archive (apt-cache policy shows no candidate)", pkgTestPkg)
	}
	if v, _ := ptDpkgStatus(t, pkgTestPkg); v != "" {
		if out, err := exec.Command("apt-get", "-y", "-q", "purge", pkgTestPkg).CombinedOutput(); err != nil {
			t.Fatalf("purge pre-existing %s: %v: %s", pkgTestPkg, err, out)
		}
	}
	t.Cleanup(func() {
		if _, st := ptDpkgStatus(t, pkgTestPkg); st != "" {
			if out, err := exec.Command("apt-get", "-y", "-q", "purge", pkgTestPkg).CombinedOutput(); err != nil {
				t.Errorf("cleanup purge %s: %v: %s", pkgTestPkg, err, out)
			}
		}
	})
	return e
}

func TestPkgStatesLiveApt(t *testing.T) {
	e := newPkgTestEnv(t)
	name := pkgTestPkg
	cand := ptArchiveVersion(t, name)

	t.Run("installed test mode changes nothing", func(t *testing.T) {
		res := e.state("installed", name, nil, true)
		ptWantResult(t, "installed test=True", res, nil, "The following packages would be installed/updated: "+name)
		ptWantChanges(t, "installed test=True", res.Changes, map[string]any{name: map[string]any{"new": cand, "old": ""}})
		if v, _ := ptDpkgStatus(t, name); v != "" {
			t.Fatalf("test mode installed %s %s", name, v)
		}
	})

	t.Run("installed", func(t *testing.T) {
		res := e.state("installed", name, nil, false)
		ptWantResult(t, "installed", res, ptBool(true), "The following packages were installed/updated: "+name)
		ptWantChanges(t, "installed", res.Changes, map[string]any{name: map[string]any{"old": "", "new": cand}})
		if v, st := ptDpkgStatus(t, name); v != cand || st != "installed" {
			t.Fatalf("dpkg says %s is %q %q, want %q installed", name, v, st, cand)
		}
		if got, want := e.audit.Take(), []string{"pkg.installed " + name + "  -> " + cand}; !reflect.DeepEqual(got, want) {
			t.Errorf("audit = %q, want %q", got, want)
		}
	})

	t.Run("installed is idempotent", func(t *testing.T) {
		res := e.state("installed", name, nil, false)
		ptWantResult(t, "installed again", res, ptBool(true), "Package "+name+" is already installed")
		ptWantChanges(t, "installed again", res.Changes, nil)
		res = e.state("installed", name, nil, true)
		ptWantResult(t, "installed again test=True", res, ptBool(true), "Package "+name+" is already installed")
		res = e.state("installed", "ignored", map[string]any{"pkgs": []any{name}}, false)
		ptWantResult(t, "installed pkgs", res, ptBool(true), "All specified packages are already installed")
		if got := e.audit.Take(); len(got) != 0 {
			t.Errorf("nothing changed but the audit has %q", got)
		}
	})

	t.Run("version pin", func(t *testing.T) {
		res := e.state("installed", name, map[string]any{"version": cand}, false)
		ptWantResult(t, "pinned to installed version", res, ptBool(true), fmt.Sprintf("Version %s of package '%s' is already installed", cand, name))
		res = e.state("installed", "x", map[string]any{"pkgs": []any{map[string]any{name: cand}}}, false)
		ptWantResult(t, "pkgs pinned", res, ptBool(true), "All specified packages are already installed and are at the desired version")
		res = e.state("installed", name, map[string]any{"version": "0.0.1-brine"}, false)
		if res.Result == nil || *res.Result || !strings.HasPrefix(res.Comment, "An error was encountered while installing package(s): ") ||
			!strings.Contains(res.Comment, "0.0.1-brine") {
			t.Errorf("pin to a missing version: result %s comment %q", ptFmt(res.Result), res.Comment)
		}
		if v, _ := ptDpkgStatus(t, name); v != cand {
			t.Errorf("failed pin changed the package to %q", v)
		}
	})

	t.Run("exec functions", func(t *testing.T) {
		if got := e.call("pkg.version", []any{name}, nil); got != cand {
			t.Errorf("pkg.version = %v", got)
		}
		if got, want := e.call("pkg.version", []any{name, "brine-no-such-package"}, nil), map[string]any{name: cand, "brine-no-such-package": ""}; !reflect.DeepEqual(got, want) {
			t.Errorf("pkg.version two names = %v", got)
		}
		if got := e.call("pkg.list_pkgs", nil, nil).(map[string]any)[name]; got != cand {
			t.Errorf("pkg.list_pkgs[%s] = %v", name, got)
		}
		if got := e.call("pkg.latest_version", []any{name}, map[string]any{"refresh": false}); got != "" {
			t.Errorf("pkg.latest_version of an up-to-date package = %q, want \"\"", got)
		}
		if got := e.call("pkg.upgrade_available", []any{name}, map[string]any{"refresh": false}); got != false {
			t.Errorf("pkg.upgrade_available = %v", got)
		}
		if got := e.call("pkg.list_repo_pkgs", []any{name}, nil).(map[string]any)[name]; !reflect.DeepEqual(got, []any{cand}) {
			t.Errorf("pkg.list_repo_pkgs = %v", got)
		}
	})

	t.Run("removed", func(t *testing.T) {
		res := e.state("removed", name, nil, true)
		ptWantResult(t, "removed test=True", res, nil, "The following packages will be removed: "+name+".")
		ptWantChanges(t, "removed test=True", res.Changes, map[string]any{name: map[string]any{"new": "removed", "old": ""}})
		if v, _ := ptDpkgStatus(t, name); v != cand {
			t.Fatalf("test mode removed %s", name)
		}
		res = e.state("removed", name, nil, false)
		ptWantResult(t, "removed", res, ptBool(true), "All targeted packages were removed.")
		ptWantChanges(t, "removed", res.Changes, map[string]any{name: map[string]any{"old": cand, "new": ""}})
		if _, st := ptDpkgStatus(t, name); st == "installed" {
			t.Fatalf("%s still installed", name)
		}
		if got, want := e.audit.Take(), []string{"pkg.removed " + name + " " + cand + " -> "}; !reflect.DeepEqual(got, want) {
			t.Errorf("audit = %q, want %q", got, want)
		}
		res = e.state("removed", name, nil, false)
		ptWantResult(t, "removed again", res, ptBool(true), "All specified packages are already absent")
	})

	t.Run("pinned install through the exec module, then purged", func(t *testing.T) {
		out := e.call("pkg.install", []any{name}, map[string]any{"version": cand})
		if want := map[string]any{name: map[string]any{"old": "", "new": cand}}; !reflect.DeepEqual(out, want) {
			t.Fatalf("pkg.install = %v, want %v", out, want)
		}
		res := e.state("purged", name, nil, true)
		ptWantResult(t, "purged test=True", res, nil, "The following packages will be purged: "+name+".")
		res = e.state("purged", name, nil, false)
		ptWantResult(t, "purged", res, ptBool(true), "All targeted packages were purged.")
		ptWantChanges(t, "purged", res.Changes, map[string]any{
			"removed":   map[string]any{},
			"installed": map[string]any{name: map[string]any{"old": cand, "new": ""}},
		})
		if _, st := ptDpkgStatus(t, name); st != "" {
			t.Fatalf("dpkg still knows %s as %q after purge", name, st)
		}
		res = e.state("purged", name, nil, false)
		ptWantResult(t, "purged again", res, ptBool(true), "None of the targeted packages are installed or partially installed")
	})

	t.Run("latest", func(t *testing.T) {
		res := e.state("latest", name, nil, true)
		ptWantResult(t, "latest test=True", res, nil, "The following packages would be installed/upgraded: "+name)
		ptWantChanges(t, "latest test=True", res.Changes, map[string]any{name: map[string]any{"new": cand, "old": ""}})
		res = e.state("latest", name, nil, false)
		ptWantResult(t, "latest", res, ptBool(true), "The following packages were successfully installed/upgraded: "+name)
		if v, _ := ptDpkgStatus(t, name); v != cand {
			t.Fatalf("after pkg.latest dpkg says %q", v)
		}
		res = e.state("latest", name, nil, false)
		ptWantResult(t, "latest again", res, ptBool(true), "Package "+name+" is already up-to-date")
		out := e.call("pkg.remove", []any{name}, nil)
		if want := map[string]any{name: map[string]any{"old": cand, "new": ""}}; !reflect.DeepEqual(out, want) {
			t.Fatalf("pkg.remove = %v", out)
		}
	})

	t.Run("installed with a version pin", func(t *testing.T) {
		res := e.state("installed", name, map[string]any{"version": cand}, true)
		ptWantResult(t, "pinned test=True", res, nil, "The following packages would be installed/updated: "+name)
		ptWantChanges(t, "pinned test=True", res.Changes, map[string]any{name: map[string]any{"new": cand, "old": ""}})
		res = e.state("installed", name, map[string]any{"version": cand}, false)
		ptWantResult(t, "pinned", res, ptBool(true), "The following packages were installed/updated: "+name+"="+cand)
		if v, _ := ptDpkgStatus(t, name); v != cand {
			t.Fatalf("after the pinned install dpkg says %q", v)
		}
		res = e.state("removed", name, map[string]any{"version": "0.0.1-brine"}, false)
		ptWantResult(t, "removed other version", res, ptBool(true), "All specified packages (matching specified versions) are already absent")
		res = e.state("removed", name, map[string]any{"version": cand}, false)
		ptWantResult(t, "removed pinned", res, ptBool(true), "All targeted packages were removed.")
	})

	t.Run("uptodate test mode", func(t *testing.T) {
		out, err := exec.Command("apt-get", "-q", "-s", "upgrade").Output()
		if err != nil {
			t.Fatalf("apt-get -s upgrade: %v", err)
		}
		pending := strings.Count(string(out), "\nConf ")
		res := e.state("uptodate", "system", nil, true)
		if pending == 0 {
			ptWantResult(t, "uptodate test=True", res, ptBool(true), "System is already up-to-date")
		} else {
			ptWantResult(t, "uptodate test=True", res, nil, "System update will be performed")
			if len(res.Changes) != pending {
				t.Errorf("uptodate test=True lists %d changes, apt-get -s upgrade configures %d", len(res.Changes), pending)
			}
		}
		res = e.state("uptodate", "system", map[string]any{"pkgs": []any{name}}, false)
		ptWantResult(t, "uptodate of an absent package", res, ptBool(true), "System is already up-to-date")
	})

	t.Run("hold", func(t *testing.T) {
		want := func() string {
			out, _ := exec.Command("dpkg-query", "-W", "-f=${db:Status-Want}", name).Output()
			return string(out)
		}
		res := e.state("installed", name, map[string]any{"hold": true}, false)
		ptWantResult(t, "installed hold=True", res, ptBool(true), "The following packages were installed/updated: "+name+"\nPackage "+name+" is now being held.")
		ptWantChanges(t, "installed hold=True", res.Changes, map[string]any{name: map[string]any{"old": "install", "new": cand + "\nhold"}})
		if w := want(); w != "hold" {
			t.Fatalf("dpkg selection of %s is %q, want hold", name, w)
		}
		res = e.state("installed", name, map[string]any{"hold": true}, false)
		ptWantResult(t, "installed hold=True again", res, ptBool(true), "Package "+name+" is already installed.\nPackage "+name+" is already set to be held.")
		ptWantChanges(t, "installed hold=True again", res.Changes, nil)
		res = e.state("installed", name, map[string]any{"hold": false}, true)
		ptWantResult(t, "installed hold=False test=True", res, nil, "Package "+name+" is already installed.\nPackage "+name+" is set not to be held.")
		if w := want(); w != "hold" {
			t.Fatalf("test mode released the hold (%q)", w)
		}
		res = e.state("installed", name, map[string]any{"hold": false}, false)
		ptWantResult(t, "installed hold=False", res, ptBool(true), "Package "+name+" is already installed.\nPackage "+name+" is no longer being held.")
		ptWantChanges(t, "installed hold=False", res.Changes, map[string]any{name: map[string]any{"old": "hold", "new": "install"}})
		if w := want(); w != "install" {
			t.Fatalf("dpkg selection of %s is %q after unhold", name, w)
		}
		res = e.state("removed", name, nil, false)
		ptWantResult(t, "removed after hold", res, ptBool(true), "All targeted packages were removed.")
	})

	t.Run("unknown package", func(t *testing.T) {
		res := e.state("installed", "x", map[string]any{"pkgs": []any{name, "brine-no-such-package"}}, false)
		ptWantResult(t, "installed unknown", res, ptBool(false),
			"The following package(s) were not found, and no possible matches were found in the package db: brine-no-such-package")
		if v, _ := ptDpkgStatus(t, name); v != "" {
			t.Errorf("a failed preflight still installed %s", name)
		}
		res = e.state("latest", "brine-no-such-package", nil, false)
		ptWantResult(t, "latest unknown", res, ptBool(false), "No information found for 'brine-no-such-package'.")
	})
}

func TestPkgStateBadArguments(t *testing.T) {
	reg := execmod.NewRegistry()
	r := &states.Request{Exec: &execmod.Context{Ctx: context.Background(), Registry: reg}, Name: "x",
		Args: map[string]any{"pkgs": []any{map[string]any{"a": "1", "b": "2"}}}}
	res := states.Pkg().Funcs["installed"](r)
	if res.Result == nil || *res.Result || !strings.HasPrefix(res.Comment, "Invalidly formatted 'pkgs' parameter") {
		t.Fatalf("result %s comment %q", ptFmt(res.Result), res.Comment)
	}
}
