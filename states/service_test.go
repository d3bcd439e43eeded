package states_test

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/brine-cm/brine/pkg/backend/svcmgr/svctest"
	"github.com/brine-cm/brine/pkg/execmod"
	"github.com/brine-cm/brine/pkg/testkit"
	"github.com/brine-cm/brine/proto"
	"github.com/brine-cm/brine/states"
	"github.com/brine-cm/brine/states/engine"
)

// The service states and the service execution module on a real LSB
// init script driven through the sysvinit backend (`service`,
// update-rc.d). systemd is not tested live here: the CI machine is a
// container without systemd as PID 1 (no /run/systemd/system), so the
// systemd backend is covered by recorded systemctl output in
// pkg/backend/svcmgr.

// newSvcTestAudit keeps "name action" per service.changed record.
func newSvcTestAudit() *testkit.Audit {
	return &testkit.Audit{Format: func(action string, d map[string]any) (string, bool) {
		return fmt.Sprintf("%v %v", d["name"], d["action"]), action == "service.changed"
	}}
}

type svcTestEnv struct {
	t     *testing.T
	reg   *execmod.Registry
	audit *testkit.Audit
	mod   *states.Module
	d     *svctest.Daemon
}

func (e *svcTestEnv) ctx(test bool) *execmod.Context {
	return &execmod.Context{
		Ctx:      context.Background(),
		Grains:   map[string]any{"os_family": "Debian", "init": "sysvinit"},
		Registry: e.reg,
		Audit:    e.audit,
		Test:     test,
	}
}

func (e *svcTestEnv) run(fun string, args map[string]any, test bool) states.Result {
	e.t.Helper()
	return e.runName(fun, e.d.Name, args, test)
}

func (e *svcTestEnv) runName(fun, name string, args map[string]any, test bool) states.Result {
	e.t.Helper()
	if args == nil {
		args = map[string]any{}
	}
	req := &states.Request{Exec: e.ctx(test), ID: "svc", Name: name, SLS: "test", Args: args}
	var res states.Result
	if fun == "mod_watch" {
		req.Watch = true
		res = e.mod.ModWatch(req)
	} else {
		f, ok := e.mod.Funcs[fun]
		if !ok {
			e.t.Fatalf("service.%s not registered", fun)
		}
		res = f(req)
	}
	e.t.Logf("service.%s %s %v test=%v -> result=%s comment=%q changes=%v", fun, name, args, test, ptFmt(res.Result), res.Comment, res.Changes)
	return res
}

func (e *svcTestEnv) pid() int {
	e.t.Helper()
	pid, ok := e.d.Pid()
	if !ok {
		e.t.Fatal("daemon is not running")
	}
	return pid
}

