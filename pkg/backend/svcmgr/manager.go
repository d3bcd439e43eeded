// Package svcmgr holds the service-manager backends behind the service
// execution module: systemd through systemctl, and System V init through
// the `service` command, /etc/init.d scripts and update-rc.d. Select picks
// one from the `init` grain by a can-manage probe and a priority.
package svcmgr

import (
	"context"
	"fmt"
	"os/exec"
	"strings"

	"github.com/brine-cm/brine/pkg/backend"
)

// Manager is one init system on one host. Every action returns an error
// when it failed (the init system's own message included); the service
// module turns that into Salt's boolean returns.
type Manager interface {
	// Name is the backend's name ("systemd", "sysvinit").
	Name() string
	// Available reports whether the service exists on this host.
	Available(ctx context.Context, name string) (bool, error)
	// Status reports whether the service is running.
	Status(ctx context.Context, name string) (bool, error)
	Start(ctx context.Context, name string) error
	Stop(ctx context.Context, name string) error
	Restart(ctx context.Context, name string) error
	Reload(ctx context.Context, name string) error
	// FullRestart stops then starts, for daemons whose restart re-reads
	// too little.
	FullRestart(ctx context.Context, name string) error
	// Enable makes the service start at boot, Disable stops that.
	Enable(ctx context.Context, name string) error
	Disable(ctx context.Context, name string) error
	// Enabled reports whether the service starts at boot.
	Enabled(ctx context.Context, name string) (bool, error)
	// List names every service on the host, sorted.
	List(ctx context.Context) ([]string, error)
	// ProcessRunning reports whether a process whose command line
	// contains pattern exists (Salt's sig).
	ProcessRunning(ctx context.Context, pattern string) (bool, error)
}

// Backend describes one selectable service manager.
type Backend struct {
	Name      string
	Priority  int
	CanManage func(grains map[string]any) bool
	New       func(r backend.Runner) Manager
}

// SystemdMarker exists only while systemd runs as PID 1; a host that has
// systemd installed but runs something else (a container) must not be
// driven through systemctl.
const SystemdMarker = "/run/systemd/system"

// otherInits are init systems brine recognises but does not drive; on
// those hosts the sysvinit fallback would act on the wrong system.
var otherInits = map[string]bool{
	"openrc": true, "upstart": true, "runit": true, "s6": true,
	"launchd": true, "smf": true, "bsdinit": true, "dinit": true,
}

// Backends lists the built-in service backends.
func Backends() []Backend {
	return []Backend{
		{Name: "systemd", Priority: 20, CanManage: systemdCanManage, New: func(r backend.Runner) Manager { return NewSystemd(r) }},
		{Name: "sysvinit", Priority: 10, CanManage: sysvCanManage, New: func(r backend.Runner) Manager { return NewSysV(r) }},
	}
}

// Select returns the highest-priority backend that can manage this host,
// or an error wrapping backend.ErrNoBackend that names the init grain.
func Select(grains map[string]any, r backend.Runner) (Manager, error) {
	list := Backends()
	var best *Backend
	for i := range list {
		b := &list[i]
		if b.CanManage(grains) && (best == nil || b.Priority > best.Priority) {
			best = b
		}
	}
	if best != nil {
		return best.New(r), nil
	}
	initName := backend.GrainString(grains, "init")
	if initName == "" {
		initName = "unknown"
	}
	var names []string
	for _, b := range list {
		names = append(names, b.Name)
	}
	return nil, fmt.Errorf("service: %w for init %s (supported: %s)", backend.ErrNoBackend, initName, strings.Join(names, ", "))
}

func systemdCanManage(grains map[string]any) bool {
	switch backend.GrainString(grains, "init") {
	case "", "systemd":
	default:
		return false
	}
	if !backend.IsDir(SystemdMarker) {
		return false
	}
	_, err := exec.LookPath("systemctl")
	return err == nil
}

func sysvCanManage(grains map[string]any) bool {
	if otherInits[backend.GrainString(grains, "init")] {
		return false
	}
	if !backend.IsDir(DefaultInitDir) {
		return false
	}
	_, err := exec.LookPath("service")
	return err == nil
}

// pgrep reports whether a process whose command line contains pattern
// exists (`pgrep -f`). It backs Salt's `sig` argument, for init scripts
// whose status action cannot be trusted.
func pgrep(ctx context.Context, r backend.Runner, pattern string) (bool, error) {
	c := backend.Cmd{Argv: []string{"pgrep", "-f", "--", pattern}}
	res, err := r.Run(ctx, c)
	if err != nil {
		return false, fmt.Errorf("service: pgrep %q: %w", pattern, err)
	}
	switch res.ExitCode {
	case 0:
		return true, nil
	case 1:
		return false, nil
	}
	return false, fmt.Errorf("service: %w", backend.Check(c, res))
}
