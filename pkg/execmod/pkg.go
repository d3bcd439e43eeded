package execmod

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/brine-cm/brine/pkg/backend"
	"github.com/brine-cm/brine/pkg/backend/pkgmgr"
)

// PkgModule is the pkg execution module (Salt's pkg virtual module: aptpkg
// on Debian). It says what to install; the backend chosen from grains
// says how. Backend is a field so tests can run the module on recorded
// command output; nil selects the backend from the host's grains.
type PkgModule struct {
	Backend func(c *Context) (pkgmgr.Manager, error)
}

func registerPkg(r *Registry) { PkgModule{}.Register(r) }

// Register adds every pkg.* function to r.
func (m PkgModule) Register(r *Registry) {
	r.Register("pkg.install", "Install packages: pkg.install NAME [version=V] [refresh=True] [fromrepo=RELEASE] [install_recommends=False] [skip_verify=True] or pkgs='[a, {b: 1.2-1}]'. Returns {name: {old, new}} for every package that changed.", m.install)
	r.Register("pkg.remove", "Remove packages: pkg.remove NAME or pkgs='[a, b]'. Returns {name: {old, new}}.", m.remove)
	r.Register("pkg.purge", "Remove packages and their configuration: pkg.purge NAME or pkgs='[a, b]'. Returns {removed: {...}, installed: {...}}.", m.purge)
	r.Register("pkg.list_pkgs", "List installed packages as {name: version} (versions_as_list=True for lists, removed=True for packages whose configuration remains).", m.listPkgs)
	r.Register("pkg.version", "Installed version of one package (\"\" if absent), or {name: version} for several.", m.version)
	r.Register("pkg.latest_version", "Version that would be installed or upgraded to (\"\" if up to date or unknown); refresh=True (default) updates the package database first.", m.latestVersion)
	r.Register("pkg.upgrade_available", "True when a newer version of the package is available.", m.upgradeAvailable)
	r.Register("pkg.refresh_db", "Update the package database; returns {source: True (new data) | False (unchanged or failed) | None (ignored)}; failhard=True fails on any error.", m.refreshDB)
	r.Register("pkg.list_upgrades", "Packages an upgrade would change, as {name: new version}; refresh=True (default) updates the package database first, dist_upgrade=True (default) counts what a dist-upgrade would do.", m.listUpgrades)
	r.Register("pkg.upgrade", "Upgrade every package (dist_upgrade=True for a dist-upgrade), or only pkgs='[a, b]'; refresh=True (default) updates the package database first. Returns {name: {old, new}}.", m.upgrade)
	r.Register("pkg.hold", "Keep packages at their installed version: pkg.hold NAME or pkgs='[a, b]'. Returns {name: {name, changes, result, comment}}.", m.hold)
	r.Register("pkg.unhold", "Let held packages be upgraded again: pkg.unhold NAME or pkgs='[a, b]'. Returns {name: {name, changes, result, comment}}.", m.unhold)
	r.Register("pkg.list_repo_pkgs", "Versions the package sources offer, highest first: {name: [versions]}.", m.listRepoPkgs)
}

// manager returns the backend for this call.
func (m PkgModule) manager(c *Context) (pkgmgr.Manager, error) {
	if m.Backend != nil {
		return m.Backend(c)
	}
	return pkgmgr.Select(c.Grains, ContextRunner(c))
}

// ContextRunner returns the runner modules use for host commands: the
// cmd.run_all function when the registry has one (so commands are logged
// and audited in one place), else os/exec under the run's context.
func ContextRunner(c *Context) backend.Runner {
	if c != nil && c.Registry != nil {
		if _, ok := c.Registry.Lookup("cmd.run_all"); ok {
			return cmdRunAll{c: c}
		}
	}
	return backend.ExecRunner{}
}

// cmdRunAll runs backend commands through cmd.run_all.
type cmdRunAll struct{ c *Context }

