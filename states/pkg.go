package states

import (
	"fmt"
	"sort"
	"strings"

	"github.com/brine-cm/brine/pkg/backend/pkgmgr"
	"github.com/brine-cm/brine/pkg/execmod"
)

// Pkg is Salt's pkg state module: packages installed (optionally at a
// version), kept at the latest version, removed or purged, or the whole
// system kept up to date. It calls the
// pkg execution module only, never a package manager, so the same SLS
// converges every platform a pkg backend exists for; comments and changes
// follow Salt's so tools reading state output keep working.
func Pkg() *Module {
	common := []string{"version", "pkgs", "refresh", "ignore_epoch", "fromrepo", "install_recommends", "skip_verify", "hold"}
	return &Module{
		Name: "pkg",
		Funcs: map[string]Func{
			"installed": pkgInstalled,
			"latest":    pkgLatest,
			"removed":   func(r *Request) Result { return pkgUninstall(r, false) },
			"purged":    func(r *Request) Result { return pkgUninstall(r, true) },
			"uptodate":  pkgUptodate,
		},
		Args: map[string][]string{
			"installed": append([]string{"skip_suggestions"}, common...),
			"latest":    {"pkgs", "refresh", "fromrepo", "install_recommends", "skip_verify"},
			"removed":   {"version", "pkgs", "ignore_epoch"},
			"purged":    {"version", "pkgs", "ignore_epoch"},
			"uptodate":  {"refresh", "pkgs", "dist_upgrade", "skip_verify"},
		},
	}
}

func pkgResult(name string, ok *bool, changes map[string]any, comment string) Result {
	if changes == nil {
		changes = map[string]any{}
	}
	return Result{Result: ok, Changes: changes, Comment: comment, Name: name}
}

func pkgTrue() *bool  { b := true; return &b }
func pkgFalse() *bool { b := false; return &b }

// pkgList calls pkg.list_pkgs (removed=True for packages whose
// configuration remains) and flattens the result to name -> version.
func pkgList(ec *execmod.Context, removed bool) (map[string]string, error) {
	kw := map[string]any{}
	if removed {
		kw["removed"] = true
	}
	out, err := ec.Call("pkg.list_pkgs", nil, kw)
	if err != nil {
		return nil, err
	}
	m, ok := out.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("pkg.list_pkgs returned %T", out)
	}
	res := make(map[string]string, len(m))
	for k, v := range m {
		switch x := v.(type) {
		case []any:
			if len(x) > 0 {
				res[k], _ = execmod.ToString(x[len(x)-1])
			}
		default:
			res[k], _ = execmod.ToString(v)
		}
	}
	return res, nil
}

// pkgStrings calls a pkg function answering a string for one name and a
// map for several (version, latest_version) and returns name -> string.
func pkgStrings(ec *execmod.Context, fn string, names []string, kw map[string]any) (map[string]string, error) {
	args := make([]any, len(names))
	for i, n := range names {
		args[i] = n
	}
	out, err := ec.Call(fn, args, kw)
	if err != nil {
		return nil, err
	}
	res := map[string]string{}
	switch x := out.(type) {
	case string:
		if len(names) == 1 {
			res[names[0]] = x
		}
	case map[string]any:
		for k, v := range x {
			res[k], _ = execmod.ToString(v)
		}
	default:
		return nil, fmt.Errorf("%s returned %T", fn, out)
	}
	return res, nil
}

// pkgSatisfies reports whether an installed version meets a Salt version
// specification; ignore_epoch=False makes the epoch count even when the
// wanted version has none.
func pkgSatisfies(installed, spec string, ignoreEpoch *bool) bool {
	conds, err := pkgmgr.ParseSpec(spec)
	if err != nil {
		return false
	}
	if ignoreEpoch != nil && !*ignoreEpoch {
		for _, c := range conds {
			if c.Op == "==" && !strings.Contains(c.Version, ":") && strings.Contains(installed, ":") {
				return false
			}
		}
	}
	return pkgmgr.Satisfies(installed, conds, pkgmgr.CompareDebian)
}

