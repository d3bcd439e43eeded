package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/brine-cm/brine/pkg/keys"
	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats.go"
	"gopkg.in/yaml.v3"
)

// keyState maps id -> state from `key list --out json`.
func keyState(t *testing.T, m *master) map[string]string {
	t.Helper()
	st := map[string]string{}
	for group, ids := range m.keyLists(t) {
		for _, id := range ids {
			st[id] = group
		}
	}
	return st
}

func (m *master) mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, errs, code := m.cliCode(t, args...)
	if code != 0 {
		t.Fatalf("%v: exit %d: %s%s", args, code, out, errs)
	}
	return out
}

// Every key verb takes ids, globs, comma lists after salt-key's letters
// and --all, and prints text, json or yaml.
func TestKeyVerbsGlobsAndOutputs(t *testing.T) {
	m := newMaster(t)
	ids := []string{"web1", "web2", "db1", "x.example.com"}
	procs := map[string]*minionProc{}
	for _, id := range ids {
		procs[id] = startMinion(t, m, id, filepath.Join(t.TempDir(), id))
	}
	waitFor(t, 30*time.Second, "all pending", func() bool {
		pre := m.keyLists(t)["minions_pre"]
		return len(pre) == len(ids)
	})

	// yaml groups the same way as json.
	var doc map[string][]string
	if err := yaml.Unmarshal([]byte(m.mustCLI(t, "key", "list", "--out", "yaml")), &doc); err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"minions", "minions_pre", "minions_rejected", "minions_denied"} {
		if _, ok := doc[g]; !ok {
			t.Fatalf("yaml lacks %s: %v", g, doc)
		}
	}
	if len(doc["minions_pre"]) != len(ids) {
		t.Fatalf("yaml minions_pre %v", doc["minions_pre"])
	}

	// -F: the master's own fingerprints and every minion's, which are the
	// fingerprints of the keys in their data dirs.
	var fingers map[string]map[string]string
	if err := json.Unmarshal([]byte(m.mustCLI(t, "key", "-F", "--out", "json")), &fingers); err != nil {
		t.Fatal(err)
	}
	mk, err := keys.Load(filepath.Join(m.dir, "master.nk"))
	if err != nil {
		t.Fatal(err)
	}
	if fingers["local"]["master.pub"] != keys.Fingerprint(keys.Public(mk)) {
		t.Fatalf("master.pub %q, want %q", fingers["local"]["master.pub"], keys.Fingerprint(keys.Public(mk)))
	}
	certFP, err := keys.CertFileFingerprint(filepath.Join(m.dir, "tls", "cert.pem"))
	if err != nil || fingers["local"]["master.tls"] != certFP {
		t.Fatalf("master.tls %q, want %q (%v)", fingers["local"]["master.tls"], certFP, err)
	}
	for _, id := range ids {
		want := keys.Fingerprint(keys.Public(procs[id].key(t)))
		if fingers["minions_pre"][id] != want {
			t.Fatalf("finger of %s: %q, want %q", id, fingers["minions_pre"][id], want)
		}
	}
	// -f with a glob, text output: only the matching keys.
	out := m.mustCLI(t, "key", "-f", "web*")
	web1 := keys.Fingerprint(keys.Public(procs["web1"].key(t)))
	if !strings.Contains(out, "web1:  "+web1) || !strings.Contains(out, "web2:  ") || strings.Contains(out, "db1") {
		t.Fatalf("key -f web*:\n%s", out)
	}
	if err := yaml.Unmarshal([]byte(m.mustCLI(t, "key", "finger", "db?", "--out", "yaml")), &fingers); err != nil {
		t.Fatal(err)
	}
	if len(fingers["minions_pre"]) != 1 || fingers["minions_pre"]["db1"] == "" {
		t.Fatalf("finger db? yaml: %v", fingers)
	}

	// Letters with a comma list, verbs with a glob, several names.
	if out := m.mustCLI(t, "key", "-a", "web1,db1", "-y"); !strings.Contains(out, "Key for minion web1 accepted.") || !strings.Contains(out, "Key for minion db1 accepted.") {
		t.Fatalf("-a web1,db1: %s", out)
	}
	m.mustCLI(t, "key", "accept", "web?", "-y")
	m.mustCLI(t, "key", "reject", "x.*", "-y")
	st := keyState(t, m)
	want := map[string]string{"web1": "minions", "web2": "minions", "db1": "minions", "x.example.com": "minions_rejected"}
	for id, g := range want {
		if st[id] != g {
			t.Fatalf("after accept/reject: %v, want %v", st, want)
		}
	}
	// Nothing pending left: --all and -R match nothing, and say so.
	if out := m.mustCLI(t, "key", "reject", "--all", "-y"); !strings.Contains(out, "does not match any keys") {
		t.Fatalf("reject --all with nothing pending: %s", out)
	}
	// --include-accepted widens -R to accepted keys; -A --include-rejected
	// brings them all back.
	m.mustCLI(t, "key", "-R", "--include-accepted", "-y")
	if st := keyState(t, m); st["web1"] != "minions_rejected" || st["db1"] != "minions_rejected" {
		t.Fatalf("after -R --include-accepted: %v", st)
	}
	m.mustCLI(t, "key", "-A", "--include-rejected", "-y")
	if l := m.keyLists(t)["minions"]; len(l) != len(ids) {
		t.Fatalf("after -A --include-rejected: %v", m.keyLists(t))
	}
	waitFor(t, 60*time.Second, "all answer (a refused minion retries every RefusedRetryMax)", func() bool {
		res, err := m.runJSON(t, "-t", "3", "*", "test.ping")
		return err == nil && len(res) == len(ids)
	})
	// Delete by glob: the minion asks again and shows up pending.
	if out := m.mustCLI(t, "key", "-d", "db*", "-y"); !strings.Contains(out, "Key for minion db1 deleted.") {
		t.Fatalf("-d db*: %s", out)
	}
	waitFor(t, 30*time.Second, "db1 pending again", func() bool { return keyState(t, m)["db1"] == "minions_pre" })
	m.mustCLI(t, "key", "delete", "--all", "-y")
	waitFor(t, 30*time.Second, "every key pending again", func() bool {
		return len(m.keyLists(t)["minions_pre"]) == len(ids)
	})
	if out := m.mustCLI(t, "key", "-D", "-y"); strings.Count(out, " deleted.") != len(ids) {
		t.Fatalf("-D:\n%s", out)
	}

	// Bad command lines: exit 2 and a pointer to --help.
	for _, bad := range [][]string{{"key", "delete"}, {"key", "--out", "xml"}, {"key", "--frobnicate"}, {"key", "-a"}, {"key", "-a", "x", "-r", "y"}} {
		_, errs, code := m.cliCode(t, bad...)
		if code != 2 || errs == "" {
			t.Fatalf("%v: exit %d, stderr %q", bad, code, errs)
		}
	}
	out, _, code := m.cliCode(t, "key", "--help")
	if code != 0 || !strings.Contains(out, "-A (all)") || !strings.Contains(out, "--out json|yaml|txt") {
		t.Fatalf("key --help: exit %d:\n%s", code, out)
	}
}