// Run hands the argv (no shell) and environment to cmd.run_all, which
// runs under the job's own context, and reads back its retcode and output.
func (r cmdRunAll) Run(_ context.Context, cmd backend.Cmd) (backend.Result, error) {
	argv := make([]any, len(cmd.Argv))
	for i, a := range cmd.Argv {
		argv[i] = a
	}
	kw := map[string]any{"python_shell": false, "rstrip": false, "ignore_retcode": true, "output_loglevel": "debug"}
	if len(cmd.Env) > 0 {
		env := map[string]any{}
		for k, v := range cmd.Env {
			env[k] = v
		}
		kw["env"] = env
	}
	out, err := r.c.Call("cmd.run_all", []any{argv}, kw)
	if err != nil {
		return backend.Result{}, fmt.Errorf("cmd.run_all %s: %w", cmd, err)
	}
	res, ok := out.(map[string]any)
	if !ok {
		return backend.Result{}, fmt.Errorf("cmd.run_all %s: unexpected return %T", cmd, out)
	}
	rc, _ := ToInt(res["retcode"])
	stdout, _ := ToString(res["stdout"])
	stderr, _ := ToString(res["stderr"])
	return backend.Result{Stdout: stdout, Stderr: stderr, ExitCode: rc}, nil
}

// PkgTarget is one package argument: a name and an optional version
// specification ("1.2-3", "2.10*", ">=1.0", "latest").
type PkgTarget struct {
	Name    string
	Version string
}

// PkgTargets reads Salt's package arguments: a pkgs list whose items are
// names or single-key maps {name: version}, or else a name with an
// optional version. The same reading serves the exec and the state
// modules so both accept exactly the same SLS.
func PkgTargets(name string, version any, pkgs any) ([]PkgTarget, error) {
	if pkgs != nil {
		switch x := pkgs.(type) {
		case []any, []string:
		case string:
			if !strings.HasPrefix(strings.TrimSpace(x), "[") {
				// Salt refuses a bare string here too ("Invalidly
				// formatted 'pkgs' parameter"); only a flow list is read.
				return nil, &ArgError{Arg: "pkgs", Want: "a list", Got: pkgs}
			}
		default:
			return nil, &ArgError{Arg: "pkgs", Want: "a list", Got: pkgs}
		}
		l, err := List(map[string]any{"pkgs": pkgs}, "pkgs")
		if err != nil {
			return nil, err
		}
		var out []PkgTarget
		for i, item := range l {
			switch x := item.(type) {
			case map[string]any:
				if len(x) != 1 {
					return nil, &ArgError{Arg: "pkgs", Want: "names or single-key {name: version} maps", Got: pkgs, Msg: fmt.Sprintf("item %d has %d keys", i, len(x))}
				}
				for k, v := range x {
					ver := ""
					if v != nil {
						s, ok := ToString(v)
						if !ok {
							return nil, &ArgError{Arg: "pkgs", Want: "a version string", Got: v, Msg: fmt.Sprintf("item %d (%s)", i, k)}
						}
						ver = s
					}
					out = append(out, PkgTarget{Name: k, Version: ver})
				}
			default:
				s, ok := ToString(item)
				if !ok || strings.TrimSpace(s) == "" {
					return nil, &ArgError{Arg: "pkgs", Want: "names or single-key {name: version} maps", Got: pkgs, Msg: fmt.Sprintf("item %d is %s", i, describe(item))}
				}
				out = append(out, PkgTarget{Name: strings.TrimSpace(s)})
			}
		}
		if len(out) == 0 {
			return nil, &ArgError{Arg: "pkgs", Want: "a non-empty list", Got: pkgs}
		}
		return out, nil
	}
	if strings.TrimSpace(name) == "" {
		return nil, errors.New("a package name or pkgs is required")
	}
	ver := ""
	if version != nil {
		s, ok := ToString(version)
		if !ok {
			return nil, &ArgError{Arg: "version", Want: "a version string", Got: version}
		}
		ver = strings.TrimSpace(s)
	}
	var out []PkgTarget
	for _, n := range strings.Split(name, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, PkgTarget{Name: n, Version: ver})
		}
	}
	return out, nil
}

