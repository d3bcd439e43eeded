package pkgmgr

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/brine-cm/brine/pkg/backend"
)

// aptEnv keeps apt and dpkg from ever prompting and pins the C locale so
// the output parsed below is the same on every host.
var aptEnv = map[string]string{
	"DEBIAN_FRONTEND":          "noninteractive",
	"APT_LISTBUGS_FRONTEND":    "none",
	"APT_LISTCHANGES_FRONTEND": "none",
	"LC_ALL":                   "C",
}

// dpkgFormat is the dpkg-query output format List parses.
const dpkgFormat = `${Status}\t${Package}\t${Version}\t${Architecture}\n`

// Apt manages packages on the Debian family with dpkg-query, apt-get and
// apt-cache.
type Apt struct {
	run backend.Runner

	archOnce sync.Once
	arch     string
	archErr  error
}

// NewApt returns the apt backend running commands through r.
func NewApt(r backend.Runner) *Apt { return &Apt{run: r} }

// Name implements Manager.
func (a *Apt) Name() string { return "apt" }

// Compare implements Manager with dpkg's ordering.
func (a *Apt) Compare(x, y string) int { return CompareDebian(x, y) }

func (a *Apt) exec(ctx context.Context, argv ...string) (backend.Cmd, backend.Result, error) {
	c := backend.Cmd{Argv: argv, Env: aptEnv}
	res, err := a.run.Run(ctx, c)
	return c, res, err
}

// nativeArch is dpkg's architecture; packages of other architectures are
// listed as name:arch, as dpkg and Salt name them.
func (a *Apt) nativeArch(ctx context.Context) (string, error) {
	a.archOnce.Do(func() {
		c, res, err := a.exec(ctx, "dpkg", "--print-architecture")
		if err == nil {
			err = backend.Check(c, res)
		}
		a.arch, a.archErr = strings.TrimSpace(res.Stdout), err
	})
	return a.arch, a.archErr
}

// List implements Manager with dpkg-query.
func (a *Apt) List(ctx context.Context) (Inventory, error) {
	arch, err := a.nativeArch(ctx)
	if err != nil {
		return Inventory{}, fmt.Errorf("apt: list packages: %w", err)
	}
	c, res, err := a.exec(ctx, "dpkg-query", "-W", "-f="+dpkgFormat)
	if err == nil {
		err = backend.Check(c, res)
	}
	if err != nil {
		return Inventory{}, fmt.Errorf("apt: list packages: %w", err)
	}
	return ParseDpkgQuery(res.Stdout, arch), nil
}

// ParseDpkgQuery parses `dpkg-query -W -f='${Status}\t${Package}\t${Version}\t${Architecture}\n'`
// output. Packages whose architecture is neither native nor "all" get an
// ":arch" suffix.
func ParseDpkgQuery(out, nativeArch string) Inventory {
	inv := Inventory{Installed: map[string]string{}, ConfigFiles: map[string]string{}, Held: map[string]bool{}}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(line, "\t")
		if len(f) < 3 {
			continue
		}
		status := strings.Fields(f[0])
		if len(status) != 3 {
			continue
		}
		name, version := f[1], f[2]
		if len(f) >= 4 {
			if arch := strings.TrimSpace(f[3]); arch != "" && arch != "all" && arch != nativeArch {
				name += ":" + arch
			}
		}
		switch status[2] {
		case "installed":
			inv.Installed[name] = version
			if status[0] == "hold" {
				inv.Held[name] = true
			}
		case "config-files":
			inv.ConfigFiles[name] = version
		}
	}
	return inv
}

// Policy implements Manager with apt-cache policy.
func (a *Apt) Policy(ctx context.Context, names []string) (map[string]Policy, error) {
	if len(names) == 0 {
		return map[string]Policy{}, nil
	}
	c, res, err := a.exec(ctx, append([]string{"apt-cache", "policy"}, names...)...)
	if err == nil {
		err = backend.Check(c, res)
	}
	if err != nil {
		return nil, fmt.Errorf("apt: policy: %w", err)
	}
	return ParseAptPolicy(res.Stdout), nil
}

