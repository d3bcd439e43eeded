package states

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// fileDirectory ensures a directory exists with the given owner and mode,
// optionally applying them recursively and removing unmanaged entries.
//
// clean follows Salt in a simplified form: every entry below the
// directory is removed except the paths named by this state's file
// requisites (`require`, which is where a file state's `require_in`
// pointing at this directory ends up) and their parent directories, and
// entries matching exclude_pat.
func fileDirectory(r *Request) Result {
	name := r.Name
	out := newOutcome(name)
	a := newModArgs("file.directory", r)
	if !filepath.IsAbs(name) {
		return out.failed(fmt.Sprintf("Specified file %s is not an absolute path", name))
	}
	name = filepath.Clean(name)
	makedirs := a.boolean("makedirs", false)
	clean := a.boolean("clean", false)
	force := a.boolean("force", false)
	allowSymlink := a.boolean("allow_symlink", true)
	backupname := a.str("backupname", "")
	excludePat := a.str("exclude_pat", "")
	dirModeStr, dirMode, haveDirMode := a.mode("dir_mode")
	fileModeStr, fileMode, haveFileMode := a.mode("file_mode")
	recurse := a.strList("recurse")
	o, oerr := resolveOwner(a.str("user", ""), a.str("group", ""))
	if a.err != nil {
		return argFail(name, a.err)
	}
	if oerr != nil {
		return out.failed(oerr.Error())
	}
	rec := map[string]bool{}
	for _, x := range recurse {
		switch x {
		case "user", "group", "mode", "ignore_files", "ignore_dirs", "silent":
			rec[x] = true
		default:
			return argFail(name, fmt.Errorf("file.directory: argument \"recurse\": unknown option %q (want user, group, mode, ignore_files, ignore_dirs, silent)", x))
		}
	}
	var exclude func(string) bool
	if excludePat != "" {
		if strings.HasPrefix(excludePat, "E@") {
			re, err := regexp.Compile(excludePat[2:])
			if err != nil {
				return argFail(name, fmt.Errorf("file.directory: argument \"exclude_pat\": %w", err))
			}
			exclude = func(p string) bool { return re.MatchString(p) }
		} else {
			exclude = func(p string) bool {
				ok, _ := filepath.Match(excludePat, filepath.Base(p))
				return ok
			}
		}
	}

	fi, err := os.Lstat(name)
	exists := err == nil
	if exists && fi.Mode()&fs.ModeSymlink != 0 {
		if t, err := os.Stat(name); err == nil && t.IsDir() && allowSymlink {
			fi = t
		} else if !force {
			return out.failed(fmt.Sprintf("Specified location %s exists and is a symlink", name))
		}
	}
	replaceExisting := exists && !fi.IsDir()
	if replaceExisting && !force && fi.Mode()&fs.ModeSymlink == 0 {
		return out.failed(fmt.Sprintf("Specified location %s exists and is a file", name))
	}
	if !exists || replaceExisting {
		if _, err := os.Stat(filepath.Dir(name)); err != nil && !makedirs {
			return out.failed(fmt.Sprintf("No directory to create %s in", name))
		}
	}

	// Work out every change first, so test mode and the real run agree.
	type change struct {
		path string
		ch   map[string]any
		dir  bool
	}
	var pending []change
	if exists && !replaceExisting {
		if ch := permChanges(fi, o, dirModeStr, dirMode, haveDirMode); len(ch) > 0 {
			pending = append(pending, change{name, ch, true})
		}
	}
	var removals []string
	if exists && !replaceExisting && (len(rec) > 0 || clean) {
		keep := keepPaths(r, name)
		_ = filepath.WalkDir(name, func(p string, d fs.DirEntry, err error) error {
			if err != nil || p == name {
				return nil
			}
			if clean && !keep[p] && (exclude == nil || !exclude(p)) && !keepsChild(keep, p) {
				removals = append(removals, p)
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if len(rec) == 0 {
				return nil
			}
			info, err := d.Info()
			if err != nil || info.Mode()&fs.ModeSymlink != 0 {
				return nil
			}
			ro := owner{uid: -1, gid: -1}
			if rec["user"] {
				ro.user, ro.uid = o.user, o.uid
			}
			if rec["group"] {
				ro.group, ro.gid = o.group, o.gid
			}
			if d.IsDir() {
				if rec["ignore_dirs"] {
					return nil
				}
				if ch := permChanges(info, ro, dirModeStr, dirMode, haveDirMode && rec["mode"]); len(ch) > 0 {
					pending = append(pending, change{p, ch, true})
				}
				return nil
			}
			if rec["ignore_files"] {
				return nil
			}
			if ch := permChanges(info, ro, fileModeStr, fileMode, haveFileMode && rec["mode"]); len(ch) > 0 {
				pending = append(pending, change{p, ch, false})
			}
			return nil
		})
	}

	if r.Test() {
		var lines []string
		if !exists || replaceExisting {
			out.changes[name] = map[string]any{"directory": "new"}
			lines = append(lines, name+": directory - new")
		}
		for _, c := range pending {
			out.changes[c.path] = c.ch
			for _, k := range sortedMapKeys(c.ch) {
				lines = append(lines, fmt.Sprintf("%s: %s - %v", c.path, k, c.ch[k]))
			}
		}
		for _, p := range removals {
			out.changes[p] = map[string]any{"removed": "Removed due to clean"}
			lines = append(lines, p+": removed - Removed due to clean")
		}
		if len(out.changes) == 0 {
			return out.ok(fmt.Sprintf("The directory %s is in the correct state", name))
		}
		return out.pending("The following files will be changed:\n" + strings.Join(lines, "\n") + "\n")
	}

	if replaceExisting {
		if backupname != "" {
			if err := os.Rename(name, backupname); err != nil {
				return out.failed(fmt.Sprintf("Unable to move %s to %s: %v", name, backupname, err))
			}
		} else if err := os.Remove(name); err != nil {
			return out.failed(fmt.Sprintf("Unable to remove %s: %v", name, err))
		}
		out.changes["forced"] = "File was forcibly replaced"
	}
	if !exists || replaceExisting {
		if err := makeParents(name, o, dirMode, haveDirMode); err != nil {
			return out.failed(fmt.Sprintf("Failed to create directory %s: %v", name, err))
		}
		out.changes[name] = "New Dir"
		r.Exec.Record("file.changed", map[string]any{"path": name, "before_sha256": "", "after_sha256": "", "diff_bytes": 0, "kind": "directory"})
	}
	for _, c := range pending {
		m, have := fileMode, haveFileMode
		if c.dir {
			m, have = dirMode, haveDirMode
		}
		_, hasMode := c.ch["mode"]
		co := owner{uid: -1, gid: -1}
		if _, ok := c.ch["user"]; ok {
			co.uid = o.uid
		}
		if _, ok := c.ch["group"]; ok {
			co.gid = o.gid
		}
		if err := applyPerms(c.path, co, m, have && hasMode, false); err != nil {
			return out.failed(err.Error())
		}
		if c.path == name {
			for k, v := range c.ch {
				out.changes[k] = v
			}
		} else {
			out.changes[c.path] = c.ch
		}
	}
	if len(removals) > 0 {
		sort.Strings(removals)
		for _, p := range removals {
			if err := os.RemoveAll(p); err != nil {
				return out.failed(fmt.Sprintf("Unable to remove %s: %v", p, err))
			}
			r.Exec.Record("file.changed", map[string]any{"path": p, "before_sha256": "", "after_sha256": "", "diff_bytes": 0, "kind": "removed"})
		}
		out.changes["removed"] = removals
	}
	if len(out.changes) > 0 {
		return out.ok(fmt.Sprintf("Directory %s updated", name))
	}
	return out.ok(fmt.Sprintf("Directory %s is in the correct state", name))
}

// keepPaths lists the paths a clean must keep: the names of the file
// states this one requires (Salt keeps what a `require`d or `require_in`'d
// file state manages) that lie below dir, and their parents.
func keepPaths(r *Request, dir string) map[string]bool {
	keep := map[string]bool{}
	var add func(v any)
	add = func(v any) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				add(e)
			}
		case map[string]any:
			for mod, t := range x {
				if mod != "file" && mod != "sls" {
					if mod != "id" {
						continue
					}
				}
				if s, ok := t.(string); ok && filepath.IsAbs(s) {
					p := filepath.Clean(s)
					for p != dir && strings.HasPrefix(p, dir+"/") {
						keep[p] = true
						p = filepath.Dir(p)
					}
				}
			}
		}
	}
	add(r.Args["require"])
	return keep
}