// pkgChanges is Salt's compare_dicts: every package whose version differs
// between two listings, as {name: {old, new}} ("" for absent).
func pkgChanges(before, after map[string]string) map[string]any {
	out := map[string]any{}
	for n, nv := range after {
		if ov := before[n]; ov != nv {
			out[n] = map[string]any{"old": ov, "new": nv}
		}
	}
	for n, ov := range before {
		if _, ok := after[n]; !ok {
			out[n] = map[string]any{"old": ov, "new": ""}
		}
	}
	return out
}

// recordPkgChanges writes one audit record per changed package.
func recordPkgChanges(c *Context, changes map[string]any, purged bool) {
	names := make([]string, 0, len(changes))
	for n := range changes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		ch, _ := changes[n].(map[string]any)
		if ch == nil {
			continue
		}
		detail := map[string]any{"name": n, "old": ch["old"], "new": ch["new"]}
		action := "pkg.installed"
		if ch["new"] == "" {
			action = "pkg.removed"
			if purged {
				detail["purged"] = true
			}
		}
		c.Record(action, detail)
	}
}

func (m PkgModule) install(c *Context, args []any, kwargs map[string]any) (any, error) {
	kw, err := Bind("pkg.install", args, kwargs, "name", "refresh")
	if err != nil {
		return nil, err
	}
	name, err := Str(kw, "name", "")
	if err != nil {
		return nil, fmt.Errorf("pkg.install: %w", err)
	}
	refresh, err := Bool(kw, "refresh", false)
	if err != nil {
		return nil, fmt.Errorf("pkg.install: %w", err)
	}
	targets, err := PkgTargets(name, kw["version"], kw["pkgs"])
	if err != nil {
		return nil, fmt.Errorf("pkg.install: %w", err)
	}
	mgr, err := m.manager(c)
	if err != nil {
		return nil, err
	}
	ctx := c.Context()
	if refresh {
		if _, err := mgr.Refresh(ctx); err != nil {
			return nil, fmt.Errorf("pkg.install: %w", err)
		}
	}
	before, err := mgr.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("pkg.install: %w", err)
	}
	resolved, err := resolveTargets(ctx, mgr, targets)
	if err != nil {
		return nil, fmt.Errorf("pkg.install: %w", err)
	}
	var opts pkgmgr.InstallOptions
	if opts.FromRepo, err = Str(kw, "fromrepo", ""); err != nil {
		return nil, fmt.Errorf("pkg.install: %w", err)
	}
	recommends, err := Bool(kw, "install_recommends", true)
	if err != nil {
		return nil, fmt.Errorf("pkg.install: %w", err)
	}
	opts.NoRecommends = !recommends
	if opts.SkipVerify, err = Bool(kw, "skip_verify", false); err != nil {
		return nil, fmt.Errorf("pkg.install: %w", err)
	}
	for _, t := range resolved {
		if cur, ok := before.Installed[t.Name]; ok && t.Version != "" && mgr.Compare(t.Version, cur) < 0 {
			opts.AllowDowngrades = true
		}
	}
	c.Logger().Info("installing packages", "backend", mgr.Name(), "targets", fmt.Sprint(resolved))
	installErr := mgr.Install(ctx, resolved, opts)
	after, err := mgr.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("pkg.install: %w", err)
	}
	changes := pkgChanges(before.Installed, after.Installed)
	recordPkgChanges(c, changes, false)
	if installErr != nil {
		return nil, fmt.Errorf("pkg.install: %w", installErr)
	}
	return changes, nil
}

