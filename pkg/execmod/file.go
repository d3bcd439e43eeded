package execmod

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/brine-cm/brine/pkg/diff"
)

// registerFile adds the read-mostly part of Salt's file module: the
// queries templates and states make about files, and a few small edits.
func registerFile(r *Registry) {
	reg := func(name, doc string, fn Func) { r.Register("file."+name, doc, fn) }
	reg("file_exists", "Return True if the path is an existing regular file.\nCLI Example: brine-master run '*' file.file_exists /etc/passwd", fileExists)
	reg("directory_exists", "Return True if the path is an existing directory.\nCLI Example: brine-master run '*' file.directory_exists /etc", directoryExists)
	reg("get_hash", "Return the hex digest of a file (form=sha256 by default; md5, sha1, sha224, sha384, sha512).\nCLI Example: brine-master run '*' file.get_hash /etc/shadow", fileGetHash)
	reg("read", "Return the contents of a file.\nCLI Example: brine-master run '*' file.read /etc/hosts", fileRead)
	reg("stats", "Return a map of stats for a path (inode, uid, gid, user, group, atime, mtime, ctime, size, mode, type, target, sum with hash_type).\nCLI Example: brine-master run '*' file.stats /etc/passwd", fileStats)
	reg("dirname", "Return the directory part of a path, as Python's os.path.dirname.\nCLI Example: brine-master run '*' file.dirname /path/to/file", fileDirname)
	reg("basename", "Return the last part of a path, as Python's os.path.basename.\nCLI Example: brine-master run '*' file.basename /path/to/file", fileBasename)
	reg("join", "Join path parts, as Python's os.path.join.\nCLI Example: brine-master run '*' file.join /etc nginx nginx.conf", fileJoin)
	reg("touch", "Create a file or update its access and modification times (atime=, mtime= as epoch seconds).\nCLI Example: brine-master run '*' file.touch /var/log/emptyfile", fileTouch)
	reg("access", "Return True if the path is accessible with mode f (exists), r, w or x.\nCLI Example: brine-master run '*' file.access /etc/shadow r", fileAccess)
	reg("is_link", "Return True if the path is a symbolic link.\nCLI Example: brine-master run '*' file.is_link /path/to/link", fileIsLink)
	reg("readlink", "Return the target of a symbolic link (canonicalize=True resolves it fully).\nCLI Example: brine-master run '*' file.readlink /path/to/link", fileReadlink)
	reg("mkdir", "Create a directory and its parents (user=, group=, mode=).\nCLI Example: brine-master run '*' file.mkdir /opt/app mode=0750", fileMkdir)
	reg("makedirs", "Create the parent directories of path (a trailing / makes path itself a directory).\nCLI Example: brine-master run '*' file.makedirs /opt/app/conf/", fileMakedirs)
	reg("remove", "Remove a file, link or directory tree; False if it did not exist.\nCLI Example: brine-master run '*' file.remove /tmp/foo", fileRemove)
	reg("contains", "Return True if the file contains the text.\nCLI Example: brine-master run '*' file.contains /etc/crontab 'mymaintenance.sh'", fileContains)
	reg("search", "Return True if the regular expression matches the file's contents.\nCLI Example: brine-master run '*' file.search /etc/crontab 'mymaintenance.sh'", fileSearch)
	reg("replace", "Replace occurrences of a regular expression in a file; returns the diff (or True/False with show_changes=False).\nCLI Example: brine-master run '*' file.replace /etc/httpd/httpd.conf pattern='LogLevel warn' repl='LogLevel info'", fileReplace)
	reg("write", "Write the given lines to a file, replacing it.\nCLI Example: brine-master run '*' file.write /etc/motd 'Welcome' 'to brine'", fileWrite)
	reg("append", "Append the given lines to a file.\nCLI Example: brine-master run '*' file.append /etc/motd 'one more line'", fileAppend)
	reg("get_mode", "Return a path's permission bits as an octal string (\"0644\").\nCLI Example: brine-master run '*' file.get_mode /etc/passwd", fileGetMode)
	reg("set_mode", "Set a path's permission bits; returns the new mode.\nCLI Example: brine-master run '*' file.set_mode /etc/passwd 0644", fileSetMode)
	reg("get_user", "Return the name of a path's owner.\nCLI Example: brine-master run '*' file.get_user /etc/passwd", fileGetUser)
	reg("get_group", "Return the name of a path's group.\nCLI Example: brine-master run '*' file.get_group /etc/passwd", fileGetGroup)
	reg("get_uid", "Return the uid of a path's owner.\nCLI Example: brine-master run '*' file.get_uid /etc/passwd", fileGetUID)
	reg("get_gid", "Return the gid of a path's group.\nCLI Example: brine-master run '*' file.get_gid /etc/passwd", fileGetGID)
	reg("chown", "Set a path's owner and group by name.\nCLI Example: brine-master run '*' file.chown /etc/passwd root root", fileChown)
}