// keepsChild reports whether a kept path lies below dir p.
func keepsChild(keep map[string]bool, p string) bool {
	for k := range keep {
		if strings.HasPrefix(k, p+"/") {
			return true
		}
	}
	return false
}

func sortedMapKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// fileAbsent removes a file, link or directory tree.
func fileAbsent(r *Request) Result {
	name := r.Name
	out := newOutcome(name)
	if !filepath.IsAbs(name) {
		return out.failed(fmt.Sprintf("Specified file %s is not an absolute path", name))
	}
	name = filepath.Clean(name)
	if name == "/" {
		return out.failed(`Refusing to make "/" absent`)
	}
	fi, err := os.Lstat(name)
	if err != nil {
		return out.ok(fmt.Sprintf("File %s is not present", name))
	}
	isDir := fi.IsDir()
	if r.Test() {
		out.changes["removed"] = name
		if isDir {
			return out.pending(fmt.Sprintf("Directory %s is set for removal", name))
		}
		return out.pending(fmt.Sprintf("File %s is set for removal", name))
	}
	var before []byte
	if fi.Mode().IsRegular() {
		before, _ = os.ReadFile(name)
	}
	if isDir {
		if err := os.RemoveAll(name); err != nil {
			return out.failed(fmt.Sprintf("Failed to remove directory %s: %v", name, err))
		}
	} else if err := os.Remove(name); err != nil {
		return out.failed(fmt.Sprintf("Failed to remove file %s: %v", name, err))
	}
	out.changes["removed"] = name
	recordFile(r.Exec, name, before, nil, true, "")
	if isDir {
		return out.ok(fmt.Sprintf("Removed directory %s", name))
	}
	return out.ok(fmt.Sprintf("Removed file %s", name))
}

