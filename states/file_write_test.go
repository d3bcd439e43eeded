package states

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
)

// TestWriteAtomicNewAndReplace checks both ways a file is written: a new
// one (unnamed inode linked in, on Linux) and a replacement (temporary
// name and rename): content, exact mode whatever the umask, owner kept,
// and no temporary file left behind.
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
	if err := writeAtomic(filepath.Join(dir, "missing", "x"), []byte("x"), 0o644, owner{uid: -1, gid: -1}, nil); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
}

// TestCreateAnonymousLeavesAnExistingFile checks that a name which
// appeared after the caller looked is not overwritten by the unnamed-inode
// path: it hands over to the rename path instead.
func TestCreateAnonymousLeavesAnExistingFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "raced")
	if err := os.WriteFile(p, []byte("theirs"), 0o600); err != nil {
		t.Fatal(err)
	}
	handled, err := createAnonymous(dir, p, []byte("ours"), 0o644, -1, -1)
	if handled || err != nil {
		t.Fatalf("handled=%v err=%v, want a hand-over", handled, err)
	}
	if b, _ := os.ReadFile(p); string(b) != "theirs" {
		t.Fatalf("existing file changed to %q", b)
	}
	// Where O_TMPFILE works (Linux, ext4, tmpfs, xfs, btrfs), a new name
	// is handled here.
	if runtime.GOOS == "linux" {
		q := filepath.Join(dir, "fresh")
		handled, err = createAnonymous(dir, q, []byte("ours"), 0o644, -1, -1)
		if err != nil {
			t.Fatal(err)
		}
		if !handled {
			t.Skip("O_TMPFILE not supported on this file system")
		}
		fi, err := os.Stat(q)
		if err != nil || fi.Mode() != fs.FileMode(0o644) || fi.Size() != 4 {
			t.Fatalf("created %v, %v", fi, err)
		}
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