// pathArg reads a path argument, expanding "~" as Salt does.
func pathArg(fn string, kw map[string]any, key string) (string, error) {
	if err := Require(fn, kw, key); err != nil {
		return "", err
	}
	p, err := Str(kw, key, "")
	if err != nil {
		return "", err
	}
	return ExpandUser(p), nil
}

// ExpandUser replaces a leading "~" or "~user" with the home directory,
// as Python's os.path.expanduser does.
func ExpandUser(p string) string {
	if !strings.HasPrefix(p, "~") {
		return p
	}
	name, rest, _ := strings.Cut(p[1:], "/")
	var home string
	if name == "" {
		home = os.Getenv("HOME")
		if home == "" {
			if u, err := user.Current(); err == nil {
				home = u.HomeDir
			}
		}
	} else if u, err := user.Lookup(name); err == nil {
		home = u.HomeDir
	}
	if home == "" {
		return p
	}
	if rest == "" && !strings.Contains(p, "/") {
		return home
	}
	return filepath.Join(home, rest)
}

func bindPath(fn string, args []any, kwargs map[string]any, names ...string) (map[string]any, string, error) {
	kw, err := Bind(fn, args, kwargs, names...)
	if err != nil {
		return nil, "", err
	}
	p, err := pathArg(fn, kw, names[0])
	return kw, p, err
}

func fileExists(_ *Context, args []any, kwargs map[string]any) (any, error) {
	_, p, err := bindPath("file.file_exists", args, kwargs, "path")
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular(), nil
}

func directoryExists(_ *Context, args []any, kwargs map[string]any) (any, error) {
	_, p, err := bindPath("file.directory_exists", args, kwargs, "path")
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir(), nil
}

// NewHash returns the hash Salt names form (md5, sha1, sha224, sha256,
// sha384, sha512), so modules and states agree on what "sha256" means.
func NewHash(form string) (hash.Hash, error) {
	switch strings.ToLower(form) {
	case "md5":
		return md5.New(), nil
	case "sha1":
		return sha1.New(), nil
	case "sha224":
		return sha256.New224(), nil
	case "sha256", "":
		return sha256.New(), nil
	case "sha384":
		return sha512.New384(), nil
	case "sha512":
		return sha512.New(), nil
	}
	return nil, fmt.Errorf("Invalid hash type %q: want md5, sha1, sha224, sha256, sha384 or sha512", form)
}

// HashFile returns the hex digest of the file at path.
func HashFile(path, form string) (string, error) {
	h, err := NewHash(form)
	if err != nil {
		return "", err
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func fileGetHash(_ *Context, args []any, kwargs map[string]any) (any, error) {
	kw, p, err := bindPath("file.get_hash", args, kwargs, "path", "form", "chunk_size")
	if err != nil {
		return nil, err
	}
	form, err := Str(kw, "form", "sha256")
	if err != nil {
		return nil, err
	}
	sum, err := HashFile(p, form)
	if err != nil {
		return nil, fmt.Errorf("file.get_hash: %w", err)
	}
	return sum, nil
}

func fileRead(_ *Context, args []any, kwargs map[string]any) (any, error) {
	_, p, err := bindPath("file.read", args, kwargs, "path", "binary")
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("file.read: %w", err)
	}
	return string(b), nil
}

// FileMode formats permission bits as Salt does: four octal digits.
func FileMode(m fs.FileMode) string {
	bits := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		bits |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		bits |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		bits |= 0o1000
	}
	return fmt.Sprintf("%04o", bits)
}