// ParseAptPolicy parses `apt-cache policy NAME...` output. "(none)"
// becomes "". Names apt does not know are simply absent.
func ParseAptPolicy(out string) map[string]Policy {
	pols := map[string]Policy{}
	var cur string
	var p Policy
	inTable := false
	flush := func() {
		if cur != "" {
			pols[cur] = p
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		if line[0] != ' ' {
			flush()
			cur, p, inTable = strings.TrimSuffix(strings.TrimSpace(line), ":"), Policy{}, false
			continue
		}
		if cur == "" {
			continue
		}
		t := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(t, "Installed:"):
			p.Installed = noneToEmpty(strings.TrimSpace(strings.TrimPrefix(t, "Installed:")))
		case strings.HasPrefix(t, "Candidate:"):
			p.Candidate = noneToEmpty(strings.TrimSpace(strings.TrimPrefix(t, "Candidate:")))
		case strings.HasPrefix(t, "Version table:"):
			inTable = true
		case inTable:
			indent := len(line) - len(strings.TrimLeft(line, " "))
			if strings.HasPrefix(t, "***") {
				t, indent = strings.TrimSpace(strings.TrimPrefix(t, "***")), 0
			}
			// Version lines sit at five spaces; their sources deeper.
			if indent > 6 {
				continue
			}
			if f := strings.Fields(t); len(f) > 0 {
				p.Versions = append(p.Versions, f[0])
			}
		}
	}
	flush()
	return pols
}

func noneToEmpty(s string) string {
	if s == "(none)" {
		return ""
	}
	return s
}

// installFlags are the apt-get options every install and upgrade uses.
func installFlags(opts InstallOptions) []string {
	argv := []string{"apt-get", "-q", "-y",
		"-o", "DPkg::Options::=--force-confold",
		"-o", "DPkg::Options::=--force-confdef",
		"-o", "DPkg::Lock::Timeout=300"}
	if opts.AllowDowngrades {
		argv = append(argv, "--allow-downgrades")
	}
	if opts.FromRepo != "" {
		argv = append(argv, "-t", opts.FromRepo)
	}
	if opts.NoRecommends {
		argv = append(argv, "--no-install-recommends")
	}
	if opts.SkipVerify {
		argv = append(argv, "--allow-unauthenticated")
	}
	return argv
}

// Upgrades implements Manager by simulating the upgrade (apt-get -s).
func (a *Apt) Upgrades(ctx context.Context, dist bool) (map[string]string, error) {
	verb := "upgrade"
	if dist {
		verb = "dist-upgrade"
	}
	c, res, err := a.exec(ctx, "apt-get", "-q", "-s", "-o", "DPkg::Lock::Timeout=300", verb)
	if err == nil {
		err = backend.Check(c, res)
	}
	if err != nil {
		return nil, fmt.Errorf("apt: list upgrades: %w", err)
	}
	return ParseAptSimulate(res.Stdout), nil
}

// ParseAptSimulate reads the "Conf NAME (VERSION ...)" lines of a
// simulated apt-get run: every package the run would configure, at the
// version it would have.
func ParseAptSimulate(out string) map[string]string {
	ups := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		rest, ok := strings.CutPrefix(line, "Conf ")
		if !ok {
			continue
		}
		name, rest, ok := strings.Cut(rest, " (")
		if !ok {
			continue
		}
		if f := strings.Fields(rest); len(f) > 0 {
			ups[name] = f[0]
		}
	}
	return ups
}

// Upgrade implements Manager: apt-get upgrade or dist-upgrade, or, for
// named packages, an install limited to those already installed.
func (a *Apt) Upgrade(ctx context.Context, dist bool, only []string, opts InstallOptions) error {
	argv := installFlags(opts)
	switch {
	case len(only) > 0:
		argv = append(append(argv, "--only-upgrade", "install"), only...)
	case dist:
		argv = append(argv, "dist-upgrade")
	default:
		argv = append(argv, "upgrade")
	}
	c, res, err := a.exec(ctx, argv...)
	if err == nil {
		err = backend.Check(c, res)
	}
	if err != nil {
		return fmt.Errorf("apt: upgrade: %w", err)
	}
	return nil
}

