package svcmgr

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/brine-cm/brine/pkg/backend"
)

// DefaultInitDir is where System V init scripts live.
const DefaultInitDir = "/etc/init.d"

// SysV drives System V init scripts the Debian way: `service NAME ACTION`
// to act, update-rc.d to change the boot links, /etc/rcN.d/S??NAME links
// to tell whether a service starts at boot.
type SysV struct {
	run backend.Runner
	// InitDir holds the scripts; RCDir holds the rcN.d link directories.
	InitDir string
	RCDir   string
}

// NewSysV returns the sysvinit backend on the standard paths.
func NewSysV(r backend.Runner) *SysV {
	return &SysV{run: r, InitDir: DefaultInitDir, RCDir: "/etc"}
}

// Name implements Manager.
func (s *SysV) Name() string { return "sysvinit" }

func (s *SysV) cmd(ctx context.Context, argv ...string) (backend.Cmd, backend.Result, error) {
	c := backend.Cmd{Argv: argv, Env: map[string]string{"LC_ALL": "C"}}
	res, err := s.run.Run(ctx, c)
	return c, res, err
}

func (s *SysV) must(ctx context.Context, what string, argv ...string) error {
	c, res, err := s.cmd(ctx, argv...)
	if err == nil {
		err = backend.Check(c, res)
	}
	if err != nil {
		return fmt.Errorf("sysvinit: %s: %w", what, err)
	}
	return nil
}

// validName refuses names that would escape the init directory or be
// taken as options.
func validName(name string) error {
	if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." || strings.HasPrefix(name, "-") {
		return fmt.Errorf("sysvinit: invalid service name %q", name)
	}
	return nil
}

func (s *SysV) action(ctx context.Context, name string, args ...string) error {
	if err := validName(name); err != nil {
		return err
	}
	return s.must(ctx, strings.Join(args, " ")+" "+name, append([]string{"service", name}, args...)...)
}

// Start implements Manager.
func (s *SysV) Start(ctx context.Context, name string) error { return s.action(ctx, name, "start") }

// Stop implements Manager.
func (s *SysV) Stop(ctx context.Context, name string) error { return s.action(ctx, name, "stop") }

// Restart implements Manager.
func (s *SysV) Restart(ctx context.Context, name string) error {
	return s.action(ctx, name, "restart")
}

// Reload implements Manager.
func (s *SysV) Reload(ctx context.Context, name string) error { return s.action(ctx, name, "reload") }

// FullRestart implements Manager with `service NAME --full-restart`
// (stop, then start).
func (s *SysV) FullRestart(ctx context.Context, name string) error {
	return s.action(ctx, name, "--full-restart")
}

// Status implements Manager: the LSB status action exits 0 only when the
// service runs.
func (s *SysV) Status(ctx context.Context, name string) (bool, error) {
	if err := validName(name); err != nil {
		return false, err
	}
	_, res, err := s.cmd(ctx, "service", name, "status")
	if err != nil {
		return false, fmt.Errorf("sysvinit: status %s: %w", name, err)
	}
	return res.ExitCode == 0, nil
}

// Available implements Manager: an executable script in InitDir.
func (s *SysV) Available(_ context.Context, name string) (bool, error) {
	if err := validName(name); err != nil {
		return false, err
	}
	st, err := os.Stat(filepath.Join(s.InitDir, name))
	if err != nil {
		if os.IsNotExist(err) {
			return false, nil
		}
		return false, fmt.Errorf("sysvinit: %w", err)
	}
	return st.Mode().IsRegular() && st.Mode()&0o111 != 0, nil
}

// notServices are files in /etc/init.d that are not services.
var notServices = map[string]bool{"README": true, "skeleton": true, "rc": true, "rcS": true, "functions": true}

// List implements Manager: the executable scripts in InitDir.
func (s *SysV) List(_ context.Context) ([]string, error) {
	ents, err := os.ReadDir(s.InitDir)
	if err != nil {
		return nil, fmt.Errorf("sysvinit: list services: %w", err)
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if notServices[n] || strings.HasPrefix(n, ".") || strings.Contains(n, ".dpkg-") {
			continue
		}
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || info.Mode()&0o111 == 0 {
			continue
		}
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// Runlevel returns the current runlevel from `runlevel` ("N 2"), or "2",
// Debian's default multi-user runlevel, when it is unknown (containers,
// early boot).
func (s *SysV) Runlevel(ctx context.Context) string {
	_, res, err := s.cmd(ctx, "runlevel")
	if err != nil || res.ExitCode != 0 {
		return "2"
	}
	return ParseRunlevel(res.Stdout)
}

// ParseRunlevel parses `runlevel` output ("N 2", "2 3", "unknown").
func ParseRunlevel(out string) string {
	f := strings.Fields(out)
	if len(f) == 0 {
		return "2"
	}
	rl := f[len(f)-1]
	if len(rl) != 1 || !strings.ContainsAny(rl, "0123456789S") {
		return "2"
	}
	return rl
}

// links returns the rc links of a service, start ("S") or kill ("K"),
// in the given runlevel directory ("2", "S") or in all of them ("*").
func (s *SysV) links(name, kind, runlevel string) ([]string, error) {
	pat := filepath.Join(s.RCDir, "rc"+runlevel+".d", kind+"[0-9][0-9]"+name)
	if runlevel == "*" {
		pat = filepath.Join(s.RCDir, "rc[0-6S].d", kind+"[0-9][0-9]"+name)
	}
	m, err := filepath.Glob(pat)
	if err != nil {
		return nil, fmt.Errorf("sysvinit: links of %s: %w", name, err)
	}
	var out []string
	for _, p := range m {
		// Guard against glob metacharacters in the name.
		if b := filepath.Base(p); len(b) > 3 && b[3:] == name {
			out = append(out, p)
		}
	}
	return out, nil
}

// Enabled implements Manager: a start link in the current runlevel.
func (s *SysV) Enabled(ctx context.Context, name string) (bool, error) {
	if err := validName(name); err != nil {
		return false, err
	}
	l, err := s.links(name, "S", s.Runlevel(ctx))
	return len(l) > 0, err
}

// Enable implements Manager: create the boot links from the script's LSB
// header when there are none (update-rc.d defaults), then turn any kill
// links of the start runlevels back into start links (update-rc.d enable).
func (s *SysV) Enable(ctx context.Context, name string) error {
	if err := validName(name); err != nil {
		return err
	}
	s1, err := s.links(name, "S", "*")
	if err != nil {
		return err
	}
	k1, err := s.links(name, "K", "*")
	if err != nil {
		return err
	}
	if len(s1)+len(k1) == 0 {
		if err := s.must(ctx, "enable "+name, "update-rc.d", name, "defaults"); err != nil {
			return err
		}
	}
	return s.must(ctx, "enable "+name, "update-rc.d", name, "enable")
}

// Disable implements Manager with update-rc.d disable (start links become
// kill links). A service without any link is already disabled.
func (s *SysV) Disable(ctx context.Context, name string) error {
	if err := validName(name); err != nil {
		return err
	}
	l, err := s.links(name, "S", "*")
	if err != nil {
		return err
	}
	if len(l) == 0 {
		return nil
	}
	return s.must(ctx, "disable "+name, "update-rc.d", name, "disable")
}

// ProcessRunning implements Manager with pgrep -f.
func (s *SysV) ProcessRunning(ctx context.Context, pattern string) (bool, error) {
	return pgrep(ctx, s.run, pattern)
}