// symlinkOwnerNames gives the owner Salt names in file.symlink's
// comment: the requested user and group, else the user running the
// state and that user's primary group, as Salt defaults them.
func symlinkOwnerNames(o owner) (string, string) {
	u, g := o.user, o.group
	if u == "" || g == "" {
		cur, err := user.LookupId(strconv.Itoa(os.Getuid()))
		if err != nil {
			return u, g
		}
		if u == "" {
			u = cur.Username
		}
		if g == "" {
			gid := cur.Gid
			if o.user != "" {
				if named, err := user.Lookup(o.user); err == nil {
					gid = named.Gid
				}
			}
			g = gid
			if grp, err := user.LookupGroupId(gid); err == nil {
				g = grp.Name
			}
		}
	}
	return u, g
}

// fileSymlink ensures name is a symlink pointing at target.
func fileSymlink(r *Request) Result {
	name := r.Name
	out := newOutcome(name)
	a := newModArgs("file.symlink", r)
	target := a.str("target", "")
	force := a.boolean("force", false)
	makedirs := a.boolean("makedirs", false)
	backupname := a.str("backupname", "")
	_, dirMode, haveDirMode := a.mode("dir_mode")
	o, oerr := resolveOwner(a.str("user", ""), a.str("group", ""))
	if a.err != nil {
		return argFail(name, a.err)
	}
	if target == "" {
		return argFail(name, errors.New(`file.symlink: argument "target" is required`))
	}
	if !filepath.IsAbs(name) {
		return out.failed(fmt.Sprintf("Specified file %s is not an absolute path", name))
	}
	if oerr != nil {
		return out.failed(oerr.Error())
	}
	name = filepath.Clean(name)
	dir := filepath.Dir(name)
	fi, err := os.Lstat(name)
	exists := err == nil
	isLink := exists && fi.Mode()&fs.ModeSymlink != 0
	cur := ""
	if isLink {
		cur, _ = os.Readlink(name)
	}
	ownerOK := true
	if isLink {
		ownerOK = len(permChanges(fi, o, "", 0, false)) == 0
	}
	if _, err := os.Stat(dir); err != nil && !makedirs {
		if r.Test() {
			out.changes["new"] = name
			return out.pending(fmt.Sprintf("Symlink %s to %s is set for creation", name, target))
		}
		return out.failed(fmt.Sprintf("Directory %s for symlink is not present", dir))
	}
	if r.Test() {
		switch {
		case !exists:
			out.changes["new"] = name
			return out.pending(fmt.Sprintf("Symlink %s to %s is set for creation", name, target))
		case isLink && cur != target:
			out.changes["change"] = name
			return out.pending(fmt.Sprintf("Link %s target is set to be changed to %s", name, target))
		case isLink && !ownerOK:
			out.changes["ownership"] = fmt.Sprintf("%s:%s", o.user, o.group)
			return out.pending(fmt.Sprintf("The symlink %s is set to have its ownership changed to %s:%s", name, o.user, o.group))
		case isLink:
			return out.ok(fmt.Sprintf("The symlink %s is present", name))
		case !force && backupname == "":
			return out.failed(fmt.Sprintf("File exists where the symlink %s should be", name))
		default:
			out.changes["forced"] = "Symlink was forcibly replaced"
			return out.pending(fmt.Sprintf("Symlink %s to %s is set for creation", name, target))
		}
	}
	if isLink && cur == target {
		if !ownerOK {
			if err := applyPerms(name, o, 0, false, true); err != nil {
				return out.failed(err.Error())
			}
			out.changes["ownership"] = fmt.Sprintf("%s:%s", o.user, o.group)
			return out.ok(fmt.Sprintf("Set ownership of symlink %s to %s:%s", name, o.user, o.group))
		}
		u, g := symlinkOwnerNames(o)
		return out.ok(fmt.Sprintf("Symlink %s is present and owned by %s:%s", name, u, g))
	}
	if _, err := os.Stat(dir); err != nil {
		if err := makeParents(dir, o, dirMode, haveDirMode); err != nil {
			return out.failed(err.Error())
		}
	}
	comment := ""
	switch {
	case isLink:
		if err := os.Remove(name); err != nil {
			return out.failed(fmt.Sprintf("Unable to remove symlink %s: %v", name, err))
		}
		out.changes["change"] = name
		comment = fmt.Sprintf("Set target of symlink %s -> %s", name, target)
	case exists && backupname != "":
		bp := backupname
		if !filepath.IsAbs(bp) {
			bp = filepath.Join(dir, bp)
		}
		if _, err := os.Lstat(bp); err == nil && !force {
			return out.failed(fmt.Sprintf("Symlink & backup dest exists and Force not set. %s -> %s - backup: %s", name, target, bp))
		}
		os.RemoveAll(bp)
		if err := os.Rename(name, bp); err != nil {
			return out.failed(fmt.Sprintf("Unable to move %s to %s: %v", name, bp, err))
		}
		out.changes["backup"] = fmt.Sprintf("%s moved to %s", name, bp)
		out.changes["new"] = name
		comment = fmt.Sprintf("Created new symlink %s -> %s", name, target)
	case exists && force:
		if err := os.RemoveAll(name); err != nil {
			return out.failed(fmt.Sprintf("Unable to remove %s: %v", name, err))
		}
		out.changes["forced"] = "Symlink was forcibly replaced"
		out.changes["new"] = name
		comment = fmt.Sprintf("Created new symlink %s -> %s", name, target)
	case exists:
		if fi.IsDir() {
			return out.failed(fmt.Sprintf("Directory exists where the symlink %s should be", name))
		}
		return out.failed(fmt.Sprintf("File exists where the symlink %s should be", name))
	default:
		out.changes["new"] = name
		comment = fmt.Sprintf("Created new symlink %s -> %s", name, target)
	}
	if err := os.Symlink(target, name); err != nil {
		return out.failed(fmt.Sprintf("Unable to create new symlink %s -> %s: %v", name, target, err))
	}
	if err := applyPerms(name, o, 0, false, true); err != nil {
		return out.failed(err.Error())
	}
	r.Exec.Record("file.changed", map[string]any{"path": name, "before_sha256": "", "after_sha256": "", "diff_bytes": 0, "kind": "symlink", "target": target})
	return out.ok(comment)
}

