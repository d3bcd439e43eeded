// Package e2e proves brine's security model with real processes: the
// brine-master and brine-minion binaries built in TestMain, a real
// embedded NATS server on loopback, and attackers that are plain nats.go
// connections holding their own nkeys.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/brine-cm/brine/pkg/testkit"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/brine-cm/brine/pkg/bus"
	"github.com/brine-cm/brine/pkg/keys"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "brine-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	for _, b := range []string{"master/cmd/brine-master", "minion/cmd/brine-minion"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, filepath.Base(b)), "github.com/brine-cm/brine/"+b)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build", b, err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testkit.WaitFor(t, timeout, what, cond)
}

// logBuf is a goroutine-safe process output capture.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuf) Count(s string) int { return strings.Count(l.String(), s) }

type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	out  *logBuf
	done chan struct{}
}

func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, out: &logBuf{}, done: make(chan struct{})}
	p.cmd = exec.Command(filepath.Join(binDir, name), args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop(syscall.SIGKILL)
		if t.Failed() {
			t.Logf("--- %s %v output:\n%s", name, args, p.out.String())
		}
	})
	return p
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *proc) stop(sig syscall.Signal) {
	if !p.running() {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// freePort returns a loopback port that was free a moment ago; tests
// that restart the master need the same port twice.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type master struct {
	*proc
	dir  string
	url  string
	port int
}

func startMaster(t *testing.T, dir string, port int) *master {
	t.Helper()
	m := startServe(t, dir, "--config", os.DevNull, "--data-dir", dir, "--listen", "127.0.0.1:"+strconv.Itoa(port), "--log-level", "debug")
	m.port = port
	return m
}

// startServe starts `brine-master serve` with args and waits (30 s at
// most) for the master.url it writes in dataDir once it is ready; every
// way the tests start a master goes through here.
func startServe(t *testing.T, dataDir string, args ...string) *master {
	t.Helper()
	_ = os.Remove(filepath.Join(dataDir, "master.url"))
	p := start(t, "brine-master", append([]string{"serve"}, args...)...)
	m := &master{proc: p, dir: dataDir}
	waitFor(t, 30*time.Second, "master.url", func() bool {
		b, err := os.ReadFile(filepath.Join(dataDir, "master.url"))
		if err != nil {
			if !p.running() {
				t.Fatalf("master exited:\n%s", p.out.String())
			}
			return false
		}
		m.url = strings.TrimSpace(string(b))
		return true
	})
	return m
}

func newMaster(t *testing.T) *master {
	return startMaster(t, filepath.Join(t.TempDir(), "master"), 0)
}

type minionProc struct {
	*proc
	id  string
	dir string
}

func startMinion(t *testing.T, m *master, id, dir string, extra ...string) *minionProc {
	t.Helper()
	args := append([]string{"--config", os.DevNull, "--id", id, "--master", m.url, "--data-dir", dir, "--log-level", "debug"}, extra...)
	return &minionProc{proc: start(t, "brine-minion", args...), id: id, dir: dir}
}

func (mp *minionProc) key(t *testing.T) nkeys.KeyPair {
	t.Helper()
	var kp nkeys.KeyPair
	waitFor(t, 10*time.Second, mp.id+" key file", func() bool {
		k, err := keys.Load(filepath.Join(mp.dir, "minion.nk"))
		kp = k
		return err == nil
	})
	return kp
}

// cli runs the operator CLI against the master's data dir.
func (m *master) cli(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "brine-master"), append([]string{"--data-dir", m.dir}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%v: %s", err, errb.String())
	}
	return out.String(), nil
}

func (m *master) keyLists(t *testing.T) map[string][]string {
	t.Helper()
	out, err := m.cli(t, "key", "list", "--out", "json")
	if err != nil {
		t.Fatalf("key list: %v", err)
	}
	var lists map[string][]string
	if err := json.Unmarshal([]byte(out), &lists); err != nil {
		t.Fatalf("key list json %q: %v", out, err)
	}
	return lists
}

func contains(l []string, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}

// acceptMinion starts a minion, waits for its key to show as pending and
// accepts it through the CLI.
func acceptMinion(t *testing.T, m *master, id string) *minionProc {
	t.Helper()
	mp := startMinion(t, m, id, filepath.Join(t.TempDir(), id))
	waitFor(t, 20*time.Second, id+" pending", func() bool { return contains(m.keyLists(t)["minions_pre"], id) })
	if _, err := m.cli(t, "key", "accept", id, "-y"); err != nil {
		t.Fatalf("accept %s: %v", id, err)
	}
	waitFor(t, 20*time.Second, id+" receiving jobs", func() bool { return mp.out.Count("receiving jobs") > 0 })
	return mp
}

// runJSON runs a function through the CLI and decodes --out json.
func (m *master) runJSON(t *testing.T, args ...string) (map[string]any, error) {
	t.Helper()
	out, err := m.cli(t, append([]string{"run", "--out", "json"}, args...)...)
	var res map[string]any
	if jerr := json.Unmarshal([]byte(out), &res); jerr != nil && err == nil {
		err = fmt.Errorf("run output %q: %v", out, jerr)
	}
	return res, err
}

// attacker is a plain nats.go client with its own key, recording the
// asynchronous errors (permission violations) the server sends it.
type attacker struct {
	nc   *nats.Conn
	mu   sync.Mutex
	errs []string
}

func (a *attacker) errors() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return strings.Join(a.errs, "\n")
}

func tlsOption(t *testing.T, m *master) nats.Option {
	t.Helper()
	pin, err := keys.CertFileFingerprint(filepath.Join(m.dir, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	tc, err := bus.TLSPin(pin, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	return nats.Secure(tc)
}

func dial(t *testing.T, url string, opts ...nats.Option) (*attacker, error) {
	t.Helper()
	a := &attacker{}
	opts = append(opts, nats.NoReconnect(), nats.Timeout(5*time.Second), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		a.mu.Lock()
		a.errs = append(a.errs, err.Error())
		a.mu.Unlock()
	}))
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, err
	}
	a.nc = nc
	t.Cleanup(nc.Close)
	return a, nil
}

func dialAs(t *testing.T, m *master, kp nkeys.KeyPair, name, inbox string) *attacker {
	t.Helper()
	opts := []nats.Option{tlsOption(t, m), nats.Nkey(keys.Public(kp), kp.Sign), nats.Name(name)}
	if inbox != "" {
		opts = append(opts, nats.CustomInboxPrefix(inbox))
	}
	a, err := dial(t, m.url, opts...)
	if err != nil {
		t.Fatalf("connect as %s: %v", name, err)
	}
	return a
}

// expectViolation waits for the server's permission violation for subject.
func (a *attacker) expectViolation(t *testing.T, kind, subject string) {
	t.Helper()
	want := fmt.Sprintf("Permissions Violation for %s to %q", kind, subject)
	waitFor(t, 20*time.Second, want, func() bool { return strings.Contains(a.errors(), want) })
}

func newUserKey(t *testing.T) nkeys.KeyPair {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

func filepathStat(p string) (os.FileInfo, error) { return os.Stat(p) }

func readFile(p string) ([]byte, error) { return os.ReadFile(p) }
