package states

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/user"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/brine-cm/brine/pkg/diff"
	"github.com/brine-cm/brine/pkg/execmod"
	"github.com/brine-cm/brine/pkg/fileclient"
)

// File is Salt's file state module: the functions that converge files,
// directories and links, with Salt's argument names, changes dicts and
// comments so existing SLS trees and the tools reading their results work
// unchanged. The file module has no mod_watch, as in Salt.
func File() *Module {
	common := []string{"user", "group", "makedirs", "dir_mode", "follow_symlinks"}
	return &Module{
		Name: "file",
		Funcs: map[string]Func{
			"managed":      fileManaged,
			"directory":    fileDirectory,
			"absent":       fileAbsent,
			"symlink":      fileSymlink,
			"append":       fileAppend,
			"replace":      fileReplace,
			"line":         fileLine,
			"touch":        fileTouch,
			"copy":         fileCopy,
			"recurse":      fileRecurse,
			"exists":       fileExists,
			"missing":      fileMissing,
			"blockreplace": fileBlockreplace,
			"comment":      fileComment,
			"uncomment":    fileUncomment,
			"rename":       fileRename,
		},
		Args: map[string][]string{
			"managed": append([]string{"source", "source_hash", "source_hash_name", "skip_verify",
				"contents", "contents_pillar", "contents_grains", "contents_newline",
				"contents_delimiter", "allow_empty", "template", "context", "defaults", "mode",
				"backup", "show_changes", "replace", "create", "tmp_dir", "encoding", "attrs",
				"keep_source", "check_cmd", "win_owner", "win_perms", "win_deny_perms",
				"win_inheritance", "win_perms_reset", "selinux", "saltenv", "tmp_ext",
				"encoding_errors", "verify_ssl", "use_etag", "source_hash_sig", "signed_by_any",
				"signed_by_all", "keyring", "gnupghome", "ignore_ordering", "ignore_whitespace",
				"ignore_comment_characters", "new_file_diff"}, common...),
			"directory": append([]string{"file_mode", "recurse", "clean", "exclude_pat",
				"max_depth", "allow_symlink", "force", "backupname", "children_only",
				"require_in", "watch_in"}, common...),
			"absent": nil,
			"symlink": append([]string{"target", "force", "backupname", "mode",
				"allow_missing", "win_owner", "win_perms", "win_deny_perms", "win_inheritance",
				"atomic", "disallow_copy_and_unlink", "inherit_user_and_group"}, common...),
			"append": {"text", "makedirs", "source", "source_hash", "template", "sources",
				"source_hashes", "defaults", "context", "ignore_whitespace"},
			"replace": {"pattern", "repl", "count", "flags", "bufsize", "append_if_not_found",
				"prepend_if_not_found", "not_found_content", "backup", "show_changes",
				"ignore_if_missing", "backslash_literal", "search_only"},
			"line": {"content", "match", "mode", "location", "before", "after",
				"show_changes", "backup", "quiet", "indent", "create", "user", "group",
				"file_mode"},
			"touch":     {"atime", "mtime", "makedirs"},
			"comment":   {"regex", "char", "backup", "ignore_missing"},
			"uncomment": {"regex", "char", "backup"},
			"rename":    {"source", "force", "makedirs"},
			"exists":    nil,
			"missing":   nil,
			"blockreplace": {"marker_start", "marker_end", "source", "source_hash", "template",
				"sources", "source_hashes", "defaults", "context", "content", "append_if_not_found",
				"prepend_if_not_found", "backup", "show_changes", "append_newline", "insert_before_match",
				"insert_after_match"},
			"copy": append([]string{"source", "force", "preserve", "mode", "subdir"}, common...),
			"recurse": append([]string{"source", "clean", "require", "include_empty",
				"file_mode", "sym_mode", "template", "context", "defaults", "include_pat",
				"exclude_pat", "maxdepth", "keep_symlinks", "force_symlinks", "saltenv"}, common...),
		},
	}
}

// testNote is appended by Salt to file.managed's test-mode comment.
const testNote = "\nNote: No changes made, actual changes may\nbe different due to other states."

