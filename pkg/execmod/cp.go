package execmod

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// registerCp adds Salt's cp module: copying files from the file server
// (salt://) to the host, and listing what the file server offers.
func registerCp(r *Registry) {
	r.Register("cp.list_master", "List the files on the file server, optionally under prefix.\nCLI Example: brine-master run '*' cp.list_master prefix=nginx/", cpListMaster)
	r.Register("cp.list_master_dirs", "List the directories on the file server, optionally under prefix.\nCLI Example: brine-master run '*' cp.list_master_dirs", cpListMasterDirs)
	r.Register("cp.get_file", "Copy a salt:// file to dest on the minion (makedirs=True creates parents); returns dest, or '' if missing.\nCLI Example: brine-master run '*' cp.get_file salt://vimrc /etc/vimrc", cpGetFile)
	r.Register("cp.cache_file", "Make a salt:// file available locally and return its path, or False if missing.\nCLI Example: brine-master run '*' cp.cache_file salt://foo/bar.conf saltenv=config", cpCacheFile)
	r.Register("cp.get_file_str", "Return the contents of a salt:// file as a string, or False if missing.\nCLI Example: brine-master run '*' cp.get_file_str salt://my/file", cpGetFileStr)
	r.Register("cp.hash_file", "Return {hash_type, hsum} of a salt:// file (sha256).\nCLI Example: brine-master run '*' cp.hash_file salt://path/to/file", cpHashFile)
}

// envLister is the optional saltenv-aware listing a FileClient may offer.
type envLister interface {
	ListFilesEnv(ctx context.Context, saltenv, prefix string) ([]string, error)
	ListDirsEnv(ctx context.Context, saltenv string) ([]string, error)
}

func files(c *Context, fn string) (FileClient, error) {
	if c == nil || c.Files == nil {
		return nil, fmt.Errorf("%s: no file client configured", fn)
	}
	return c.Files, nil
}

// withEnv adds ?saltenv= to a salt:// URL unless it already names one.
func withEnv(url, saltenv string) string {
	if saltenv == "" || saltenv == "base" || !strings.HasPrefix(url, "salt://") || strings.Contains(url, "saltenv=") {
		return url
	}
	if strings.Contains(url, "?") {
		return url + "&saltenv=" + saltenv
	}
	return url + "?saltenv=" + saltenv
}

func saltenvOf(c *Context, kw map[string]any) (string, error) {
	def := "base"
	if c != nil && c.Saltenv != "" {
		def = c.Saltenv
	}
	return Str(kw, "saltenv", def)
}

func cpList(c *Context, fn string, args []any, kwargs map[string]any, dirs bool) (any, error) {
	kw, err := Bind(fn, args, kwargs, "saltenv", "prefix")
	if err != nil {
		return nil, err
	}
	fc, err := files(c, fn)
	if err != nil {
		return nil, err
	}
	env, err := saltenvOf(c, kw)
	if err != nil {
		return nil, err
	}
	prefix, err := Str(kw, "prefix", "")
	if err != nil {
		return nil, err
	}
	var out []string
	el, hasEnv := fc.(envLister)
	switch {
	case dirs && hasEnv:
		out, err = el.ListDirsEnv(c.Context(), env)
	case dirs:
		out, err = fc.ListDirs(c.Context())
	case hasEnv:
		out, err = el.ListFilesEnv(c.Context(), env, prefix)
	default:
		out, err = fc.ListFiles(c.Context(), prefix)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	if dirs && prefix != "" {
		kept := out[:0]
		for _, d := range out {
			if strings.HasPrefix(d, prefix) {
				kept = append(kept, d)
			}
		}
		out = kept
	}
	return toAnyList(out), nil
}

func cpListMaster(c *Context, args []any, kwargs map[string]any) (any, error) {
	return cpList(c, "cp.list_master", args, kwargs, false)
}

func cpListMasterDirs(c *Context, args []any, kwargs map[string]any) (any, error) {
	return cpList(c, "cp.list_master_dirs", args, kwargs, true)
}

// isMissing tells a file the server does not have (Salt answers with ”
// or False) from a real failure such as a refused path.
func isMissing(err error) bool {
	return errors.Is(err, os.ErrNotExist) || strings.Contains(err.Error(), "not found")
}

func cpGetFile(c *Context, args []any, kwargs map[string]any) (any, error) {
	kw, err := Bind("cp.get_file", args, kwargs, "path", "dest", "saltenv", "makedirs", "template", "gzip")
	if err != nil {
		return nil, err
	}
	if err := Require("cp.get_file", kw, "path", "dest"); err != nil {
		return nil, err
	}
	if Has(kw, "template") {
		return nil, errors.New("cp.get_file: template= is not supported; use file.managed with a template")
	}
	src, err := Str(kw, "path", "")
	if err != nil {
		return nil, err
	}
	dest, err := Str(kw, "dest", "")
	if err != nil {
		return nil, err
	}
	dest = ExpandUser(dest)
	makedirs, err := Bool(kw, "makedirs", false)
	if err != nil {
		return nil, err
	}
	env, err := saltenvOf(c, kw)
	if err != nil {
		return nil, err
	}
	fc, err := files(c, "cp.get_file")
	if err != nil {
		return nil, err
	}
	data, err := fc.Read(c.Context(), withEnv(src, env))
	if err != nil {
		if isMissing(err) {
			return "", nil
		}
		return nil, fmt.Errorf("cp.get_file: %w", err)
	}
	if fi, err := os.Stat(dest); err == nil && fi.IsDir() {
		base := src
		if i := strings.IndexByte(base, '?'); i >= 0 {
			base = base[:i]
		}
		dest = filepath.Join(dest, PyBasename(base))
	}
	if dir := filepath.Dir(dest); makedirs {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("cp.get_file: %w", err)
		}
	} else if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("cp.get_file: destination directory %s does not exist (use makedirs=True)", dir)
	}
	before, _ := HashFile(dest, "sha256")
	tmp := dest + ".brine-tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return nil, fmt.Errorf("cp.get_file: %w", err)
	}
	if err := os.Rename(tmp, dest); err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("cp.get_file: %w", err)
	}
	c.Record("cp.get_file", map[string]any{"source": src, "path": dest, "before": before, "after": sumOf(data)})
	return dest, nil
}