// fileTouch creates a file or updates its times, like touch(1). As in
// Salt it reports a change on every run, since the times always move.
func fileTouch(r *Request) Result {
	name := r.Name
	out := newOutcome(name)
	a := newModArgs("file.touch", r)
	makedirs := a.boolean("makedirs", false)
	atime := a.integer("atime", -1)
	mtime := a.integer("mtime", -1)
	if a.err != nil {
		return argFail(name, a.err)
	}
	if !filepath.IsAbs(name) {
		return out.failed(fmt.Sprintf("Specified file %s is not an absolute path", name))
	}
	_, err := os.Lstat(name)
	exists := err == nil
	if r.Test() {
		if exists {
			out.changes["touched"] = name
			return out.pending(fmt.Sprintf("File %s is set to have its atime/mtime updated", name))
		}
		out.changes["new"] = name
		return out.pending(fmt.Sprintf("File %s is set to be created", name))
	}
	dir := filepath.Dir(name)
	if _, err := os.Stat(dir); err != nil {
		if !makedirs {
			return out.failed(fmt.Sprintf("Directory not present to touch file %s", name))
		}
		if err := makeParents(dir, owner{uid: -1, gid: -1}, 0, false); err != nil {
			return out.failed(err.Error())
		}
	}
	if !exists {
		f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return out.failed(fmt.Sprintf("Unable to create %s: %v", name, err))
		}
		f.Close()
	}
	now := time.Now()
	at, mt := now, now
	if atime >= 0 {
		at = time.Unix(int64(atime), 0)
	}
	if mtime >= 0 {
		mt = time.Unix(int64(mtime), 0)
	}
	if err := os.Chtimes(name, at, mt); err != nil {
		return out.failed(fmt.Sprintf("Unable to touch %s: %v", name, err))
	}
	if exists {
		out.changes["touched"] = name
		return out.ok(fmt.Sprintf("Updated times on file %s", name))
	}
	out.changes["new"] = name
	recordFile(r.Exec, name, nil, []byte{}, false, "")
	return out.ok(fmt.Sprintf("Created empty file %s", name))
}

