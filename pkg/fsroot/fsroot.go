// Package fsroot confines a client-supplied relative path to a directory
// tree. The file server and the local file client resolve every
// `salt://` path through Join, so a request for `salt://../../etc/shadow`,
// an absolute path, a URL-encoded separator or a symlink pointing out of
// the tree can never read a file outside the configured roots.
package fsroot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// ErrOutside is wrapped by every refusal, so callers can answer
// "forbidden" rather than "not found" and audit the attempt.
var ErrOutside = errors.New("path outside root")

// Join returns root joined with rel after proving the result stays under
// root. rel uses forward slashes; a backslash is an ordinary file-name
// character, as it is on Unix. Refused: NUL bytes, absolute paths, any
// ".." component, percent-encoded dots, slashes, backslashes or NULs
// (a path must arrive decoded exactly once), and any existing symlink
// along the way that resolves outside root. "" and "." name root itself.
// The returned path is lexically clean and not symlink-resolved.
func Join(root, rel string) (string, error) {
	if root == "" {
		return "", fmt.Errorf("empty root: %w", ErrOutside)
	}
	if err := checkRel(rel); err != nil {
		return "", fmt.Errorf("%q: %w", rel, err)
	}
	clean := filepath.Clean(root)
	joined := filepath.Join(clean, filepath.FromSlash(rel))
	if joined != clean && !strings.HasPrefix(joined, withSep(clean)) {
		return "", fmt.Errorf("%q: %w", rel, ErrOutside)
	}
	if joined != clean && resolvesBeneath(clean, joined[len(withSep(clean)):]) {
		return joined, nil
	}
	if err := checkSymlinks(clean, joined); err != nil {
		return "", fmt.Errorf("%q: %w", rel, err)
	}
	return joined, nil
}

func withSep(p string) string {
	if strings.HasSuffix(p, string(filepath.Separator)) {
		return p
	}
	return p + string(filepath.Separator)
}

func checkRel(rel string) error {
	if strings.IndexByte(rel, 0) >= 0 {
		return fmt.Errorf("NUL byte in path: %w", ErrOutside)
	}
	if strings.HasPrefix(rel, "/") {
		return fmt.Errorf("absolute path: %w", ErrOutside)
	}
	lower := strings.ToLower(rel)
	for _, enc := range []string{"%2e", "%2f", "%5c", "%00"} {
		if strings.Contains(lower, enc) {
			return fmt.Errorf("encoded %s in path: %w", enc, ErrOutside)
		}
	}
	for _, part := range strings.Split(rel, "/") {
		if part == ".." {
			return fmt.Errorf("parent directory reference: %w", ErrOutside)
		}
	}
	return nil
}

// checkSymlinks resolves the longest existing prefix of joined and makes
// sure it is still inside root once symlinks are followed. Parts that do
// not exist yet cannot be links, so a path to a file about to be created
// is judged by its deepest existing parent.
func checkSymlinks(root, joined string) error {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			// Nothing exists under a missing root, so nothing can escape.
			return nil
		}
		return fmt.Errorf("resolve root: %w", err)
	}
	p := joined
	for {
		real, err := filepath.EvalSymlinks(p)
		if err == nil {
			if real != realRoot && !strings.HasPrefix(real, withSep(realRoot)) {
				return fmt.Errorf("symlink resolves to %s: %w", real, ErrOutside)
			}
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			// A dangling link: find where it points and judge that.
			if fi, lerr := os.Lstat(p); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
				return checkDangling(realRoot, p)
			}
			return fmt.Errorf("resolve: %w", err)
		}
		if fi, lerr := os.Lstat(p); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return checkDangling(realRoot, p)
		}
		if p == root {
			return nil
		}
		parent := filepath.Dir(p)
		if parent == p {
			return nil
		}
		p = parent
	}
}

// checkDangling judges a symlink whose target does not exist: its target
// must still lie inside root, or writing through it would escape.
func checkDangling(realRoot, link string) error {
	target, err := os.Readlink(link)
	if err != nil {
		return fmt.Errorf("readlink: %w", err)
	}
	if !filepath.IsAbs(target) {
		dir, err := filepath.EvalSymlinks(filepath.Dir(link))
		if err != nil {
			return fmt.Errorf("resolve: %w", err)
		}
		target = filepath.Join(dir, target)
	}
	target = filepath.Clean(target)
	if target != realRoot && !strings.HasPrefix(target, withSep(realRoot)) {
		return fmt.Errorf("symlink points to %s: %w", target, ErrOutside)
	}
	return nil
}