func uidName(uid uint32) string {
	if u, err := user.LookupId(strconv.Itoa(int(uid))); err == nil {
		return u.Username
	}
	return strconv.Itoa(int(uid))
}

func gidName(gid uint32) string {
	if g, err := user.LookupGroupId(strconv.Itoa(int(gid))); err == nil {
		return g.Name
	}
	return strconv.Itoa(int(gid))
}

func timespec(ts syscall.Timespec) float64 {
	return float64(ts.Sec) + float64(ts.Nsec)/1e9
}

func fileStats(_ *Context, args []any, kwargs map[string]any) (any, error) {
	kw, p, err := bindPath("file.stats", args, kwargs, "path", "hash_type", "follow_symlinks")
	if err != nil {
		return nil, err
	}
	follow, err := Bool(kw, "follow_symlinks", true)
	if err != nil {
		return nil, err
	}
	hashType, err := Str(kw, "hash_type", "")
	if err != nil {
		return nil, err
	}
	var fi fs.FileInfo
	if follow {
		fi, err = os.Stat(p)
	} else {
		fi, err = os.Lstat(p)
	}
	if err != nil {
		if _, lerr := os.Lstat(p); lerr != nil {
			return nil, fmt.Errorf("Path not found: %s", p)
		}
		fi, err = os.Lstat(p)
		if err != nil {
			return nil, fmt.Errorf("Path not found: %s", p)
		}
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, fmt.Errorf("file.stats: no stat data for %s", p)
	}
	ret := map[string]any{
		"inode": int(st.Ino),
		"uid":   int(st.Uid),
		"gid":   int(st.Gid),
		"user":  uidName(st.Uid),
		"group": gidName(st.Gid),
		"atime": timespec(st.Atim),
		"mtime": timespec(st.Mtim),
		"ctime": timespec(st.Ctim),
		"size":  int(st.Size),
		"mode":  FileMode(fi.Mode()),
		"type":  fileType(fi.Mode()),
	}
	if real, err := filepath.EvalSymlinks(p); err == nil {
		if abs, err := filepath.Abs(real); err == nil {
			real = abs
		}
		ret["target"] = real
	} else {
		ret["target"] = p
	}
	if hashType != "" && fi.Mode().IsRegular() {
		sum, err := HashFile(p, hashType)
		if err != nil {
			return nil, fmt.Errorf("file.stats: %w", err)
		}
		ret["sum"] = sum
	}
	return ret, nil
}

func fileType(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "link"
	case m.IsDir():
		return "dir"
	case m&fs.ModeCharDevice != 0:
		return "char"
	case m&fs.ModeDevice != 0:
		return "block"
	case m&fs.ModeNamedPipe != 0:
		return "pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	}
	return "file"
}

// PyDirname and PyBasename split at the last "/" exactly as Python's
// os.path does (so "/a/b/" has dirname "/a/b" and basename ""), which
// templates written for Salt rely on.
func PyDirname(p string) string {
	i := strings.LastIndexByte(p, '/') + 1
	head := p[:i]
	if head != "" && strings.Trim(head, "/") != "" {
		head = strings.TrimRight(head, "/")
	}
	return head
}

// PyBasename is Python's os.path.basename.
func PyBasename(p string) string {
	return p[strings.LastIndexByte(p, '/')+1:]
}

// PyJoin is Python's os.path.join: an absolute part discards what came
// before it, and a "/" is added only where missing.
func PyJoin(parts ...string) string {
	out := ""
	for i, p := range parts {
		if i == 0 || strings.HasPrefix(p, "/") {
			out = p
			continue
		}
		if out == "" || strings.HasSuffix(out, "/") {
			out += p
		} else {
			out += "/" + p
		}
	}
	return out
}

