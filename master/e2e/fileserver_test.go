package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/brine-cm/brine/proto"
)

// startMasterArgs starts a master as startMaster does, with extra serve
// flags (file and pillar roots, a config file).
func startMasterArgs(t *testing.T, dir string, extra ...string) *master {
	t.Helper()
	args := append([]string{"--data-dir", dir, "--listen", "127.0.0.1:0", "--log-level", "debug"}, extra...)
	if !slices.Contains(extra, "--config") {
		args = append(args, "--config", os.DevNull)
	}
	return startServe(t, dir, args...)
}

func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// runOne runs fun on one minion through the CLI and returns its return.
func (m *master) runOne(t *testing.T, id string, args ...string) any {
	t.Helper()
	return m.runRet(t, false, id, args...)
}

// runRet is runOne that may accept a failed job (exit status 1) when
// the return itself is what the test judges.
func (m *master) runRet(t *testing.T, mayFail bool, id string, args ...string) any {
	t.Helper()
	res, err := m.runJSON(t, append([]string{"-t", "60", id}, args...)...)
	if err != nil && (!mayFail || res == nil) {
		t.Fatalf("run %v: %v", args, err)
	}
	ret, ok := res[id]
	if !ok {
		t.Fatalf("run %v: no return from %s in %v", args, id, res)
	}
	return ret
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestFileServerStateApplyCachesByHash applies a state tree served by
// the master, a file larger than the message limit among them, and
// proves the second apply transfers no file content: the master logs
// every content chunk it sends, and the count does not move.
func TestFileServerStateApplyCachesByHash(t *testing.T) {
	root := t.TempDir()
	dest := t.TempDir()
	big := bytes.Repeat([]byte("0123456789abcdef"), 160*1024) // 2.5 MiB, over the 1 MiB message limit
	writeTree(t, root, map[string]string{
		"top.sls":              "base:\n  '*':\n    - web\n",
		"web/init.sls":         fmt.Sprintf("index:\n  file.managed:\n    - name: %s/index.html\n    - source: salt://web/files/index.html\n\nbig:\n  file.managed:\n    - name: %s/big.bin\n    - source: salt://web/files/big.bin\n", dest, dest),
		"web/files/index.html": "<h1>served by the master</h1>\n",
	})
	if err := os.WriteFile(filepath.Join(root, "web/files/big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	m := startMasterArgs(t, filepath.Join(t.TempDir(), "master"), "--file-root", root)
	acceptMinion(t, m, "web1")

	ret := m.runOne(t, "web1", "state.apply")
	states, ok := ret.(map[string]any)
	if !ok || len(states) != 2 {
		t.Fatalf("state.apply returned %v", ret)
	}
	for k, v := range states {
		if r, _ := v.(map[string]any)["result"].(bool); !r {
			t.Fatalf("state %s failed: %v", k, v)
		}
	}
	got, err := os.ReadFile(filepath.Join(dest, "index.html"))
	if err != nil || string(got) != "<h1>served by the master</h1>\n" {
		t.Fatalf("index.html = %q, %v", got, err)
	}
	got, err = os.ReadFile(filepath.Join(dest, "big.bin"))
	if err != nil || sha(got) != sha(big) {
		t.Fatalf("big.bin: %d bytes, %v (want %d bytes with the same hash)", len(got), err, len(big))
	}
	sent := m.out.Count("file sent")
	// top.sls, init.sls, index.html, and big.bin in at least 5 chunks.
	if sent < 8 {
		t.Fatalf("master sent %d content chunks on the first apply; want the big file chunked", sent)
	}

	ret = m.runOne(t, "web1", "state.apply")
	for k, v := range ret.(map[string]any) {
		st := v.(map[string]any)
		if r, _ := st["result"].(bool); !r || len(st["changes"].(map[string]any)) != 0 {
			t.Fatalf("second apply, state %s: %v", k, st)
		}
	}
	if again := m.out.Count("file sent"); again != sent {
		t.Fatalf("second state.apply transferred file content: %d chunks sent, %d before", again, sent)
	}

	// A changed file is fetched again, and only that one.
	writeTree(t, root, map[string]string{"web/files/index.html": "<h1>changed</h1>\n"})
	m.runOne(t, "web1", "state.apply")
	got, _ = os.ReadFile(filepath.Join(dest, "index.html"))
	if string(got) != "<h1>changed</h1>\n" {
		t.Fatalf("index.html after change = %q", got)
	}
	if n := m.out.Count("file sent") - sent; n != 1 {
		t.Fatalf("after changing one small file the master sent %d chunks, want 1", n)
	}

	// state.sls and state.highstate run the same tree from the wire.
	for _, fun := range [][]string{{"state.sls", "web", "test=True"}, {"state.highstate"}} {
		ret := m.runOne(t, "web1", fun...)
		st, ok := ret.(map[string]any)
		if !ok || len(st) != 2 {
			t.Fatalf("%v returned %v", fun, ret)
		}
		for k, v := range st {
			if r, _ := v.(map[string]any)["result"].(bool); !r {
				t.Fatalf("%v: state %s: %v", fun, k, v)
			}
		}
	}

	// cp.get_file over the wire.
	cpDest := filepath.Join(dest, "copy", "index.html")
	if r := m.runOne(t, "web1", "cp.get_file", "salt://web/files/index.html", cpDest, "makedirs=True"); r != cpDest {
		t.Fatalf("cp.get_file returned %v", r)
	}
	if b, _ := os.ReadFile(cpDest); string(b) != "<h1>changed</h1>\n" {
		t.Fatalf("cp.get_file wrote %q", b)
	}
}

// TestFileServerConfinement has a real minion ask for files outside the
// file roots in every way DESIGN invariant 5 names, and then asks the
// master directly with the minion's own credentials, so the refusal is
// proven at the file server and not only in the minion's URL handling.
func TestFileServerConfinement(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"ok.txt": "inside\n"})
	secret := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(secret, []byte("SECRET-OUTSIDE-ROOT\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Dir(secret), filepath.Join(root, "dirlink")); err != nil {
		t.Fatal(err)
	}
	m := startMasterArgs(t, filepath.Join(t.TempDir(), "master"), "--file-root", root)
	mp := acceptMinion(t, m, "web1")

	if r := m.runOne(t, "web1", "cp.get_file_str", "salt://ok.txt"); r != "inside\n" {
		t.Fatalf("cp.get_file_str salt://ok.txt = %v", r)
	}
	attacks := []string{
		"salt://../../etc/shadow",
		"salt://../" + filepath.Base(filepath.Dir(secret)) + "/secret.txt",
		"salt:///etc/passwd",
		"salt://escape",
		"salt://dirlink/secret.txt",
		"salt://%2e%2e/%2e%2e/etc/passwd",
		"salt://..%2f..%2fetc/passwd",
	}
	for _, u := range attacks {
		r := m.runRet(t, true, "web1", "cp.get_file_str", u)
		s := fmt.Sprint(r)
		if strings.Contains(s, "SECRET-OUTSIDE-ROOT") || strings.Contains(s, "root:") {
			t.Fatalf("%s leaked: %v", u, r)
		}
		if !strings.Contains(s, "refused") && !strings.Contains(s, "outside") {
			t.Fatalf("%s: want a refusal, got %v", u, r)
		}
	}
	if n := m.out.Count("file request outside the file roots refused"); n < len(attacks) {
		t.Fatalf("master logged %d refusals, want %d", n, len(attacks))
	}

	// The same, and a NUL byte, straight from a connection holding the
	// minion's key, for every operation.
	a := dialAs(t, m, mp.key(t), "web1", proto.Inbox("web1"))
	for _, u := range append(attacks, "salt://ok.txt\x00/../../etc/passwd", "salt://escape\x00") {
		for _, op := range []string{"stat", "read"} {
			b, _ := json.Marshal(map[string]any{"v": 1, "op": op, "url": u})
			msg, err := a.nc.Request(proto.RequestSubject("web1", "file"), b, 10*time.Second)
			if err != nil {
				t.Fatalf("%s %q: %v", op, u, err)
			}
			var rep struct {
				Data    []byte `json:"data"`
				Refused bool   `json:"refused"`
				Error   string `json:"error"`
			}
			if err := json.Unmarshal(msg.Data, &rep); err != nil {
				t.Fatalf("%s %q: reply %q: %v", op, u, msg.Data, err)
			}
			if !rep.Refused || len(rep.Data) != 0 || strings.Contains(string(msg.Data), "SECRET") {
				t.Fatalf("%s %q: not refused: %s", op, u, msg.Data)
			}
		}
	}
	// A listing never names what a link outside the roots points to.
	b, _ := json.Marshal(map[string]any{"v": 1, "op": "list_files"})
	msg, err := a.nc.Request(proto.RequestSubject("web1", "file"), b, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(msg.Data), "secret") || strings.Contains(string(msg.Data), "escape") || !strings.Contains(string(msg.Data), "ok.txt") {
		t.Fatalf("list_files = %s", msg.Data)
	}
	// Refusals are audited.
	out, err := m.cli(t, "audit", "show", "--action", "file.refused", "--out", "json")
	if err != nil {
		t.Fatalf("audit show: %v", err)
	}
	if c := strings.Count(out, "file.refused"); c < len(attacks) {
		t.Fatalf("audit holds %d file.refused entries, want at least %d:\n%s", c, len(attacks), out)
	}
}
