package states

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/brine-cm/brine/pkg/diff"
)

// commentArgs reads the arguments shared by file.comment and
// file.uncomment.
func commentArgs(fn string, r *Request) (*modArgs, string, string, string, error) {
	a := newModArgs(fn, r)
	regex := a.str("regex", "")
	char := a.str("char", "#")
	backup := backupArg(a)
	if a.err != nil {
		return a, "", "", "", a.err
	}
	if regex == "" {
		return a, "", "", "", fmt.Errorf("%s: argument \"regex\" is required", fn)
	}
	if char == "" {
		return a, "", "", "", fmt.Errorf("%s: argument \"char\" must not be empty", fn)
	}
	return a, regex, char, backup, nil
}

// editLines rewrites the lines matched by re with edit and installs the
// result, reporting Salt's diff.
func editLines(r *Request, out *outcome, name string, cur []byte, re *regexp.Regexp, edit func(string) string, backup, testMsg, okMsg string) Result {
	var b strings.Builder
	for _, l := range diff.Lines(string(cur)) {
		body := strings.TrimRight(l, "\r\n")
		if re.MatchString(body) {
			b.WriteString(edit(body) + l[len(body):])
			continue
		}
		b.WriteString(l)
	}
	next := b.String()
	d := diff.Unified(string(cur), next, diff.Options{})
	if r.Test() {
		out.changes[name] = "updated"
		return out.pending(testMsg)
	}
	if msg := installEdit(r, name, cur, next, d, backup); msg != "" {
		return out.failed(msg)
	}
	out.changes["diff"] = d
	return out.ok(okMsg)
}

// fileComment comments out the lines matching regex (Salt's file.comment).
func fileComment(r *Request) Result {
	name := r.Name
	out := newOutcome(name)
	_, regex, char, backup, err := commentArgs("file.comment", r)
	if err != nil {
		return argFail(name, err)
	}
	if !filepath.IsAbs(name) {
		return out.failed(fmt.Sprintf("Specified file %s is not an absolute path", name))
	}
	bare := strings.TrimSuffix(strings.TrimPrefix(regex, "^"), "$")
	anchored := ""
	if strings.HasPrefix(regex, "^") {
		anchored = "^"
	}
	anchored += bare
	if strings.HasSuffix(regex, "$") {
		anchored += "$"
	}
	re, err1 := regexp.Compile("(?m)" + anchored)
	done, err2 := regexp.Compile("(?m)" + regexp.QuoteMeta(char) + "[ \t]*" + bare)
	if err := errors.Join(err1, err2); err != nil {
		return argFail(name, fmt.Errorf("file.comment: argument \"regex\": %w", err))
	}
	cur, err := os.ReadFile(name)
	if err != nil {
		return out.failed(fmt.Sprintf("%s: file not found", name))
	}
	if !re.Match(cur) {
		if done.Match(cur) {
			return out.ok("Pattern already commented")
		}
		return out.failed(fmt.Sprintf("%s: Pattern not found", bare))
	}
	lineRe := regexp.MustCompile(anchored)
	return editLines(r, out, name, cur, lineRe, func(l string) string { return char + l }, backup,
		fmt.Sprintf("File %s is set to be updated", name), "Commented lines successfully")
}

// fileUncomment removes the comment character from the lines matching
// regex (Salt's file.uncomment).
func fileUncomment(r *Request) Result {
	name := r.Name
	out := newOutcome(name)
	_, regex, char, backup, err := commentArgs("file.uncomment", r)
	if err != nil {
		return argFail(name, err)
	}
	if !filepath.IsAbs(name) {
		return out.failed(fmt.Sprintf("Specified file %s is not an absolute path", name))
	}
	bare := strings.TrimPrefix(regex, "^")
	commented, err1 := regexp.Compile(`^([ \t]*)` + regexp.QuoteMeta(char) + `[ \t]*(` + bare + `)`)
	plain, err2 := regexp.Compile("(?m)^[ \t]*" + bare)
	if err := errors.Join(err1, err2); err != nil {
		return argFail(name, fmt.Errorf("file.uncomment: argument \"regex\": %w", err))
	}
	cur, err := os.ReadFile(name)
	if err != nil {
		return out.failed(fmt.Sprintf("%s: file not found", name))
	}
	found := false
	for _, l := range diff.Lines(string(cur)) {
		if commented.MatchString(strings.TrimRight(l, "\r\n")) {
			found = true
			break
		}
	}
	if !found {
		if plain.Match(cur) {
			return out.ok("Pattern already uncommented")
		}
		return out.failed(fmt.Sprintf("%s: Pattern not found", regex))
	}
	return editLines(r, out, name, cur, commented, func(l string) string {
		return commented.ReplaceAllString(l, "${1}${2}")
	}, backup, fmt.Sprintf("File %s is set to be updated", name), "Uncommented lines successfully")
}

// fileRename moves source to name (Salt's file.rename).
func fileRename(r *Request) Result {
	name := r.Name
	out := newOutcome(name)
	a := newModArgs("file.rename", r)
	source := a.str("source", "")
	force := a.boolean("force", false)
	makedirs := a.boolean("makedirs", false)
	if a.err != nil {
		return argFail(name, a.err)
	}
	if source == "" {
		return argFail(name, errors.New(`file.rename: argument "source" is required`))
	}
	if !filepath.IsAbs(name) {
		return out.failed(fmt.Sprintf("Specified file %s is not an absolute path", name))
	}
	if !filepath.IsAbs(source) {
		return out.failed(fmt.Sprintf("Specified file %s is not an absolute path", source))
	}
	if _, err := os.Lstat(source); err != nil {
		return out.ok(fmt.Sprintf("Source file \"%s\" has already been moved out of place", source))
	}
	if _, err := os.Lstat(name); err == nil && !force {
		return out.ok(fmt.Sprintf("The target file \"%s\" exists and will not be overwritten", name))
	}
	if r.Test() {
		out.changes[name] = source
		return out.pending(fmt.Sprintf("File \"%s\" is set to be moved to \"%s\"", source, name))
	}
	dir := filepath.Dir(name)
	if _, err := os.Stat(dir); err != nil {
		if !makedirs {
			return out.failed(fmt.Sprintf("The target directory %s is not present", dir))
		}
		if err := makeParents(dir, owner{uid: -1, gid: -1}, 0, false); err != nil {
			return out.failed(err.Error())
		}
	}
	if _, err := os.Lstat(name); err == nil {
		if err := os.RemoveAll(name); err != nil {
			return out.failed(fmt.Sprintf("Failed to delete \"%s\" in preparation for forced move", name))
		}
	}
	if err := os.Rename(source, name); err != nil {
		return out.failed(fmt.Sprintf("Failed to move \"%s\" to \"%s\"", source, name))
	}
	r.Exec.Record("file.changed", map[string]any{"path": name, "before_sha256": "", "after_sha256": "", "diff_bytes": 0, "kind": "rename", "source": source})
	out.changes[name] = source
	return out.ok(fmt.Sprintf("Moved \"%s\" to \"%s\"", source, name))
}