// runOnTerminal runs the CLI with a real pseudo-terminal as stdin, through
// util-linux script(1), and types answer.
func runOnTerminal(t *testing.T, m *master, answer string, args ...string) string {
	t.Helper()
	line := filepath.Join(binDir, "brine-master") + " --data-dir " + m.dir
	for _, a := range args {
		line += " '" + a + "'"
	}
	cmd := exec.Command("script", "-qec", line, os.DevNull)
	cmd.Stdin = strings.NewReader(answer)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v on a terminal: %v\n%s", args, err, out.String())
	}
	return out.String()
}

// accept, reject and delete ask on a terminal and act only on yes; -y and
// a stdin that is not a terminal do not ask.
func TestKeyConfirmsOnTerminal(t *testing.T) {
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("script(1) not installed")
	}
	m := newMaster(t)
	for _, id := range []string{"t1", "t2"} {
		startMinion(t, m, id, filepath.Join(t.TempDir(), id))
	}
	waitFor(t, 30*time.Second, "pending", func() bool { return len(m.keyLists(t)["minions_pre"]) == 2 })

	out := runOnTerminal(t, m, "n\n", "key", "accept", "t*")
	if !strings.Contains(out, "The following keys are going to be accepted:") || !strings.Contains(out, "Unaccepted Keys:") ||
		!strings.Contains(out, "t1") || !strings.Contains(out, "Proceed? [n/Y]") {
		t.Fatalf("no confirmation:\n%s", out)
	}
	if strings.Contains(out, "Rejected Keys:") {
		t.Fatalf("confirmation lists states that do not change:\n%s", out)
	}
	if l := m.keyLists(t)["minions"]; len(l) != 0 {
		t.Fatalf("answered no, yet accepted %v", l)
	}
	out = runOnTerminal(t, m, "y\n", "key", "-a", "t1")
	if !strings.Contains(out, "Proceed?") || !strings.Contains(out, "Key for minion t1 accepted.") {
		t.Fatalf("answered yes:\n%s", out)
	}
	if st := keyState(t, m); st["t1"] != "minions" || st["t2"] != "minions_pre" {
		t.Fatalf("after yes to t1: %v", st)
	}
	// Enter alone takes the default, yes, as salt-key does.
	out = runOnTerminal(t, m, "\n", "key", "reject", "t2")
	if !strings.Contains(out, "Proceed?") || keyState(t, m)["t2"] != "minions_rejected" {
		t.Fatalf("default answer:\n%s\n%v", out, keyState(t, m))
	}
	out = runOnTerminal(t, m, "no\n", "key", "delete", "--all")
	if !strings.Contains(out, "going to be deleted") || len(keyState(t, m)) != 2 {
		t.Fatalf("answered no to delete --all:\n%s\n%v", out, keyState(t, m))
	}
	// -y on a terminal does not ask.
	out = runOnTerminal(t, m, "", "key", "delete", "t2", "-y")
	if strings.Contains(out, "Proceed?") || !strings.Contains(out, "Key for minion t2 deleted.") {
		t.Fatalf("-y asked:\n%s", out)
	}
	// stdin from /dev/null (a character device, not a terminal) does not ask.
	cmd := exec.Command(filepath.Join(binDir, "brine-master"), "--data-dir", m.dir, "key", "delete", "t1")
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	cmd.Stdin = devnull
	b, err := cmd.CombinedOutput()
	if err != nil || strings.Contains(string(b), "Proceed?") || !strings.Contains(string(b), "Key for minion t1 deleted.") {
		t.Fatalf("stdin /dev/null: %v\n%s", err, b)
	}

	// A key that arrives while the operator reads the list is not
	// accepted with it, even by --all.
	waitFor(t, 30*time.Second, "t1 and t2 pending again", func() bool { return len(m.keyLists(t)["minions_pre"]) == 2 })
	line := filepath.Join(binDir, "brine-master") + " --data-dir " + m.dir + " key accept --all"
	sc := exec.Command("script", "-qec", line, os.DevNull)
	answer, err := sc.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out2 := &logBuf{}
	sc.Stdout, sc.Stderr = out2, out2
	if err := sc.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the prompt", func() bool { return strings.Contains(out2.String(), "Proceed?") })
	startMinion(t, m, "late", filepath.Join(t.TempDir(), "late"))
	waitFor(t, 20*time.Second, "late pending", func() bool { return contains(m.keyLists(t)["minions_pre"], "late") })
	if _, err := answer.Write([]byte("y\n")); err != nil {
		t.Fatal(err)
	}
	_ = answer.Close()
	if err := sc.Wait(); err != nil {
		t.Fatalf("accept --all: %v\n%s", err, out2.String())
	}
	st := keyState(t, m)
	if st["t1"] != "minions" || st["t2"] != "minions" || st["late"] != "minions_pre" {
		t.Fatalf("after confirming t1 and t2: %v\n%s", st, out2.String())
	}
}