// pkgDesired formats a target as Salt's comments do: "name=1.2", "name>=1".
func pkgDesired(t execmod.PkgTarget) string {
	switch {
	case t.Version == "":
		return t.Name
	case strings.HasPrefix(t.Version, "<"), strings.HasPrefix(t.Version, ">"), strings.HasPrefix(t.Version, "="), strings.HasPrefix(t.Version, "!"):
		return t.Name + t.Version
	}
	return t.Name + "=" + t.Version
}

func pkgTargetNames(ts []execmod.PkgTarget) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Name
	}
	return out
}

func pkgDesiredList(ts []execmod.PkgTarget) string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = pkgDesired(t)
	}
	return strings.Join(out, ", ")
}

// pkgArgs reads the common arguments of the pkg states.
type pkgArgs struct {
	targets     []execmod.PkgTarget
	usedPkgs    bool
	refresh     bool
	ignoreEpoch *bool
}

func pkgReadArgs(r *Request) (pkgArgs, string) {
	var a pkgArgs
	a.usedPkgs = r.Args["pkgs"] != nil
	ts, err := execmod.PkgTargets(r.Name, r.Args["version"], r.Args["pkgs"])
	if err != nil {
		if a.usedPkgs {
			return a, fmt.Sprintf("Invalidly formatted 'pkgs' parameter: %v", err)
		}
		return a, err.Error()
	}
	a.targets = ts
	if a.refresh, err = execmod.Bool(r.Args, "refresh", false); err != nil {
		return a, err.Error()
	}
	if execmod.Has(r.Args, "ignore_epoch") {
		b, err := execmod.Bool(r.Args, "ignore_epoch", true)
		if err != nil {
			return a, err.Error()
		}
		a.ignoreEpoch = &b
	}
	return a, ""
}

// pkgInstallKwargs carries the install options of a state to pkg.install.
func pkgInstallKwargs(r *Request, pkgs []any) map[string]any {
	kw := map[string]any{"pkgs": pkgs}
	for _, k := range []string{"fromrepo", "install_recommends", "skip_verify"} {
		if execmod.Has(r.Args, k) {
			kw[k] = r.Args[k]
		}
	}
	return kw
}

// pkgHoldResults runs pkg.hold or pkg.unhold (per the hold argument) on
// the packages and returns the per-package results that changed
// something, that did not, and that failed, in package order.
func pkgHoldResults(r *Request, names []string) (modified, unchanged, failed []map[string]any, err error) {
	hold, err := execmod.Bool(r.Args, "hold", false)
	if err != nil {
		return nil, nil, nil, err
	}
	fn := "pkg.unhold"
	if hold {
		fn = "pkg.hold"
	}
	pk := make([]any, len(names))
	for i, n := range names {
		pk[i] = n
	}
	out, err := r.Exec.Call(fn, nil, map[string]any{"pkgs": pk, "test": r.Test()})
	if err != nil {
		return nil, nil, nil, err
	}
	m, _ := out.(map[string]any)
	for _, n := range names {
		ret, _ := m[n].(map[string]any)
		if ret == nil {
			continue
		}
		ch, _ := ret["changes"].(map[string]any)
		ok, _ := ret["result"].(bool)
		switch {
		case len(ch) > 0:
			modified = append(modified, ret)
		case ok:
			unchanged = append(unchanged, ret)
		default:
			failed = append(failed, ret)
		}
	}
	return modified, unchanged, failed, nil
}

// pkgHoldAlreadyInstalled folds hold results into an "already installed"
// return the way Salt does (".\n" + each package's comment).
func pkgHoldAlreadyInstalled(r *Request, res Result, names []string) Result {
	if !execmod.Has(r.Args, "hold") {
		return res
	}
	modified, unchanged, failed, err := pkgHoldResults(r, names)
	if err != nil {
		return pkgResult(r.Name, pkgFalse(), nil, err.Error())
	}
	if res.Changes == nil {
		res.Changes = map[string]any{}
	}
	fold := func(l []map[string]any, withChanges bool) {
		for _, h := range l {
			res.Comment += ".\n" + fmt.Sprint(h["comment"])
			switch v := h["result"].(type) {
			case bool:
				res.Result = &v
			default:
				res.Result = nil
			}
			if withChanges {
				res.Changes[fmt.Sprint(h["name"])] = h["changes"]
			}
		}
	}
	fold(modified, true)
	fold(unchanged, false)
	fold(failed, false)
	return res
}

