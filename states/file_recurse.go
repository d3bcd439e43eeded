package states

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// fileRecurse mirrors a salt:// directory onto name, each file converged
// as file.managed would (template, owner, file_mode), optionally creating
// empty directories and removing files the source does not have.
func fileRecurse(r *Request) Result {
	name := r.Name
	out := newOutcome(name)
	a := newModArgs("file.recurse", r)
	source := a.str("source", "")
	clean := a.boolean("clean", false)
	includeEmpty := a.boolean("include_empty", false)
	maxdepth := a.integer("maxdepth", -1)
	includePat := a.str("include_pat", "")
	excludePat := a.str("exclude_pat", "")
	a.mode("file_mode")
	a.mode("dir_mode")
	if a.err != nil {
		return argFail(name, a.err)
	}
	if !filepath.IsAbs(name) {
		return out.failed(fmt.Sprintf("Specified file %s is not an absolute path", name))
	}
	name = filepath.Clean(name)
	if !strings.HasPrefix(source, "salt://") {
		return out.failed(fmt.Sprintf("Invalid source '%s' (must be a salt:// URI)", source))
	}
	if r.Exec == nil || r.Exec.Files == nil {
		return out.failed("No file client available to fetch " + source)
	}
	if fi, err := os.Stat(name); err == nil && !fi.IsDir() {
		return out.failed(fmt.Sprintf("The path %s exists and is not a directory", name))
	}
	prefix := strings.Trim(strings.TrimPrefix(source, "salt://"), "/")
	if i := strings.IndexByte(prefix, '?'); i >= 0 {
		prefix = prefix[:i]
	}
	match := func(pat, rel string) (bool, error) {
		if strings.HasPrefix(pat, "E@") {
			return regexp.MatchString(pat[2:], rel)
		}
		return filepath.Match(pat, filepath.Base(rel))
	}
	keepFile := func(rel string) (bool, error) {
		if maxdepth >= 0 && strings.Count(rel, "/") > maxdepth {
			return false, nil
		}
		if includePat != "" {
			ok, err := match(includePat, rel)
			if err != nil || !ok {
				return false, err
			}
		}
		if excludePat != "" {
			ok, err := match(excludePat, rel)
			if err != nil || ok {
				return false, err
			}
		}
		return true, nil
	}
	files, err := r.Exec.Files.ListFiles(r.Exec.Context(), prefix)
	if err != nil {
		return out.failed(fmt.Sprintf("Unable to list %s: %v", source, err))
	}
	var rels []string
	for _, f := range files {
		f = strings.TrimPrefix(f, "salt://")
		rel := strings.TrimPrefix(strings.TrimPrefix(f, prefix), "/")
		if rel == "" || rel == f && prefix != "" {
			continue
		}
		ok, err := keepFile(rel)
		if err != nil {
			return argFail(name, fmt.Errorf("file.recurse: bad include_pat or exclude_pat: %w", err))
		}
		if ok {
			rels = append(rels, rel)
		}
	}
	if len(rels) == 0 && !includeEmpty {
		return out.failed(fmt.Sprintf("Recurse failed: none of the specified sources were found (source %s)", source))
	}
	sort.Strings(rels)

	var comments []string
	pendingAny := false
	sub := func(fn Func, dest string, args map[string]any) bool {
		req := &Request{Exec: r.Exec, ID: r.ID, Name: dest, SLS: r.SLS, Args: args, Watch: r.Watch}
		res := fn(req)
		if len(res.Changes) > 0 {
			out.changes[dest] = res.Changes
		}
		if res.Result == nil {
			pendingAny = true
		} else if !*res.Result {
			comments = append(comments, res.Comment)
			return false
		}
		return true
	}
	pass := func(keys ...string) map[string]any {
		m := map[string]any{}
		for _, k := range keys {
			if v, ok := r.Args[k]; ok {
				m[k] = v
			}
		}
		if v, ok := r.Args["test"]; ok {
			m["test"] = v
		}
		return m
	}
	ok := true
	if _, err := os.Stat(name); err != nil {
		args := pass("user", "group", "dir_mode")
		args["makedirs"] = true
		ok = sub(fileDirectory, name, args) && ok
	}
	managed := map[string]bool{}
	if includeEmpty {
		dirs, err := r.Exec.Files.ListDirs(r.Exec.Context())
		if err == nil {
			for _, d := range dirs {
				d = strings.Trim(strings.TrimPrefix(d, "salt://"), "/")
				rel := strings.TrimPrefix(d, prefix+"/")
				if rel == d || rel == "" {
					continue
				}
				if maxdepth >= 0 && strings.Count(rel, "/") > maxdepth {
					continue
				}
				dest := filepath.Join(name, rel)
				managed[dest] = true
				args := pass("user", "group", "dir_mode")
				args["makedirs"] = true
				ok = sub(fileDirectory, dest, args) && ok
			}
		}
	}
	for _, rel := range rels {
		dest := filepath.Join(name, filepath.FromSlash(rel))
		managed[dest] = true
		args := pass("user", "group", "dir_mode", "template", "context", "defaults", "backup", "show_changes")
		if v, ok := r.Args["file_mode"]; ok {
			args["mode"] = v
		}
		args["source"] = "salt://" + prefix + "/" + rel
		if prefix == "" {
			args["source"] = "salt://" + rel
		}
		args["makedirs"] = true
		ok = sub(fileManaged, dest, args) && ok
	}
	if clean {
		var removals []string
		_ = filepath.WalkDir(name, func(p string, d fs.DirEntry, err error) error {
			if err != nil || p == name {
				return nil
			}
			if managed[p] {
				return nil
			}
			for m := range managed {
				if strings.HasPrefix(m, p+"/") {
					return nil
				}
			}
			removals = append(removals, p)
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		})
		for _, p := range removals {
			if r.Test() {
				out.changes[p] = map[string]any{"removed": "Removed due to clean"}
				pendingAny = true
				continue
			}
			if err := os.RemoveAll(p); err != nil {
				comments = append(comments, fmt.Sprintf("Unable to remove %s: %v", p, err))
				ok = false
				continue
			}
			out.changes[p] = map[string]any{"removed": "Removed due to clean"}
			r.Exec.Record("file.changed", map[string]any{"path": p, "before_sha256": "", "after_sha256": "", "diff_bytes": 0, "kind": "removed"})
		}
	}
	if !ok {
		return out.failed(strings.Join(comments, "\n"))
	}
	if r.Test() && (pendingAny || len(out.changes) > 0) {
		return out.pending(fmt.Sprintf("Recursively updated %s", name) + testNote)
	}
	if len(out.changes) > 0 {
		return out.ok(fmt.Sprintf("Recursively updated %s", name))
	}
	return out.ok(fmt.Sprintf("The directory %s is in the correct state", name))
}
