package execmod_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/brine-cm/brine/pkg/backend"
	"github.com/brine-cm/brine/pkg/backend/svcmgr"
	"github.com/brine-cm/brine/pkg/execmod"
	"github.com/brine-cm/brine/pkg/testkit"
)

// The service module on recorded systemctl output; the live sysvinit
// tier is in states/service_test.go.

// newSvcAudit keeps "action name verb" per record.
func newSvcAudit() *testkit.Audit {
	return &testkit.Audit{Format: func(action string, d map[string]any) (string, bool) {
		return action + " " + d["name"].(string) + " " + d["action"].(string), true
	}}
}

func svcFixture(rec *backend.Recorded) (*execmod.Registry, *execmod.Context, *testkit.Audit) {
	r := execmod.NewRegistry()
	execmod.ServiceModule{Backend: func(*execmod.Context) (svcmgr.Manager, error) { return svcmgr.NewSystemd(rec), nil }}.Register(r)
	au := newSvcAudit()
	return r, &execmod.Context{Ctx: context.Background(), Registry: r, Audit: au}, au
}

func TestServiceActions(t *testing.T) {
	rec := backend.NewRecorded().
		On("systemctl start nginx.service", backend.Result{}).
		On("systemctl reload nginx.service", backend.Result{}).
		On("systemctl enable nginx.service", backend.Result{}).
		On("systemctl show --property=NeedDaemonReload --value nginx.service", backend.Result{Stdout: "no\n"}).
		On("systemctl stop broken.service", backend.Result{ExitCode: 1, Stderr: "Job for broken.service failed.\n"})
	r, c, au := svcFixture(rec)
	for _, fn := range []string{"service.start", "service.reload", "service.enable"} {
		out, err := r.Call(c, fn, []any{"nginx"}, nil)
		if err != nil || out != true {
			t.Fatalf("%s nginx = %v, %v", fn, out, err)
		}
	}
	out, err := r.Call(c, "service.stop", nil, map[string]any{"name": "broken"})
	if err == nil || out != false || !strings.Contains(err.Error(), "Job for broken.service failed") {
		t.Fatalf("service.stop broken = %v, %v", out, err)
	}
	want := []string{"service.changed nginx start", "service.changed nginx reload", "service.changed nginx enable"}
	if !reflect.DeepEqual(au.Lines(), want) {
		t.Fatalf("audit = %q, want %q (a failed action is not a change)", au.Lines(), want)
	}
	if _, err := r.Call(c, "service.start", nil, nil); err == nil || !strings.Contains(err.Error(), `missing required argument "name"`) {
		t.Fatalf("service.start without a name: %v", err)
	}
}

func TestServiceQueries(t *testing.T) {
	rec := backend.NewRecorded().
		On("systemctl is-active cron.service", backend.Result{Stdout: "active\n"}).
		On("systemctl is-active ssh.service", backend.Result{Stdout: "inactive\n", ExitCode: 3}).
		On("systemctl is-enabled ssh.service", backend.Result{Stdout: "disabled\n", ExitCode: 1}).
		On("systemctl show --property=LoadState --value nosuch.service", backend.Result{Stdout: "not-found\n"}).
		On("systemctl list-unit-files --type=service --no-legend --no-pager", backend.Result{Stdout: "cron.service enabled enabled\nssh.service disabled enabled\n"}).
		On("systemctl list-units --type=service --all --no-legend --no-pager --plain", backend.Result{Stdout: "cron.service loaded active running cron\n"})
	r, c, _ := svcFixture(rec)
	check := func(fn string, args []any, want any) {
		t.Helper()
		got, err := r.Call(c, fn, args, nil)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s %v = %v, %v; want %v", fn, args, got, err, want)
		}
	}
	check("service.status", []any{"cron"}, true)
	check("service.status", []any{"ssh"}, false)
	check("service.status", []any{"[cs]*"}, map[string]any{"cron": true, "ssh": false})
	check("service.enabled", []any{"ssh"}, false)
	check("service.disabled", []any{"ssh"}, true)
	check("service.available", []any{"nosuch"}, false)
	check("service.missing", []any{"nosuch"}, true)
	check("service.get_all", nil, []any{"cron", "ssh"})
	rec.On("pgrep -f -- nginx: master", backend.Result{Stdout: "812\n"}).
		On("pgrep -f -- nginx: nothing", backend.Result{ExitCode: 1})
	for sig, want := range map[string]bool{"nginx: master": true, "nginx: nothing": false} {
		got, err := r.Call(c, "service.status", []any{"nginx"}, map[string]any{"sig": sig})
		if err != nil || got != want {
			t.Errorf("service.status nginx sig=%q = %v, %v; want %v", sig, got, err, want)
		}
	}
}