// pkgInstalled ensures packages are installed, at the wanted version when
// one is given.
func pkgInstalled(r *Request) Result {
	ec := r.Exec
	a, bad := pkgReadArgs(r)
	if bad != "" {
		return pkgResult(r.Name, pkgFalse(), nil, bad)
	}
	test := r.Test()
	if a.refresh && !test {
		if _, err := ec.Call("pkg.refresh_db", nil, nil); err != nil {
			return pkgResult(r.Name, pkgFalse(), nil, fmt.Sprintf("An error was encountered while refreshing the package database: %v", err))
		}
	}
	cur, err := pkgList(ec, false)
	if err != nil {
		return pkgResult(r.Name, pkgFalse(), nil, err.Error())
	}
	names := pkgTargetNames(a.targets)
	if !a.usedPkgs && len(a.targets) == 1 {
		t := a.targets[0]
		if v, ok := cur[t.Name]; ok {
			if t.Version == "" {
				return pkgHoldAlreadyInstalled(r, pkgResult(r.Name, pkgTrue(), nil, fmt.Sprintf("Package %s is already installed", t.Name)), names)
			}
			if t.Version != "latest" && pkgSatisfies(v, t.Version, a.ignoreEpoch) {
				return pkgHoldAlreadyInstalled(r, pkgResult(r.Name, pkgTrue(), nil, fmt.Sprintf("Version %s of package '%s' is already installed", t.Version, t.Name)), names)
			}
		}
	}

	// What the sources would install, for "latest", the existence check
	// and test-mode changes.
	avail, err := pkgStrings(ec, "pkg.latest_version", names, map[string]any{"refresh": false})
	if err != nil {
		return pkgResult(r.Name, pkgFalse(), nil, err.Error())
	}

	var todo []execmod.PkgTarget
	versionSpec := false
	var notFound []string
	for i, t := range a.targets {
		cv, installed := cur[t.Name]
		if t.Version == "latest" {
			if avail[t.Name] == "" && installed {
				a.targets[i].Version = cv
				continue
			}
			if avail[t.Name] == "" {
				notFound = append(notFound, t.Name)
				continue
			}
			a.targets[i].Version = avail[t.Name]
			todo = append(todo, a.targets[i])
			continue
		}
		if !installed {
			if avail[t.Name] == "" {
				notFound = append(notFound, t.Name)
				continue
			}
			todo = append(todo, t)
			continue
		}
		if t.Version == "" {
			continue
		}
		versionSpec = true
		if !pkgSatisfies(cv, t.Version, a.ignoreEpoch) {
			todo = append(todo, t)
		}
	}
	skipSuggest, _ := execmod.Bool(r.Args, "skip_suggestions", false)
	if len(notFound) > 0 && !skipSuggest {
		sort.Strings(notFound)
		return pkgResult(r.Name, pkgFalse(), nil, "The following package(s) were not found, and no possible matches were found in the package db: "+strings.Join(notFound, ", "))
	}
	if len(notFound) > 0 {
		for _, n := range notFound {
			for _, t := range a.targets {
				if t.Name == n {
					todo = append(todo, t)
				}
			}
		}
	}
	if len(todo) == 0 {
		msg := "All specified packages are already installed"
		if versionSpec {
			msg += " and are at the desired version"
		}
		return pkgHoldAlreadyInstalled(r, pkgResult(r.Name, pkgTrue(), nil, msg), names)
	}

	if test {
		changes := map[string]any{}
		repo := map[string][]string{}
		var explicit []string
		for _, t := range todo {
			if t.Version != "" {
				explicit = append(explicit, t.Name)
			}
		}
		if len(explicit) > 0 {
			repo = pkgRepoVersions(ec, explicit)
		}
		for _, t := range todo {
			newV := avail[t.Name]
			if t.Version != "" {
				newV = ""
				if conds, err := pkgmgr.ParseSpec(t.Version); err == nil {
					newV = pkgmgr.Resolve(repo[t.Name], conds, pkgmgr.CompareDebian)
				}
			}
			if newV == "" {
				newV = "installed"
			}
			changes[t.Name] = map[string]any{"new": newV, "old": cur[t.Name]}
		}
		return pkgResult(r.Name, nil, changes, "The following packages would be installed/updated: "+strings.Join(pkgTargetNames(todo), ", "))
	}

	pkgsArg := make([]any, len(todo))
	for i, t := range todo {
		if t.Version == "" {
			pkgsArg[i] = t.Name
		} else {
			pkgsArg[i] = map[string]any{t.Name: t.Version}
		}
	}
	out, err := ec.Call("pkg.install", nil, pkgInstallKwargs(r, pkgsArg))
	if err != nil {
		return pkgResult(r.Name, pkgFalse(), nil, fmt.Sprintf("An error was encountered while installing package(s): %v", err))
	}
	changes, _ := out.(map[string]any)

	now, err := pkgList(ec, false)
	if err != nil {
		return pkgResult(r.Name, pkgFalse(), changes, err.Error())
	}
	inTodo := map[string]bool{}
	for _, t := range todo {
		inTodo[t.Name] = true
	}
	var modified, notModified, failed []execmod.PkgTarget
	for _, t := range a.targets {
		v, ok := now[t.Name]
		good := ok && (t.Version == "" || pkgSatisfies(v, t.Version, a.ignoreEpoch))
		switch {
		case good && inTodo[t.Name]:
			modified = append(modified, t)
		case good:
			notModified = append(notModified, t)
		case inTodo[t.Name]:
			failed = append(failed, t)
		}
	}
	var comment []string
	if len(modified) > 0 {
		summary := pkgDesiredList(modified)
		if len(summary) < 20 {
			comment = append(comment, "The following packages were installed/updated: "+summary)
		} else if len(modified) > 1 {
			comment = append(comment, fmt.Sprintf("%d targeted packages were installed/updated.", len(modified)))
		} else {
			comment = append(comment, "1 targeted package was installed/updated.")
		}
	}
	if len(notModified) > 0 {
		if len(notModified) <= 20 {
			comment = append(comment, "The following packages were already installed: "+pkgDesiredList(notModified))
		} else {
			comment = append(comment, fmt.Sprintf("%d targeted packages were already installed", len(notModified)))
		}
	}
	result := pkgTrue()
	if execmod.Has(r.Args, "hold") {
		modHold, unchangedHold, failedHold, err := pkgHoldResults(r, names)
		if err != nil {
			comment = append(comment, err.Error())
			return pkgResult(r.Name, pkgFalse(), changes, strings.Join(comment, "\n"))
		}
		if changes == nil {
			changes = map[string]any{}
		}
		for _, h := range modHold {
			n := fmt.Sprint(h["name"])
			comment = append(comment, fmt.Sprint(h["comment"]))
			hc, _ := h["changes"].(map[string]any)
			if cur, ok := changes[n].(map[string]any); ok {
				for _, k := range []string{"new", "old"} {
					sv, _ := execmod.ToString(cur[k])
					if sv != "" {
						sv += "\n"
					}
					cur[k] = sv + fmt.Sprint(hc[k])
				}
			} else {
				changes[n] = map[string]any{"new": fmt.Sprint(hc["new"])}
			}
		}
		for _, h := range unchangedHold {
			comment = append(comment, fmt.Sprint(h["comment"]))
		}
		for _, h := range failedHold {
			comment = append(comment, fmt.Sprint(h["comment"]))
			result = pkgFalse()
		}
	}
	if len(failed) > 0 {
		comment = append([]string{"The following packages failed to install/update: " + pkgDesiredList(failed)}, comment...)
		result = pkgFalse()
	}
	return pkgResult(r.Name, result, changes, strings.Join(comment, "\n"))
}