// owner is a desired owner: the names Salt reports and the ids to set.
// A negative id means "leave as is".
type owner struct {
	user, group string
	uid, gid    int
}

// resolveOwner looks up user and group names (or numeric ids), giving
// Salt's "User X is not available" message for unknown ones.
func resolveOwner(userName, groupName string) (owner, error) {
	o := owner{user: userName, group: groupName, uid: -1, gid: -1}
	var msg string
	if userName != "" {
		if u, err := lookupUser(userName); err == nil {
			o.uid = u
		} else {
			msg += fmt.Sprintf("User %s is not available ", userName)
		}
	}
	if groupName != "" {
		if g, err := lookupGroup(groupName); err == nil {
			o.gid = g
		} else {
			msg += fmt.Sprintf("Group %s is not available", groupName)
		}
	}
	if msg != "" {
		return o, errors.New(strings.TrimSpace(msg))
	}
	return o, nil
}

func lookupUser(name string) (int, error) {
	if u, err := user.Lookup(name); err == nil {
		return strconv.Atoi(u.Uid)
	}
	if u, err := user.LookupId(name); err == nil {
		return strconv.Atoi(u.Uid)
	}
	return -1, fmt.Errorf("user %q not found", name)
}

func lookupGroup(name string) (int, error) {
	if g, err := user.LookupGroup(name); err == nil {
		return strconv.Atoi(g.Gid)
	}
	if g, err := user.LookupGroupId(name); err == nil {
		return strconv.Atoi(g.Gid)
	}
	return -1, fmt.Errorf("group %q not found", name)
}

// permChanges compares a file's owner and mode with the wanted ones and
// returns Salt's changes entries ("user", "group", "mode").
func permChanges(fi fs.FileInfo, o owner, modeStr string, mode uint32, haveMode bool) map[string]any {
	ch := map[string]any{}
	st, _ := fi.Sys().(*syscall.Stat_t)
	if st != nil {
		if o.uid >= 0 && int(st.Uid) != o.uid {
			ch["user"] = o.user
		}
		if o.gid >= 0 && int(st.Gid) != o.gid {
			ch["group"] = o.group
		}
	}
	if haveMode && fi.Mode()&fs.ModeSymlink == 0 && unixPerm(fi) != mode {
		ch["mode"] = modeStr
	}
	return ch
}

// unixPerm returns the permission bits including setuid, setgid, sticky.
func unixPerm(fi fs.FileInfo) uint32 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Mode & 0o7777
	}
	return uint32(fi.Mode().Perm())
}

// applyPerms sets owner and mode on p (not following a final symlink for
// the owner when nofollow is set).
func applyPerms(p string, o owner, mode uint32, haveMode, nofollow bool) error {
	if o.uid >= 0 || o.gid >= 0 {
		chown := os.Chown
		if nofollow {
			chown = os.Lchown
		}
		if err := chown(p, o.uid, o.gid); err != nil {
			return fmt.Errorf("chown %s: %w", p, err)
		}
	}
	if haveMode {
		if err := syscall.Chmod(p, mode); err != nil {
			return fmt.Errorf("chmod %s: %w", p, err)
		}
	}
	return nil
}

