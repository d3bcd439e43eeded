// Package master is the composition root of the brine master: it loads
// the configuration, creates the master's keys and TLS certificate on
// first start, runs the embedded NATS server with JetStream, the key
// registry and the request handlers, and shuts all of it down cleanly.
package master

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/brine-cm/brine/master/api"
	"github.com/brine-cm/brine/master/broker"
	"github.com/brine-cm/brine/master/pillar"
	"github.com/brine-cm/brine/master/reactor"
	"gopkg.in/yaml.v3"
)

// DefaultConfigFile is where the master and its CLI look for their
// configuration when --config is not given.
const DefaultConfigFile = "/etc/brine/master.yaml"

// Config is the master's configuration file; the flags of
// `brine-master serve` (--data-dir, --listen, --file-root, --pillar-root,
// --log-level) override the fields they name.
type Config struct {
	// DataDir holds keys, the TLS certificate, JetStream and master.url.
	DataDir string `yaml:"data_dir"`
	// Listen is host:port for minions and operators; port 0 picks one.
	Listen string `yaml:"listen"`
	// FileRoots and PillarRoots are the state and pillar trees.
	FileRoots   []string `yaml:"file_roots"`
	PillarRoots []string `yaml:"pillar_roots"`
	LogLevel    string   `yaml:"log_level"`
	// TLSCert and TLSKey use the operator's certificate instead of the
	// self-signed one generated at first start.
	TLSCert    string `yaml:"tls_cert"`
	TLSKey     string `yaml:"tls_key"`
	TLSDisable bool   `yaml:"tls_disable"`
	// AutosignFile lists id globs accepted without an operator.
	AutosignFile string `yaml:"autosign_file"`
	// AutosignGrains names grains; a minion whose grain value is listed
	// in DATA_DIR/autosign_grains/<grain> is accepted (as Salt does).
	AutosignGrains    []string `yaml:"autosign_grains"`
	AutosignGrainsDir string   `yaml:"autosign_grains_dir"`
	// Operators maps extra operator names to their nkey public keys; the
	// "root" operator is created at first start.
	Operators map[string]string `yaml:"operators"`
	// MaxRequestBytes bounds every message the master accepts.
	MaxRequestBytes int `yaml:"max_request_bytes"`
	// MaxPending caps the number of pending keys.
	MaxPending int `yaml:"max_pending"`
	// PendingRatePerIP caps connection attempts by unaccepted keys from
	// one source address per second (default 20; loopback is exempt), so
	// one host minting fresh keys cannot keep the master verifying them.
	PendingRatePerIP int `yaml:"pending_rate_per_ip"`
	// JobTTL is how long a job stays valid after it is issued.
	JobTTL time.Duration `yaml:"job_ttl"`
	// Timeout is the default time `run` waits for returns.
	Timeout time.Duration `yaml:"timeout"`
	// Nodegroups name compound targets for `run -N` and N@ (Salt's
	// nodegroups option).
	Nodegroups map[string]string `yaml:"nodegroups"`
	// KeepJobs is how many hours jobs and returns are kept (Salt's
	// keep_jobs, 24 by default).
	KeepJobs float64 `yaml:"keep_jobs"`
	// SyncAlways makes JetStream fsync every write, so an acknowledged
	// key change survives a power cut, not only a crash.
	SyncAlways *bool `yaml:"sync_always"`
	// AuditRecover lets the master start when its audit log ends with a
	// torn line (a crash in the middle of a write): the log continues in
	// a new segment whose first entry records the damage. Without it the
	// master refuses to start and names the file and offset.
	AuditRecover bool `yaml:"audit_recover"`
	// ACL limits what each operator may run (Salt's publisher_acl):
	// operator name -> rules of target glob and function globs. The root
	// operator is never limited; with any rules set, an operator without
	// rules may run nothing.
	ACL map[string][]api.ACLRule `yaml:"acl"`
	// PillarWatch refreshes the minions whose compiled value of a
	// watched pillar key changes when the pillar tree is edited.
	PillarWatch PillarWatch `yaml:"pillar_watch"`
	// Reactor maps event tags to jobs (Salt's reactor).
	Reactor []reactor.Rule `yaml:"reactor"`
}