// pkgRepoVersions asks pkg.list_repo_pkgs for the versions on offer.
func pkgRepoVersions(ec *execmod.Context, names []string) map[string][]string {
	args := make([]any, len(names))
	for i, n := range names {
		args[i] = n
	}
	res := map[string][]string{}
	out, err := ec.Call("pkg.list_repo_pkgs", args, nil)
	if err != nil {
		return res
	}
	m, _ := out.(map[string]any)
	for k, v := range m {
		l, _ := execmod.ToStrList(k, v)
		res[k] = l
	}
	return res
}

// pkgLatest ensures packages are at the newest version the sources offer.
func pkgLatest(r *Request) Result {
	ec := r.Exec
	a, bad := pkgReadArgs(r)
	if bad != "" {
		return pkgResult(r.Name, pkgFalse(), nil, bad)
	}
	test := r.Test()
	names := pkgTargetNames(a.targets)
	avail, err := pkgStrings(ec, "pkg.latest_version", names, map[string]any{"refresh": a.refresh && !test})
	if err != nil {
		return pkgResult(r.Name, pkgFalse(), nil, fmt.Sprintf("An error was encountered while checking the newest available version of package(s): %v", err))
	}
	cur, err := pkgStrings(ec, "pkg.version", names, nil)
	if err != nil {
		return pkgResult(r.Name, pkgFalse(), nil, err.Error())
	}
	targets := map[string]string{}
	var problems []string
	for _, n := range names {
		if avail[n] == "" {
			if cur[n] == "" {
				problems = append(problems, fmt.Sprintf("No information found for '%s'.", n))
			}
			continue
		}
		targets[n] = avail[n]
	}
	if len(problems) > 0 {
		return pkgResult(r.Name, pkgFalse(), nil, strings.Join(problems, " "))
	}
	if len(targets) == 0 {
		sorted := append([]string(nil), names...)
		sort.Strings(sorted)
		switch {
		case len(names) > 10:
			return pkgResult(r.Name, pkgTrue(), nil, fmt.Sprintf("All %d packages are up-to-date.", len(names)))
		case len(names) > 1:
			return pkgResult(r.Name, pkgTrue(), nil, fmt.Sprintf("All packages are up-to-date (%s).", strings.Join(sorted, ", ")))
		}
		return pkgResult(r.Name, pkgTrue(), nil, fmt.Sprintf("Package %s is already up-to-date", names[0]))
	}
	tnames := make([]string, 0, len(targets))
	for n := range targets {
		tnames = append(tnames, n)
	}
	sort.Strings(tnames)
	var upToDate []string
	if a.usedPkgs {
		for _, n := range names {
			if _, ok := targets[n]; !ok {
				upToDate = append(upToDate, n)
			}
		}
		sort.Strings(upToDate)
	}
	if test {
		comments := []string{"The following packages would be installed/upgraded: " + strings.Join(tnames, ", ")}
		if len(upToDate) > 0 {
			if len(upToDate) <= 10 {
				var l []string
				for _, n := range upToDate {
					l = append(l, fmt.Sprintf("%s (%s)", n, cur[n]))
				}
				comments = append(comments, "The following packages are already up-to-date: "+strings.Join(l, ", "))
			} else {
				comments = append(comments, fmt.Sprintf("%d packages are already up-to-date", len(upToDate)))
			}
		}
		changes := map[string]any{}
		for _, n := range tnames {
			changes[n] = map[string]any{"new": targets[n], "old": cur[n]}
		}
		return pkgResult(r.Name, nil, changes, strings.Join(comments, "\n"))
	}
	pkgsArg := make([]any, len(tnames))
	for i, n := range tnames {
		pkgsArg[i] = n
	}
	out, err := ec.Call("pkg.install", nil, pkgInstallKwargs(r, pkgsArg))
	if err != nil {
		return pkgResult(r.Name, pkgFalse(), nil, fmt.Sprintf("An error was encountered while installing package(s): %v", err))
	}
	changes, _ := out.(map[string]any)
	if len(changes) == 0 {
		var comment string
		switch {
		case len(targets) > 10:
			comment = fmt.Sprintf("%d targeted packages failed to update. See debug log for details.", len(targets))
		case len(targets) > 1:
			comment = fmt.Sprintf("The following targeted packages failed to update. See debug log for details: (%s).", strings.Join(tnames, ", "))
		default:
			comment = fmt.Sprintf("Package %s failed to update.", tnames[0])
		}
		if len(upToDate) > 0 {
			comment += " The following packages were already up-to-date: " + strings.Join(upToDate, ", ")
		}
		return pkgResult(r.Name, pkgFalse(), changes, comment)
	}
	var failed, ok []string
	for _, n := range tnames {
		ch, _ := changes[n].(map[string]any)
		if nv, _ := execmod.ToString(ch["new"]); ch == nil || nv != targets[n] {
			failed = append(failed, n)
		} else {
			ok = append(ok, n)
		}
	}
	var comments []string
	if len(failed) > 0 {
		comments = append(comments, "The following packages failed to update: "+strings.Join(failed, ", "))
	}
	if len(ok) > 0 {
		comments = append(comments, "The following packages were successfully installed/upgraded: "+strings.Join(ok, ", "))
	}
	if len(upToDate) > 0 {
		comments = append(comments, "The following packages were already up-to-date: "+strings.Join(upToDate, ", "))
	}
	res := pkgTrue()
	if len(failed) > 0 {
		res = pkgFalse()
	}
	return pkgResult(r.Name, res, changes, strings.Join(comments, " "))
}

