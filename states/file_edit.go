package states

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/brine-cm/brine/pkg/diff"
	"github.com/brine-cm/brine/pkg/execmod"
)

// writeEdited replaces an existing (or new) file's content keeping its
// mode and owner, and records the change.
func writeEdited(r *Request, name string, before, after []byte, existed bool, d string) error {
	mode := uint32(0o644)
	var prev os.FileInfo
	if fi, err := os.Stat(name); err == nil {
		mode, prev = unixPerm(fi), fi
	}
	if err := writeAtomic(name, after, mode, owner{uid: -1, gid: -1}, prev); err != nil {
		return err
	}
	recordFile(r.Exec, name, before, after, existed, d)
	return nil
}

// backupArg reads backup= as file.replace, file.blockreplace and
// file.comment take it: a suffix for the copy kept of the old file,
// ".bak" by default, and False for no copy.
func backupArg(a *modArgs) string {
	v, ok := a.m["backup"]
	if !ok {
		return ".bak"
	}
	if b, isBool := v.(bool); isBool && !b {
		return ""
	}
	return a.str("backup", ".bak")
}

// commitEdit finishes file.replace and file.blockreplace alike once the
// new text is known: nothing to do, the diff (or only that there is one),
// pendingMsg in test mode, else the backup and the write.
func commitEdit(r *Request, out *outcome, name string, cur []byte, next string, show bool, backup, pendingMsg string) Result {
	if next == string(cur) {
		return out.ok("No changes needed to be made")
	}
	d := diff.Unified(string(cur), next, diff.Options{})
	if show {
		out.changes["diff"] = d
	} else {
		out.changes["diff"] = true
	}
	if r.Test() {
		return out.pending(pendingMsg)
	}
	if msg := installEdit(r, name, cur, next, d, backup); msg != "" {
		return out.failed(msg)
	}
	return out.ok("Changes were made")
}

// installEdit keeps the old content under name+backup when backup is set,
// then writes next over the existing file; a non-empty return is the
// failure comment for the state.
func installEdit(r *Request, name string, cur []byte, next, d, backup string) string {
	if backup != "" {
		if err := os.WriteFile(name+backup, cur, 0o600); err != nil {
			return fmt.Sprintf("Unable to write backup %s: %v", name+backup, err)
		}
	}
	if err := writeEdited(r, name, cur, []byte(next), true, d); err != nil {
		return err.Error()
	}
	return ""
}

// sourceText fetches src and renders it with the template engine, the
// way file.append and file.blockreplace take text from source=; a
// non-empty second return is the state's failure comment.
func sourceText(r *Request, src, engine string, vars map[string]any) (string, string) {
	fsrc, found, err := fetchSource(r.Exec, src)
	if err != nil || !found {
		return "", fmt.Sprintf("Source file %s not found", src)
	}
	data, err := renderTemplate(r.Exec, engine, fsrc.rel, fsrc.data, vars)
	if err != nil {
		return "", fmt.Sprintf("Unable to render %s: %v", src, err)
	}
	return string(data), ""
}

// wsRegex builds Salt's whitespace-insensitive pattern for a text chunk:
// every line must appear with its words separated by any whitespace.
func wsRegex(chunk string) *regexp.Regexp {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(chunk, "\n"), "\n") {
		parts := strings.Fields(line)
		for i := range parts {
			parts[i] = regexp.QuoteMeta(parts[i])
		}
		b.WriteString(`(?:[\s]+)?` + strings.Join(parts, `(?:[\s]+)`))
	}
	return regexp.MustCompile(`(?m)^` + b.String() + `$`)
}

