package fsroot

import (
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
)

// TestResolvesBeneathOnlyProves checks the kernel fast path never
// accepts what the walk by hand refuses, and (on Linux with openat2)
// that it does accept plain paths, so Join is not quietly slow.
func TestResolvesBeneathOnlyProves(t *testing.T) {
	root, _ := tree(t)
	for _, rel := range []string{"top.sls", "sub", "sub/file.txt", "sub/deep", "inlink", "insubdir/file.txt",
		"loopish/file.txt", "outdir", "outdir/secret", "outfile", "dangling-out", "dangling-in",
		"missing", "sub/missing", "top.sls/child"} {
		if resolvesBeneath(root, rel) {
			if err := checkSymlinks(root, filepath.Join(root, rel)); err != nil {
				t.Errorf("%s: fast path accepts, walk refuses: %v", rel, err)
			}
		}
	}
	for _, rel := range []string{"outdir", "outdir/secret", "outfile", "dangling-out", "missing"} {
		if resolvesBeneath(root, rel) {
			t.Errorf("%s: fast path accepts an escape or a missing file", rel)
		}
	}
	if !resolvesBeneath(root, "sub/file.txt") {
		if kernelHasOpenat2(t) {
			t.Error("the kernel has openat2 but the fast path refused a plain file")
		}
	}
}

// kernelHasOpenat2 tells a kernel without openat2 (before 5.6, or a
// seccomp filter refusing it) from a broken fast path.
func kernelHasOpenat2(t *testing.T) bool {
	t.Helper()
	var uts syscall.Utsname
	if err := syscall.Uname(&uts); err != nil {
		return false
	}
	var rel []byte
	for _, c := range uts.Release {
		if c == 0 {
			break
		}
		rel = append(rel, byte(c))
	}
	var major, minor int
	if _, err := fmt.Sscanf(string(rel), "%d.%d", &major, &minor); err != nil {
		return false
	}
	return major > 5 || major == 5 && minor >= 6
}
