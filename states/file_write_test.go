package states

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestWriteAtomicNewAndReplace checks a new file and a replacement:
// content, exact mode whatever the umask, no temporary file left behind,
// and a missing directory reported as the temporary file's.
func TestWriteAtomicNewAndReplace(t *testing.T) {
	dir := t.TempDir()
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	p := filepath.Join(dir, "new.conf")
	if err := writeAtomic(p, []byte("one\n"), 0o4750, owner{uid: -1, gid: -1}, nil); err != nil {
		t.Fatal(err)
	}
	check := func(want string, mode uint32) {
		t.Helper()
		b, err := os.ReadFile(p)
		if err != nil || string(b) != want {
			t.Fatalf("content %q, %v; want %q", b, err, want)
		}
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := unixPerm(fi); got != mode {
			t.Fatalf("mode %04o, want %04o", got, mode)
		}
		ents, err := os.ReadDir(dir)
		if err != nil || len(ents) != 1 {
			t.Fatalf("directory holds %v (%v), want only %s", ents, err, filepath.Base(p))
		}
	}
	check("one\n", 0o4750)
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeAtomic(p, []byte("two\n"), 0o640, owner{uid: -1, gid: -1}, fi); err != nil {
		t.Fatal(err)
	}
	check("two\n", 0o640)
	err = writeAtomic(filepath.Join(dir, "missing", "x"), []byte("x"), 0o644, owner{uid: -1, gid: -1}, nil)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "createtemp "+filepath.Join(dir, "missing", ".x.brine-*")) {
		t.Fatalf("write into a missing directory: %v", err)
	}
}

// TestReadRegularMatchesOSReadFile checks the poller-free reader returns
// what os.ReadFile does for empty, small, exact-size and large files, and
// the same kind of error for a missing one.
func TestReadRegularMatchesOSReadFile(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []int{0, 1, 511, 512, 513, 4096, 1 << 20} {
		p := filepath.Join(dir, "f")
		want := make([]byte, n)
		for i := range want {
			want[i] = byte(i*7 + n)
		}
		if err := os.WriteFile(p, want, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := readRegular(p)
		if err != nil || string(got) != string(want) {
			t.Fatalf("size %d: got %d bytes, %v", n, len(got), err)
		}
	}
	if _, err := readRegular(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

// TestWriteAtomicOwner checks the owner asked for is set on a new file
// and a replacement without one keeps the owner of the file it replaces.
func TestWriteAtomicOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing a file's owner needs root")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "owned")
	if err := writeAtomic(p, []byte("a"), 0o640, owner{uid: 65534, gid: 65534}, nil); err != nil {
		t.Fatal(err)
	}
	ids := func() (uint32, uint32) {
		t.Helper()
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		return st.Uid, st.Gid
	}
	if u, g := ids(); u != 65534 || g != 65534 {
		t.Fatalf("new file owned by %d:%d", u, g)
	}
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeAtomic(p, []byte("b"), 0o640, owner{uid: -1, gid: -1}, fi); err != nil {
		t.Fatal(err)
	}
	if u, g := ids(); u != 65534 || g != 65534 {
		t.Fatalf("replacement owned by %d:%d, want the old file's 65534:65534", u, g)
	}
}

// TestWriteAtomicOverDirectory checks a directory standing where the file
// should go is reported as os.Rename reports it, and left alone.
func TestWriteAtomicOverDirectory(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "d")
	if err := os.Mkdir(p, 0o755); err != nil {
		t.Fatal(err)
	}
	err := writeAtomic(p, []byte("x"), 0o644, owner{uid: -1, gid: -1}, nil)
	var le *os.LinkError
	if !errors.As(err, &le) || le.Op != "rename" || !errors.Is(err, fs.ErrExist) {
		t.Fatalf("got %v, want a rename error saying the file exists", err)
	}
	if fi, err := os.Lstat(p); err != nil || !fi.IsDir() {
		t.Fatalf("directory replaced: %v %v", fi, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temporary file left: %v", ents)
	}
}