func cpCacheFile(c *Context, args []any, kwargs map[string]any) (any, error) {
	kw, err := Bind("cp.cache_file", args, kwargs, "path", "saltenv", "source_hash", "verify_ssl", "use_etag")
	if err != nil {
		return nil, err
	}
	src, env, fc, err := cpSource(c, "cp.cache_file", kw)
	if err != nil {
		return nil, err
	}
	p, err := fc.Cache(c.Context(), withEnv(src, env))
	if err != nil {
		if isMissing(err) {
			return false, nil
		}
		return nil, fmt.Errorf("cp.cache_file: %w", err)
	}
	return p, nil
}

// cpSource reads the path= and saltenv= that every cp function fetching
// one file takes, and finds the file client to fetch it with, so they all
// check their arguments in the same order with the same errors.
func cpSource(c *Context, fn string, kw map[string]any) (src, env string, fc FileClient, err error) {
	if err := Require(fn, kw, "path"); err != nil {
		return "", "", nil, err
	}
	src, err = Str(kw, "path", "")
	if err != nil {
		return "", "", nil, err
	}
	env, err = saltenvOf(c, kw)
	if err != nil {
		return "", "", nil, err
	}
	fc, err = files(c, fn)
	if err != nil {
		return "", "", nil, err
	}
	return src, env, fc, nil
}

// cpRead fetches the content of one file for the cp functions that take
// only path= and saltenv=; found is false (and err nil) when the server
// does not have the file, which Salt answers with False.
func cpRead(c *Context, fn string, args []any, kwargs map[string]any) (data []byte, found bool, err error) {
	kw, err := Bind(fn, args, kwargs, "path", "saltenv")
	if err != nil {
		return nil, false, err
	}
	src, env, fc, err := cpSource(c, fn, kw)
	if err != nil {
		return nil, false, err
	}
	data, err = fc.Read(c.Context(), withEnv(src, env))
	if err != nil {
		if isMissing(err) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("%s: %w", fn, err)
	}
	return data, true, nil
}

func cpGetFileStr(c *Context, args []any, kwargs map[string]any) (any, error) {
	data, found, err := cpRead(c, "cp.get_file_str", args, kwargs)
	if err != nil {
		return nil, err
	}
	if !found {
		return false, nil
	}
	return string(data), nil
}

func cpHashFile(c *Context, args []any, kwargs map[string]any) (any, error) {
	data, found, err := cpRead(c, "cp.hash_file", args, kwargs)
	if err != nil {
		return nil, err
	}
	if !found {
		return false, nil
	}
	return map[string]any{"hash_type": "sha256", "hsum": strings.TrimPrefix(sumOf(data), "sha256:")}, nil
}
