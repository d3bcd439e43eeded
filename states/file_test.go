package states

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brine-cm/brine/pkg/execmod"
	"github.com/brine-cm/brine/pkg/fileclient"
	"github.com/brine-cm/brine/pkg/testkit"
)

type fileEnv struct {
	t     *testing.T
	dir   string // scratch dir for managed files
	roots string // file roots
	ec    *execmod.Context
	audit *testkit.Recorder
}

func newFileEnv(t *testing.T) *fileEnv {
	t.Helper()
	e := &fileEnv{t: t, dir: t.TempDir(), roots: t.TempDir(), audit: &testkit.Recorder{}}
	e.ec = &execmod.Context{
		Ctx:      context.Background(),
		Files:    fileclient.NewLocal(e.roots),
		Audit:    e.audit,
		Registry: execmod.Builtin(),
		Pillar:   map[string]any{"app": map[string]any{"motd": "from pillar"}},
		Grains:   map[string]any{"os": "Debian"},
		Opts:     map[string]any{"cachedir": filepath.Join(t.TempDir(), "cache")},
		Saltenv:  "base",
	}
	return e
}

func (e *fileEnv) run(fn Func, name string, test bool, args map[string]any) Result {
	e.t.Helper()
	m := map[string]any{}
	for k, v := range args {
		m[k] = v
	}
	if test {
		m["test"] = true
	}
	return fn(&Request{Exec: e.ec, ID: name, Name: name, Args: m})
}