// fileCopy copies a local file or directory tree to name. Unlike Salt,
// force with identical content is a no-op, so re-runs report no change.
func fileCopy(r *Request) Result {
	name := r.Name
	out := newOutcome(name)
	a := newModArgs("file.copy", r)
	source := a.str("source", "")
	force := a.boolean("force", false)
	makedirs := a.boolean("makedirs", false)
	preserve := a.boolean("preserve", false)
	subdir := a.boolean("subdir", false)
	_, mode, haveMode := a.mode("mode")
	o, oerr := resolveOwner(a.str("user", ""), a.str("group", ""))
	if a.err != nil {
		return argFail(name, a.err)
	}
	if source == "" {
		return argFail(name, errors.New(`file.copy: argument "source" is required`))
	}
	if !filepath.IsAbs(name) {
		return out.failed(fmt.Sprintf("Specified file %s is not an absolute path", name))
	}
	if !filepath.IsAbs(source) {
		return out.failed(fmt.Sprintf("Specified file %s is not an absolute path", source))
	}
	if oerr != nil {
		return out.failed(oerr.Error())
	}
	sfi, err := os.Stat(source)
	if err != nil {
		return out.failed(fmt.Sprintf("Source file \"%s\" is not present", source))
	}
	if subdir {
		if dfi, err := os.Stat(name); err == nil && dfi.IsDir() {
			name = filepath.Join(name, filepath.Base(source))
		}
	}
	changed := true
	if dfi, err := os.Lstat(name); err == nil {
		changed = false
		if force {
			changed = !sfi.Mode().IsRegular() || !dfi.Mode().IsRegular() || !sameContent(source, name)
		}
	}
	if r.Test() {
		if changed {
			out.changes[name] = source
			return out.pending(fmt.Sprintf("File \"%s\" is set to be copied to \"%s\"", source, name))
		}
		return out.ok(fmt.Sprintf("The target file \"%s\" exists and will not be overwritten", name))
	}
	if !changed {
		return out.ok(fmt.Sprintf("The target file \"%s\" exists and will not be overwritten", name))
	}
	dir := filepath.Dir(name)
	if _, err := os.Stat(dir); err != nil {
		if !makedirs {
			return out.failed(fmt.Sprintf("The target directory %s is not present", dir))
		}
		if err := makeParents(dir, o, 0, false); err != nil {
			return out.failed(err.Error())
		}
	}
	if _, err := os.Lstat(name); err == nil {
		if err := os.RemoveAll(name); err != nil {
			return out.failed(fmt.Sprintf("Failed to delete \"%s\" in preparation for forced move", name))
		}
	}
	if err := copyTree(source, name, preserve); err != nil {
		return out.failed(fmt.Sprintf("Failed to copy \"%s\" to \"%s\": %v", source, name, err))
	}
	if !preserve || o.uid >= 0 || o.gid >= 0 || haveMode {
		if err := applyPerms(name, o, mode, haveMode, false); err != nil {
			return out.failed(err.Error())
		}
	}
	data, _ := os.ReadFile(name)
	recordFile(r.Exec, name, nil, data, false, "")
	out.changes[name] = source
	return out.ok(fmt.Sprintf("Copied \"%s\" to \"%s\"", source, name))
}

func sameContent(a, b string) bool {
	x, err1 := os.ReadFile(a)
	y, err2 := os.ReadFile(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}

// copyTree copies a file or a directory tree; preserve keeps mode, owner
// and times, otherwise new files get the source's permission bits.
func copyTree(src, dst string, preserve bool) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return err
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		t, err := os.Readlink(src)
		if err != nil {
			return err
		}
		return os.Symlink(t, dst)
	case fi.IsDir():
		if err := os.Mkdir(dst, fi.Mode().Perm()); err != nil {
			return err
		}
		ents, err := os.ReadDir(src)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if err := copyTree(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name()), preserve); err != nil {
				return err
			}
		}
	default:
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		if err := writeAtomic(dst, data, unixPerm(fi), owner{uid: -1, gid: -1}, nil); err != nil {
			return err
		}
	}
	if preserve {
		if st, ok := sysStat(fi); ok {
			_ = os.Lchown(dst, int(st.Uid), int(st.Gid))
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			_ = os.Chtimes(dst, fi.ModTime(), fi.ModTime())
		}
	}
	return nil
}