// resolveTargets turns version specifications into versions the backend
// can install: exact versions pass through, "latest" becomes the
// candidate, wildcards and operators are matched against what the
// sources offer.
func resolveTargets(ctx context.Context, mgr pkgmgr.Manager, targets []PkgTarget) ([]pkgmgr.Target, error) {
	out := make([]pkgmgr.Target, 0, len(targets))
	var needPolicy []string
	for _, t := range targets {
		if t.Version == "" || t.Version == "latest" {
			continue
		}
		conds, err := pkgmgr.ParseSpec(t.Version)
		if err != nil {
			return nil, fmt.Errorf("package %s: %w", t.Name, err)
		}
		if !pkgmgr.IsExact(conds) {
			needPolicy = append(needPolicy, t.Name)
		}
	}
	var pols map[string]pkgmgr.Policy
	if len(needPolicy) > 0 {
		var err error
		if pols, err = mgr.Policy(ctx, needPolicy); err != nil {
			return nil, err
		}
	}
	for _, t := range targets {
		if t.Version == "" || t.Version == "latest" {
			out = append(out, pkgmgr.Target{Name: t.Name})
			continue
		}
		conds, _ := pkgmgr.ParseSpec(t.Version)
		if pkgmgr.IsExact(conds) {
			out = append(out, pkgmgr.Target{Name: t.Name, Version: conds[0].Version})
			continue
		}
		v := pkgmgr.Resolve(pols[t.Name].Versions, conds, mgr.Compare)
		if v == "" {
			return nil, fmt.Errorf("no available version of %s matches %q", t.Name, t.Version)
		}
		out = append(out, pkgmgr.Target{Name: t.Name, Version: v})
	}
	return out, nil
}

// namedPkgs binds name= or pkgs=, finds the package manager and reads what
// is installed: the start pkg.remove, pkg.purge, pkg.hold and pkg.unhold
// share, so they check and fail alike.
func (m PkgModule) namedPkgs(c *Context, fn string, args []any, kwargs map[string]any) (map[string]any, []PkgTarget, pkgmgr.Manager, pkgmgr.Inventory, error) {
	kw, err := Bind(fn, args, kwargs, "name", "pkgs")
	if err != nil {
		return nil, nil, nil, pkgmgr.Inventory{}, err
	}
	name, err := Str(kw, "name", "")
	if err != nil {
		return nil, nil, nil, pkgmgr.Inventory{}, fmt.Errorf("%s: %w", fn, err)
	}
	targets, err := PkgTargets(name, nil, kw["pkgs"])
	if err != nil {
		return nil, nil, nil, pkgmgr.Inventory{}, fmt.Errorf("%s: %w", fn, err)
	}
	mgr, err := m.manager(c)
	if err != nil {
		return nil, nil, nil, pkgmgr.Inventory{}, err
	}
	inv, err := mgr.List(c.Context())
	if err != nil {
		return nil, nil, nil, pkgmgr.Inventory{}, fmt.Errorf("%s: %w", fn, err)
	}
	return kw, targets, mgr, inv, nil
}

func (m PkgModule) uninstall(c *Context, fn string, args []any, kwargs map[string]any, purge bool) (any, error) {
	_, targets, mgr, before, err := m.namedPkgs(c, fn, args, kwargs)
	if err != nil {
		return nil, err
	}
	ctx := c.Context()
	var names []string
	for _, t := range targets {
		_, inst := before.Installed[t.Name]
		_, conf := before.ConfigFiles[t.Name]
		if inst || (purge && conf) {
			names = append(names, t.Name)
		}
	}
	if len(names) == 0 {
		return map[string]any{}, nil
	}
	c.Logger().Info("removing packages", "backend", mgr.Name(), "purge", purge, "names", strings.Join(names, ","))
	rmErr := mgr.Remove(ctx, names, purge)
	after, err := mgr.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	changes := pkgChanges(before.Installed, after.Installed)
	recordPkgChanges(c, changes, purge)
	if rmErr != nil {
		return nil, fmt.Errorf("%s: %w", fn, rmErr)
	}
	if purge {
		return map[string]any{
			"removed":   pkgChanges(before.ConfigFiles, after.ConfigFiles),
			"installed": changes,
		}, nil
	}
	return changes, nil
}

func (m PkgModule) remove(c *Context, args []any, kwargs map[string]any) (any, error) {
	return m.uninstall(c, "pkg.remove", args, kwargs, false)
}

func (m PkgModule) purge(c *Context, args []any, kwargs map[string]any) (any, error) {
	return m.uninstall(c, "pkg.purge", args, kwargs, true)
}

