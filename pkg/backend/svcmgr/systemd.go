package svcmgr

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/brine-cm/brine/pkg/backend"
)

// Systemd drives services through systemctl.
type Systemd struct{ run backend.Runner }

// NewSystemd returns the systemd backend running commands through r.
func NewSystemd(r backend.Runner) *Systemd { return &Systemd{run: r} }

// Name implements Manager.
func (s *Systemd) Name() string { return "systemd" }

// UnitName turns a service name into a unit name: "nginx" becomes
// "nginx.service", names that already carry a unit suffix are kept.
func UnitName(name string) string {
	for _, suf := range []string{".service", ".socket", ".timer", ".target", ".mount", ".path", ".scope", ".slice"} {
		if strings.HasSuffix(name, suf) {
			return name
		}
	}
	return name + ".service"
}

func (s *Systemd) systemctl(ctx context.Context, args ...string) (backend.Cmd, backend.Result, error) {
	c := backend.Cmd{Argv: append([]string{"systemctl"}, args...), Env: map[string]string{"LC_ALL": "C", "SYSTEMD_PAGER": ""}}
	res, err := s.run.Run(ctx, c)
	return c, res, err
}

// reloadIfStale runs `systemctl daemon-reload` when the unit file changed
// on disk since systemd read it (a file.managed on the unit just ran), so
// the action uses the new definition, as Salt's systemd module does.
func (s *Systemd) reloadIfStale(ctx context.Context, name string) error {
	_, res, err := s.systemctl(ctx, "show", "--property=NeedDaemonReload", "--value", UnitName(name))
	if err != nil {
		return fmt.Errorf("systemd: show %s: %w", name, err)
	}
	if res.ExitCode != 0 || strings.TrimSpace(res.Stdout) != "yes" {
		return nil
	}
	c, res, err := s.systemctl(ctx, "daemon-reload")
	if err == nil {
		err = backend.Check(c, res)
	}
	if err != nil {
		return fmt.Errorf("systemd: daemon-reload: %w", err)
	}
	return nil
}

func (s *Systemd) action(ctx context.Context, verb, name string) error {
	switch verb {
	case "start", "restart", "reload", "enable":
		if err := s.reloadIfStale(ctx, name); err != nil {
			return err
		}
	}
	c, res, err := s.systemctl(ctx, verb, UnitName(name))
	if err == nil {
		err = backend.Check(c, res)
	}
	if err != nil {
		return fmt.Errorf("systemd: %s %s: %w", verb, name, err)
	}
	return nil
}

// Start implements Manager.
func (s *Systemd) Start(ctx context.Context, name string) error { return s.action(ctx, "start", name) }

// Stop implements Manager.
func (s *Systemd) Stop(ctx context.Context, name string) error { return s.action(ctx, "stop", name) }

// Restart implements Manager.
func (s *Systemd) Restart(ctx context.Context, name string) error {
	return s.action(ctx, "restart", name)
}

// Reload implements Manager.
func (s *Systemd) Reload(ctx context.Context, name string) error {
	return s.action(ctx, "reload", name)
}

// FullRestart implements Manager: a stop, then a start.
func (s *Systemd) FullRestart(ctx context.Context, name string) error {
	if err := s.Stop(ctx, name); err != nil {
		return err
	}
	return s.Start(ctx, name)
}

// Enable implements Manager.
func (s *Systemd) Enable(ctx context.Context, name string) error {
	return s.action(ctx, "enable", name)
}

// Disable implements Manager.
func (s *Systemd) Disable(ctx context.Context, name string) error {
	return s.action(ctx, "disable", name)
}

// Status implements Manager: `systemctl is-active` exits 0 only for an
// active unit.
func (s *Systemd) Status(ctx context.Context, name string) (bool, error) {
	_, res, err := s.systemctl(ctx, "is-active", UnitName(name))
	if err != nil {
		return false, fmt.Errorf("systemd: is-active %s: %w", name, err)
	}
	return res.ExitCode == 0, nil
}

// Enabled implements Manager: `systemctl is-enabled` exits 0 for units
// that start at boot (enabled, static, alias, ...), as Salt counts them.
func (s *Systemd) Enabled(ctx context.Context, name string) (bool, error) {
	_, res, err := s.systemctl(ctx, "is-enabled", UnitName(name))
	if err != nil {
		return false, fmt.Errorf("systemd: is-enabled %s: %w", name, err)
	}
	return res.ExitCode == 0, nil
}

// Available implements Manager from the unit's LoadState: anything but
// "not-found" exists (a masked unit exists but will not start).
func (s *Systemd) Available(ctx context.Context, name string) (bool, error) {
	c, res, err := s.systemctl(ctx, "show", "--property=LoadState", "--value", UnitName(name))
	if err == nil {
		err = backend.Check(c, res)
	}
	if err != nil {
		return false, fmt.Errorf("systemd: show %s: %w", name, err)
	}
	state := strings.TrimSpace(res.Stdout)
	return state != "" && state != "not-found", nil
}

// List implements Manager from unit files and loaded units (which include
// units generated from /etc/init.d scripts).
func (s *Systemd) List(ctx context.Context) ([]string, error) {
	seen := map[string]bool{}
	for _, args := range [][]string{
		{"list-unit-files", "--type=service", "--no-legend", "--no-pager"},
		{"list-units", "--type=service", "--all", "--no-legend", "--no-pager", "--plain"},
	} {
		c, res, err := s.systemctl(ctx, args...)
		if err == nil {
			err = backend.Check(c, res)
		}
		if err != nil {
			return nil, fmt.Errorf("systemd: list services: %w", err)
		}
		for _, n := range ParseUnitList(res.Stdout) {
			seen[n] = true
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// ParseUnitList extracts service names (without ".service") from
// `systemctl list-unit-files` or `list-units --plain` output. Template
// units ("getty@.service") are skipped: they are not services by
// themselves.
func ParseUnitList(out string) []string {
	var names []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(strings.TrimLeft(line, "●* "))
		if len(f) == 0 {
			continue
		}
		unit := f[0]
		if !strings.HasSuffix(unit, ".service") {
			continue
		}
		n := strings.TrimSuffix(unit, ".service")
		if n == "" || strings.HasSuffix(n, "@") {
			continue
		}
		names = append(names, n)
	}
	return names
}

// ProcessRunning implements Manager with pgrep -f.
func (s *Systemd) ProcessRunning(ctx context.Context, pattern string) (bool, error) {
	return pgrep(ctx, s.run, pattern)
}
