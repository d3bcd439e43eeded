// Package pkgmgr holds the package-manager backends behind the pkg
// execution module. The pkg module says what (install hello 2.10-3);
// a Manager says how on this host (apt-get). Select picks the Manager
// from grains by a can-manage probe and a priority.
package pkgmgr

import (
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strings"

	"github.com/brine-cm/brine/pkg/backend"
)

// Target is one package to install, with an exact version or "" for the
// candidate the package manager would choose.
type Target struct {
	Name    string
	Version string
}

// Inventory is the package database as the pkg module needs it: what is
// installed and what was removed but left its configuration behind
// (which pkg.purged still has to clean up).
type Inventory struct {
	Installed   map[string]string // name -> version
	ConfigFiles map[string]string // name -> version of removed packages with config left
	Held        map[string]bool   // installed packages the manager must not upgrade or remove
}

// Policy is what the package manager would do with one package: the
// installed version, the candidate it would install, and every version
// its sources offer (highest first), used to resolve wildcard pins.
type Policy struct {
	Installed string
	Candidate string
	Versions  []string
}

// InstallOptions tunes one install call.
type InstallOptions struct {
	// AllowDowngrades lets a pinned version replace a newer installed one.
	AllowDowngrades bool
	// FromRepo prefers one release (apt's -t, Salt's fromrepo).
	FromRepo string
	// NoRecommends skips recommended packages (install_recommends: False).
	NoRecommends bool
	// SkipVerify installs unauthenticated packages (Salt's skip_verify).
	SkipVerify bool
}

// RefreshResult is the outcome of a package-database refresh in Salt's
// shape: each source mapped to true (new data), false (unchanged or
// failed) or nil (ignored), plus the errors apt reported.
type RefreshResult struct {
	Repos  map[string]any
	Errors []string
}

// Manager is one package manager on one host.
type Manager interface {
	// Name is the backend's name ("apt").
	Name() string
	// List reads the package database.
	List(ctx context.Context) (Inventory, error)
	// Policy reports installed and candidate versions for each name the
	// sources know; unknown names are absent from the map.
	Policy(ctx context.Context, names []string) (map[string]Policy, error)
	// Install installs or up/downgrades the targets in one transaction.
	Install(ctx context.Context, targets []Target, opts InstallOptions) error
	// Remove removes the packages, with their configuration when purge.
	Remove(ctx context.Context, names []string, purge bool) error
	// Upgrades lists what a full upgrade would install: name -> version
	// (dist also allows new dependencies and removals).
	Upgrades(ctx context.Context, dist bool) (map[string]string, error)
	// Upgrade upgrades every package, or only the named ones.
	Upgrade(ctx context.Context, dist bool, only []string, opts InstallOptions) error
	// Hold keeps the packages at their version (hold) or releases them.
	Hold(ctx context.Context, names []string, hold bool) error
	// Refresh updates the package database from the sources.
	Refresh(ctx context.Context) (RefreshResult, error)
	// Compare orders two versions with the manager's rules (-1, 0, 1).
	Compare(a, b string) int
}

// Backend describes one selectable package manager.
type Backend struct {
	Name string
	// Family is the os_family this backend serves, named in errors.
	Family string
	// Priority breaks ties when several backends can manage a host.
	Priority int
	// CanManage probes the host (grains plus a look at the system).
	CanManage func(grains map[string]any) bool
	// New builds the manager on a runner.
	New func(r backend.Runner) Manager
}

// Backends lists the built-in package backends.
func Backends() []Backend {
	return []Backend{
		{Name: "apt", Family: "Debian", Priority: 10, CanManage: aptCanManage, New: func(r backend.Runner) Manager { return NewApt(r) }},
	}
}

// Select returns the highest-priority backend that can manage this host,
// or an error wrapping backend.ErrNoBackend that names the os_family.
func Select(grains map[string]any, r backend.Runner) (Manager, error) {
	return selectFrom(Backends(), grains, r)
}

func selectFrom(list []Backend, grains map[string]any, r backend.Runner) (Manager, error) {
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
	family := backend.OSFamily(grains)
	if family == "" {
		family = "unknown"
	}
	var supported []string
	for _, b := range list {
		supported = append(supported, b.Family)
	}
	sort.Strings(supported)
	return nil, fmt.Errorf("pkg: %w for os_family %s (supported: %s)", backend.ErrNoBackend, family, strings.Join(supported, ", "))
}

func aptCanManage(grains map[string]any) bool {
	if backend.OSFamily(grains) != "Debian" {
		return false
	}
	for _, bin := range []string{"dpkg-query", "apt-get", "apt-cache"} {
		if _, err := exec.LookPath(bin); err != nil {
			return false
		}
	}
	return true
}