func TestServiceStatesLiveSysV(t *testing.T) {
	d := svctest.Install(t)
	e := &svcTestEnv{t: t, reg: execmod.Builtin(), audit: newSvcTestAudit(), mod: states.Service(), d: d}
	n := d.Name

	t.Run("missing service", func(t *testing.T) {
		res := e.runName("running", "brinetest-absent", nil, false)
		ptWantResult(t, "running absent", res, ptBool(false), "The named service brinetest-absent is not available")
		res = e.runName("dead", "brinetest-absent", nil, false)
		ptWantResult(t, "dead absent", res, ptBool(true), "The named service brinetest-absent is not available")
		res = e.runName("running", "brinetest-absent", nil, true)
		ptWantResult(t, "running absent test=True", res, nil, "Service brinetest-absent not present; if created in this state run, it would have been started")
	})

	t.Run("running", func(t *testing.T) {
		res := e.run("running", nil, true)
		ptWantResult(t, "running test=True", res, nil, "Service "+n+" is set to start")
		if _, up := d.Pid(); up {
			t.Fatal("test mode started the daemon")
		}
		res = e.run("running", nil, false)
		ptWantResult(t, "running", res, ptBool(true), "Started Service "+n)
		ptWantChanges(t, "running", res.Changes, map[string]any{n: true})
		e.pid()
		res = e.run("running", nil, false)
		ptWantResult(t, "running again", res, ptBool(true), "The service "+n+" is already running")
		ptWantChanges(t, "running again", res.Changes, nil)
		if got, want := e.audit.Take(), []string{n + " start"}; !reflect.DeepEqual(got, want) {
			t.Errorf("audit = %q, want %q", got, want)
		}
	})

	t.Run("sig", func(t *testing.T) {
		res := e.run("running", map[string]any{"sig": d.Dir + "/reloads"}, false)
		ptWantResult(t, "running sig", res, ptBool(true), "The service "+n+" is already running")
		// A pattern no process has makes the running daemon count as dead.
		res = e.run("dead", map[string]any{"sig": "brine-no-such-process-" + n}, false)
		ptWantResult(t, "dead sig", res, ptBool(true), "The service "+n+" is already dead")
		e.pid()
	})

	t.Run("mod_watch restart", func(t *testing.T) {
		before := e.pid()
		res := e.run("mod_watch", map[string]any{"sfun": "running"}, true)
		ptWantResult(t, "mod_watch test=True", res, nil, "Service is set to be restarted")
		if e.pid() != before {
			t.Fatal("test mode restarted the daemon")
		}
		res = e.run("mod_watch", map[string]any{"sfun": "running"}, false)
		ptWantResult(t, "mod_watch", res, ptBool(true), "Service restarted")
		ptWantChanges(t, "mod_watch", res.Changes, map[string]any{n: true})
		if after := e.pid(); after == before {
			t.Fatalf("restart kept pid %d", before)
		}
	})

	t.Run("mod_watch reload", func(t *testing.T) {
		before := e.pid()
		res := e.run("mod_watch", map[string]any{"sfun": "running", "reload": true}, false)
		ptWantResult(t, "mod_watch reload", res, ptBool(true), "Service reloaded")
		svctest.WaitFor(t, 10*time.Second, "the daemon to handle SIGHUP", func() bool { return d.Reloads() == 1 })
		if e.pid() != before {
			t.Fatal("reload replaced the daemon")
		}
	})

	t.Run("mod_watch full_restart", func(t *testing.T) {
		before := e.pid()
		res := e.run("mod_watch", map[string]any{"sfun": "running", "full_restart": true}, false)
		ptWantResult(t, "mod_watch full_restart", res, ptBool(true), "Service fully restarted")
		if e.pid() == before {
			t.Fatal("full restart kept the pid")
		}
	})

	t.Run("mod_watch without sfun", func(t *testing.T) {
		res := e.run("mod_watch", nil, false)
		ptWantResult(t, "mod_watch no sfun", res, ptBool(false), "Unable to trigger watch for service.None")
	})

	t.Run("enabled and disabled", func(t *testing.T) {
		res := e.run("enabled", nil, true)
		ptWantResult(t, "enabled test=True", res, nil, "Service "+n+" set to be enabled")
		if l := d.Links(); len(l) != 0 {
			t.Fatalf("test mode created links %v", l)
		}
		res = e.run("enabled", nil, false)
		ptWantResult(t, "enabled", res, ptBool(true), "Service "+n+" has been enabled, and is in the desired state")
		ptWantChanges(t, "enabled", res.Changes, map[string]any{n: true})
		if len(d.StartLinks("2")) != 1 {
			t.Fatalf("no start link in rc2.d: %v", d.Links())
		}
		res = e.run("enabled", nil, false)
		ptWantResult(t, "enabled again", res, ptBool(true), "Service "+n+" is already enabled, and is in the desired state")
		ptWantChanges(t, "enabled again", res.Changes, nil)

		res = e.run("disabled", nil, false)
		ptWantResult(t, "disabled", res, ptBool(true), "Service "+n+" has been disabled, and is in the desired state")
		ptWantChanges(t, "disabled", res.Changes, map[string]any{n: true})
		if len(d.StartLinks("2")) != 0 {
			t.Fatalf("start link left in rc2.d: %v", d.Links())
		}
		res = e.run("disabled", nil, false)
		ptWantResult(t, "disabled again", res, ptBool(true), "Service "+n+" is already disabled, and is in the desired state")

		res = e.run("running", map[string]any{"enable": true}, false)
		ptWantResult(t, "running enable=True", res, ptBool(true), "Service "+n+" has been enabled, and is in the desired state")
		if len(d.StartLinks("2")) != 1 {
			t.Fatalf("running enable=True left no start link: %v", d.Links())
		}
		res = e.run("running", map[string]any{"enabled": true}, false)
		ptWantResult(t, "running enabled typo", res, ptBool(false), "Service "+n+" uses non-existent option \"enabled\".  Perhaps \"enable\" option was intended?")
		if got, want := e.audit.Take(), []string{n + " restart", n + " reload", n + " full_restart", n + " enable", n + " disable", n + " enable"}; !reflect.DeepEqual(got, want) {
			t.Errorf("audit = %q, want %q", got, want)
		}
	})

	t.Run("dead", func(t *testing.T) {
		res := e.run("dead", nil, true)
		ptWantResult(t, "dead test=True", res, nil, "Service "+n+" is set to be killed")
		e.pid()
		res = e.run("dead", map[string]any{"enable": false}, false)
		ptWantResult(t, "dead enable=False", res, ptBool(true), "Service "+n+" has been disabled, and is dead")
		ptWantChanges(t, "dead enable=False", res.Changes, map[string]any{n: true})
		if _, up := d.Pid(); up {
			t.Fatal("daemon still running after service.dead")
		}
		res = e.run("dead", nil, false)
		ptWantResult(t, "dead again", res, ptBool(true), "The service "+n+" is already dead")
		res = e.run("mod_watch", map[string]any{"sfun": "dead"}, false)
		ptWantResult(t, "mod_watch dead", res, ptBool(true), "Service is already stopped")
		res = e.run("mod_watch", map[string]any{"sfun": "running"}, false)
		ptWantResult(t, "mod_watch on a stopped service", res, ptBool(true), "Service started")
		e.pid()
		res = e.run("mod_watch", map[string]any{"sfun": "dead"}, false)
		ptWantResult(t, "mod_watch dead on a running service", res, ptBool(true), "Service stopped")
		if _, up := d.Pid(); up {
			t.Fatal("mod_watch for service.dead left the daemon running")
		}
	})

	t.Run("exec functions", func(t *testing.T) {
		c := e.ctx(false)
		call := func(fn string) any {
			t.Helper()
			out, err := e.reg.Call(c, fn, []any{n}, nil)
			if err != nil {
				t.Fatalf("%s: %v", fn, err)
			}
			return out
		}
		if call("service.available") != true || call("service.missing") != false {
			t.Error("service.available/missing disagree with the installed script")
		}
		if call("service.status") != false {
			t.Error("service.status true for a stopped daemon")
		}
		if call("service.start") != true || call("service.status") != true {
			t.Error("service.start did not start the daemon")
		}
		if call("service.enabled") != false || call("service.disabled") != true {
			t.Error("the daemon was disabled by service.dead enable=False")
		}
		all, err := e.reg.Call(c, "service.get_all", nil, nil)
		if err != nil || !strings.Contains(fmt.Sprint(all), n) {
			t.Errorf("service.get_all = %v, %v", all, err)
		}
		if call("service.stop") != true {
			t.Error("service.stop failed")
		}
		if _, up := d.Pid(); up {
			t.Error("daemon still running after service.stop")
		}
	})
}