func fileDirname(_ *Context, args []any, kwargs map[string]any) (any, error) {
	p, err := bindOneStr("file.dirname", "path", args, kwargs)
	if err != nil {
		return nil, err
	}
	return PyDirname(p), nil
}

func fileBasename(_ *Context, args []any, kwargs map[string]any) (any, error) {
	p, err := bindOneStr("file.basename", "path", args, kwargs)
	if err != nil {
		return nil, err
	}
	return PyBasename(p), nil
}

func fileJoin(_ *Context, args []any, _ map[string]any) (any, error) {
	if len(args) == 0 {
		return nil, errors.New("file.join missing required argument \"path\"")
	}
	parts, err := strArgs("file.join", args)
	if err != nil {
		return nil, err
	}
	return PyJoin(parts...), nil
}

func fileTouch(c *Context, args []any, kwargs map[string]any) (any, error) {
	kw, p, err := bindPath("file.touch", args, kwargs, "name", "atime", "mtime")
	if err != nil {
		return nil, err
	}
	now := time.Now()
	at, mt := now, now
	if Has(kw, "atime") {
		f, err := Float(kw, "atime", 0)
		if err != nil {
			return nil, err
		}
		at = time.Unix(0, int64(f*1e9))
		mt = at
	}
	if Has(kw, "mtime") {
		f, err := Float(kw, "mtime", 0)
		if err != nil {
			return nil, err
		}
		mt = time.Unix(0, int64(f*1e9))
	}
	_, statErr := os.Stat(p)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("file.touch: %w", err)
	}
	f.Close()
	if err := os.Chtimes(p, at, mt); err != nil {
		return nil, fmt.Errorf("file.touch: %w", err)
	}
	if statErr != nil {
		c.Record("file.touch", map[string]any{"path": p, "created": true})
	}
	return true, nil
}

// bindPathStr binds a function taking a path and one more required
// string argument (file.access mode, file.contains text).
func bindPathStr(fn, name string, args []any, kwargs map[string]any) (p, val string, err error) {
	kw, p, err := bindPath(fn, args, kwargs, "path", name)
	if err != nil {
		return "", "", err
	}
	if err := Require(fn, kw, name); err != nil {
		return "", "", err
	}
	if val, err = Str(kw, name, ""); err != nil {
		return "", "", err
	}
	return p, val, nil
}

func fileAccess(_ *Context, args []any, kwargs map[string]any) (any, error) {
	p, mode, err := bindPathStr("file.access", "mode", args, kwargs)
	if err != nil {
		return nil, err
	}
	var bits uint32
	switch strings.ToLower(mode) {
	case "f":
		bits = 0
	case "r":
		bits = 4
	case "w":
		bits = 2
	case "x":
		bits = 1
	default:
		return nil, fmt.Errorf("Invalid mode specified: %s", mode)
	}
	return syscall.Access(p, bits) == nil, nil
}

func fileIsLink(_ *Context, args []any, kwargs map[string]any) (any, error) {
	_, p, err := bindPath("file.is_link", args, kwargs, "path")
	if err != nil {
		return nil, err
	}
	fi, err := os.Lstat(p)
	return err == nil && fi.Mode()&fs.ModeSymlink != 0, nil
}

func fileReadlink(_ *Context, args []any, kwargs map[string]any) (any, error) {
	kw, p, err := bindPath("file.readlink", args, kwargs, "path", "canonicalize")
	if err != nil {
		return nil, err
	}
	canon, err := Bool(kw, "canonicalize", false)
	if err != nil {
		return nil, err
	}
	if !filepath.IsAbs(p) {
		return nil, errors.New("Path to link must be absolute.")
	}
	fi, err := os.Lstat(p)
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		return nil, errors.New("A valid link was not specified.")
	}
	if canon {
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			return nil, fmt.Errorf("file.readlink: %w", err)
		}
		return real, nil
	}
	t, err := os.Readlink(p)
	if err != nil {
		return nil, fmt.Errorf("file.readlink: %w", err)
	}
	return t, nil
}