// pkgUninstall implements pkg.removed and pkg.purged.
func pkgUninstall(r *Request, purge bool) Result {
	ec := r.Exec
	action := "remove"
	if purge {
		action = "purge"
	}
	a, bad := pkgReadArgs(r)
	if bad != "" {
		return pkgResult(r.Name, pkgFalse(), nil, bad)
	}
	cur, err := pkgList(ec, false)
	if err != nil {
		return pkgResult(r.Name, pkgFalse(), nil, err.Error())
	}
	var targets []string
	versionSpec := false
	for _, t := range a.targets {
		v, ok := cur[t.Name]
		if !ok {
			continue
		}
		if t.Version == "" {
			targets = append(targets, t.Name)
			continue
		}
		versionSpec = true
		if pkgSatisfies(v, t.Version, a.ignoreEpoch) {
			targets = append(targets, t.Name)
		}
	}
	if len(targets) == 0 && !purge {
		msg := "All specified packages are already absent"
		if versionSpec {
			msg = "All specified packages (matching specified versions) are already absent"
		}
		return pkgResult(r.Name, pkgTrue(), nil, msg)
	}
	var removedBefore map[string]string
	if purge {
		if removedBefore, err = pkgList(ec, true); err != nil {
			return pkgResult(r.Name, pkgFalse(), nil, err.Error())
		}
		for _, t := range a.targets {
			if _, ok := removedBefore[t.Name]; ok {
				targets = append(targets, t.Name)
			}
		}
	}
	sort.Strings(targets)
	if len(targets) == 0 {
		return pkgResult(r.Name, pkgTrue(), nil, "None of the targeted packages are installed or partially installed")
	}
	if r.Test() {
		changes := map[string]any{}
		for _, n := range targets {
			changes[n] = map[string]any{"new": action + "d", "old": ""}
		}
		return pkgResult(r.Name, nil, changes, fmt.Sprintf("The following packages will be %sd: %s.", action, strings.Join(targets, ", ")))
	}
	pkgsArg := make([]any, len(targets))
	for i, n := range targets {
		pkgsArg[i] = n
	}
	out, err := ec.Call("pkg."+action, nil, map[string]any{"pkgs": pkgsArg})
	if err != nil {
		verb := "removing"
		if purge {
			verb = "purging"
		}
		return pkgResult(r.Name, pkgFalse(), nil, fmt.Sprintf("An error was encountered while %s package(s): %v", verb, err))
	}
	changes, _ := out.(map[string]any)
	now, err := pkgList(ec, false)
	if err != nil {
		return pkgResult(r.Name, pkgFalse(), changes, err.Error())
	}
	var failed []string
	for _, t := range a.targets {
		if _, ok := now[t.Name]; ok && pkgContains(targets, t.Name) {
			failed = append(failed, t.Name)
		}
	}
	if purge {
		left, err := pkgList(ec, true)
		if err != nil {
			return pkgResult(r.Name, pkgFalse(), changes, err.Error())
		}
		for _, t := range a.targets {
			if _, ok := left[t.Name]; ok {
				failed = append(failed, t.Name)
			}
		}
	}
	sort.Strings(failed)
	if len(failed) > 0 {
		return pkgResult(r.Name, pkgFalse(), changes, fmt.Sprintf("The following packages failed to %s: %s.", action, strings.Join(failed, ", ")))
	}
	var notInstalled []string
	for _, t := range a.targets {
		if !pkgContains(targets, t.Name) {
			notInstalled = append(notInstalled, t.Name)
		}
	}
	sort.Strings(notInstalled)
	if len(notInstalled) > 0 {
		return pkgResult(r.Name, pkgTrue(), changes, fmt.Sprintf("The following packages were not installed: %s The following packages were %sd: %s.",
			strings.Join(notInstalled, ", "), action, strings.Join(targets, ", ")))
	}
	return pkgResult(r.Name, pkgTrue(), changes, fmt.Sprintf("All targeted packages were %sd.", action))
}

