package svcmgr

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/brine-cm/brine/pkg/backend"
)

// The systemd backend is tested on recorded systemctl output only: the
// CI machine is a container whose PID 1 is not systemd, so there is no
// /run/systemd/system and systemctl cannot start or query units there.
// What is checked is the exact command line for every action and the
// parsing of every answer.

func TestUnitName(t *testing.T) {
	for in, want := range map[string]string{
		"nginx":           "nginx.service",
		"nginx.service":   "nginx.service",
		"apt-daily.timer": "apt-daily.timer",
		"getty@tty1":      "getty@tty1.service",
	} {
		if got := UnitName(in); got != want {
			t.Errorf("UnitName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSystemdActionsCommandLines(t *testing.T) {
	ctx := context.Background()
	rec := backend.NewRecorded()
	for _, v := range []string{"start", "stop", "restart", "reload", "enable", "disable"} {
		rec.On("systemctl "+v+" nginx.service", backend.Result{})
	}
	// The unit file changed on disk before the first start only.
	rec.On("systemctl show --property=NeedDaemonReload --value nginx.service", backend.Result{Stdout: "yes\n"})
	rec.On("systemctl show --property=NeedDaemonReload --value nginx.service", backend.Result{Stdout: "no\n"})
	rec.On("systemctl daemon-reload", backend.Result{})
	s := NewSystemd(rec)
	steps := []func(context.Context, string) error{s.Start, s.Stop, s.Restart, s.Reload, s.Enable, s.Disable, s.FullRestart}
	for _, f := range steps {
		if err := f(ctx, "nginx"); err != nil {
			t.Fatal(err)
		}
	}
	const stale = "systemctl show --property=NeedDaemonReload --value nginx.service"
	want := []string{
		stale, "systemctl daemon-reload", "systemctl start nginx.service",
		"systemctl stop nginx.service",
		stale, "systemctl restart nginx.service",
		stale, "systemctl reload nginx.service",
		stale, "systemctl enable nginx.service",
		"systemctl disable nginx.service",
		"systemctl stop nginx.service", stale, "systemctl start nginx.service",
	}
	if got := rec.CommandLines(); !reflect.DeepEqual(got, want) {
		t.Fatalf("commands:\n got %q\nwant %q", got, want)
	}
	for _, c := range rec.Calls() {
		if c.Env["LC_ALL"] != "C" {
			t.Errorf("%s: LC_ALL not pinned to C: %v", c, c.Env)
		}
	}
}

func TestSystemdFailureCarriesMessage(t *testing.T) {
	rec := backend.NewRecorded().On("systemctl start nosuch.service", backend.Result{
		ExitCode: 5,
		Stderr:   "Failed to start nosuch.service: Unit nosuch.service not found.\n",
	}).On("systemctl show --property=NeedDaemonReload --value nosuch.service", backend.Result{Stdout: "no\n"})
	err := NewSystemd(rec).Start(context.Background(), "nosuch")
	var ce *backend.CommandError
	if !errors.As(err, &ce) || ce.ExitCode != 5 {
		t.Fatalf("want a CommandError with exit 5, got %v", err)
	}
	if !strings.Contains(err.Error(), "Unit nosuch.service not found") {
		t.Fatalf("error lost systemctl's message: %v", err)
	}
}

func TestSystemdQueries(t *testing.T) {
	ctx := context.Background()
	rec := backend.NewRecorded().
		On("systemctl is-active cron.service", backend.Result{Stdout: "active\n"}).
		On("systemctl is-active nginx.service", backend.Result{Stdout: "inactive\n", ExitCode: 3}).
		On("systemctl is-enabled cron.service", backend.Result{Stdout: "enabled\n"}).
		On("systemctl is-enabled nginx.service", backend.Result{Stdout: "disabled\n", ExitCode: 1}).
		On("systemctl show --property=LoadState --value cron.service", backend.Result{Stdout: "loaded\n"}).
		On("systemctl show --property=LoadState --value nosuch.service", backend.Result{Stdout: "not-found\n"})
	s := NewSystemd(rec)
	check := func(what string, got bool, err error, want bool) {
		t.Helper()
		if err != nil || got != want {
			t.Errorf("%s = %v, %v; want %v", what, got, err, want)
		}
	}
	b, err := s.Status(ctx, "cron")
	check("Status(cron)", b, err, true)
	b, err = s.Status(ctx, "nginx")
	check("Status(nginx)", b, err, false)
	b, err = s.Enabled(ctx, "cron")
	check("Enabled(cron)", b, err, true)
	b, err = s.Enabled(ctx, "nginx")
	check("Enabled(nginx)", b, err, false)
	b, err = s.Available(ctx, "cron")
	check("Available(cron)", b, err, true)
	b, err = s.Available(ctx, "nosuch")
	check("Available(nosuch)", b, err, false)
}

func TestSystemdList(t *testing.T) {
	rec := backend.NewRecorded()
	if err := rec.OnFile("systemctl list-unit-files --type=service --no-legend --no-pager", filepath.Join("testdata", "systemctl-list-unit-files.txt"), 0); err != nil {
		t.Fatal(err)
	}
	if err := rec.OnFile("systemctl list-units --type=service --all --no-legend --no-pager --plain", filepath.Join("testdata", "systemctl-list-units.txt"), 0); err != nil {
		t.Fatal(err)
	}
	got, err := NewSystemd(rec).List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"apt-daily", "apt-daily-upgrade", "cron", "getty@tty1", "legacy-app", "nginx", "nosuch", "ssh", "sshd"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("List:\n got %q\nwant %q", got, want)
	}
}

func TestSelectFallsBackToSysVWithoutRunningSystemd(t *testing.T) {
	if backend.IsDir(SystemdMarker) {
		t.Skip("systemd runs here; this checks the container fallback")
	}
	if !backend.IsDir(DefaultInitDir) {
		t.Skip("no /etc/init.d on this host")
	}
	m, err := Select(map[string]any{"init": "systemd", "os_family": "Debian"}, backend.NewRecorded())
	if err != nil {
		t.Fatal(err)
	}
	if m.Name() != "sysvinit" {
		t.Fatalf("init=systemd without %s chose %s, want sysvinit", SystemdMarker, m.Name())
	}
}

func TestSelectRefusesOtherInits(t *testing.T) {
	_, err := Select(map[string]any{"init": "openrc"}, backend.NewRecorded())
	if err == nil || !errors.Is(err, backend.ErrNoBackend) {
		t.Fatalf("want ErrNoBackend, got %v", err)
	}
	if want := "service: no backend for init openrc (supported: systemd, sysvinit)"; err.Error() != want {
		t.Fatalf("error = %q, want %q", err, want)
	}
}