// PillarWatch is the pillar_watch section: how often the pillar roots are
// checked, and which values call for which states.
type PillarWatch struct {
	Interval time.Duration      `yaml:"interval"`
	Rules    []pillar.WatchRule `yaml:"rules"`
	// Timeout bounds how long the master follows each refresh job's
	// returns in its log (default 10 min); the job itself runs on.
	Timeout time.Duration `yaml:"timeout"`
}

// LoadConfig reads a YAML config file. A missing file is not an error
// when it is the default path (the flags and defaults then apply).
func LoadConfig(path string, required bool) (Config, error) {
	var c Config
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && !required {
			return c, nil
		}
		return c, fmt.Errorf("config: %w", err)
	}
	// Unknown keys are refused with their line: a misspelt `acl` or
	// `autosign_file` would otherwise silently leave the master open.
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.DataDir == "" {
		c.DataDir = "/var/lib/brine/master"
	}
	if c.Listen == "" {
		c.Listen = "0.0.0.0:4222"
	}
	if len(c.FileRoots) == 0 {
		c.FileRoots = []string{"/srv/salt"}
	}
	if len(c.PillarRoots) == 0 {
		c.PillarRoots = []string{"/srv/pillar"}
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.TLSCert == "" {
		c.TLSCert = filepath.Join(c.DataDir, "tls", "cert.pem")
	}
	if c.TLSKey == "" {
		c.TLSKey = filepath.Join(c.DataDir, "tls", "key.pem")
	}
	if c.AutosignGrainsDir == "" {
		c.AutosignGrainsDir = filepath.Join(c.DataDir, "autosign_grains")
	}
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = 1 << 20
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 10000
	}
	if c.PendingRatePerIP <= 0 {
		c.PendingRatePerIP = 20
	}
	if c.JobTTL <= 0 {
		c.JobTTL = 10 * time.Minute
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.KeepJobs <= 0 {
		c.KeepJobs = 24
	}
	if c.SyncAlways == nil {
		t := true
		c.SyncAlways = &t
	}
	if c.PillarWatch.Interval <= 0 {
		c.PillarWatch.Interval = 10 * time.Second
	}
	if c.PillarWatch.Timeout <= 0 {
		c.PillarWatch.Timeout = 10 * time.Minute
	}
}

// checkOperatorCert refuses to start when tls_cert or tls_key name files
// that do not exist: a certificate is generated only at the default place
// in the data dir, never at a path an operator mistyped.
func (c *Config) checkOperatorCert() error {
	defCert, defKey := filepath.Join(c.DataDir, "tls", "cert.pem"), filepath.Join(c.DataDir, "tls", "key.pem")
	if c.TLSCert == defCert && c.TLSKey == defKey {
		return nil
	}
	for _, f := range []struct{ opt, path string }{{"tls_cert", c.TLSCert}, {"tls_key", c.TLSKey}} {
		if _, err := os.Stat(f.path); err != nil {
			return fmt.Errorf("%s: %w", f.opt, err)
		}
	}
	return nil
}

// BrokerLimits are the connection limits the broker's policy enforces,
// taken from the configuration.
func (c *Config) BrokerLimits() broker.Limits {
	return broker.Limits{PendingPerIP: c.PendingRatePerIP}
}

// Paths of the files the master keeps in its data dir. The CLI reads the
// same paths to find the master on the same host.
func (c *Config) SigningKeyFile() string  { return filepath.Join(c.DataDir, "master.nk") }
func (c *Config) OperatorKeyFile() string { return filepath.Join(c.DataDir, "operator.nk") }
func (c *Config) URLFile() string         { return filepath.Join(c.DataDir, "master.url") }
func (c *Config) StoreDir() string        { return filepath.Join(c.DataDir, "jetstream") }

// ServedCertFile is a copy of the certificate the master serves, written
// at every start, so the CLI on the master host pins the right one even
// when tls_cert names the operator's certificate outside the data dir.
func (c *Config) ServedCertFile() string { return filepath.Join(c.DataDir, "master.crt") }
