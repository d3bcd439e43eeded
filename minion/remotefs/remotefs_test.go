package remotefs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/brine-cm/brine/master/fileserver"
	"github.com/brine-cm/brine/pkg/fileclient"
	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// serve runs a real NATS server on loopback with the master's file
// server answering brine.req.*.file for minion "m1".
func serve(t *testing.T, root string) (*nats.Conn, *fileserver.Server) {
	t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats not ready")
	}
	t.Cleanup(srv.Shutdown)
	mc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mc.Close)
	fs := fileserver.New(fileserver.Config{Roots: []string{root}, MaxBytes: 4096})
	if _, err := mc.Subscribe(proto.RequestSubject("m1", "file"), func(m *nats.Msg) { fs.Handle(context.Background(), "m1", m) }); err != nil {
		t.Fatal(err)
	}
	_ = mc.Flush()
	nc, err := nats.Connect(srv.ClientURL(), nats.CustomInboxPrefix(proto.Inbox("m1")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc, fs
}

func TestReadCachesByHash(t *testing.T) {
	root := t.TempDir()
	content := bytes.Repeat([]byte("brine "), 2000) // 12000 bytes, 6 chunks of 2048
	if err := os.WriteFile(filepath.Join(root, "f.txt"), content, 0o644); err != nil {
		t.Fatal(err)
	}
	nc, fs := serve(t, root)
	cache := t.TempDir()
	f := NewFiles(nc, "m1", cache, nil)
	ctx := context.Background()

	got, err := f.Read(ctx, "salt://f.txt")
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("read: %d bytes, %v", len(got), err)
	}
	if n := fs.C.Reads.Load(); n != 6 {
		t.Fatalf("first read took %d chunks, want 6", n)
	}
	p, err := f.Cache(ctx, "salt://f.txt")
	if err != nil || p != filepath.Join(cache, "env", "base", "f.txt") {
		t.Fatalf("cache path %q, %v", p, err)
	}
	if b, _ := os.ReadFile(p); !bytes.Equal(b, content) {
		t.Fatal("cached copy differs")
	}
	if n := fs.C.Reads.Load(); n != 6 {
		t.Fatalf("cached file transferred again: %d chunks", n)
	}
	// A damaged cache object is dropped and fetched again.
	obj, _ := f.objectPath(sha(content))
	if err := os.WriteFile(obj, []byte("tampered"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := f.Read(ctx, "salt://f.txt"); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("read after damage: %v", err)
	}
	if n := fs.C.Reads.Load(); n != 12 {
		t.Fatalf("damaged object: %d chunks in total, want 12", n)
	}
	// Missing and refused are told apart.
	if _, err := f.Read(ctx, "salt://nope"); !errors.Is(err, fileclient.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	if _, err := f.Read(ctx, "salt://../etc/passwd"); !errors.Is(err, ErrRefused) {
		t.Fatalf("outside: %v", err)
	}
	if l, err := f.ListFiles(ctx, ""); err != nil || len(l) != 1 || l[0] != "f.txt" {
		t.Fatalf("list: %v %v", l, err)
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