// Install implements Manager with apt-get install, keeping existing
// configuration files on upgrade (--force-confold, --force-confdef).
func (a *Apt) Install(ctx context.Context, targets []Target, opts InstallOptions) error {
	if len(targets) == 0 {
		return nil
	}
	argv := installFlags(opts)
	argv = append(argv, "install")
	for _, t := range targets {
		if t.Version != "" {
			argv = append(argv, t.Name+"="+t.Version)
		} else {
			argv = append(argv, t.Name)
		}
	}
	c, res, err := a.exec(ctx, argv...)
	if err == nil {
		err = backend.Check(c, res)
	}
	if err != nil {
		return fmt.Errorf("apt: install: %w", err)
	}
	return nil
}

// Remove implements Manager with apt-get remove or purge.
func (a *Apt) Remove(ctx context.Context, names []string, purge bool) error {
	if len(names) == 0 {
		return nil
	}
	verb := "remove"
	if purge {
		verb = "purge"
	}
	argv := append([]string{"apt-get", "-q", "-y", "-o", "DPkg::Lock::Timeout=300", verb}, names...)
	c, res, err := a.exec(ctx, argv...)
	if err == nil {
		err = backend.Check(c, res)
	}
	if err != nil {
		return fmt.Errorf("apt: %s: %w", verb, err)
	}
	return nil
}

// Hold implements Manager with apt-mark hold or unhold.
func (a *Apt) Hold(ctx context.Context, names []string, hold bool) error {
	if len(names) == 0 {
		return nil
	}
	verb := "hold"
	if !hold {
		verb = "unhold"
	}
	c, res, err := a.exec(ctx, append([]string{"apt-mark", verb}, names...)...)
	if err == nil {
		err = backend.Check(c, res)
	}
	if err != nil {
		return fmt.Errorf("apt: %s: %w", verb, err)
	}
	return nil
}

// Refresh implements Manager with apt-get update.
func (a *Apt) Refresh(ctx context.Context) (RefreshResult, error) {
	c, res, err := a.exec(ctx, "apt-get", "-q", "-o", "DPkg::Lock::Timeout=300", "update")
	if err != nil {
		return RefreshResult{}, fmt.Errorf("apt: update: %w", err)
	}
	rr := ParseAptUpdate(res.Stdout + "\n" + res.Stderr)
	if err := backend.Check(c, res); err != nil {
		return rr, fmt.Errorf("apt: update: %w", err)
	}
	return rr, nil
}

// ParseAptUpdate parses `apt-get -q update` output: "Get:" lines are
// sources with new data (true), "Hit:" unchanged (false), "Ign:" ignored
// (nil), "Err:" failed (false, and the line is kept in Errors, as are
// "W: Failed to fetch" and "E:" lines).
func ParseAptUpdate(out string) RefreshResult {
	rr := RefreshResult{Repos: map[string]any{}}
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		kind, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch {
		case kind == "E", kind == "W" && strings.Contains(rest, "Failed to fetch"):
			rr.Errors = append(rr.Errors, line)
			continue
		}
		var val any
		switch {
		case strings.HasPrefix(kind, "Get"):
			val = true
		case strings.HasPrefix(kind, "Hit"):
			val = false
		case strings.HasPrefix(kind, "Ign"):
			val = nil
		case strings.HasPrefix(kind, "Err"):
			val = false
			rr.Errors = append(rr.Errors, line)
		default:
			continue
		}
		// Drop the sequence number ("Get:1") and a trailing size ("[151 kB]").
		ident := rest
		if i := strings.IndexByte(ident, ' '); i >= 0 {
			ident = ident[i+1:]
		}
		if i := strings.LastIndex(ident, " ["); i >= 0 && strings.HasSuffix(ident, "]") {
			ident = ident[:i]
		}
		ident = strings.TrimSpace(ident)
		if ident == "" {
			continue
		}
		if _, seen := rr.Repos[ident]; seen && val == nil {
			continue
		}
		rr.Repos[ident] = val
	}
	return rr
}