func (m PkgModule) listPkgs(c *Context, args []any, kwargs map[string]any) (any, error) {
	kw, err := Bind("pkg.list_pkgs", args, kwargs, "versions_as_list")
	if err != nil {
		return nil, err
	}
	asList, err := Bool(kw, "versions_as_list", false)
	if err != nil {
		return nil, fmt.Errorf("pkg.list_pkgs: %w", err)
	}
	removed, err := Bool(kw, "removed", false)
	if err != nil {
		return nil, fmt.Errorf("pkg.list_pkgs: %w", err)
	}
	mgr, err := m.manager(c)
	if err != nil {
		return nil, err
	}
	inv, err := mgr.List(c.Context())
	if err != nil {
		return nil, fmt.Errorf("pkg.list_pkgs: %w", err)
	}
	src := inv.Installed
	if removed {
		src = inv.ConfigFiles
	}
	out := make(map[string]any, len(src))
	for n, v := range src {
		if asList {
			out[n] = []any{v}
		} else {
			out[n] = v
		}
	}
	return out, nil
}

// names reads the positional package names (pkg.version a b c), also
// accepting names=[...] as a keyword.
func pkgNames(fn string, args []any, kwargs map[string]any) ([]string, error) {
	var out []string
	for i, a := range args {
		s, ok := ToString(a)
		if !ok || strings.TrimSpace(s) == "" {
			return nil, &ArgError{Arg: fmt.Sprintf("%s argument %d", fn, i+1), Want: "a package name", Got: a}
		}
		out = append(out, strings.TrimSpace(s))
	}
	if Has(kwargs, "names") {
		l, err := StrList(kwargs, "names")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fn, err)
		}
		out = append(out, l...)
	}
	if Has(kwargs, "name") {
		s, err := Str(kwargs, "name", "")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fn, err)
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: at least one package name is required", fn)
	}
	return out, nil
}

// oneOrMany returns the single value for one name, a map for several, as
// Salt's pkg functions do.
func oneOrMany(names []string, vals map[string]string) any {
	if len(names) == 1 {
		return vals[names[0]]
	}
	out := make(map[string]any, len(names))
	for _, n := range names {
		out[n] = vals[n]
	}
	return out
}

func (m PkgModule) version(c *Context, args []any, kwargs map[string]any) (any, error) {
	names, err := pkgNames("pkg.version", args, kwargs)
	if err != nil {
		return nil, err
	}
	mgr, err := m.manager(c)
	if err != nil {
		return nil, err
	}
	inv, err := mgr.List(c.Context())
	if err != nil {
		return nil, fmt.Errorf("pkg.version: %w", err)
	}
	return oneOrMany(names, inv.Installed), nil
}

// refreshed finds the package manager and, when refresh is set, updates
// its package lists first, as pkg.latest_version, pkg.list_upgrades and
// pkg.upgrade do before looking at candidates.
func (m PkgModule) refreshed(c *Context, fn string, refresh bool) (pkgmgr.Manager, error) {
	mgr, err := m.manager(c)
	if err != nil {
		return nil, err
	}
	if refresh {
		if _, err := mgr.Refresh(c.Context()); err != nil {
			return nil, fmt.Errorf("%s: %w", fn, err)
		}
	}
	return mgr, nil
}

// upgradeFlags reads refresh= (default True) and dist_upgrade=, whose
// default differs: pkg.list_upgrades assumes a dist-upgrade, pkg.upgrade
// does not.
func upgradeFlags(fn string, kw map[string]any, distDefault bool) (refresh, dist bool, err error) {
	if refresh, err = Bool(kw, "refresh", true); err != nil {
		return false, false, fmt.Errorf("%s: %w", fn, err)
	}
	if dist, err = Bool(kw, "dist_upgrade", distDefault); err != nil {
		return false, false, fmt.Errorf("%s: %w", fn, err)
	}
	return refresh, dist, nil
}

// latest computes, for each name, the candidate version when it is newer
// than the installed one (or nothing is installed), else "".
func (m PkgModule) latest(c *Context, fn string, names []string, refresh bool) (map[string]string, error) {
	mgr, err := m.refreshed(c, fn, refresh)
	if err != nil {
		return nil, err
	}
	ctx := c.Context()
	inv, err := mgr.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	pols, err := mgr.Policy(ctx, names)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	out := map[string]string{}
	for _, n := range names {
		cand := pols[n].Candidate
		cur, installed := inv.Installed[n]
		if cand != "" && (!installed || mgr.Compare(cand, cur) > 0) {
			out[n] = cand
		} else {
			out[n] = ""
		}
	}
	return out, nil
}

