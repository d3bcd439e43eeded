// Package fileclient resolves `salt://` URLs for execution and state
// modules. Local serves them from file roots on this host, the way Salt's
// file_roots do for a masterless minion and for the master's own file
// server: roots are searched in order and the first match wins.
package fileclient

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/brine-cm/brine/pkg/execmod"
	"github.com/brine-cm/brine/pkg/fsroot"
)

// ErrNotFound is wrapped when no root holds the requested file, so a
// state can report Salt's "Source file ... not found" rather than a
// generic failure.
var ErrNotFound = errors.New("file not found in file roots")

// Local is a FileClient over directories on this host. Roots is the
// search path for the "base" environment; Envs, when set, gives the roots
// of each other saltenv (Salt's file_roots mapping), and an environment
// missing from it falls back to Roots.
type Local struct {
	Roots []string
	Envs  map[string][]string
}

var _ execmod.FileClient = (*Local)(nil)

// NewLocal returns a client searching roots in order.
func NewLocal(roots ...string) *Local { return &Local{Roots: roots} }

// SplitURL parses "salt://path/to/file?saltenv=env" into its path and
// environment (empty when not given). The path is returned as written,
// without percent-decoding: fsroot refuses encoded separators outright.
// A URL without the salt:// scheme is taken as a path relative to the
// roots, as Salt's file client does for bare paths.
func SplitURL(url string) (path, saltenv string, err error) {
	rest := url
	if strings.Contains(rest, "://") {
		var ok bool
		rest, ok = strings.CutPrefix(url, "salt://")
		if !ok {
			return "", "", fmt.Errorf("unsupported url %q: only salt:// is served", url)
		}
	}
	if i := strings.LastIndexByte(rest, '?'); i >= 0 {
		for _, kv := range strings.Split(rest[i+1:], "&") {
			if v, ok := strings.CutPrefix(kv, "saltenv="); ok {
				saltenv = v
			} else if v, ok := strings.CutPrefix(kv, "env="); ok && saltenv == "" {
				saltenv = v
			}
		}
		rest = rest[:i]
	}
	rest = strings.TrimPrefix(rest, "/")
	return rest, saltenv, nil
}

func (l *Local) roots(saltenv string) []string {
	if saltenv != "" && saltenv != "base" {
		if r, ok := l.Envs[saltenv]; ok {
			return r
		}
	}
	if r, ok := l.Envs["base"]; ok && len(l.Roots) == 0 {
		return r
	}
	return l.Roots
}

// Find returns the on-disk path of url in the first root that holds it
// as a regular file. A path that escapes a root is refused, never
// skipped, so an attack is an error and not a silent miss.
func (l *Local) Find(url string) (string, error) {
	rel, env, err := SplitURL(url)
	if err != nil {
		return "", err
	}
	if rel == "" {
		return "", fmt.Errorf("%s: empty path", url)
	}
	for _, root := range l.roots(env) {
		p, err := fsroot.Join(root, rel)
		if err != nil {
			return "", fmt.Errorf("%s: %w", url, err)
		}
		fi, err := os.Stat(p)
		if err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: %w", url, ErrNotFound)
}

// Cache returns the path of the file in its root: local roots need no
// copy.
func (l *Local) Cache(_ context.Context, url string) (string, error) {
	return l.Find(url)
}

// Read returns the content of url from the first root that has it.
func (l *Local) Read(_ context.Context, url string) ([]byte, error) {
	p, err := l.Find(url)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", url, err)
	}
	return b, nil
}

// ListDirs lists every directory below the base roots (relative, sorted,
// deduplicated), as cp.list_master_dirs does.
func (l *Local) ListDirs(ctx context.Context) ([]string, error) {
	return l.walk(ctx, "", "", true)
}

// ListFiles lists every regular file below prefix in the base roots
// (relative, sorted, deduplicated), as cp.list_master does.
func (l *Local) ListFiles(ctx context.Context, prefix string) ([]string, error) {
	return l.walk(ctx, "", prefix, false)
}

// ListDirsEnv and ListFilesEnv are the saltenv-aware forms.
func (l *Local) ListDirsEnv(ctx context.Context, saltenv string) ([]string, error) {
	return l.walk(ctx, saltenv, "", true)
}

// ListFilesEnv lists the files of one saltenv below prefix.
func (l *Local) ListFilesEnv(ctx context.Context, saltenv, prefix string) ([]string, error) {
	return l.walk(ctx, saltenv, prefix, false)
}

func (l *Local) walk(ctx context.Context, saltenv, prefix string, dirs bool) ([]string, error) {
	prefix = strings.TrimPrefix(prefix, "salt://")
	seen := map[string]bool{}
	for _, root := range l.roots(saltenv) {
		if _, err := os.Stat(root); err != nil {
			continue
		}
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil // unreadable entries are skipped, as Salt's walk does
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			rel, rerr := filepath.Rel(root, p)
			if rerr != nil || rel == "." {
				return nil
			}
			rel = filepath.ToSlash(rel)
			if strings.HasPrefix(d.Name(), ".") && d.IsDir() {
				return filepath.SkipDir
			}
			isDir := d.IsDir()
			if d.Type()&fs.ModeSymlink != 0 {
				// Follow a link only when it stays in the root.
				if _, jerr := fsroot.Join(root, rel); jerr != nil {
					return nil
				}
				fi, serr := os.Stat(p)
				if serr != nil {
					return nil
				}
				isDir = fi.IsDir()
			}
			if isDir == dirs && strings.HasPrefix(rel, prefix) {
				seen[rel] = true
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", root, err)
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}