func (e *fileEnv) root(rel, content string) {
	e.t.Helper()
	p := filepath.Join(e.roots, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func resultIs(r Result, want *bool) bool {
	if want == nil || r.Result == nil {
		return want == nil && r.Result == nil
	}
	return *want == *r.Result
}

var (
	yes = func() *bool { b := true; return &b }()
	no  = func() *bool { b := false; return &b }()
)

func expect(t *testing.T, what string, r Result, want *bool, comment string, nChanges int) {
	t.Helper()
	if !resultIs(r, want) {
		t.Fatalf("%s: result %v, want %v (comment %q, changes %v)", what, fmtResult(r.Result), fmtResult(want), r.Comment, r.Changes)
	}
	if comment != "" && !strings.Contains(r.Comment, comment) {
		t.Fatalf("%s: comment %q does not contain %q", what, r.Comment, comment)
	}
	if nChanges >= 0 && len(r.Changes) != nChanges {
		t.Fatalf("%s: %d changes, want %d: %v", what, len(r.Changes), nChanges, r.Changes)
	}
}

func fmtResult(b *bool) string {
	if b == nil {
		return "None"
	}
	return fmt.Sprint(*b)
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFileManagedContents(t *testing.T) {
	e := newFileEnv(t)
	p := filepath.Join(e.dir, "motd")
	args := func() map[string]any { return map[string]any{"contents": "hello", "mode": 640} }

	r := e.run(fileManaged, p, true, args())
	expect(t, "test new", r, nil, "The file "+p+" is set to be changed", 1)
	if r.Changes["newfile"] != p {
		t.Fatalf("test changes = %v", r.Changes)
	}
	if _, err := os.Stat(p); err == nil {
		t.Fatal("test mode created the file")
	}

	r = e.run(fileManaged, p, false, args())
	expect(t, "apply", r, yes, "File "+p+" updated", 2)
	if r.Changes["diff"] != "New file" || r.Changes["mode"] != "0640" {
		t.Fatalf("changes = %v", r.Changes)
	}
	if got := readFile(t, p); got != "hello\n" {
		t.Fatalf("content %q", got)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v", fi.Mode())
	}
	if len(e.audit.Actions) != 1 || e.audit.Actions[0] != "file.changed" || e.audit.Details[0]["after_sha256"] == "" {
		t.Fatalf("audit %v %v", e.audit.Actions, e.audit.Details)
	}

	r = e.run(fileManaged, p, false, args())
	expect(t, "re-apply", r, yes, "File "+p+" is in the correct state", 0)
	r = e.run(fileManaged, p, true, args())
	expect(t, "test after apply", r, yes, "is in the correct state", 0)

	// A content change shows Salt's unified diff.
	r = e.run(fileManaged, p, false, map[string]any{"contents": []any{"hello", "world"}, "mode": "0640"})
	expect(t, "change", r, yes, "updated", 1)
	want := "--- \n+++ \n@@ -1 +1,2 @@\n hello\n+world\n"
	if r.Changes["diff"] != want {
		t.Fatalf("diff %q want %q", r.Changes["diff"], want)
	}
	// A mode change alone.
	r = e.run(fileManaged, p, false, map[string]any{"contents": "hello\nworld", "mode": "0o600"})
	expect(t, "mode only", r, yes, "updated", 1)
	if r.Changes["mode"] != "0600" {
		t.Fatalf("changes %v", r.Changes)
	}
	// show_changes=False hides the diff.
	r = e.run(fileManaged, p, false, map[string]any{"contents": "x", "show_changes": false})
	if r.Changes["diff"] != "<show_changes=False>" {
		t.Fatalf("changes %v", r.Changes)
	}
	// The mode survives a content update when no mode is given.
	fi, _ = os.Stat(p)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode not preserved: %v", fi.Mode())
	}
}

func TestFileManagedSources(t *testing.T) {
	e := newFileEnv(t)
	e.root("app/app.conf", "port=80\n")
	local := filepath.Join(e.dir, "local.src")
	os.WriteFile(local, []byte("local\n"), 0o644)
	p := filepath.Join(e.dir, "sub", "dir", "app.conf")

	r := e.run(fileManaged, p, false, map[string]any{"source": "salt://app/app.conf"})
	expect(t, "no parent", r, no, "Parent directory not present", 0)

	r = e.run(fileManaged, p, false, map[string]any{
		"source": []any{"salt://missing.conf", "salt://app/app.conf"}, "makedirs": true, "dir_mode": "0750"})
	expect(t, "list source", r, yes, "updated", 1)
	if readFile(t, p) != "port=80\n" {
		t.Fatal("content")
	}
	if fi, _ := os.Stat(filepath.Dir(p)); fi.Mode().Perm() != 0o750 {
		t.Fatalf("dir_mode %v", fi.Mode())
	}
	r = e.run(fileManaged, p, false, map[string]any{"source": []any{"salt://missing.conf", "salt://app/app.conf"}})
	expect(t, "list source again", r, yes, "correct state", 0)

	r = e.run(fileManaged, p, false, map[string]any{"source": "salt://nope.conf"})
	expect(t, "missing source", r, no, "Source file salt://nope.conf not found in saltenv 'base'", 0)

	q := filepath.Join(e.dir, "copy")
	r = e.run(fileManaged, q, false, map[string]any{"source": local,
		"source_hash": "sha256=0000000000000000000000000000000000000000000000000000000000000000"})
	expect(t, "bad hash", r, no, "does not match real sum", 0)
	r = e.run(fileManaged, q, false, map[string]any{"source": local,
		"source_hash": sha256Hex([]byte("local\n"))})
	expect(t, "good hash", r, yes, "updated", 1)

	r = e.run(fileManaged, q, false, map[string]any{"source": "salt://a", "contents": "x"})
	expect(t, "source+contents", r, no, "'source' cannot be used in combination", 0)
	r = e.run(fileManaged, q, false, map[string]any{"contents": "x", "contents_pillar": "a"})
	expect(t, "two contents", r, no, "Only one of 'contents'", 0)
}

func TestFileManagedPillarGrainsBackupReplaceCreate(t *testing.T) {
	e := newFileEnv(t)
	p := filepath.Join(e.dir, "motd")
	r := e.run(fileManaged, p, false, map[string]any{"contents_pillar": "app:motd"})
	expect(t, "pillar", r, yes, "updated", 1)
	if readFile(t, p) != "from pillar\n" {
		t.Fatal(readFile(t, p))
	}
	r = e.run(fileManaged, p, false, map[string]any{"contents_pillar": "app:nope"})
	expect(t, "missing pillar", r, no, "Pillar app:nope does not exist", 0)

	r = e.run(fileManaged, p, false, map[string]any{"contents_grains": "os", "backup": "minion"})
	expect(t, "grains", r, yes, "updated", 1)
	if readFile(t, p) != "Debian\n" {
		t.Fatal(readFile(t, p))
	}
	backups, _ := filepath.Glob(filepath.Join(e.ec.Opts["cachedir"].(string), "file_backup", strings.TrimPrefix(p, "/")+"_*"))
	if len(backups) != 1 || readFile(t, backups[0]) != "from pillar\n" {
		t.Fatalf("backups %v", backups)
	}

	r = e.run(fileManaged, p, false, map[string]any{"contents": "other", "replace": false})
	expect(t, "replace false", r, yes, "exists with proper permissions. No changes made.", 0)
	if readFile(t, p) != "Debian\n" {
		t.Fatal("replace=False changed content")
	}
	q := filepath.Join(e.dir, "absent")
	r = e.run(fileManaged, q, false, map[string]any{"contents": "x", "create": false})
	expect(t, "create false", r, yes, "is not present and is not set for creation", 0)
	if _, err := os.Stat(q); err == nil {
		t.Fatal("create=False created")
	}
	// No content at all: an empty file, then no change.
	r = e.run(fileManaged, q, false, nil)
	expect(t, "empty", r, yes, "Empty file", 1)
	r = e.run(fileManaged, q, false, nil)
	expect(t, "empty again", r, yes, "correct state", 0)
}

func TestFileManagedSymlinks(t *testing.T) {
	e := newFileEnv(t)
	target := filepath.Join(e.dir, "target")
	os.WriteFile(target, []byte("old\n"), 0o644)
	link := filepath.Join(e.dir, "link")
	os.Symlink(target, link)
	r := e.run(fileManaged, link, false, map[string]any{"contents": "new"})
	expect(t, "follow", r, yes, "updated", 1)
	if readFile(t, target) != "new\n" {
		t.Fatal("target not written")
	}
	if fi, _ := os.Lstat(link); fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatal("link replaced although follow_symlinks is true")
	}
	r = e.run(fileManaged, link, false, map[string]any{"contents": "mine", "follow_symlinks": false})
	expect(t, "nofollow", r, yes, "updated", 1)
	if fi, _ := os.Lstat(link); fi.Mode()&fs.ModeSymlink != 0 {
		t.Fatal("link kept although follow_symlinks is false")
	}
	if readFile(t, target) != "new\n" {
		t.Fatal("target changed")
	}
}

func TestFileManagedBadArgs(t *testing.T) {
	e := newFileEnv(t)
	p := filepath.Join(e.dir, "f")
	cases := []struct {
		args map[string]any
		msg  string
	}{
		{map[string]any{"contents": "x", "mode": "rwx"}, `file.managed: argument "mode"`},
		{map[string]any{"contents": "x", "mode": []any{1}}, `file.managed: argument "mode"`},
		{map[string]any{"contents": "x", "makedirs": "perhaps"}, `file.managed: argument "makedirs"`},
		{map[string]any{"contents": map[string]any{"a": 1}}, `argument "contents"`},
		{map[string]any{"contents": "x", "user": "no_such_user_brine"}, "User no_such_user_brine is not available"},
		{map[string]any{"contents": "x", "template": "mako"}, "unsupported template engine"},
	}
	for _, c := range cases {
		r := e.run(fileManaged, p, false, c.args)
		expect(t, fmt.Sprint(c.args), r, no, c.msg, 0)
	}
	r := e.run(fileManaged, "relative/path", false, map[string]any{"contents": "x"})
	expect(t, "relative", r, no, "is not an absolute path", 0)
	if _, err := os.Stat(p); err == nil {
		t.Fatal("bad arguments created the file")
	}
}

func TestFileDirectory(t *testing.T) {
	e := newFileEnv(t)
	d := filepath.Join(e.dir, "a", "b")
	r := e.run(fileDirectory, d, false, nil)
	expect(t, "no parent", r, no, "No directory to create", 0)
	r = e.run(fileDirectory, d, true, map[string]any{"makedirs": true})
	expect(t, "test", r, nil, "The following files will be changed:\n"+d+": directory - new\n", 1)
	if _, err := os.Stat(d); err == nil {
		t.Fatal("test mode created the dir")
	}
	r = e.run(fileDirectory, d, false, map[string]any{"makedirs": true, "dir_mode": 750})
	expect(t, "create", r, yes, "Directory "+d+" updated", 1)
	if r.Changes[d] != "New Dir" {
		t.Fatalf("changes %v", r.Changes)
	}
	if fi, _ := os.Stat(d); fi.Mode().Perm() != 0o750 {
		t.Fatalf("mode %v", fi.Mode())
	}
	r = e.run(fileDirectory, d, false, map[string]any{"makedirs": true, "dir_mode": 750})
	expect(t, "again", r, yes, "is in the correct state", 0)

	// recurse mode + clean keeping a required file.
	os.WriteFile(filepath.Join(d, "keep"), []byte("k"), 0o600)
	os.WriteFile(filepath.Join(d, "junk"), []byte("j"), 0o600)
	os.MkdirAll(filepath.Join(d, "sub", "deep"), 0o700)
	os.WriteFile(filepath.Join(d, "skip.log"), []byte("j"), 0o600)
	args := func() map[string]any {
		return map[string]any{"dir_mode": "0750", "file_mode": "0640", "recurse": []any{"mode"},
			"clean": true, "exclude_pat": "*.log", "require": []any{map[string]any{"file": filepath.Join(d, "keep")}}}
	}
	r = e.run(fileDirectory, d, true, args())
	expect(t, "test clean", r, nil, "Removed due to clean", -1)
	if _, err := os.Stat(filepath.Join(d, "junk")); err != nil {
		t.Fatal("test mode removed junk")
	}
	r = e.run(fileDirectory, d, false, args())
	expect(t, "clean", r, yes, "updated", -1)
	if _, err := os.Stat(filepath.Join(d, "junk")); err == nil {
		t.Fatal("junk kept")
	}
	if _, err := os.Stat(filepath.Join(d, "sub")); err == nil {
		t.Fatal("sub kept")
	}
	if fi, err := os.Stat(filepath.Join(d, "keep")); err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("keep: %v %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(d, "skip.log")); err != nil {
		t.Fatal("excluded file removed")
	}
	r = e.run(fileDirectory, d, false, args())
	expect(t, "clean again", r, yes, "is in the correct state", 0)

	r = e.run(fileDirectory, d, false, map[string]any{"recurse": []any{"bogus"}})
	expect(t, "bad recurse", r, no, `file.directory: argument "recurse"`, 0)
	f := filepath.Join(e.dir, "plain")
	os.WriteFile(f, nil, 0o644)
	r = e.run(fileDirectory, f, false, nil)
	expect(t, "file in the way", r, no, "exists and is a file", 0)
}

func TestFileAbsentSymlinkTouchCopy(t *testing.T) {
	e := newFileEnv(t)
	f := filepath.Join(e.dir, "gone")
	os.WriteFile(f, []byte("x"), 0o644)
	expect(t, "absent test", e.run(fileAbsent, f, true, nil), nil, "File "+f+" is set for removal", 1)
	if _, err := os.Stat(f); err != nil {
		t.Fatal("test removed")
	}
	expect(t, "absent", e.run(fileAbsent, f, false, nil), yes, "Removed file "+f, 1)
	expect(t, "absent again", e.run(fileAbsent, f, false, nil), yes, "File "+f+" is not present", 0)
	expect(t, "absent root", e.run(fileAbsent, "/", false, nil), no, `Refusing to make "/" absent`, 0)

	link := filepath.Join(e.dir, "ln")
	args := func(target string) map[string]any { return map[string]any{"target": target} }
	expect(t, "symlink test", e.run(fileSymlink, link, true, args("/etc/hostname")), nil, "is set for creation", 1)
	expect(t, "symlink", e.run(fileSymlink, link, false, args("/etc/hostname")), yes, "Created new symlink "+link+" -> /etc/hostname", 1)
	// Salt names the owner it checked: the running user and that user's
	// primary group when none were given.
	cur, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	grp, err := user.LookupGroupId(cur.Gid)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "symlink again", e.run(fileSymlink, link, false, args("/etc/hostname")), yes,
		"Symlink "+link+" is present and owned by "+cur.Username+":"+grp.Name, 0)
	expect(t, "symlink retarget test", e.run(fileSymlink, link, true, args("/etc/passwd")), nil, "target is set to be changed", 1)
	expect(t, "symlink retarget", e.run(fileSymlink, link, false, args("/etc/passwd")), yes, "Set target of symlink", 1)
	if tg, _ := os.Readlink(link); tg != "/etc/passwd" {
		t.Fatal(tg)
	}
	blocker := filepath.Join(e.dir, "blocker")
	os.WriteFile(blocker, []byte("b"), 0o644)
	expect(t, "symlink over file", e.run(fileSymlink, blocker, false, args("/etc/passwd")), no, "File exists where the symlink", 0)
	r := e.run(fileSymlink, blocker, false, map[string]any{"target": "/etc/passwd", "backupname": "blocker.bak"})
	expect(t, "symlink backup", r, yes, "Created new symlink", -1)
	if readFile(t, blocker+".bak") != "b" {
		t.Fatal("backup missing")
	}
	expect(t, "symlink no target", e.run(fileSymlink, link, false, nil), no, `argument "target" is required`, 0)

	tf := filepath.Join(e.dir, "touched")
	expect(t, "touch test", e.run(fileTouch, tf, true, nil), nil, "is set to be created", 1)
	expect(t, "touch", e.run(fileTouch, tf, false, nil), yes, "Created empty file", 1)
	r = e.run(fileTouch, tf, false, map[string]any{"mtime": 1000000000})
	expect(t, "touch again", r, yes, "Updated times on file", 1)
	if fi, _ := os.Stat(tf); fi.ModTime().Unix() != 1000000000 {
		t.Fatal(fi.ModTime())
	}
	expect(t, "touch bad", e.run(fileTouch, tf, false, map[string]any{"mtime": "soon"}), no, `file.touch: argument "mtime"`, 0)

	src := filepath.Join(e.dir, "src")
	os.WriteFile(src, []byte("source"), 0o600)
	dst := filepath.Join(e.dir, "dst")
	expect(t, "copy test", e.run(fileCopy, dst, true, map[string]any{"source": src}), nil, "is set to be copied", 1)
	expect(t, "copy", e.run(fileCopy, dst, false, map[string]any{"source": src}), yes, `Copied "`+src+`" to "`+dst+`"`, 1)
	expect(t, "copy again", e.run(fileCopy, dst, false, map[string]any{"source": src, "force": true}), yes, "will not be overwritten", 0)
	os.WriteFile(src, []byte("source2"), 0o600)
	expect(t, "copy unforced", e.run(fileCopy, dst, false, map[string]any{"source": src}), yes, "will not be overwritten", 0)
	expect(t, "copy forced", e.run(fileCopy, dst, false, map[string]any{"source": src, "force": true}), yes, "Copied", 1)
	if readFile(t, dst) != "source2" {
		t.Fatal("not copied")
	}
	expect(t, "copy missing", e.run(fileCopy, dst, false, map[string]any{"source": src + "x"}), no, "is not present", 0)
}