// ParseMode reads a permission mode as Salt accepts it: an octal string
// ("0644", "644", "u+x" is not supported) or an int whose decimal digits
// are the octal digits (644 from YAML) .
func ParseMode(name string, v any) (fs.FileMode, error) {
	s, ok := ToString(v)
	if !ok {
		return 0, &ArgError{Arg: name, Want: "an octal mode such as 0644", Got: v}
	}
	s = strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), "0o"), "0")
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 8, 32)
	if err != nil || n > 0o7777 {
		return 0, &ArgError{Arg: name, Want: "an octal mode such as 0644", Got: v}
	}
	m := fs.FileMode(n & 0o777)
	if n&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if n&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if n&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m, nil
}

// lookupOwner resolves user and group names (or numeric ids) to ids; -1
// means "leave unchanged".
func lookupOwner(usr, grp string) (int, int, error) {
	uid, gid := -1, -1
	if usr != "" {
		if n, err := strconv.Atoi(usr); err == nil {
			uid = n
		} else if u, err := user.Lookup(usr); err == nil {
			uid, _ = strconv.Atoi(u.Uid)
		} else {
			return 0, 0, fmt.Errorf("User does not exist: %s", usr)
		}
	}
	if grp != "" {
		if n, err := strconv.Atoi(grp); err == nil {
			gid = n
		} else if g, err := user.LookupGroup(grp); err == nil {
			gid, _ = strconv.Atoi(g.Gid)
		} else {
			return 0, 0, fmt.Errorf("Group does not exist: %s", grp)
		}
	}
	return uid, gid, nil
}

func mkdirs(c *Context, fn, dir string, kw map[string]any) error {
	usr, err := Str(kw, "user", "")
	if err != nil {
		return err
	}
	grp, err := Str(kw, "group", "")
	if err != nil {
		return err
	}
	mode := fs.FileMode(0o755)
	if Has(kw, "mode") {
		if mode, err = ParseMode("mode", kw["mode"]); err != nil {
			return err
		}
	}
	uid, gid, err := lookupOwner(usr, grp)
	if err != nil {
		return fmt.Errorf("%s: %w", fn, err)
	}
	// Create missing levels one by one so each gets the owner and mode.
	var missing []string
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		if _, err := os.Stat(p); err == nil {
			break
		}
		missing = append(missing, p)
		if filepath.Dir(p) == p {
			break
		}
	}
	for i := len(missing) - 1; i >= 0; i-- {
		p := missing[i]
		if err := os.Mkdir(p, mode.Perm()); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s: %w", fn, err)
		}
		if err := os.Chmod(p, mode); err != nil {
			return fmt.Errorf("%s: %w", fn, err)
		}
		if uid >= 0 || gid >= 0 {
			if err := os.Chown(p, uid, gid); err != nil {
				return fmt.Errorf("%s: %w", fn, err)
			}
		}
		c.Record(fn, map[string]any{"path": p, "created": true, "mode": FileMode(mode)})
	}
	return nil
}

func fileMkdir(c *Context, args []any, kwargs map[string]any) (any, error) {
	kw, p, err := bindPath("file.mkdir", args, kwargs, "dir_path", "user", "group", "mode")
	if err != nil {
		return nil, err
	}
	if err := mkdirs(c, "file.mkdir", p, kw); err != nil {
		return nil, err
	}
	return true, nil
}

func fileMakedirs(c *Context, args []any, kwargs map[string]any) (any, error) {
	kw, p, err := bindPath("file.makedirs", args, kwargs, "path", "user", "group", "mode")
	if err != nil {
		return nil, err
	}
	if !filepath.IsAbs(p) {
		return nil, fmt.Errorf("Path '%s' is not absolute", p)
	}
	dir := PyDirname(p)
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return fmt.Sprintf("Directory '%s' already exists", dir), nil
	}
	if err := mkdirs(c, "file.makedirs", dir, kw); err != nil {
		return nil, err
	}
	return true, nil
}

