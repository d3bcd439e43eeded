package fileclient

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/brine-cm/brine/pkg/fsroot"
)

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSplitURL(t *testing.T) {
	cases := []struct{ url, path, env string }{
		{"salt://nginx/init.sls", "nginx/init.sls", ""},
		{"salt://nginx/files/conf?saltenv=dev", "nginx/files/conf", "dev"},
		{"salt://a?b?saltenv=prod", "a?b", "prod"},
		{"salt:///top.sls", "top.sls", ""},
		{"nginx/init.sls", "nginx/init.sls", ""},
	}
	for _, c := range cases {
		p, e, err := SplitURL(c.url)
		if err != nil || p != c.path || e != c.env {
			t.Errorf("SplitURL(%q) = %q, %q, %v; want %q, %q", c.url, p, e, err, c.path, c.env)
		}
	}
	if _, _, err := SplitURL("http://example.com/x"); err == nil {
		t.Error("http url accepted")
	}
}

func TestLocal(t *testing.T) {
	base := t.TempDir()
	r1, r2, dev := filepath.Join(base, "r1"), filepath.Join(base, "r2"), filepath.Join(base, "dev")
	write(t, filepath.Join(r1, "top.sls"), "r1 top")
	write(t, filepath.Join(r1, "nginx", "init.sls"), "r1 nginx")
	write(t, filepath.Join(r2, "top.sls"), "r2 top")
	write(t, filepath.Join(r2, "users", "init.sls"), "r2 users")
	write(t, filepath.Join(r2, "nginx", "files", "nginx.conf"), "r2 conf")
	write(t, filepath.Join(dev, "top.sls"), "dev top")
	write(t, filepath.Join(base, "secret"), "shadow")
	if err := os.Symlink(filepath.Join(base, "secret"), filepath.Join(r2, "leak")); err != nil {
		t.Fatal(err)
	}
	c := &Local{Roots: []string{r1, r2}, Envs: map[string][]string{"dev": {dev}}}
	ctx := context.Background()

	read := func(url string) string {
		t.Helper()
		b, err := c.Read(ctx, url)
		if err != nil {
			t.Fatalf("Read(%s): %v", url, err)
		}
		return string(b)
	}
	if got := read("salt://top.sls"); got != "r1 top" {
		t.Errorf("first root must win, got %q", got)
	}
	if got := read("salt://users/init.sls"); got != "r2 users" {
		t.Errorf("second root not searched, got %q", got)
	}
	if got := read("salt://top.sls?saltenv=dev"); got != "dev top" {
		t.Errorf("saltenv ignored, got %q", got)
	}
	if got := read("salt://top.sls?saltenv=qa"); got != "r1 top" {
		t.Errorf("unknown saltenv should fall back to roots, got %q", got)
	}
	p, err := c.Cache(ctx, "salt://nginx/files/nginx.conf")
	if err != nil || p != filepath.Join(r2, "nginx", "files", "nginx.conf") {
		t.Errorf("Cache = %q, %v", p, err)
	}
	if _, err := c.Read(ctx, "salt://missing.sls"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing file error = %v", err)
	}
	if _, err := c.Read(ctx, "salt://nginx"); !errors.Is(err, ErrNotFound) {
		t.Errorf("directory read error = %v", err)
	}
	for _, evil := range []string{"salt://../secret", "salt://nginx/../../secret", "salt://%2e%2e/secret", "salt://leak"} {
		if _, err := c.Read(ctx, evil); !errors.Is(err, fsroot.ErrOutside) {
			t.Errorf("Read(%s) error = %v, want ErrOutside", evil, err)
		}
	}

	files, err := c.ListFiles(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"nginx/files/nginx.conf", "nginx/init.sls", "top.sls", "users/init.sls"}
	if !reflect.DeepEqual(files, want) {
		t.Errorf("ListFiles = %v, want %v", files, want)
	}
	files, _ = c.ListFiles(ctx, "nginx/")
	if !reflect.DeepEqual(files, want[:2]) {
		t.Errorf("ListFiles(nginx/) = %v", files)
	}
	dirs, err := c.ListDirs(ctx)
	if err != nil || !reflect.DeepEqual(dirs, []string{"nginx", "nginx/files", "users"}) {
		t.Errorf("ListDirs = %v, %v", dirs, err)
	}
	devFiles, _ := c.ListFilesEnv(ctx, "dev", "")
	if !reflect.DeepEqual(devFiles, []string{"top.sls"}) {
		t.Errorf("ListFilesEnv(dev) = %v", devFiles)
	}
}