func (m PkgModule) latestVersion(c *Context, args []any, kwargs map[string]any) (any, error) {
	names, err := pkgNames("pkg.latest_version", args, kwargs)
	if err != nil {
		return nil, err
	}
	refresh, err := Bool(kwargs, "refresh", true)
	if err != nil {
		return nil, fmt.Errorf("pkg.latest_version: %w", err)
	}
	vals, err := m.latest(c, "pkg.latest_version", names, refresh)
	if err != nil {
		return nil, err
	}
	return oneOrMany(names, vals), nil
}

func (m PkgModule) upgradeAvailable(c *Context, args []any, kwargs map[string]any) (any, error) {
	kw, err := Bind("pkg.upgrade_available", args, kwargs, "name")
	if err != nil {
		return nil, err
	}
	if err := Require("pkg.upgrade_available", kw, "name"); err != nil {
		return nil, err
	}
	name, err := Str(kw, "name", "")
	if err != nil {
		return nil, fmt.Errorf("pkg.upgrade_available: %w", err)
	}
	refresh, err := Bool(kw, "refresh", true)
	if err != nil {
		return nil, fmt.Errorf("pkg.upgrade_available: %w", err)
	}
	vals, err := m.latest(c, "pkg.upgrade_available", []string{name}, refresh)
	if err != nil {
		return nil, err
	}
	return vals[name] != "", nil
}

func (m PkgModule) refreshDB(c *Context, args []any, kwargs map[string]any) (any, error) {
	kw, err := Bind("pkg.refresh_db", args, kwargs, "failhard")
	if err != nil {
		return nil, err
	}
	failhard, err := Bool(kw, "failhard", false)
	if err != nil {
		return nil, fmt.Errorf("pkg.refresh_db: %w", err)
	}
	mgr, err := m.manager(c)
	if err != nil {
		return nil, err
	}
	rr, err := mgr.Refresh(c.Context())
	if err != nil {
		return nil, fmt.Errorf("pkg.refresh_db: %w", err)
	}
	if failhard && len(rr.Errors) > 0 {
		return nil, fmt.Errorf("pkg.refresh_db: error getting repos: %s", strings.Join(rr.Errors, "; "))
	}
	return rr.Repos, nil
}

func (m PkgModule) listRepoPkgs(c *Context, args []any, kwargs map[string]any) (any, error) {
	names, err := pkgNames("pkg.list_repo_pkgs", args, kwargs)
	if err != nil {
		return nil, err
	}
	mgr, err := m.manager(c)
	if err != nil {
		return nil, err
	}
	pols, err := mgr.Policy(c.Context(), names)
	if err != nil {
		return nil, fmt.Errorf("pkg.list_repo_pkgs: %w", err)
	}
	out := map[string]any{}
	for _, n := range names {
		p, ok := pols[n]
		if !ok || len(p.Versions) == 0 {
			continue
		}
		vs := append([]string(nil), p.Versions...)
		sort.SliceStable(vs, func(i, j int) bool { return mgr.Compare(vs[i], vs[j]) > 0 })
		l := make([]any, len(vs))
		for i, v := range vs {
			l[i] = v
		}
		out[n] = l
	}
	return out, nil
}

func (m PkgModule) listUpgrades(c *Context, args []any, kwargs map[string]any) (any, error) {
	kw, err := Bind("pkg.list_upgrades", args, kwargs, "refresh", "dist_upgrade")
	if err != nil {
		return nil, err
	}
	refresh, dist, err := upgradeFlags("pkg.list_upgrades", kw, true)
	if err != nil {
		return nil, err
	}
	mgr, err := m.refreshed(c, "pkg.list_upgrades", refresh)
	if err != nil {
		return nil, err
	}
	ctx := c.Context()
	ups, err := mgr.Upgrades(ctx, dist)
	if err != nil {
		return nil, fmt.Errorf("pkg.list_upgrades: %w", err)
	}
	out := make(map[string]any, len(ups))
	for n, v := range ups {
		out[n] = v
	}
	return out, nil
}