func exitCode(p *proc) int {
	<-p.done
	return p.cmd.ProcessState.ExitCode()
}

// The config file sets everything; flags win over it; the CLI finds the
// master through the same file; the message limit reaches the server;
// SIGTERM stops the master with exit 0 and an acknowledged key change is
// on disk.
func TestServeConfigFlagsAndShutdown(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "master")
	cfgPort := freePort(t)
	cfgFile := filepath.Join(t.TempDir(), "master.yaml")
	conf := fmt.Sprintf("data_dir: %s\nlisten: 127.0.0.1:%d\nlog_level: error\nmax_request_bytes: 8192\n", dir, cfgPort)
	if err := os.WriteFile(cfgFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	// Config only: its address and its log level (no info lines).
	m := startServe(t, dir, "--config", cfgFile)
	if want := "tls://127.0.0.1:" + strconv.Itoa(cfgPort); m.url != want {
		t.Fatalf("url %q, want %q from the config", m.url, want)
	}
	mp := startMinion(t, m, "cfgmin", filepath.Join(t.TempDir(), "cfgmin"))
	// The CLI is pointed at the config file only, not at the data dir.
	cli := func(args ...string) (string, error) {
		cmd := exec.Command(filepath.Join(binDir, "brine-master"), append([]string{"--config", cfgFile}, args...)...)
		b, err := cmd.CombinedOutput()
		return string(b), err
	}
	waitFor(t, 20*time.Second, "pending through --config", func() bool {
		out, err := cli("key", "list", "--out", "json")
		return err == nil && strings.Contains(out, "cfgmin")
	})
	// The configured message limit is what the server announces, and a
	// bigger message is refused.
	a := dialAs(t, m, newUserKey(t), "big", "")
	if got := a.nc.MaxPayload(); got != 8192 {
		t.Fatalf("server max payload %d, want 8192 from max_request_bytes", got)
	}
	if err := a.nc.Publish(proto.KeyRequestSubject(keys.Public(newUserKey(t))), make([]byte, 9000)); !errors.Is(err, nats.ErrMaxPayload) {
		t.Fatalf("9000-byte message: %v", err)
	}
	a.nc.Close()
	if out, err := cli("key", "accept", "cfgmin", "-y"); err != nil {
		t.Fatalf("accept: %v %s", err, out)
	}
	// SIGTERM right after the acknowledged accept: exit 0, nothing lost.
	m.stop(syscall.SIGTERM)
	if code := exitCode(m.proc); code != 0 {
		t.Fatalf("exit %d after SIGTERM:\n%s", code, m.out.String())
	}
	if strings.Contains(m.out.String(), "level=INFO") {
		t.Fatalf("log_level error in the config, yet info lines:\n%s", m.out.String())
	}
	mp.stop(syscall.SIGTERM)

	// Flags win over the file: another port and another log level.
	flagPort := freePort(t)
	m2 := startServe(t, dir, "--config", cfgFile, "--listen", "127.0.0.1:"+strconv.Itoa(flagPort), "--log-level", "debug")
	if want := "tls://127.0.0.1:" + strconv.Itoa(flagPort); m2.url != want {
		t.Fatalf("url %q, want %q from --listen", m2.url, want)
	}
	waitFor(t, 10*time.Second, "debug lines", func() bool { return strings.Contains(m2.out.String(), "level=DEBUG") })
	out, err := cli("key", "list", "--out", "json")
	var lists map[string][]string
	if err != nil || json.Unmarshal([]byte(out), &lists) != nil || !contains(lists["minions"], "cfgmin") {
		t.Fatalf("accept lost over SIGTERM: %v\n%s", err, out)
	}
	m2.stop(syscall.SIGINT)
	if code := exitCode(m2.proc); code != 0 {
		t.Fatalf("exit %d after SIGINT", code)
	}
	// A bad log level is refused before anything starts.
	p := start(t, "brine-master", "serve", "--config", cfgFile, "--log-level", "loud")
	if code := exitCode(p); code != 2 || !strings.Contains(p.out.String(), "log level") {
		t.Fatalf("bad log level: exit %d: %s", code, p.out.String())
	}
}

