package master

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brine-cm/brine/master/broker"
	"github.com/brine-cm/brine/pkg/keys"
	"github.com/nats-io/nkeys"
)

// emptyDirectory knows no keys: every connection is an unaccepted key.
type emptyDirectory struct{}

func (emptyDirectory) MinionByNkey(string) (string, string, bool) { return "", "", false }
func (emptyDirectory) MinionByID(string) (string, string, bool)   { return "", "", false }
func (emptyDirectory) Operator(string) (string, bool)             { return "", false }
func (emptyDirectory) Denied(string, string, string)              {}

// countAllowed makes n connection attempts with fresh keys from addr and
// counts those the policy lets in.
func countAllowed(t *testing.T, p *broker.Policy, addr string, n int) int {
	t.Helper()
	nonce := []byte("nonce-for-the-rate-test")
	allowed := 0
	for i := 0; i < n; i++ {
		kp, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		sig, err := kp.Sign(nonce)
		if err != nil {
			t.Fatal(err)
		}
		if p.Decide(broker.AuthRequest{Nkey: keys.Public(kp), Sig: base64.RawURLEncoding.EncodeToString(sig), Nonce: nonce, Addr: addr}).Allow {
			allowed++
		}
	}
	return allowed
}

// The per-address rate of unaccepted connections comes from the config
// file and reaches the broker's policy; unset, it is 20 a second.
func TestPendingRateFromConfig(t *testing.T) {
	p := filepath.Join(t.TempDir(), "master.yaml")
	if err := os.WriteFile(p, []byte("pending_rate_per_ip: 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(p, true)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Defaults()
	if got := countAllowed(t, broker.NewPolicy(emptyDirectory{}, cfg.BrokerLimits()), "192.0.2.7:5000", 10); got != 3 {
		t.Fatalf("configured 3 a second, %d of 10 attempts let in", got)
	}
	if got := countAllowed(t, broker.NewPolicy(emptyDirectory{}, cfg.BrokerLimits()), "127.0.0.1:5000", 10); got != 10 {
		t.Fatalf("loopback limited: %d of 10 let in", got)
	}
	var def Config
	def.Defaults()
	if got := countAllowed(t, broker.NewPolicy(emptyDirectory{}, def.BrokerLimits()), "192.0.2.7:5000", 30); got != 20 {
		t.Fatalf("default: %d of 30 let in, want 20", got)
	}
}

// A misspelt option is refused with its line instead of being ignored
// (an ignored `acls:` would leave every operator unrestricted); an empty
// file is no error.
func TestConfigUnknownKeyRefused(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "master.yaml")
	if err := os.WriteFile(p, []byte("listen: 127.0.0.1:0\nacls:\n  alice: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadConfig(p, true)
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), "acls") {
		t.Fatalf("unknown key: %v", err)
	}
	if err := os.WriteFile(p, []byte("# nothing set\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(p, true); err != nil {
		t.Fatalf("empty config: %v", err)
	}
	if err := os.WriteFile(p, []byte("listen: [1, 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(p, true); err == nil || !strings.Contains(err.Error(), "line") {
		t.Fatalf("malformed yaml: %v", err)
	}
}

// The pillar_watch section reads its durations and rules, and a
// misspelt rule field is refused with its line.
func TestConfigPillarWatch(t *testing.T) {
	p := filepath.Join(t.TempDir(), "master.yaml")
	if err := os.WriteFile(p, []byte("pillar_watch:\n  interval: 250ms\n  rules:\n    - key: nginx:workers\n      sls: nginx\n    - key: ntp\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(p, true)
	if err != nil {
		t.Fatal(err)
	}
	c.Defaults()
	pw := c.PillarWatch
	if pw.Interval != 250*time.Millisecond || pw.Timeout != 10*time.Minute || len(pw.Rules) != 2 ||
		pw.Rules[0].Key != "nginx:workers" || pw.Rules[0].SLS != "nginx" || pw.Rules[1].SLS != "" {
		t.Fatalf("pillar_watch: %+v", pw)
	}
	if err := os.WriteFile(p, []byte("pillar_watch:\n  rules:\n    - key: a\n      state: b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(p, true); err == nil || !strings.Contains(err.Error(), "line 4") {
		t.Fatalf("misspelt rule field: %v", err)
	}
}

// The reactor section reads its rules.
func TestConfigReactor(t *testing.T) {
	p := filepath.Join(t.TempDir(), "master.yaml")
	body := "reactor:\n  - tag: 'salt/minion/*/start'\n    fun: state.apply\n    args: [base]\n  - tag: salt/key\n    fun: test.ping\n    tgt: 'mon*'\n"
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(p, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Reactor) != 2 || c.Reactor[0].Fun != "state.apply" || len(c.Reactor[0].Args) != 1 || c.Reactor[1].Tgt != "mon*" {
		t.Fatalf("reactor: %+v", c.Reactor)
	}
}