func (m PkgModule) upgrade(c *Context, args []any, kwargs map[string]any) (any, error) {
	kw, err := Bind("pkg.upgrade", args, kwargs, "refresh", "dist_upgrade")
	if err != nil {
		return nil, err
	}
	refresh, dist, err := upgradeFlags("pkg.upgrade", kw, false)
	if err != nil {
		return nil, err
	}
	var only []string
	if Has(kw, "pkgs") {
		ts, err := PkgTargets("", nil, kw["pkgs"])
		if err != nil {
			return nil, fmt.Errorf("pkg.upgrade: %w", err)
		}
		for _, t := range ts {
			only = append(only, t.Name)
		}
	}
	var opts pkgmgr.InstallOptions
	if opts.SkipVerify, err = Bool(kw, "skip_verify", false); err != nil {
		return nil, fmt.Errorf("pkg.upgrade: %w", err)
	}
	mgr, err := m.refreshed(c, "pkg.upgrade", refresh)
	if err != nil {
		return nil, err
	}
	ctx := c.Context()
	before, err := mgr.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("pkg.upgrade: %w", err)
	}
	c.Logger().Info("upgrading packages", "backend", mgr.Name(), "dist", dist, "only", strings.Join(only, ","))
	upErr := mgr.Upgrade(ctx, dist, only, opts)
	after, err := mgr.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("pkg.upgrade: %w", err)
	}
	changes := pkgChanges(before.Installed, after.Installed)
	recordPkgChanges(c, changes, false)
	if upErr != nil {
		return nil, fmt.Errorf("pkg.upgrade: %w", upErr)
	}
	return changes, nil
}

func (m PkgModule) hold(c *Context, args []any, kwargs map[string]any) (any, error) {
	return m.setHold(c, "pkg.hold", args, kwargs, true)
}

func (m PkgModule) unhold(c *Context, args []any, kwargs map[string]any) (any, error) {
	return m.setHold(c, "pkg.unhold", args, kwargs, false)
}

// setHold holds or releases each package, reporting per package in
// Salt's shape; in test mode it only says what it would do.
func (m PkgModule) setHold(c *Context, fn string, args []any, kwargs map[string]any, hold bool) (any, error) {
	kw, targets, mgr, inv, err := m.namedPkgs(c, fn, args, kwargs)
	if err != nil {
		return nil, err
	}
	ctx := c.Context()
	test, _ := Bool(kw, "test", c.Test)
	out := map[string]any{}
	for _, t := range targets {
		n := t.Name
		ret := map[string]any{"name": n, "changes": map[string]any{}, "result": false, "comment": ""}
		out[n] = ret
		_, installed := inv.Installed[n]
		switch {
		case !installed && hold:
			ret["comment"] = fmt.Sprintf("Package %s not currently held.", n)
		case inv.Held[n] == hold:
			ret["result"] = true
			if hold {
				ret["comment"] = fmt.Sprintf("Package %s is already set to be held.", n)
			} else {
				ret["comment"] = fmt.Sprintf("Package %s is already set not to be held.", n)
			}
		case test:
			ret["result"] = nil
			if hold {
				ret["comment"] = fmt.Sprintf("Package %s is set to be held.", n)
			} else {
				ret["comment"] = fmt.Sprintf("Package %s is set not to be held.", n)
			}
		default:
			if err := mgr.Hold(ctx, []string{n}, hold); err != nil {
				return nil, fmt.Errorf("%s: %w", fn, err)
			}
			was, now := "install", "hold"
			ret["comment"] = fmt.Sprintf("Package %s is now being held.", n)
			if !hold {
				was, now = "hold", "install"
				ret["comment"] = fmt.Sprintf("Package %s is no longer being held.", n)
			}
			ret["result"] = true
			ret["changes"] = map[string]any{"old": was, "new": now}
			c.Record(fn, map[string]any{"name": n, "old": was, "new": now})
		}
	}
	return out, nil
}
