package fileserver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newTree(t *testing.T) (string, *Server) {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "web", "files"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "web", "init.sls"), []byte("a: b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root, New(Config{Roots: []string{root}, MaxBytes: 1024})
}

func TestReadInChunksMatchesStat(t *testing.T) {
	root, s := newTree(t)
	big := bytes.Repeat([]byte("abcdefghij"), 300) // 3000 bytes, chunk is 512
	if err := os.WriteFile(filepath.Join(root, "web", "files", "big"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st := s.Serve(ctx, "m1", Request{Op: OpStat, URL: "salt://web/files/big"})
	sum := sha256.Sum256(big)
	if st.Error != "" || st.Size != 3000 || st.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("stat = %+v", st)
	}
	var got []byte
	for i := 0; ; i++ {
		r := s.Serve(ctx, "m1", Request{Op: OpRead, URL: "salt://web/files/big", Offset: int64(len(got))})
		if r.Error != "" || int64(len(r.Data)) > s.ChunkSize() || r.SHA256 != st.SHA256 {
			t.Fatalf("chunk %d = %+v", i, r)
		}
		got = append(got, r.Data...)
		if r.EOF {
			break
		}
		if i > 10 {
			t.Fatal("no end")
		}
	}
	if !bytes.Equal(got, big) || s.C.Reads.Load() != 6 || s.C.Bytes.Load() != 3000 {
		t.Fatalf("read %d bytes in %d chunks", len(got), s.C.Reads.Load())
	}
	// Past the end is an error, not an empty success.
	if r := s.Serve(ctx, "m1", Request{Op: OpRead, URL: "salt://web/files/big", Offset: 3001}); r.Error == "" {
		t.Fatalf("read past the end = %+v", r)
	}
}

func TestHashFollowsChanges(t *testing.T) {
	root, s := newTree(t)
	p := filepath.Join(root, "web", "init.sls")
	ctx := context.Background()
	a := s.Serve(ctx, "m1", Request{Op: OpStat, URL: "salt://web/init.sls"})
	if err := os.WriteFile(p+".new", []byte("a: c\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Same size, replaced by rename: the inode differs.
	if err := os.Rename(p+".new", p); err != nil {
		t.Fatal(err)
	}
	b := s.Serve(ctx, "m1", Request{Op: OpStat, URL: "salt://web/init.sls"})
	if a.SHA256 == "" || a.SHA256 == b.SHA256 {
		t.Fatalf("hash did not follow the change: %s -> %s", a.SHA256, b.SHA256)
	}
}

func TestConfinement(t *testing.T) {
	root, s := newTree(t)
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("SECRET"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "dirlink")); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, u := range []string{
		"salt://../" + filepath.Base(outside) + "/secret", "salt:///etc/passwd", "salt://link", "salt://dirlink/secret",
		"salt://%2e%2e/etc/passwd", "salt://web%2f..%2f..%2fetc/passwd", "salt://web/init.sls\x00", "/etc/passwd",
		"salt://web/../../etc/passwd",
	} {
		for _, op := range []string{OpStat, OpRead} {
			r := s.Serve(ctx, "m1", Request{Op: op, URL: u})
			if !r.Refused || len(r.Data) != 0 || r.SHA256 != "" {
				t.Errorf("%s %q = %+v, want refused", op, u, r)
			}
		}
	}
	if r := s.Serve(ctx, "m1", Request{Op: OpRead, URL: "file:///etc/passwd"}); r.Error == "" || len(r.Data) != 0 {
		t.Errorf("file:// = %+v", r)
	}
	r := s.Serve(ctx, "m1", Request{Op: OpListFiles})
	if strings.Contains(strings.Join(r.List, " "), "secret") || strings.Contains(strings.Join(r.List, " "), "link") {
		t.Errorf("list_files = %v", r.List)
	}
	if r := s.Serve(ctx, "m1", Request{Op: OpStat, URL: "salt://web/missing"}); !r.NotFound || r.Refused {
		t.Errorf("missing = %+v", r)
	}
}

// TestOpenedFileRechecked swaps a file for a symlink between the path
// check and the open: the descriptor check still refuses it.
func TestOpenedFileRechecked(t *testing.T) {
	root, s := newTree(t)
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("SECRET"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(secret)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := s.confined(f, "salt://x"); err == nil {
		t.Fatal("a descriptor outside the roots passed the check")
	}
	g, err := os.Open(filepath.Join(root, "web", "init.sls"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := s.confined(g, "salt://web/init.sls"); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkStatCached(b *testing.B) {
	root := b.TempDir()
	if err := os.WriteFile(filepath.Join(root, "f"), bytes.Repeat([]byte("x"), 1<<20), 0o644); err != nil {
		b.Fatal(err)
	}
	s := New(Config{Roots: []string{root}})
	ctx := context.Background()
	for b.Loop() {
		if r := s.Serve(ctx, "m", Request{Op: OpStat, URL: "salt://f"}); r.Error != "" {
			b.Fatal(r.Error)
		}
	}
}

// TestRelativeRoot serves a root given as a relative path, as
// `--file-root ./salt` gives it.
func TestRelativeRoot(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(filepath.Dir(dir))
	s := New(Config{Roots: []string{filepath.Base(dir)}})
	if r := s.Serve(context.Background(), "m", Request{Op: OpRead, URL: "salt://f"}); r.Error != "" || string(r.Data) != "x" {
		t.Fatalf("read under a relative root = %+v", r)
	}
}