// fileAppend appends each text chunk that the file does not already hold.
func fileAppend(r *Request) Result {
	name := r.Name
	out := newOutcome(name)
	a := newModArgs("file.append", r)
	makedirs := a.boolean("makedirs", false)
	ignoreWS := a.boolean("ignore_whitespace", true)
	var texts []string
	if v, ok := a.m["text"]; ok && v != nil {
		switch x := v.(type) {
		case []any:
			for i, e := range x {
				s, ok := execmod.ToString(e)
				if !ok {
					a.fail(&execmod.ArgError{Arg: "text", Want: "a string or a list of strings", Got: v, Msg: fmt.Sprintf("item %d is not a string", i)})
				}
				texts = append(texts, s)
			}
		default:
			s, ok := execmod.ToString(v)
			if !ok {
				a.fail(&execmod.ArgError{Arg: "text", Want: "a string or a list of strings", Got: v})
			}
			texts = []string{s}
		}
	}
	srcs := a.strList("source")
	if more := a.strList("sources"); len(more) > 0 {
		srcs = append(srcs, more...)
	}
	engine := a.str("template", "jinja")
	vars := templateVars(a.mapping("defaults"), a.mapping("context"))
	if a.err != nil {
		return argFail(name, a.err)
	}
	if !filepath.IsAbs(name) {
		return out.failed(fmt.Sprintf("Specified file %s is not an absolute path", name))
	}
	for _, s := range srcs {
		text, fail := sourceText(r, s, engine, vars)
		if fail != "" {
			return out.failed(fail)
		}
		texts = append(texts, text)
	}
	if len(texts) == 0 {
		return out.failed("No text, source or sources given to append")
	}
	dir := filepath.Dir(name)
	if _, err := os.Stat(dir); err != nil && !makedirs && !r.Test() {
		return out.failed("Parent directory not present")
	}
	cur, err := os.ReadFile(name)
	existed := err == nil
	if err != nil && !os.IsNotExist(err) {
		return out.failed(fmt.Sprintf("Unable to read %s: %v", name, err))
	}
	text := string(cur)
	var lines []string
	for _, chunk := range texts {
		if ignoreWS {
			if wsRegex(chunk).MatchString(text) {
				continue
			}
		} else if strings.Contains(text, chunk) {
			continue
		}
		lines = append(lines, strings.Split(strings.TrimRight(chunk, "\n"), "\n")...)
	}
	if len(lines) == 0 {
		return out.ok(fmt.Sprintf("File %s is in correct state", name))
	}
	next := text
	if next != "" && !strings.HasSuffix(next, "\n") {
		next += "\n"
	}
	next += strings.Join(lines, "\n") + "\n"
	d := fileDiff(cur, []byte(next), true)
	out.changes["diff"] = d
	if r.Test() {
		return out.pending(fmt.Sprintf("File %s is set to be updated", name))
	}
	if makedirs {
		if err := makeParents(dir, owner{uid: -1, gid: -1}, 0, false); err != nil {
			return out.failed(err.Error())
		}
	}
	if err := writeEdited(r, name, cur, []byte(next), existed, d); err != nil {
		return out.failed(err.Error())
	}
	return out.ok(fmt.Sprintf("Appended %d lines", len(lines)))
}

// pyFlags turns Python re flags (an int bitmask or a list of names) into
// an RE2 flag prefix.
func pyFlags(v any) (string, error) {
	if v == nil {
		return "(?m)", nil
	}
	bits := 0
	if i, ok := execmod.ToInt(v); ok {
		bits = i
	} else {
		names, err := execmod.ToStrList("flags", v)
		if err != nil {
			return "", err
		}
		for _, n := range names {
			switch strings.ToUpper(strings.TrimPrefix(strings.TrimSpace(n), "re.")) {
			case "I", "IGNORECASE":
				bits |= 2
			case "L", "LOCALE":
				bits |= 4
			case "M", "MULTILINE":
				bits |= 8
			case "S", "DOTALL":
				bits |= 16
			case "U", "UNICODE":
				bits |= 32
			case "X", "VERBOSE":
				return "", &execmod.ArgError{Arg: "flags", Want: "supported regex flags", Got: v, Msg: "VERBOSE is not supported"}
			default:
				return "", &execmod.ArgError{Arg: "flags", Want: "regex flag names", Got: v}
			}
		}
	}
	f := ""
	if bits&2 != 0 {
		f += "i"
	}
	if bits&8 != 0 {
		f += "m"
	}
	if bits&16 != 0 {
		f += "s"
	}
	if f == "" {
		return "", nil
	}
	return "(?" + f + ")", nil
}