// TestServiceWatchThroughEngine runs file.managed and a service.running
// that watches it through the state engine: a changed file restarts the
// running daemon via mod_watch (the engine passes sfun).
func TestServiceWatchThroughEngine(t *testing.T) {
	d := svctest.Install(t)
	conf := filepath.Join(t.TempDir(), "daemon.conf")
	ec := &execmod.Context{
		Ctx:      context.Background(),
		Grains:   map[string]any{"os_family": "Debian", "init": "sysvinit"},
		Registry: execmod.Builtin(),
	}
	chunks := func(contents string) []states.Chunk {
		return []states.Chunk{
			{State: "file", Fun: "managed", ID: "conf", Name: conf, SLS: "svc", Env: "base", Index: 0,
				Args: map[string]any{"contents": contents}},
			{State: "service", Fun: "running", ID: "daemon", Name: d.Name, SLS: "svc", Env: "base", Index: 1,
				Args: map[string]any{"watch": []any{map[string]any{"file": "conf"}}}},
		}
	}
	key := proto.StateKey("service", "daemon", d.Name, "running")
	apply := func(contents string) proto.StateResult {
		t.Helper()
		res, err := engine.Run(context.Background(), chunks(contents), engine.Options{States: states.Builtin(), Exec: ec})
		if err != nil {
			t.Fatal(err)
		}
		r, ok := res[key]
		if !ok {
			t.Fatalf("no result for %s in %v", key, res)
		}
		t.Logf("%s: result=%s comment=%q changes=%v", key, ptFmt(r.Result), r.Comment, r.Changes)
		return r
	}
	r := apply("a\n")
	if r.Result == nil || !*r.Result || r.Comment != "Started Service "+d.Name {
		t.Fatalf("first apply: %s %q", ptFmt(r.Result), r.Comment)
	}
	pid1, ok := d.Pid()
	if !ok {
		t.Fatal("daemon not started")
	}
	r = apply("a\n")
	if r.Comment != "The service "+d.Name+" is already running" || len(r.Changes) != 0 {
		t.Fatalf("unchanged file still triggered: %q %v", r.Comment, r.Changes)
	}
	if pid, _ := d.Pid(); pid != pid1 {
		t.Fatal("unchanged file restarted the daemon")
	}
	r = apply("b\n")
	if r.Result == nil || !*r.Result || r.Comment != "Service restarted" {
		t.Fatalf("changed file: %s %q", ptFmt(r.Result), r.Comment)
	}
	if pid2, ok := d.Pid(); !ok || pid2 == pid1 {
		t.Fatalf("watch did not restart the daemon (pid %d -> %d)", pid1, pid2)
	}
}