// writeAtomic replaces p with data through a temporary file in the same
// directory and a rename, so readers never see a half-written file. The
// new file gets mode and owner (perm<0 or id<0: taken from prev, the file
// being replaced, when there is one). Only a replacement is fsynced. The
// temporary file is handled with plain system calls: an os.File would add
// five per file (non-blocking mode set and cleared, a poller registration
// that fails for regular files) and os.Rename an Lstat of p, a look-up of
// a name that does not exist yet, to every file a first apply creates.
func writeAtomic(p string, data []byte, mode uint32, o owner, prev fs.FileInfo) error {
	dir, base := filepath.Split(p)
	if dir == "" {
		dir = "."
	}
	uid, gid := o.uid, o.gid
	if st, ok := sysStat(prev); ok {
		if uid < 0 {
			uid = int(st.Uid)
		}
		if gid < 0 {
			gid = int(st.Gid)
		}
	}
	fd, name, err := createTemp(dir, "."+base+".brine-")
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	cleanup := func(e error) error {
		syscall.Close(fd)
		syscall.Unlink(name)
		return fmt.Errorf("write %s: %w", p, e)
	}
	for b := data; len(b) > 0; {
		n, err := syscall.Write(fd, b)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return cleanup(&fs.PathError{Op: "write", Path: name, Err: err})
		}
		b = b[n:]
	}
	if uid >= 0 || gid >= 0 {
		if err := syscall.Fchown(fd, uid, gid); err != nil {
			return cleanup(&fs.PathError{Op: "chown", Path: name, Err: err})
		}
	}
	if err := syscall.Fchmod(fd, mode); err != nil {
		return cleanup(err)
	}
	// Replacing an existing file: flush the new content before the
	// rename, so a crash leaves the old file or the new one, never an
	// empty one. A file that did not exist has nothing to lose, and a
	// re-apply converges it, so a first apply of thousands of files is
	// not paced by one fsync each (Salt does not fsync at all).
	if prev != nil {
		if err := syscall.Fsync(fd); err != nil {
			return cleanup(&fs.PathError{Op: "sync", Path: name, Err: err})
		}
	}
	if err := syscall.Close(fd); err != nil {
		syscall.Unlink(name)
		return fmt.Errorf("write %s: %w", p, &fs.PathError{Op: "close", Path: name, Err: err})
	}
	if err := syscall.Rename(name, p); err != nil {
		syscall.Unlink(name)
		if err == syscall.EISDIR {
			// os.Rename's answer for a directory in the way, which it
			// finds with an Lstat of p before every rename.
			err = syscall.EEXIST
		}
		return fmt.Errorf("write %s: %w", p, &os.LinkError{Op: "rename", Old: name, New: p, Err: err})
	}
	return nil
}

// createTemp is os.CreateTemp(dir, prefix) returning a bare descriptor:
// a new file readable and writable by its owner only, named prefix and a
// random number, created exclusively.
func createTemp(dir, prefix string) (int, string, error) {
	for try := 0; ; try++ {
		name := filepath.Join(dir, prefix+strconv.FormatUint(uint64(rand.Uint32()), 10))
		fd, err := syscall.Open(name, syscall.O_RDWR|syscall.O_CREAT|syscall.O_EXCL|syscall.O_CLOEXEC, 0o600)
		if err == nil {
			return fd, name, nil
		}
		if err != syscall.EEXIST || try == 10000 {
			return -1, "", &fs.PathError{Op: "createtemp", Path: filepath.Join(dir, prefix+"*"), Err: err}
		}
	}
}

func sysStat(fi fs.FileInfo) (*syscall.Stat_t, bool) {
	if fi == nil {
		return nil, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return st, ok
}

// makeParents creates the missing parents of p with dir_mode and the
// owner, as Salt's makedirs does.
func makeParents(dir string, o owner, mode uint32, haveMode bool) error {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s exists and is not a directory", dir)
		}
		return nil
	}
	if err := makeParents(filepath.Dir(dir), o, mode, haveMode); err != nil {
		return err
	}
	perm := uint32(0o755)
	if haveMode {
		perm = mode
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("makedirs %s: %w", dir, err)
	}
	return applyPerms(dir, o, perm, true, false)
}

// backupMinion keeps a copy of p under the minion's cache directory
// (cachedir/file_backup/<path>_<time>) before it is replaced, as Salt's
// backup: minion does.
func backupMinion(ec *execmod.Context, p string) (string, error) {
	root := ""
	if ec != nil && ec.Opts != nil {
		root, _ = ec.Opts["cachedir"].(string)
	}
	if root == "" {
		root = filepath.Join(os.TempDir(), "brine-cache")
	}
	stamp := time.Now().Format("Mon_Jan_02_15:04:05.000000_2006")
	stamp = strings.Replace(stamp, ".", "_", 1)
	dst := filepath.Join(root, "file_backup", strings.TrimPrefix(p, "/")+"_"+stamp)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return "", fmt.Errorf("backup %s: %w", p, err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("backup %s: %w", p, err)
	}
	if err := os.WriteFile(dst, data, 0o600); err != nil {
		return "", fmt.Errorf("backup %s: %w", p, err)
	}
	return dst, nil
}