func pkgContains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// pkgUptodate ensures no package has an upgrade pending (or none of pkgs).
func pkgUptodate(r *Request) Result {
	ec := r.Exec
	refresh, err := execmod.Bool(r.Args, "refresh", false)
	if err != nil {
		return pkgResult(r.Name, pkgFalse(), nil, err.Error())
	}
	dist, err := execmod.Bool(r.Args, "dist_upgrade", false)
	if err != nil {
		return pkgResult(r.Name, pkgFalse(), nil, err.Error())
	}
	var only []string
	if r.Args["pkgs"] != nil {
		ts, err := execmod.PkgTargets("", nil, r.Args["pkgs"])
		if err != nil {
			return pkgResult(r.Name, pkgFalse(), nil, fmt.Sprintf("Invalidly formatted 'pkgs' parameter: %v", err))
		}
		only = pkgTargetNames(ts)
	}
	out, err := ec.Call("pkg.list_upgrades", nil, map[string]any{"refresh": refresh && !r.Test(), "dist_upgrade": dist})
	if err != nil {
		return pkgResult(r.Name, pkgFalse(), nil, err.Error())
	}
	ups, _ := out.(map[string]any)
	if only != nil {
		kept := map[string]any{}
		for _, n := range only {
			if v, ok := ups[n]; ok {
				kept[n] = v
			}
		}
		ups = kept
	}
	if len(ups) == 0 {
		return pkgResult(r.Name, pkgTrue(), nil, "System is already up-to-date")
	}
	names := make([]string, 0, len(ups))
	for n := range ups {
		names = append(names, n)
	}
	sort.Strings(names)
	cur, err := pkgStrings(ec, "pkg.version", names, nil)
	if err != nil {
		return pkgResult(r.Name, pkgFalse(), nil, err.Error())
	}
	if r.Test() {
		expected := map[string]any{}
		for _, n := range names {
			expected[n] = map[string]any{"new": ups[n], "old": cur[n]}
		}
		return pkgResult(r.Name, nil, expected, "System update will be performed")
	}
	kw := map[string]any{"refresh": false, "dist_upgrade": dist}
	if only != nil {
		pk := make([]any, len(only))
		for i, n := range only {
			pk[i] = n
		}
		kw["pkgs"] = pk
	}
	if execmod.Has(r.Args, "skip_verify") {
		kw["skip_verify"] = r.Args["skip_verify"]
	}
	res, err := ec.Call("pkg.upgrade", nil, kw)
	if err != nil {
		return pkgResult(r.Name, pkgFalse(), nil, fmt.Sprintf("An error was encountered while updating packages: %v", err))
	}
	changes, _ := res.(map[string]any)
	var missing []string
	if only != nil {
		for _, n := range names {
			if _, ok := changes[n]; !ok {
				missing = append(missing, n)
			}
		}
	}
	if len(missing) > 0 {
		return pkgResult(r.Name, pkgFalse(), changes, "The following package(s) failed to update: "+strings.Join(missing, ", "))
	}
	return pkgResult(r.Name, pkgTrue(), changes, "Upgrade ran successfully")
}