func fileRemove(c *Context, args []any, kwargs map[string]any) (any, error) {
	_, p, err := bindPath("file.remove", args, kwargs, "path")
	if err != nil {
		return nil, err
	}
	if !filepath.IsAbs(p) {
		return nil, fmt.Errorf("File path must be absolute: %s", p)
	}
	fi, err := os.Lstat(p)
	if err != nil {
		return false, nil
	}
	if fi.IsDir() {
		err = os.RemoveAll(p)
	} else {
		err = os.Remove(p)
	}
	if err != nil {
		return nil, fmt.Errorf("Could not remove '%s': %w", p, err)
	}
	c.Record("file.remove", map[string]any{"path": p, "type": fileType(fi.Mode())})
	return true, nil
}

func fileContains(_ *Context, args []any, kwargs map[string]any) (any, error) {
	p, text, err := bindPathStr("file.contains", "text", args, kwargs)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return false, nil
	}
	return strings.Contains(string(b), strings.TrimSpace(text)), nil
}

// pyRegexp compiles a Python-style pattern with Python re flags given as
// an int (re.MULTILINE is 8) or a list of names ("IGNORECASE").
func pyRegexp(pattern string, flags any) (*regexp.Regexp, error) {
	var bits int
	switch f := flags.(type) {
	case nil:
		bits = 8
	default:
		if n, ok := ToInt(f); ok {
			bits = n
			break
		}
		names, err := ToStrList("flags", f)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			switch strings.ToUpper(strings.TrimPrefix(n, "re.")) {
			case "IGNORECASE", "I":
				bits |= 2
			case "MULTILINE", "M":
				bits |= 8
			case "DOTALL", "S":
				bits |= 16
			case "LOCALE", "L", "UNICODE", "U", "VERBOSE", "X":
			default:
				return nil, &ArgError{Arg: "flags", Want: "re flag names", Got: f}
			}
		}
	}
	prefix := ""
	if bits&2 != 0 {
		prefix += "i"
	}
	if bits&8 != 0 {
		prefix += "m"
	}
	if bits&16 != 0 {
		prefix += "s"
	}
	if prefix != "" {
		pattern = "(?" + prefix + ")" + pattern
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, &ArgError{Arg: "pattern", Want: "a valid regular expression", Got: pattern, Msg: err.Error()}
	}
	return re, nil
}

var pyBackref = regexp.MustCompile(`\\(\d+)|\\g<(\w+)>`)

// pyRepl converts a Python replacement string (\1, \g<name>) into Go's
// template syntax, escaping literal "$".
func pyRepl(repl string) string {
	repl = strings.ReplaceAll(repl, "$", "$$")
	return pyBackref.ReplaceAllStringFunc(repl, func(m string) string {
		sub := pyBackref.FindStringSubmatch(m)
		if sub[1] != "" {
			return "${" + sub[1] + "}"
		}
		return "${" + sub[2] + "}"
	})
}

func fileSearch(_ *Context, args []any, kwargs map[string]any) (any, error) {
	kw, p, err := bindPath("file.search", args, kwargs, "path", "pattern", "flags", "bufsize", "ignore_if_missing", "multiline")
	if err != nil {
		return nil, err
	}
	if err := Require("file.search", kw, "pattern"); err != nil {
		return nil, err
	}
	pattern, err := Str(kw, "pattern", "")
	if err != nil {
		return nil, err
	}
	re, err := pyRegexp(pattern, kw["flags"])
	if err != nil {
		return nil, err
	}
	ignore, err := Bool(kw, "ignore_if_missing", false)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		if ignore && errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return nil, fmt.Errorf("%s does not exist", p)
	}
	return re.Match(b), nil
}