// fileDiff is what Salt shows in changes['diff'].
func fileDiff(before, after []byte, show bool) string {
	if !show {
		return "<show_changes=False>"
	}
	if diff.IsBinary(before) || diff.IsBinary(after) {
		return "Replace binary file"
	}
	return diff.Unified(string(before), string(after), diff.Options{})
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// recordFile logs a changed file to the host's audit trail. With no
// audit trail (a masterless call) there is nothing to hash the content
// for.
func recordFile(ec *execmod.Context, p string, before, after []byte, existed bool, d string) {
	if ec == nil || ec.Audit == nil {
		return
	}
	bs := ""
	if existed {
		bs = sha256Hex(before)
	}
	as := ""
	if after != nil {
		as = sha256Hex(after)
	}
	ec.Record("file.changed", map[string]any{"path": p, "before_sha256": bs, "after_sha256": as, "diff_bytes": len(d)})
}

// source is one resolved file.managed source.
type fileSource struct {
	url  string // as given
	data []byte
	rel  string // path used to name the template (relative to the roots for salt://)
}

// fetchSource reads one source: salt:// through the file client, a local
// path or file:// from disk. found is false when it does not exist.
func fetchSource(ec *execmod.Context, src string) (fileSource, bool, error) {
	switch {
	case strings.HasPrefix(src, "salt://"):
		if ec == nil || ec.Files == nil {
			return fileSource{}, false, fmt.Errorf("no file client to fetch %s", src)
		}
		data, err := readSalt(ec, src)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || strings.Contains(strings.ToLower(err.Error()), "not found") ||
				strings.Contains(strings.ToLower(err.Error()), "no such file") {
				return fileSource{}, false, nil
			}
			return fileSource{}, false, err
		}
		rel := strings.TrimPrefix(src, "salt://")
		if i := strings.IndexByte(rel, '?'); i >= 0 {
			rel = rel[:i]
		}
		return fileSource{url: src, data: data, rel: rel}, true, nil
	case strings.HasPrefix(src, "file://"), strings.HasPrefix(src, "/"):
		p := strings.TrimPrefix(src, "file://")
		data, err := os.ReadFile(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fileSource{}, false, nil
			}
			return fileSource{}, false, err
		}
		return fileSource{url: src, data: data, rel: p}, true, nil
	}
	return fileSource{}, false, fmt.Errorf("unsupported source %q (want salt://, file:// or an absolute path)", src)
}

// readSalt reads a salt:// file through the context's file client. A
// file of the local client (call --local) is located with its Find,
// which confines it to the roots as its Read does, and read with plain
// system calls, where os.ReadFile also switches the descriptor to
// non-blocking and back and tries to register it with the poller: five
// more system calls for every managed file.
func readSalt(ec *execmod.Context, url string) ([]byte, error) {
	l, ok := ec.Files.(*fileclient.Local)
	if !ok {
		return ec.Files.Read(ec.Context(), url)
	}
	p, err := l.Find(url)
	if err != nil {
		return nil, err
	}
	b, err := readRegular(p)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", url, err)
	}
	return b, nil
}

// readCurrent reads the file being managed, fi its Lstat: a regular
// file without the poller, anything else (a FIFO, a device) as
// os.ReadFile does.
func readCurrent(p string, fi fs.FileInfo) ([]byte, error) {
	if fi.Mode().IsRegular() {
		return readRegular(p)
	}
	return os.ReadFile(p)
}

// readRegular is os.ReadFile for a regular file, without the poller.
func readRegular(p string) ([]byte, error) {
	fd, err := syscall.Open(p, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: p, Err: err}
	}
	defer syscall.Close(fd)
	size := 512
	var st syscall.Stat_t
	if syscall.Fstat(fd, &st) == nil && st.Size > 0 && st.Size < 1<<30 {
		size = int(st.Size) + 1 // one more, to see EOF without growing
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := syscall.Read(fd, buf[len(buf):cap(buf)])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: p, Err: err}
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}