var pyGroupRef = regexp.MustCompile(`\\(?:g<([A-Za-z_][A-Za-z0-9_]*|[0-9]+)>|([0-9]{1,2})|(.))`)

// pyRepl converts a Python re.sub replacement (\1, \g<name>, \n) into
// Go's Expand template syntax.
func pyRepl(repl string) string {
	repl = strings.ReplaceAll(repl, "$", "$$")
	return pyGroupRef.ReplaceAllStringFunc(repl, func(m string) string {
		sub := pyGroupRef.FindStringSubmatch(m)
		switch {
		case sub[1] != "":
			return "${" + sub[1] + "}"
		case sub[2] != "":
			return "${" + sub[2] + "}"
		}
		switch sub[3] {
		case "n":
			return "\n"
		case "t":
			return "\t"
		case "r":
			return "\r"
		case "\\":
			return "\\"
		}
		return m
	})
}

// subN replaces up to count matches (0: all), like Python's re.subn.
func subN(re *regexp.Regexp, src, tmpl string, literal bool, count int) (string, int) {
	matches := re.FindAllStringSubmatchIndex(src, -1)
	if count > 0 && len(matches) > count {
		matches = matches[:count]
	}
	if len(matches) == 0 {
		return src, 0
	}
	var b strings.Builder
	last := 0
	for _, m := range matches {
		b.WriteString(src[last:m[0]])
		if literal {
			b.WriteString(tmpl)
		} else {
			b.Write(re.ExpandString(nil, tmpl, src, m))
		}
		last = m[1]
	}
	b.WriteString(src[last:])
	return b.String(), len(matches)
}

// fileReplace is Salt's file.replace: a regex search and replace over the
// whole file, with optional append/prepend when the pattern is absent.
func fileReplace(r *Request) Result {
	name := r.Name
	out := newOutcome(name)
	a := newModArgs("file.replace", r)
	pattern := a.str("pattern", "")
	repl := a.str("repl", "")
	count := a.integer("count", 0)
	appendNF := a.boolean("append_if_not_found", false)
	prependNF := a.boolean("prepend_if_not_found", false)
	nfc := a.str("not_found_content", "")
	hasNFC := a.has("not_found_content")
	show := a.boolean("show_changes", true)
	ignoreMissing := a.boolean("ignore_if_missing", false)
	literal := a.boolean("backslash_literal", false)
	backup := backupArg(a)
	if a.err != nil {
		return argFail(name, a.err)
	}
	if !a.has("pattern") {
		return argFail(name, errors.New(`file.replace: argument "pattern" is required`))
	}
	if !a.has("repl") {
		return argFail(name, errors.New(`file.replace: argument "repl" is required`))
	}
	flags, err := pyFlags(a.m["flags"])
	if err != nil {
		return argFail(name, fmt.Errorf("file.replace: %w", err))
	}
	re, err := regexp.Compile(flags + pattern)
	if err != nil {
		return argFail(name, fmt.Errorf("file.replace: argument \"pattern\": %w", err))
	}
	if !filepath.IsAbs(name) {
		return out.failed(fmt.Sprintf("Specified file %s is not an absolute path", name))
	}
	cur, err := os.ReadFile(name)
	if err != nil {
		if os.IsNotExist(err) && ignoreMissing {
			return out.ok("No changes needed to be made")
		}
		return out.failed(fmt.Sprintf("%s: file not found", name))
	}
	tmpl := repl
	if !literal {
		tmpl = pyRepl(repl)
	}
	text := string(cur)
	next, n := subN(re, text, tmpl, literal, count)
	if n == 0 && (appendNF || prependNF) {
		content := repl
		if hasNFC {
			content = nfc
		}
		present := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(content) + `(?:$|\r\n)`)
		if !present.MatchString(text) {
			if prependNF {
				next = content + "\n" + text
			} else {
				if next != "" && !strings.HasSuffix(next, "\n") {
					next += "\n"
				}
				next += content + "\n"
			}
		}
	}
	if a.boolean("search_only", false) {
		// search_only reports whether the pattern matched and edits nothing.
		if n > 0 {
			return out.ok("Pattern found")
		}
		return out.failed("Pattern not found")
	}
	return commitEdit(r, out, name, cur, next, show, backup, "Changes would have been made")
}