func fileReplace(c *Context, args []any, kwargs map[string]any) (any, error) {
	kw, p, err := bindPath("file.replace", args, kwargs, "path", "pattern", "repl", "count", "flags", "bufsize",
		"append_if_not_found", "prepend_if_not_found", "not_found_content", "backup", "dry_run", "search_only",
		"show_changes", "ignore_if_missing", "preserve_inode", "backslash_literal")
	if err != nil {
		return nil, err
	}
	if err := Require("file.replace", kw, "pattern", "repl"); err != nil {
		return nil, err
	}
	pattern, err := Str(kw, "pattern", "")
	if err != nil {
		return nil, err
	}
	repl, err := Str(kw, "repl", "")
	if err != nil {
		return nil, err
	}
	count, err := Int(kw, "count", 0)
	if err != nil {
		return nil, err
	}
	var flags [7]bool
	for i, k := range []string{"append_if_not_found", "prepend_if_not_found", "dry_run", "search_only", "show_changes", "ignore_if_missing", "backslash_literal"} {
		def := k == "show_changes"
		if flags[i], err = Bool(kw, k, def); err != nil {
			return nil, err
		}
	}
	appendNF, prependNF, dryRun, searchOnly, showChanges, ignoreMissing, literal := flags[0], flags[1], flags[2], flags[3], flags[4], flags[5], flags[6]
	backup := ".bak"
	if v, ok := kw["backup"]; ok {
		if b, isBool := v.(bool); isBool && !b {
			backup = ""
		} else if backup, err = Str(kw, "backup", ".bak"); err != nil {
			return nil, err
		}
	}
	notFound, err := Str(kw, "not_found_content", repl)
	if err != nil {
		return nil, err
	}
	re, err := pyRegexp(pattern, kw["flags"])
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		if ignoreMissing {
			return false, nil
		}
		return nil, fmt.Errorf("%s: file not found", p)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", p)
	}
	orig, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("file.replace: %w", err)
	}
	found := re.Match(orig)
	if searchOnly {
		return found, nil
	}
	goRepl := pyRepl(repl)
	if literal {
		goRepl = strings.ReplaceAll(repl, "$", "$$")
	}
	limit := -1
	if count > 0 {
		limit = count
	}
	var out []byte
	last := 0
	for _, m := range re.FindAllSubmatchIndex(orig, limit) {
		out = append(out, orig[last:m[0]]...)
		out = re.Expand(out, []byte(goRepl), orig, m)
		last = m[1]
	}
	out = append(out, orig[last:]...)
	if !found && (appendNF || prependNF) {
		text := notFound
		if !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		if prependNF {
			out = append([]byte(text), orig...)
		} else {
			out = append([]byte(nil), orig...)
			if len(out) > 0 && out[len(out)-1] != '\n' {
				out = append(out, '\n')
			}
			out = append(out, text...)
		}
	}
	changed := string(out) != string(orig)
	if changed && !dryRun {
		if backup != "" {
			if err := os.WriteFile(p+backup, orig, fi.Mode().Perm()); err != nil {
				return nil, fmt.Errorf("file.replace: backup: %w", err)
			}
		}
		// Write in place to keep the inode, owner and mode.
		if err := os.WriteFile(p, out, fi.Mode().Perm()); err != nil {
			return nil, fmt.Errorf("file.replace: %w", err)
		}
		c.Record("file.replace", map[string]any{"path": p, "before": sumOf(orig), "after": sumOf(out)})
	}
	if !showChanges {
		return changed, nil
	}
	return diff.Unified(string(orig), string(out), diff.Options{}), nil
}

func sumOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func writeLines(c *Context, fn string, args []any, flag int) (any, error) {
	if len(args) < 1 {
		return nil, fmt.Errorf("%s missing required argument \"path\"", fn)
	}
	parts, err := strArgs(fn, args)
	if err != nil {
		return nil, err
	}
	p := ExpandUser(parts[0])
	lines := parts[1:]
	var before []byte
	if flag&os.O_APPEND != 0 {
		before, _ = os.ReadFile(p)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|flag, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	var b strings.Builder
	if len(before) > 0 && before[len(before)-1] != '\n' {
		b.WriteByte('\n')
	}
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	c.Record(fn, map[string]any{"path": p, "lines": len(lines)})
	return fmt.Sprintf("Wrote %d lines to \"%s\"", len(lines), p), nil
}

func fileWrite(c *Context, args []any, _ map[string]any) (any, error) {
	return writeLines(c, "file.write", args, os.O_TRUNC)
}

func fileAppend(c *Context, args []any, _ map[string]any) (any, error) {
	return writeLines(c, "file.append", args, os.O_APPEND)
}

func statOf(fn string, args []any, kwargs map[string]any) (*syscall.Stat_t, fs.FileInfo, error) {
	kw, p, err := bindPath(fn, args, kwargs, "path", "follow_symlinks")
	if err != nil {
		return nil, nil, err
	}
	follow, err := Bool(kw, "follow_symlinks", true)
	if err != nil {
		return nil, nil, err
	}
	var fi fs.FileInfo
	if follow {
		fi, err = os.Stat(p)
	} else {
		fi, err = os.Lstat(p)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("Path not found: %s", p)
	}
	return fi.Sys().(*syscall.Stat_t), fi, nil
}

// statGetter makes file.get_mode, get_user, get_group, get_uid and
// get_gid: each stats path= (following symlinks unless told not to) and
// answers one fact from the result.
func statGetter(fn string, get func(st *syscall.Stat_t, fi fs.FileInfo) any) Func {
	return func(_ *Context, args []any, kwargs map[string]any) (any, error) {
		st, fi, err := statOf(fn, args, kwargs)
		if err != nil {
			return nil, err
		}
		return get(st, fi), nil
	}
}

var (
	fileGetMode  = statGetter("file.get_mode", func(_ *syscall.Stat_t, fi fs.FileInfo) any { return FileMode(fi.Mode()) })
	fileGetUser  = statGetter("file.get_user", func(st *syscall.Stat_t, _ fs.FileInfo) any { return uidName(st.Uid) })
	fileGetGroup = statGetter("file.get_group", func(st *syscall.Stat_t, _ fs.FileInfo) any { return gidName(st.Gid) })
	fileGetUID   = statGetter("file.get_uid", func(st *syscall.Stat_t, _ fs.FileInfo) any { return int(st.Uid) })
	fileGetGID   = statGetter("file.get_gid", func(st *syscall.Stat_t, _ fs.FileInfo) any { return int(st.Gid) })
)

func fileSetMode(c *Context, args []any, kwargs map[string]any) (any, error) {
	kw, p, err := bindPath("file.set_mode", args, kwargs, "path", "mode")
	if err != nil {
		return nil, err
	}
	if err := Require("file.set_mode", kw, "mode"); err != nil {
		return nil, err
	}
	m, err := ParseMode("mode", kw["mode"])
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(p); err != nil {
		return nil, fmt.Errorf("%s: File not found", p)
	}
	if err := os.Chmod(p, m); err != nil {
		return nil, fmt.Errorf("file.set_mode: %w", err)
	}
	c.Record("file.set_mode", map[string]any{"path": p, "mode": FileMode(m)})
	return FileMode(m), nil
}

func fileChown(c *Context, args []any, kwargs map[string]any) (any, error) {
	kw, p, err := bindPath("file.chown", args, kwargs, "path", "user", "group")
	if err != nil {
		return nil, err
	}
	usr, err := Str(kw, "user", "")
	if err != nil {
		return nil, err
	}
	grp, err := Str(kw, "group", "")
	if err != nil {
		return nil, err
	}
	uid, gid, err := lookupOwner(usr, grp)
	if err != nil {
		return nil, err
	}
	if _, err := os.Lstat(p); err != nil {
		return nil, fmt.Errorf("File not found: %s", p)
	}
	if err := os.Lchown(p, uid, gid); err != nil {
		return nil, fmt.Errorf("file.chown: %w", err)
	}
	c.Record("file.chown", map[string]any{"path": p, "user": usr, "group": grp})
	return nil, nil
}