// checkSourceHash verifies data against a Salt source_hash: "algo=hex",
// a bare hex digest (algorithm from its length) or a salt:// or local
// file holding hashes (the line naming nameHint, else the only hash).
func checkSourceHash(ec *execmod.Context, spec, nameHint string, data []byte) (string, string, error) {
	spec = strings.TrimSpace(spec)
	if strings.HasPrefix(spec, "salt://") || strings.HasPrefix(spec, "/") || strings.HasPrefix(spec, "file://") {
		hs, found, err := fetchSource(ec, spec)
		if err != nil {
			return "", "", err
		}
		if !found {
			return "", "", fmt.Errorf("source_hash file %s not found", spec)
		}
		spec, err = pickHash(string(hs.data), nameHint)
		if err != nil {
			return "", "", fmt.Errorf("source_hash file %s: %w", spec, err)
		}
	}
	algo, want, ok := strings.Cut(spec, "=")
	if !ok {
		algo, want = "", spec
	}
	want = strings.ToLower(strings.TrimSpace(want))
	if algo == "" {
		switch len(want) {
		case 32:
			algo = "md5"
		case 40:
			algo = "sha1"
		case 64:
			algo = "sha256"
		case 128:
			algo = "sha512"
		default:
			return "", "", fmt.Errorf("invalid source_hash %q", spec)
		}
	}
	var h hash.Hash
	switch strings.ToLower(algo) {
	case "md5":
		h = md5.New()
	case "sha1":
		h = sha1.New()
	case "sha224":
		h = sha256.New224()
	case "sha256":
		h = sha256.New()
	case "sha384":
		h = sha512.New384()
	case "sha512":
		h = sha512.New()
	default:
		return "", "", fmt.Errorf("unsupported hash type %q in source_hash", algo)
	}
	h.Write(data)
	return want, hex.EncodeToString(h.Sum(nil)), nil
}

func pickHash(text, nameHint string) (string, error) {
	var only []string
	base := path.Base(nameHint)
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if strings.Contains(f[0], "=") {
			only = append(only, f[0])
			continue
		}
		if len(f) >= 2 {
			fn := strings.TrimPrefix(f[len(f)-1], "*")
			if fn == nameHint || path.Base(fn) == base {
				return f[0], nil
			}
		}
		only = append(only, f[0])
	}
	if len(only) == 1 {
		return only[0], nil
	}
	return "", fmt.Errorf("no hash found for %s", nameHint)
}

// lookupPath walks a colon-delimited path ("a:b:c") through nested maps,
// as Salt's pillar.get / grains.get do.
func lookupPath(m map[string]any, key, delim string) (any, bool) {
	if delim == "" {
		delim = ":"
	}
	var cur any = m
	for _, part := range strings.Split(key, delim) {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = mm[part]
		if !ok {
			return nil, false
		}
	}
	return cur, true
}

