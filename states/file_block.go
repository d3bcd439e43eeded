package states

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/brine-cm/brine/pkg/diff"
)

// fileExists checks a path exists without changing anything, as Salt's
// file.exists does, so later states can require it.
func fileExists(r *Request) Result {
	out := newOutcome(r.Name)
	if r.Name == "" {
		return out.failed("Must provide name to file.exists")
	}
	if _, err := os.Lstat(r.Name); err != nil {
		return out.failed(fmt.Sprintf("Specified path %s does not exist", r.Name))
	}
	return out.ok(fmt.Sprintf("Path %s exists", r.Name))
}

// fileMissing is the inverse of fileExists.
func fileMissing(r *Request) Result {
	out := newOutcome(r.Name)
	if r.Name == "" {
		return out.failed("Must provide name to file.missing")
	}
	if _, err := os.Lstat(r.Name); err == nil {
		return out.failed(fmt.Sprintf("Specified path %s exists", r.Name))
	}
	return out.ok(fmt.Sprintf("Path %s is missing", r.Name))
}

// fileBlockreplace keeps the text between two marker lines equal to
// content, leaving the rest of the file alone (Salt's file.blockreplace).
func fileBlockreplace(r *Request) Result {
	name := r.Name
	out := newOutcome(name)
	a := newModArgs("file.blockreplace", r)
	start := a.str("marker_start", "#-- start managed zone --")
	end := a.str("marker_end", "#-- end managed zone --")
	content := a.str("content", "")
	appendNF := a.boolean("append_if_not_found", false)
	prependNF := a.boolean("prepend_if_not_found", false)
	show := a.boolean("show_changes", true)
	appendNewline := a.has("append_newline")
	wantNewline := a.boolean("append_newline", false)
	backup := backupArg(a)
	engine := a.str("template", "jinja")
	vars := templateVars(a.mapping("defaults"), a.mapping("context"))
	if a.err != nil {
		return argFail(name, a.err)
	}
	if !filepath.IsAbs(name) {
		return out.failed(fmt.Sprintf("Specified file %s is not an absolute path", name))
	}
	if strings.TrimSpace(start) == "" || strings.TrimSpace(end) == "" {
		return argFail(name, errors.New("file.blockreplace: marker_start and marker_end must not be empty"))
	}
	if src := a.str("source", ""); src != "" {
		text, fail := sourceText(r, src, engine, vars)
		if fail != "" {
			return out.failed(fail)
		}
		content = text
	}
	switch {
	case appendNewline && wantNewline:
		content += "\n"
	case !appendNewline && content != "" && !strings.HasSuffix(content, "\n"):
		content += "\n"
	}
	cur, err := os.ReadFile(name)
	if err != nil {
		return out.failed(fmt.Sprintf("%s: file not found", name))
	}
	lines := diff.Lines(string(cur))
	var b strings.Builder
	state := 0 // 0 before, 1 inside, 2 after the block
	for _, l := range lines {
		switch {
		case state == 0 && strings.Contains(l, start):
			state = 1
			b.WriteString(l)
			if !strings.HasSuffix(l, "\n") {
				b.WriteString("\n")
			}
			b.WriteString(content)
		case state == 1 && strings.Contains(l, end):
			state = 2
			b.WriteString(l)
		case state == 1:
		default:
			b.WriteString(l)
		}
	}
	next := b.String()
	if state == 1 {
		return out.failed(fmt.Sprintf("Unable to find marker_end %q in %s", end, name))
	}
	if state == 0 {
		block := start + "\n" + content + end + "\n"
		switch {
		case prependNF:
			next = block + string(cur)
		case appendNF:
			next = string(cur)
			if next != "" && !strings.HasSuffix(next, "\n") {
				next += "\n"
			}
			next += block
		default:
			return out.failed("Cannot edit marked block. Markers were not found")
		}
	}
	return commitEdit(r, out, name, cur, next, show, backup, "Changes would be made")
}
