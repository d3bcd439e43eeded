package fsroot

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tree builds a root with a file, a subdirectory, links that stay inside
// and links that escape, next to a secret outside the root.
func tree(t testing.TB) (root, outside string) {
	base := t.TempDir()
	root = filepath.Join(base, "root")
	outside = filepath.Join(base, "outside")
	for _, d := range []string{root, outside, filepath.Join(root, "sub", "deep")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(root, "top.sls"), "base: {}")
	write(filepath.Join(root, "sub", "file.txt"), "hello")
	write(filepath.Join(outside, "secret"), "shadow")
	link := func(target, name string) {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	link("sub/file.txt", "inlink")                            // relative, inside
	link(filepath.Join(root, "sub"), "insubdir")              // absolute, inside
	link(outside, "outdir")                                   // absolute, outside
	link("../outside/secret", "outfile")                      // relative, outside
	link("../outside/missing", "dangling-out")                // dangling, outside
	link("sub/not-yet", "dangling-in")                        // dangling, inside
	link(filepath.Join(root, "sub", "deep", ".."), "loopish") // inside via ..
	return root, outside
}

func TestJoin(t *testing.T) {
	root, _ := tree(t)
	ok := []struct{ rel, want string }{
		{"top.sls", "top.sls"},
		{"sub/file.txt", "sub/file.txt"},
		{"sub/./file.txt", "sub/file.txt"},
		{"sub//file.txt", "sub/file.txt"},
		{"", ""},
		{".", ""},
		{"sub/", "sub"},
		{"new/file/not/there", "new/file/not/there"},
		{"inlink", "inlink"},
		{"insubdir/file.txt", "insubdir/file.txt"},
		{"dangling-in", "dangling-in"},
		{"loopish/file.txt", "loopish/file.txt"},
		{`..\..\etc\passwd`, `..\..\etc\passwd`}, // backslash is a plain character
		{"a..b/c..", "a..b/c.."},
		{"...", "..."},
		{"100%", "100%"},
		{"top.sls/child", "top.sls/child"}, // ENOTDIR is not an escape
	}
	for _, c := range ok {
		got, err := Join(root, c.rel)
		if err != nil {
			t.Errorf("Join(%q) error: %v", c.rel, err)
			continue
		}
		if want := filepath.Join(root, c.want); got != want {
			t.Errorf("Join(%q) = %q, want %q", c.rel, got, want)
		}
	}
	bad := []struct{ rel, why string }{
		{"../outside/secret", "parent"},
		{"sub/../../outside/secret", "parent"},
		{"sub/../top.sls", "parent"},
		{"..", "parent"},
		{"/etc/passwd", "absolute"},
		{"//etc/passwd", "absolute"},
		{"sub/%2e%2e/%2e%2e/etc", "encoded"},
		{"%2E%2E/outside", "encoded"},
		{"sub%2ffile.txt", "encoded"},
		{"sub%2Ffile.txt", "encoded"},
		{"a%5cb", "encoded"},
		{"a%00b", "encoded"},
		{"top.sls\x00.txt", "NUL"},
		{"outdir/secret", "symlink"},
		{"outdir", "symlink"},
		{"outfile", "symlink"},
		{"dangling-out", "symlink"},
		{"outdir/new-file", "symlink"},
	}
	for _, c := range bad {
		got, err := Join(root, c.rel)
		if err == nil {
			t.Errorf("Join(%q) = %q, want refusal (%s)", c.rel, got, c.why)
			continue
		}
		if !errors.Is(err, ErrOutside) {
			t.Errorf("Join(%q) error %v does not wrap ErrOutside", c.rel, err)
		}
		if !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(c.why)) {
			t.Errorf("Join(%q) error %q does not say %q", c.rel, err, c.why)
		}
	}
	if _, err := Join("", "x"); err == nil {
		t.Error("empty root accepted")
	}
	// A root that is itself reached through a symlink still works.
	alias := filepath.Join(t.TempDir(), "alias")
	if err := os.Symlink(root, alias); err != nil {
		t.Fatal(err)
	}
	if _, err := Join(alias, "sub/file.txt"); err != nil {
		t.Errorf("Join through symlinked root: %v", err)
	}
	if _, err := Join(alias, "outfile"); err == nil {
		t.Error("escape through symlinked root accepted")
	}
}

// FuzzJoin checks the one property that matters: whatever rel is, an
// accepted path lies under root both lexically and once resolved.
func FuzzJoin(f *testing.F) {
	for _, s := range []string{"top.sls", "../x", "sub/../../x", "%2e%2e/x", "outdir/secret",
		"a\\..\\b", "/etc/passwd", "sub/file.txt", "inlink", "x\x00y", "./././sub", "dangling-out"} {
		f.Add(s)
	}
	root, _ := tree(f)
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, rel string) {
		got, err := Join(root, rel)
		if err != nil {
			return
		}
		if got != root && !strings.HasPrefix(got, root+"/") {
			t.Fatalf("Join(%q) = %q escapes %q lexically", rel, got, root)
		}
		if strings.Contains(rel, "..") {
			for _, p := range strings.Split(rel, "/") {
				if p == ".." {
					t.Fatalf("Join(%q) accepted a .. component", rel)
				}
			}
		}
		if real, err := filepath.EvalSymlinks(got); err == nil {
			if real != realRoot && !strings.HasPrefix(real, realRoot+"/") {
				t.Fatalf("Join(%q) = %q resolves to %q outside root", rel, got, real)
			}
		}
	})
}

func BenchmarkJoin(b *testing.B) {
	root, _ := tree(b)
	for b.Loop() {
		if _, err := Join(root, "sub/file.txt"); err != nil {
			b.Fatal(err)
		}
	}
}