// contentsString turns Salt's contents value (string, scalar or list of
// them) into text.
func contentsString(v any) (string, error) {
	switch x := v.(type) {
	case []any:
		parts := make([]string, 0, len(x))
		for i, e := range x {
			if e == nil {
				continue
			}
			s, ok := execmod.ToString(e)
			if !ok {
				return "", &execmod.ArgError{Arg: "contents", Want: "a string or a list of strings", Got: v,
					Msg: fmt.Sprintf("item %d is not a string", i)}
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, "\n"), nil
	case []string:
		return strings.Join(x, "\n"), nil
	case map[string]any:
		return "", &execmod.ArgError{Arg: "contents", Want: "a string or a list of strings", Got: v}
	}
	s, ok := execmod.ToString(v)
	if !ok {
		return "", &execmod.ArgError{Arg: "contents", Want: "a string or a list of strings", Got: v}
	}
	return s, nil
}

// templateVars merges defaults and context as Salt does (context wins).
func templateVars(defaults, context map[string]any) map[string]any {
	vars := map[string]any{}
	for k, v := range defaults {
		vars[k] = v
	}
	for k, v := range context {
		vars[k] = v
	}
	return vars
}

// renderTemplate applies the template engine named by template.
func renderTemplate(ec *execmod.Context, engine, name string, src []byte, vars map[string]any) ([]byte, error) {
	switch strings.ToLower(engine) {
	case "":
		return src, nil
	case "jinja":
		out, err := renderFileJinja(ec, name, src, vars)
		if err != nil {
			return nil, err
		}
		return []byte(out), nil
	}
	return nil, fmt.Errorf("unsupported template engine %q (only jinja is available)", engine)
}

// desiredContent works out what file.managed wants the file to hold.
// have is false when no content is managed (no source, no contents).
func desiredContent(r *Request, a *modArgs, name string) (data []byte, have bool, srcURL string, err error) {
	ec := r.Exec
	nContents := 0
	for _, k := range []string{"contents", "contents_pillar", "contents_grains"} {
		if a.has(k) {
			nContents++
		}
	}
	if nContents > 1 {
		return nil, false, "", errors.New("Only one of 'contents', 'contents_pillar', and 'contents_grains' is permitted")
	}
	if nContents == 1 && a.has("source") {
		return nil, false, "", errors.New("'source' cannot be used in combination with 'contents', 'contents_pillar', or 'contents_grains'")
	}
	engine := a.str("template", "")
	vars := templateVars(a.mapping("defaults"), a.mapping("context"))
	if a.err != nil {
		return nil, false, "", a.err
	}
	if nContents == 1 {
		var raw any
		switch {
		case a.has("contents"):
			raw = a.m["contents"]
		case a.has("contents_pillar"):
			key := a.str("contents_pillar", "")
			var pillar map[string]any
			if ec != nil {
				pillar = ec.Pillar
			}
			v, ok := lookupPath(pillar, key, a.str("contents_delimiter", ":"))
			if !ok {
				return nil, false, "", fmt.Errorf("Pillar %s does not exist", key)
			}
			raw = v
		default:
			key := a.str("contents_grains", "")
			var grains map[string]any
			if ec != nil {
				grains = ec.Grains
			}
			v, ok := lookupPath(grains, key, a.str("contents_delimiter", ":"))
			if !ok {
				return nil, false, "", fmt.Errorf("Grain %s does not exist", key)
			}
			raw = v
		}
		text, err := contentsString(raw)
		if err != nil {
			return nil, false, "", fmt.Errorf("%s: %w", a.fn, err)
		}
		if engine != "" {
			out, err := renderTemplate(ec, engine, name, []byte(text), vars)
			if err != nil {
				return nil, false, "", fmt.Errorf("Unable to manage file: %w", err)
			}
			text = string(out)
		}
		if a.boolean("contents_newline", true) && !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		return []byte(text), true, "", a.err
	}
	if !a.has("source") {
		return nil, false, "", nil
	}
	sources := a.strList("source")
	if a.err != nil {
		return nil, false, "", a.err
	}
	var src fileSource
	found := false
	for _, s := range sources {
		got, ok, err := fetchSource(ec, s)
		if err != nil {
			return nil, false, "", fmt.Errorf("Unable to manage file: %w", err)
		}
		if ok {
			src, found = got, true
			break
		}
	}
	if !found {
		if len(sources) == 1 {
			env := "base"
			if ec != nil && ec.Saltenv != "" {
				env = ec.Saltenv
			}
			return nil, false, "", fmt.Errorf("Source file %s not found in saltenv '%s'", sources[0], env)
		}
		return nil, false, "", errors.New("Unable to manage file: none of the specified sources were found")
	}
	if a.has("source_hash") && !a.boolean("skip_verify", false) {
		want, got, err := checkSourceHash(ec, a.str("source_hash", ""), firstNonEmpty(a.str("source_hash_name", ""), name), src.data)
		if err != nil {
			return nil, false, "", fmt.Errorf("Unable to manage file: %w", err)
		}
		if want != got {
			return nil, false, "", fmt.Errorf("File sum set for file %s of %s does not match real sum of %s", name, want, got)
		}
	}
	data = src.data
	if engine != "" {
		data, err = renderTemplate(ec, engine, src.rel, src.data, vars)
		if err != nil {
			return nil, false, "", fmt.Errorf("Unable to manage file: %w", err)
		}
	}
	return data, true, src.url, nil
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func fileManaged(r *Request) Result {
	name := r.Name
	out := newOutcome(name)
	a := newModArgs("file.managed", r)
	if name == "" {
		return out.failed("Destination file name is required")
	}
	if !filepath.IsAbs(name) {
		return out.failed(fmt.Sprintf("Specified file %s is not an absolute path", name))
	}
	name = filepath.Clean(name)
	replace := a.boolean("replace", true)
	create := a.boolean("create", true)
	makedirs := a.boolean("makedirs", false)
	follow := a.boolean("follow_symlinks", true)
	show := a.boolean("show_changes", true)
	backup := a.str("backup", "")
	modeStr, mode, haveMode := a.mode("mode")
	_, dirMode, haveDirMode := a.mode("dir_mode")
	o, oerr := resolveOwner(a.str("user", ""), a.str("group", ""))
	if a.err != nil {
		return argFail(name, a.err)
	}
	if oerr != nil {
		return out.failed(oerr.Error())
	}

	real := name
	lfi, lerr := os.Lstat(name)
	if lerr == nil && lfi.Mode()&fs.ModeSymlink != 0 && follow {
		if t, err := filepath.EvalSymlinks(name); err == nil {
			real = t
		} else if t, err := os.Readlink(name); err == nil {
			// A dangling link: manage the file it points at.
			if !filepath.IsAbs(t) {
				t = filepath.Join(filepath.Dir(name), t)
			}
			real = filepath.Clean(t)
		}
	}
	fi, err := lfi, lerr
	if real != name {
		fi, err = os.Lstat(real)
	}
	exists := err == nil
	if exists && fi.IsDir() {
		return out.failed(fmt.Sprintf("Specified target %s is a directory", name))
	}
	if !create && !exists {
		return out.ok(fmt.Sprintf("File %s is not present and is not set for creation", name))
	}

	if !replace && exists {
		ch := permChanges(fi, o, modeStr, mode, haveMode)
		if r.Test() {
			if len(ch) > 0 {
				out.changes = ch
				if m, ok := ch["mode"]; ok {
					return out.pending(fmt.Sprintf("File %s will be updated with permissions %s from its current state of %04o", name, m, unixPerm(fi)))
				}
				return out.pending(fmt.Sprintf("File %s not updated", name))
			}
			return out.ok(fmt.Sprintf("File %s not updated", name))
		}
		if len(ch) > 0 {
			if err := applyPerms(real, o, mode, haveMode, !follow); err != nil {
				return out.failed(err.Error())
			}
			out.changes = ch
			return out.ok(fmt.Sprintf("File %s updated", name))
		}
		return out.ok(fmt.Sprintf("File %s exists with proper permissions. No changes made.", name))
	}

	want, have, _, err := desiredContent(r, a, name)
	if err != nil {
		return out.failed(err.Error())
	}

	var cur []byte
	contentDiffers := false
	if have {
		if !exists {
			contentDiffers = true
		} else if fi.Mode().IsRegular() && fi.Size() != int64(len(want)) {
			contentDiffers = true
			cur, _ = readCurrent(real, fi)
		} else {
			cur, err = readCurrent(real, fi)
			if err != nil {
				return out.failed(fmt.Sprintf("Unable to manage file: %v", err))
			}
			contentDiffers = !bytes.Equal(cur, want)
		}
	}
	var perm map[string]any
	if exists {
		perm = permChanges(fi, o, modeStr, mode, haveMode)
	}

	if r.Test() {
		switch {
		case !exists:
			out.changes["newfile"] = name
		case contentDiffers:
			out.changes["diff"] = fileDiff(cur, want, show)
		}
		for k, v := range perm {
			out.changes[k] = v
		}
		if len(out.changes) == 0 {
			return out.ok(fmt.Sprintf("The file %s is in the correct state", name))
		}
		return out.pending(fmt.Sprintf("The file %s is set to be changed", name) + testNote)
	}

	if !exists || contentDiffers {
		dir := filepath.Dir(real)
		if _, err := os.Stat(dir); err != nil {
			if !makedirs {
				return out.failed("Parent directory not present")
			}
			if err := makeParents(dir, o, dirMode, haveDirMode); err != nil {
				return out.failed(err.Error())
			}
		}
		if cc := a.str("check_cmd", ""); cc != "" && have {
			ok, err := runCheckCmd(r, cc, a.str("tmp_dir", ""), want)
			if err != nil {
				return out.failed(err.Error())
			}
			if !ok {
				return out.failed("check_cmd execution failed")
			}
		}
		if exists && backup == "minion" {
			if _, err := backupMinion(r.Exec, real); err != nil {
				return out.failed(err.Error())
			}
		}
		newMode := uint32(0o644)
		if haveMode {
			newMode = mode
		} else if exists {
			newMode = unixPerm(fi)
		}
		var prev fs.FileInfo
		if exists {
			prev = fi
		}
		if !have {
			want = []byte{}
		}
		if err := writeAtomic(real, want, newMode, o, prev); err != nil {
			return out.failed(fmt.Sprintf("Unable to manage file: %v", err))
		}
		d := ""
		switch {
		case !have:
			out.changes["new"] = fmt.Sprintf("file %s created", name)
		case !exists && a.boolean("new_file_diff", false):
			d = fileDiff(nil, want, show)
			out.changes["diff"] = d
		case !exists:
			d = "New file"
			out.changes["diff"] = d
		default:
			d = fileDiff(cur, want, show)
			out.changes["diff"] = d
		}
		if !exists {
			if haveMode {
				out.changes["mode"] = modeStr
			}
		} else {
			for k, v := range perm {
				out.changes[k] = v
			}
		}
		recordFile(r.Exec, real, cur, want, exists, d)
		if !have {
			return out.ok("Empty file")
		}
		return out.ok(fmt.Sprintf("File %s updated", name))
	}
	if len(perm) > 0 {
		if err := applyPerms(real, o, mode, haveMode, false); err != nil {
			return out.failed(err.Error())
		}
		for k, v := range perm {
			out.changes[k] = v
		}
		if cur == nil {
			cur, _ = os.ReadFile(real)
		}
		r.Exec.Record("file.changed", map[string]any{"path": real, "before_sha256": sha256Hex(cur), "after_sha256": sha256Hex(cur), "diff_bytes": 0, "perms": sortedMapKeys(perm)})
		return out.ok(fmt.Sprintf("File %s updated", name))
	}
	return out.ok(fmt.Sprintf("File %s is in the correct state", name))
}

// runCheckCmd is file.managed's check_cmd: the new content goes to a
// temporary file, the command runs with that file's path appended, and
// only a zero exit lets the content be installed.
func runCheckCmd(r *Request, cmd, tmpDir string, data []byte) (bool, error) {
	f, err := os.CreateTemp(tmpDir, "brine-check-")
	if err != nil {
		return false, fmt.Errorf("check_cmd: %w", err)
	}
	defer os.Remove(f.Name())
	_, werr := f.Write(data)
	if cerr := f.Close(); werr != nil || cerr != nil {
		return false, fmt.Errorf("check_cmd: write %s: %w", f.Name(), errors.Join(werr, cerr))
	}
	out, err := r.Exec.Call("cmd.run_all", nil, map[string]any{"cmd": cmd + " " + f.Name(), "python_shell": true, "ignore_retcode": true})
	if err != nil {
		return false, fmt.Errorf("check_cmd: %w", err)
	}
	m, _ := out.(map[string]any)
	rc, _ := execmod.ToInt(m["retcode"])
	return rc == 0, nil
}