func TestFileAppendReplaceLine(t *testing.T) {
	e := newFileEnv(t)
	p := filepath.Join(e.dir, "conf")
	os.WriteFile(p, []byte("a = 1\nb = 2"), 0o640)
	args := func() map[string]any { return map[string]any{"text": []any{"b   =  2", "c = 3\nd = 4"}} }
	r := e.run(fileAppend, p, true, args())
	expect(t, "append test", r, nil, "File "+p+" is set to be updated", 1)
	r = e.run(fileAppend, p, false, args())
	expect(t, "append", r, yes, "Appended 2 lines", 1)
	if got := readFile(t, p); got != "a = 1\nb = 2\nc = 3\nd = 4\n" {
		t.Fatalf("%q", got)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o640 {
		t.Fatal("mode lost")
	}
	expect(t, "append again", e.run(fileAppend, p, false, args()), yes, "is in correct state", 0)
	expect(t, "append bad", e.run(fileAppend, p, false, map[string]any{"text": map[string]any{"x": 1}}), no, `file.append: argument "text"`, 0)

	rargs := func() map[string]any {
		return map[string]any{"pattern": `^(c) = \d+$`, "repl": `\1 = 30`, "append_if_not_found": true}
	}
	r = e.run(fileReplace, p, true, rargs())
	expect(t, "replace test", r, nil, "Changes would have been made", 1)
	r = e.run(fileReplace, p, false, rargs())
	expect(t, "replace", r, yes, "Changes were made", 1)
	if !strings.Contains(readFile(t, p), "c = 30\n") {
		t.Fatal(readFile(t, p))
	}
	if readFile(t, p+".bak") != "a = 1\nb = 2\nc = 3\nd = 4\n" {
		t.Fatal("no .bak")
	}
	expect(t, "replace again", e.run(fileReplace, p, false, rargs()), yes, "No changes needed to be made", 0)
	nf := map[string]any{"pattern": "^e = .*$", "repl": "e = 5", "append_if_not_found": true, "backup": false}
	expect(t, "append_if_not_found", e.run(fileReplace, p, false, nf), yes, "Changes were made", 1)
	expect(t, "append_if_not_found again", e.run(fileReplace, p, false, map[string]any{"pattern": "^e = 9$", "repl": "e = 5", "append_if_not_found": true}), yes, "No changes", 0)
	expect(t, "replace bad pattern", e.run(fileReplace, p, false, map[string]any{"pattern": "(", "repl": "x"}), no, `file.replace: argument "pattern"`, 0)
	expect(t, "replace bad count", e.run(fileReplace, p, false, map[string]any{"pattern": "a", "repl": "x", "count": "many"}), no, `file.replace: argument "count"`, 0)
	ic := map[string]any{"pattern": "A = 1", "repl": "a = 10", "flags": []any{"IGNORECASE", "MULTILINE"}}
	expect(t, "flags", e.run(fileReplace, p, false, ic), yes, "Changes were made", 1)

	largs := func() map[string]any {
		return map[string]any{"content": "  inserted", "mode": "ensure", "after": "^b = "}
	}
	expect(t, "line test", e.run(fileLine, p, true, largs()), nil, "Changes would be made", 1)
	expect(t, "line", e.run(fileLine, p, false, largs()), yes, "Changes were made", 1)
	expect(t, "line again", e.run(fileLine, p, false, largs()), yes, "No changes needed to be made", 0)
	lines := strings.Split(readFile(t, p), "\n")
	if lines[1] != "b = 2" || strings.TrimSpace(lines[2]) != "inserted" {
		t.Fatalf("%q", lines)
	}
	expect(t, "line replace", e.run(fileLine, p, false, map[string]any{"content": "d = 40", "match": "^d = ", "mode": "replace"}), yes, "Changes were made", 1)
	expect(t, "line delete", e.run(fileLine, p, false, map[string]any{"match": "inserted", "mode": "delete"}), yes, "Changes were made", 1)
	expect(t, "line insert start", e.run(fileLine, p, false, map[string]any{"content": "# top", "mode": "insert", "location": "start"}), yes, "Changes were made", 1)
	expect(t, "line insert again", e.run(fileLine, p, false, map[string]any{"content": "# top", "mode": "insert", "location": "start"}), yes, "No changes", 0)
	if got := readFile(t, p); got != "# top\na = 10\nb = 2\nc = 30\nd = 40\ne = 5\n" {
		t.Fatalf("%q", got)
	}
	expect(t, "line bad mode", e.run(fileLine, p, false, map[string]any{"content": "x", "mode": "upsert"}), no, `file.line: argument "mode"`, 0)
}

func TestFileRecurse(t *testing.T) {
	e := newFileEnv(t)
	e.root("site/index.html", "<h1>hi</h1>\n")
	e.root("site/css/main.css", "body{}\n")
	e.root("site/skip.tmp", "tmp\n")
	dst := filepath.Join(e.dir, "www")
	os.MkdirAll(dst, 0o755)
	os.WriteFile(filepath.Join(dst, "stale.html"), []byte("old"), 0o644)
	args := func() map[string]any {
		return map[string]any{"source": "salt://site", "clean": true, "file_mode": "0640", "exclude_pat": "*.tmp"}
	}
	r := e.run(fileRecurse, dst, true, args())
	expect(t, "recurse test", r, nil, "", -1)
	if _, err := os.Stat(filepath.Join(dst, "index.html")); err == nil {
		t.Fatal("test mode wrote")
	}
	r = e.run(fileRecurse, dst, false, args())
	expect(t, "recurse", r, yes, "Recursively updated "+dst, 3)
	if readFile(t, filepath.Join(dst, "css", "main.css")) != "body{}\n" {
		t.Fatal("css")
	}
	if _, err := os.Stat(filepath.Join(dst, "stale.html")); err == nil {
		t.Fatal("stale kept")
	}
	if _, err := os.Stat(filepath.Join(dst, "skip.tmp")); err == nil {
		t.Fatal("excluded file copied")
	}
	if fi, _ := os.Stat(filepath.Join(dst, "index.html")); fi.Mode().Perm() != 0o640 {
		t.Fatal(fi.Mode())
	}
	r = e.run(fileRecurse, dst, false, args())
	expect(t, "recurse again", r, yes, "is in the correct state", 0)
	expect(t, "recurse bad source", e.run(fileRecurse, dst, false, map[string]any{"source": "/srv"}), no, "must be a salt:// URI", 0)
}

// BenchmarkFileManagedNoop measures the steady state of a highstate:
// 300 file.managed states whose files are already correct.
func BenchmarkFileManagedNoop(b *testing.B) {
	dir := b.TempDir()
	ec := &execmod.Context{Ctx: context.Background()}
	reqs := make([]*Request, 300)
	for i := range reqs {
		p := filepath.Join(dir, fmt.Sprintf("f%03d.conf", i))
		args := map[string]any{"contents": strings.Repeat(fmt.Sprintf("line %d\n", i), 40), "mode": "0644"}
		reqs[i] = &Request{Exec: ec, ID: p, Name: p, Args: args}
		if r := fileManaged(reqs[i]); r.Result == nil || !*r.Result {
			b.Fatal(r.Comment)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		for _, r := range reqs {
			if res := fileManaged(r); len(res.Changes) != 0 {
				b.Fatal("not a no-op")
			}
		}
	}
}

// BenchmarkFileManagedFirst300 measures the first apply of 300
// file.managed states with 1 KB salt:// sources into a fresh directory:
// confining and reading each source, writing each new file.
func BenchmarkFileManagedFirst300(b *testing.B) {
	roots := b.TempDir()
	if err := os.MkdirAll(filepath.Join(roots, "src"), 0o755); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 300; i++ {
		body := strings.Repeat(fmt.Sprintf("%05d %s\n", i, strings.Repeat("x", 57)), 15)
		if err := os.WriteFile(filepath.Join(roots, "src", fmt.Sprintf("f%03d", i)), []byte(body), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	ec := &execmod.Context{Ctx: context.Background(), Files: fileclient.NewLocal(roots), Saltenv: "base", Opts: map[string]any{}}
	out := b.TempDir()
	n := 0
	for b.Loop() {
		dir := filepath.Join(out, fmt.Sprint(n), "files")
		n++
		for i := 0; i < 300; i++ {
			p := filepath.Join(dir, fmt.Sprintf("f%03d", i))
			args := map[string]any{"source": fmt.Sprintf("salt://src/f%03d", i), "makedirs": true}
			if r := fileManaged(&Request{Exec: ec, ID: p, Name: p, Args: args}); r.Result == nil || !*r.Result || len(r.Changes) == 0 {
				b.Fatal(r.Comment)
			}
		}
	}
}

func TestFileManagedTemplate(t *testing.T) {
	e := newFileEnv(t)
	e.root("tpl/motd.j2", "os={{ grains['os'] }} motd={{ pillar['app']['motd'] }} who={{ who }} port={{ port }}\n")
	p := filepath.Join(e.dir, "motd")
	args := func() map[string]any {
		return map[string]any{"source": "salt://tpl/motd.j2", "template": "jinja",
			"defaults": map[string]any{"who": "default", "port": 80}, "context": map[string]any{"who": "context"}}
	}
	r := e.run(fileManaged, p, false, args())
	expect(t, "render", r, yes, "updated", 1)
	if got := readFile(t, p); got != "os=Debian motd=from pillar who=context port=80\n" {
		t.Fatalf("rendered %q", got)
	}
	expect(t, "render again", e.run(fileManaged, p, false, args()), yes, "correct state", 0)
	r = e.run(fileManaged, p, false, map[string]any{"contents": "x={{ 1 + 2 }}", "template": "jinja"})
	expect(t, "contents template", r, yes, "updated", 1)
	if readFile(t, p) != "x=3\n" {
		t.Fatal(readFile(t, p))
	}
	e.root("tpl/bad.j2", "{% if %}\n")
	r = e.run(fileManaged, p, false, map[string]any{"source": "salt://tpl/bad.j2", "template": "jinja"})
	expect(t, "bad template", r, no, "Unable to manage file", 0)
	if readFile(t, p) != "x=3\n" {
		t.Fatal("a failed render changed the file")
	}
}

func TestFileRecurseTemplateAndEmptyDirs(t *testing.T) {
	e := newFileEnv(t)
	e.root("conf/app.ini", "name={{ grains['os'] }}\n")
	os.MkdirAll(filepath.Join(e.roots, "conf", "empty", "deeper"), 0o755)
	dst := filepath.Join(e.dir, "etc-app")
	args := func() map[string]any {
		return map[string]any{"source": "salt://conf", "template": "jinja", "include_empty": true, "dir_mode": "0750"}
	}
	r := e.run(fileRecurse, dst, false, args())
	expect(t, "recurse", r, yes, "Recursively updated", -1)
	if readFile(t, filepath.Join(dst, "app.ini")) != "name=Debian\n" {
		t.Fatal(readFile(t, filepath.Join(dst, "app.ini")))
	}
	if fi, err := os.Stat(filepath.Join(dst, "empty", "deeper")); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o750 {
		t.Fatalf("empty dir: %v %v", fi, err)
	}
	expect(t, "recurse again", e.run(fileRecurse, dst, false, args()), yes, "is in the correct state", 0)
	expect(t, "recurse test", e.run(fileRecurse, dst, true, args()), yes, "is in the correct state", 0)
}

func TestFileManagedCheckCmd(t *testing.T) {
	e := newFileEnv(t)
	p := filepath.Join(e.dir, "sudoers")
	os.WriteFile(p, []byte("good\n"), 0o440)
	r := e.run(fileManaged, p, false, map[string]any{"contents": "bad", "check_cmd": "grep -q good"})
	expect(t, "check fails", r, no, "check_cmd execution failed", 0)
	if readFile(t, p) != "good\n" {
		t.Fatal("failed check_cmd still installed the content")
	}
	r = e.run(fileManaged, p, false, map[string]any{"contents": "good again", "check_cmd": "grep -q good"})
	expect(t, "check passes", r, yes, "updated", 1)
	if readFile(t, p) != "good again\n" {
		t.Fatal(readFile(t, p))
	}
}

func TestFileBlockreplaceExistsMissing(t *testing.T) {
	e := newFileEnv(t)
	p := filepath.Join(e.dir, "hosts")
	os.WriteFile(p, []byte("127.0.0.1 localhost\n# BEGIN brine\nold\n# END brine\ntail\n"), 0o644)
	args := func() map[string]any {
		return map[string]any{"marker_start": "# BEGIN brine", "marker_end": "# END brine", "content": "10.0.0.1 a\n10.0.0.2 b", "backup": false}
	}
	expect(t, "test", e.run(fileBlockreplace, p, true, args()), nil, "Changes would be made", 1)
	expect(t, "apply", e.run(fileBlockreplace, p, false, args()), yes, "Changes were made", 1)
	if got := readFile(t, p); got != "127.0.0.1 localhost\n# BEGIN brine\n10.0.0.1 a\n10.0.0.2 b\n# END brine\ntail\n" {
		t.Fatalf("%q", got)
	}
	expect(t, "again", e.run(fileBlockreplace, p, false, args()), yes, "No changes needed to be made", 0)
	q := filepath.Join(e.dir, "nomarkers")
	os.WriteFile(q, []byte("x"), 0o644)
	expect(t, "no markers", e.run(fileBlockreplace, q, false, args()), no, "Markers were not found", 0)
	ap := args()
	ap["append_if_not_found"] = true
	expect(t, "append", e.run(fileBlockreplace, q, false, ap), yes, "Changes were made", 1)
	expect(t, "append again", e.run(fileBlockreplace, q, false, ap), yes, "No changes", 0)
	if got := readFile(t, q); got != "x\n# BEGIN brine\n10.0.0.1 a\n10.0.0.2 b\n# END brine\n" {
		t.Fatalf("%q", got)
	}
	expect(t, "bad bool", e.run(fileBlockreplace, q, false, map[string]any{"append_if_not_found": "sometimes"}), no, `file.blockreplace: argument "append_if_not_found"`, 0)

	expect(t, "exists", e.run(fileExists, p, false, nil), yes, "Path "+p+" exists", 0)
	expect(t, "exists missing", e.run(fileExists, p+"x", false, nil), no, "does not exist", 0)
	expect(t, "missing", e.run(fileMissing, p+"x", false, nil), yes, "is missing", 0)
	expect(t, "missing exists", e.run(fileMissing, p, false, nil), no, "Specified path "+p+" exists", 0)
}

func TestFileCommentUncommentRename(t *testing.T) {
	e := newFileEnv(t)
	p := filepath.Join(e.dir, "sshd_config")
	os.WriteFile(p, []byte("Port 22\nPermitRootLogin yes\nUsePAM yes\n"), 0o600)
	args := map[string]any{"regex": "^PermitRootLogin", "backup": false}
	expect(t, "comment test", e.run(fileComment, p, true, args), nil, "is set to be updated", 1)
	expect(t, "comment", e.run(fileComment, p, false, args), yes, "Commented lines successfully", 1)
	if readFile(t, p) != "Port 22\n#PermitRootLogin yes\nUsePAM yes\n" {
		t.Fatalf("%q", readFile(t, p))
	}
	expect(t, "comment again", e.run(fileComment, p, false, args), yes, "Pattern already commented", 0)
	expect(t, "comment missing", e.run(fileComment, p, false, map[string]any{"regex": "^Nope"}), no, "Nope: Pattern not found", 0)
	expect(t, "uncomment", e.run(fileUncomment, p, false, args), yes, "Uncommented lines successfully", 1)
	if readFile(t, p) != "Port 22\nPermitRootLogin yes\nUsePAM yes\n" {
		t.Fatalf("%q", readFile(t, p))
	}
	expect(t, "uncomment again", e.run(fileUncomment, p, false, args), yes, "Pattern already uncommented", 0)
	expect(t, "comment bad", e.run(fileComment, p, false, map[string]any{"regex": "("}), no, `file.comment: argument "regex"`, 0)

	dst := filepath.Join(e.dir, "moved", "sshd_config")
	rargs := map[string]any{"source": p, "makedirs": true}
	expect(t, "rename test", e.run(fileRename, dst, true, rargs), nil, "is set to be moved", 1)
	expect(t, "rename", e.run(fileRename, dst, false, rargs), yes, "Moved", 1)
	expect(t, "rename again", e.run(fileRename, dst, false, rargs), yes, "has already been moved out of place", 0)
	if readFile(t, dst) != "Port 22\nPermitRootLogin yes\nUsePAM yes\n" {
		t.Fatal("content lost")
	}
}