// writeCA makes a CA and a server certificate for 127.0.0.1 signed by it,
// as an operator would bring them.
func writeCA(t *testing.T, dir, name string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "master.example.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile, certFile, keyFile = filepath.Join(dir, name+"-ca.pem"), filepath.Join(dir, name+"-cert.pem"), filepath.Join(dir, name+"-key.pem")
	for f, blk := range map[string]*pem.Block{caFile: {Type: "CERTIFICATE", Bytes: caDER}, certFile: {Type: "CERTIFICATE", Bytes: srvDER},
		keyFile: {Type: "EC PRIVATE KEY", Bytes: kb}} {
		if err := os.WriteFile(f, pem.EncodeToMemory(blk), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return caFile, certFile, keyFile
}

// The operator's own certificate is served instead of a generated one;
// minions verify it against the operator's CA, and a minion trusting
// another CA never gets as far as asking for acceptance.
func TestOperatorTLSCertificate(t *testing.T) {
	tmp := t.TempDir()
	caFile, certFile, keyFile := writeCA(t, tmp, "ops")
	otherCA, _, _ := writeCA(t, tmp, "other")
	dir := filepath.Join(tmp, "master")
	cfgFile := filepath.Join(tmp, "master.yaml")
	conf := fmt.Sprintf("data_dir: %s\nlisten: 127.0.0.1:0\ntls_cert: %s\ntls_key: %s\n", dir, certFile, keyFile)
	if err := os.WriteFile(cfgFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	// A mistyped path is refused, and nothing is generated there.
	typo := filepath.Join(tmp, "typo.yaml")
	missing := filepath.Join(tmp, "no-such-cert.pem")
	if err := os.WriteFile(typo, []byte(fmt.Sprintf("data_dir: %s\nlisten: 127.0.0.1:0\ntls_cert: %s\ntls_key: %s\n", dir, missing, keyFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := start(t, "brine-master", "serve", "--config", typo)
	if code := exitCode(bad); code != 1 || !strings.Contains(bad.out.String(), "tls_cert") || !strings.Contains(bad.out.String(), missing) {
		t.Fatalf("missing tls_cert: exit %d:\n%s", code, bad.out.String())
	}
	if _, err := os.Stat(missing); err == nil {
		t.Fatal("a certificate was generated at the mistyped tls_cert path")
	}
	m := startServe(t, dir, "--config", cfgFile)
	if _, err := os.Stat(filepath.Join(dir, "tls", "cert.pem")); err == nil {
		t.Fatal("a certificate was generated although the operator's is configured")
	}
	// The CLI pins the operator's certificate named in the config.
	out, err := exec.Command(filepath.Join(binDir, "brine-master"), "--config", cfgFile, "key", "finger", "--out", "json").CombinedOutput()
	if err != nil {
		t.Fatalf("key finger: %v\n%s", err, out)
	}
	var fingers map[string]map[string]string
	if err := json.Unmarshal(out, &fingers); err != nil {
		t.Fatal(err)
	}
	want, err := keys.CertFileFingerprint(certFile)
	if err != nil || fingers["local"]["master.tls"] != want {
		t.Fatalf("master.tls %q, want the operator's %q (%v)", fingers["local"]["master.tls"], want, err)
	}

	stranger := startMinion(t, m, "stranger", filepath.Join(tmp, "stranger"), "--master-ca", otherCA)
	good := startMinion(t, m, "good", filepath.Join(tmp, "good"), "--master-ca", caFile)
	m.dir = dir
	waitFor(t, 20*time.Second, "good pending", func() bool { return contains(m.keyLists(t)["minions_pre"], "good") })
	waitFor(t, 20*time.Second, "stranger refuses the certificate", func() bool {
		return strings.Contains(stranger.out.String(), "certificate signed by unknown authority")
	})
	if st := keyState(t, m); st["stranger"] != "" {
		t.Fatalf("a minion that does not trust the certificate reached the master: %v", st)
	}
	m.mustCLI(t, "key", "accept", "good", "-y")
	waitFor(t, 20*time.Second, "good answers", func() bool {
		res, err := m.runJSON(t, "-t", "2", "good", "test.ping")
		return err == nil && res["good"] == true
	})
	if !good.running() || !stranger.running() {
		t.Fatal("a minion exited")
	}
}

// --master-finger: a minion configured with another master's fingerprint
// refuses this master loudly when accepted and never runs its jobs; with
// the right one it pins the master and works. --master-tls-finger with
// another certificate's fingerprint never completes the handshake.
func TestMasterFingerFlag(t *testing.T) {
	m := newMaster(t)
	mk, err := keys.Load(filepath.Join(m.dir, "master.nk"))
	if err != nil {
		t.Fatal(err)
	}
	right := keys.Fingerprint(keys.Public(mk))
	wrong := keys.Fingerprint(keys.Public(newUserKey(t)))
	tmp := t.TempDir()
	bad := startMinion(t, m, "bad", filepath.Join(tmp, "bad"), "--master-finger", wrong)
	startMinion(t, m, "good", filepath.Join(tmp, "good"), "--master-finger", right)
	badTLS := startMinion(t, m, "badtls", filepath.Join(tmp, "badtls"), "--master-tls-finger", wrong)
	// The same through the minion's config file, and the flag over it.
	cfg := filepath.Join(tmp, "minion.yaml")
	if err := os.WriteFile(cfg, []byte("master_finger: "+strconv.Quote(wrong)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	minionWithConfig := func(id string, extra ...string) *proc {
		args := append([]string{"--config", cfg, "--id", id, "--master", m.url, "--data-dir", filepath.Join(tmp, id), "--log-level", "debug"}, extra...)
		return start(t, "brine-minion", args...)
	}
	cfgBad := minionWithConfig("cfgbad")
	cfgOver := minionWithConfig("cfgover", "--master-finger", right)
	waitFor(t, 20*time.Second, "pending", func() bool {
		pre := m.keyLists(t)["minions_pre"]
		return contains(pre, "bad") && contains(pre, "good") && contains(pre, "cfgbad") && contains(pre, "cfgover")
	})
	m.mustCLI(t, "key", "accept", "bad", "good", "cfg*", "-y")
	waitFor(t, 20*time.Second, "config master_finger refused, flag over it accepted", func() bool {
		return strings.Contains(cfgBad.out.String(), "is not master_finger "+wrong) && strings.Contains(cfgOver.out.String(), "receiving jobs")
	})
	if strings.Contains(cfgBad.out.String(), "receiving jobs") {
		t.Fatalf("master_finger in the config ignored:\n%s", cfgBad.out.String())
	}
	waitFor(t, 20*time.Second, "loud refusal", func() bool {
		return strings.Contains(bad.out.String(), "level=ERROR") && strings.Contains(bad.out.String(), "is not master_finger "+wrong)
	})
	waitFor(t, 20*time.Second, "good answers", func() bool {
		res, err := m.runJSON(t, "-t", "2", "good", "test.ping")
		return err == nil && res["good"] == true
	})
	res, _ := m.runJSON(t, "-t", "2", "bad", "test.ping")
	if res["bad"] == true || strings.Contains(bad.out.String(), "receiving jobs") || strings.Contains(bad.out.String(), "running job") {
		t.Fatalf("minion with the wrong master_finger ran a job: %v\n%s", res, bad.out.String())
	}
	if _, err := os.Stat(filepath.Join(tmp, "bad", "master.pin")); err == nil {
		t.Fatal("the refused master was pinned")
	}
	var pin struct {
		MasterKey string `json:"master_key"`
	}
	b, err := os.ReadFile(filepath.Join(tmp, "good", "master.pin"))
	if err != nil || json.Unmarshal(b, &pin) != nil || pin.MasterKey != keys.Public(mk) {
		t.Fatalf("pin of the good minion: %s %v", b, err)
	}
	waitFor(t, 20*time.Second, "TLS refusal", func() bool {
		return strings.Contains(badTLS.out.String(), "master TLS certificate refused")
	})
	if keyState(t, m)["badtls"] != "" {
		t.Fatal("a minion pinning another certificate reached the master")
	}
	if !bad.running() || !badTLS.running() {
		t.Fatal("a refusing minion exited instead of retrying")
	}
}

// --help, wherever it is asked for, prints usage to stdout and exits 0.
func TestHelp(t *testing.T) {
	for _, c := range []struct {
		bin  string
		args []string
		want []string
	}{
		{"brine-master", []string{"--help"}, []string{"serve", "key", "run"}},
		{"brine-master", []string{"--data-dir", t.TempDir(), "--help"}, []string{"serve", "key"}},
		{"brine-master", []string{"key", "--help"}, []string{"-A (all)", "--include-rejected", "--out json|yaml|txt"}},
		{"brine-master", []string{"key", "-h"}, []string{"finger"}},
		{"brine-master", []string{"serve", "--help"}, []string{"usage: brine-master serve", "-listen", "-log-level", "-data-dir"}},
		{"brine-master", []string{"operator", "--help"}, []string{"operator add NAME", "--operator-key"}},
		{"brine-master", []string{"audit", "--help"}, []string{"verify"}},
		{"brine-minion", []string{"--help"}, []string{"daemon", "call"}},
		{"brine-minion", []string{"daemon", "--help"}, []string{"--master-finger", "-master-tls-finger", "-data-dir"}},
	} {
		cmd := exec.Command(filepath.Join(binDir, c.bin), c.args...)
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", c.bin, c.args, err, b)
		}
		for _, w := range c.want {
			if !strings.Contains(string(b), w) {
				t.Fatalf("%s %v lacks %q:\n%s", c.bin, c.args, w, b)
			}
		}
	}
}

// The real master restarted with a new signing key (master.nk lost or
// replaced): its accepted minion refuses the new key loudly, runs none of
// its jobs, keeps its pin and keeps running.
func TestMasterWithNewSigningKeyRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "master")
	port := freePort(t)
	m := startMaster(t, dir, port)
	mp := acceptMinion(t, m, "pinned")
	pin, err := os.ReadFile(filepath.Join(mp.dir, "master.pin"))
	if err != nil {
		t.Fatal(err)
	}
	m.stop(syscall.SIGTERM)
	if err := os.Remove(filepath.Join(dir, "master.nk")); err != nil {
		t.Fatal(err)
	}
	m2 := startMaster(t, dir, port)
	waitFor(t, 30*time.Second, "loud refusal", func() bool {
		return strings.Contains(mp.out.String(), "level=ERROR") && strings.Contains(mp.out.String(), "MASTER KEY CHANGED")
	})
	res, _ := m2.runJSON(t, "-t", "3", "pinned", "test.ping")
	if res["pinned"] == true {
		t.Fatal("minion ran a job signed by the new master key")
	}
	waitFor(t, 10*time.Second, "job refused", func() bool { return strings.Contains(mp.out.String(), `check="job signature"`) })
	after, err := os.ReadFile(filepath.Join(mp.dir, "master.pin"))
	if err != nil || !bytes.Equal(pin, after) {
		t.Fatalf("pin changed: %v\n%s\n%s", err, pin, after)
	}
	if !mp.running() {
		t.Fatal("minion exited")
	}
}