func leadingSpace(s string) string {
	return s[:len(s)-len(strings.TrimLeft(s, " \t"))]
}

// fileLine is Salt's file.line: edit one line by mode (ensure, replace,
// delete, insert) relative to match, before, after or a location.
func fileLine(r *Request) Result {
	name := r.Name
	out := newOutcome(name)
	a := newModArgs("file.line", r)
	content := a.str("content", "")
	match := a.str("match", "")
	mode := strings.ToLower(a.str("mode", ""))
	location := a.str("location", "")
	before := a.str("before", "")
	after := a.str("after", "")
	show := a.boolean("show_changes", true)
	backup := a.boolean("backup", false)
	indent := a.boolean("indent", true)
	create := a.boolean("create", false)
	o, oerr := resolveOwner(a.str("user", ""), a.str("group", ""))
	_, fmode, haveFMode := a.mode("file_mode")
	if a.err != nil {
		return argFail(name, a.err)
	}
	if oerr != nil {
		return out.failed(oerr.Error())
	}
	switch mode {
	case "ensure", "replace", "delete", "insert":
	case "":
		return argFail(name, errors.New(`file.line: argument "mode" is required (ensure, replace, delete or insert)`))
	default:
		return argFail(name, fmt.Errorf(`file.line: argument "mode": unknown mode %q (want ensure, replace, delete or insert)`, mode))
	}
	if location != "" && location != "start" && location != "end" {
		return argFail(name, fmt.Errorf(`file.line: argument "location": want "start" or "end", got %q`, location))
	}
	if mode != "delete" && !a.has("content") {
		return argFail(name, errors.New(`file.line: argument "content" is required`))
	}
	if match == "" {
		match = regexp.QuoteMeta(content)
	}
	compile := func(arg, p string) (*regexp.Regexp, error) {
		if p == "" {
			return nil, nil
		}
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("file.line: argument %q: %w", arg, err)
		}
		return re, nil
	}
	matchRe, err1 := compile("match", match)
	beforeRe, err2 := compile("before", before)
	afterRe, err3 := compile("after", after)
	if err := errors.Join(err1, err2, err3); err != nil {
		return argFail(name, err)
	}
	if !filepath.IsAbs(name) {
		return out.failed(fmt.Sprintf("Specified file %s is not an absolute path", name))
	}
	cur, err := os.ReadFile(name)
	existed := err == nil
	if err != nil {
		if !create || !os.IsNotExist(err) {
			return out.failed(fmt.Sprintf("%s: file not found", name))
		}
	}
	lines := diff.Lines(string(cur))
	body := func(l string) string { return strings.TrimRight(l, "\r\n") }
	find := func(re *regexp.Regexp) int {
		for i, l := range lines {
			if re.MatchString(body(l)) {
				return i
			}
		}
		return -1
	}
	hasContent := func() bool {
		for _, l := range lines {
			if strings.TrimSpace(body(l)) == strings.TrimSpace(content) {
				return true
			}
		}
		return false
	}
	withIndent := func(ref string) string {
		if indent && ref != "" {
			return leadingSpace(ref) + strings.TrimLeft(content, " \t") + "\n"
		}
		return content + "\n"
	}
	insertAt := func(i int, l string) {
		if i > 0 && !strings.HasSuffix(lines[i-1], "\n") {
			lines[i-1] += "\n"
		}
		lines = append(lines[:i], append([]string{l}, lines[i:]...)...)
	}
	switch mode {
	case "delete":
		kept := lines[:0:0]
		for _, l := range lines {
			if !matchRe.MatchString(body(l)) {
				kept = append(kept, l)
			}
		}
		lines = kept
	case "replace":
		for i, l := range lines {
			if matchRe.MatchString(body(l)) {
				nl := withIndent(l)
				if !strings.HasSuffix(l, "\n") {
					nl = strings.TrimSuffix(nl, "\n")
				}
				if body(l) != body(nl) {
					lines[i] = nl
				}
			}
		}
	case "insert":
		if hasContent() {
			break
		}
		switch {
		case afterRe != nil && beforeRe != nil:
			ia, ib := find(afterRe), find(beforeRe)
			if ia < 0 || ib < 0 || ib <= ia {
				return out.failed(fmt.Sprintf("Unable to insert line in %s: \"before\" or \"after\" not found", name))
			}
			insertAt(ia+1, withIndent(lines[ia]))
		case afterRe != nil:
			ia := find(afterRe)
			if ia < 0 {
				return out.failed(fmt.Sprintf("Unable to insert line in %s: \"after\" not found", name))
			}
			insertAt(ia+1, withIndent(lines[ia]))
		case beforeRe != nil:
			ib := find(beforeRe)
			if ib < 0 {
				return out.failed(fmt.Sprintf("Unable to insert line in %s: \"before\" not found", name))
			}
			insertAt(ib, withIndent(lines[ib]))
		case location == "start":
			insertAt(0, content+"\n")
		case location == "end" || location == "":
			if location == "" {
				return argFail(name, errors.New("file.line: On insert must be defined either location or before/after conditions."))
			}
			insertAt(len(lines), content+"\n")
		}
	case "ensure":
		switch {
		case afterRe != nil && beforeRe != nil:
			ia, ib := find(afterRe), find(beforeRe)
			if ia < 0 || ib < 0 || ib <= ia {
				return out.failed(fmt.Sprintf("Unable to ensure line in %s: \"before\" or \"after\" not found", name))
			}
			switch ib - ia {
			case 1:
				insertAt(ia+1, withIndent(lines[ia]))
			case 2:
				if strings.TrimSpace(body(lines[ia+1])) != strings.TrimSpace(content) {
					lines[ia+1] = withIndent(lines[ia])
				}
			default:
				return out.failed("Found more than one line between boundaries \"before\" and \"after\".")
			}
		case afterRe != nil:
			ia := find(afterRe)
			if ia < 0 {
				return out.failed(fmt.Sprintf("Unable to ensure line in %s: \"after\" not found", name))
			}
			if ia+1 >= len(lines) || strings.TrimSpace(body(lines[ia+1])) != strings.TrimSpace(content) {
				insertAt(ia+1, withIndent(lines[ia]))
			}
		case beforeRe != nil:
			ib := find(beforeRe)
			if ib < 0 {
				return out.failed(fmt.Sprintf("Unable to ensure line in %s: \"before\" not found", name))
			}
			if ib == 0 || strings.TrimSpace(body(lines[ib-1])) != strings.TrimSpace(content) {
				insertAt(ib, withIndent(lines[ib]))
			}
		default:
			return argFail(name, errors.New("file.line: Wrong conditions? Unable to ensure line without knowing where to put it before and/or after."))
		}
	}
	next := strings.Join(lines, "")
	if next == string(cur) && existed {
		return out.ok("No changes needed to be made")
	}
	d := diff.Unified(string(cur), next, diff.Options{})
	if show {
		out.changes["diff"] = d
	} else {
		out.changes["diff"] = "<show_changes=False>"
	}
	if r.Test() {
		return out.pending("Changes would be made")
	}
	if backup && existed {
		if err := os.WriteFile(name+".bak", cur, 0o600); err != nil {
			return out.failed(fmt.Sprintf("Unable to write backup: %v", err))
		}
	}
	if err := writeEdited(r, name, cur, []byte(next), existed, d); err != nil {
		return out.failed(err.Error())
	}
	if !existed && (o.uid >= 0 || o.gid >= 0 || haveFMode) {
		if err := applyPerms(name, o, fmode, haveFMode, false); err != nil {
			return out.failed(err.Error())
		}
	}
	return out.ok("Changes were made")
}
