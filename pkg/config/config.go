// Package config loads brine's minion configuration file. Keys are Salt's
// minion config keys (id, master, grains, file_roots, pillar_roots, ...)
// so an existing /etc/salt/minion carries over with little more than a
// rename; brine's own keys sit beside them.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// DefaultMinionPath is where brine-minion looks when --config is not given,
// the counterpart of Salt's /etc/salt/minion.
const DefaultMinionPath = "/etc/brine/minion.yaml"

// Minion holds the settings the minion and `brine-minion call` act on. The
// typed fields are the ones brine itself reads; Raw keeps every key of the
// file so templates see the whole file as `opts`, as Salt's __opts__ does.
type Minion struct {
	// ID is the minion id; empty means "use the host's FQDN".
	ID string `yaml:"id"`
	// Master lists the master addresses (Salt accepts a string or a list).
	Master []string `yaml:"-"`
	// MasterPort is the master's NATS port.
	MasterPort int `yaml:"master_port"`
	// MasterFinger pins the master's public key fingerprint.
	MasterFinger string `yaml:"master_finger"`
	// MasterTLSFinger pins the fingerprint of the master's TLS certificate.
	MasterTLSFinger string `yaml:"master_tls_finger"`
	// MasterCA is a CA file to verify the master's certificate with,
	// instead of pinning it.
	MasterCA string `yaml:"master_ca"`
	// Grains are static grains that override collected ones.
	Grains map[string]any `yaml:"grains"`
	// FileRoots maps saltenv to state tree directories.
	FileRoots map[string][]string `yaml:"file_roots"`
	// PillarRoots maps pillarenv to pillar tree directories.
	PillarRoots map[string][]string `yaml:"pillar_roots"`
	// Failhard stops a state run at the first failure.
	Failhard bool `yaml:"failhard"`
	// StateOutput is the highstate outputter mode (full, terse, mixed, changes).
	StateOutput string `yaml:"state_output"`
	// StateVerbose false hides states that succeeded without changes.
	StateVerbose bool `yaml:"state_verbose"`
	// Test makes every state run a dry run unless test=False is given.
	Test bool `yaml:"test"`
	// LogLevel is debug, info, warning or error.
	LogLevel string `yaml:"log_level"`
	// RootDir prefixes every default path, so many minions fit on one host.
	RootDir string `yaml:"root_dir"`
	// DataDir holds the minion's state (cache, audit log).
	DataDir string `yaml:"data_dir"`
	// PKIDir holds the minion's nkey and the pinned master key.
	PKIDir string `yaml:"pki_dir"`
	// CacheDir caches files fetched from the master by content hash.
	CacheDir string `yaml:"cachedir"`
	// StartupStates is "", "highstate", "sls" or "top" as in Salt.
	StartupStates string `yaml:"startup_states"`
	// SLSList names the SLS to apply when StartupStates is "sls".
	SLSList []string `yaml:"sls_list"`
	// Saltenv is the default file-server environment.
	Saltenv string `yaml:"saltenv"`
	// Nodegroups are named targets usable in top files.
	Nodegroups map[string]string `yaml:"nodegroups"`
	// Raw is every key of the file (with defaults), exposed as `opts`.
	Raw map[string]any `yaml:"-"`
	// Path is the file the configuration came from ("" for defaults only).
	Path string `yaml:"-"`
}

// DefaultMinion returns the settings used when no file exists: Salt's
// defaults where Salt has one, brine's paths otherwise.
func DefaultMinion() *Minion {
	m := &Minion{
		Master:       []string{"salt"},
		MasterPort:   4222,
		FileRoots:    map[string][]string{"base": {"/srv/salt"}},
		PillarRoots:  map[string][]string{"base": {"/srv/pillar"}},
		StateOutput:  "full",
		StateVerbose: true,
		LogLevel:     "warning",
		RootDir:      "/",
		DataDir:      "/var/lib/brine",
		PKIDir:       "/etc/brine/pki",
		CacheDir:     "/var/cache/brine",
		Saltenv:      "base",
		Grains:       map[string]any{},
		Nodegroups:   map[string]string{},
	}
	m.Raw = map[string]any{}
	return m
}

// LoadMinion reads path over the defaults. A missing file is an error only
// when mustExist is set: the default path is optional, an explicit
// --config is not.
func LoadMinion(path string, mustExist bool) (*Minion, error) {
	m := DefaultMinion()
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && !mustExist {
			m.finish()
			return m, nil
		}
		return nil, fmt.Errorf("read minion config: %w", err)
	}
	if err := m.parse(path, data); err != nil {
		return nil, err
	}
	m.Path = path
	return m, nil
}

// ParseMinion parses config file content; name is used in errors.
func ParseMinion(name string, data []byte) (*Minion, error) {
	m := DefaultMinion()
	if err := m.parse(name, data); err != nil {
		return nil, err
	}
	m.Path = name
	return m, nil
}

// Error locates a configuration problem in its file.
type Error struct {
	File      string
	Line, Col int
	Key       string
	Err       error
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d:%d", e.File, e.Line, e.Col)
	}
	if e.Key != "" {
		return fmt.Sprintf("%s: %s: %v", loc, e.Key, e.Err)
	}
	return fmt.Sprintf("%s: %v", loc, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

func (m *Minion) parse(name string, data []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return &Error{File: name, Line: yamlErrLine(err), Col: 1, Err: err}
	}
	if len(doc.Content) == 0 {
		m.finish()
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		if root.Tag == "!!null" {
			m.finish()
			return nil
		}
		return &Error{File: name, Line: root.Line, Col: root.Column, Err: errors.New("minion config must be a mapping of keys")}
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		var raw any
		if err := v.Decode(&raw); err != nil {
			return &Error{File: name, Line: v.Line, Col: v.Column, Key: k.Value, Err: err}
		}
		m.Raw[k.Value] = raw
		if err := m.setKey(k.Value, v); err != nil {
			return &Error{File: name, Line: v.Line, Col: v.Column, Key: k.Value, Err: err}
		}
	}
	m.finish()
	return nil
}

func (m *Minion) setKey(key string, v *yaml.Node) error {
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return nil // "key:" with no value keeps the default, as Salt does
	}
	switch key {
	case "master":
		var one string
		if v.Kind == yaml.ScalarNode {
			if err := v.Decode(&one); err != nil {
				return err
			}
			m.Master = []string{one}
			return nil
		}
		var list []string
		if err := v.Decode(&list); err != nil {
			return fmt.Errorf("want an address or a list of addresses: %w", err)
		}
		m.Master = list
		return nil
	case "file_roots", "pillar_roots":
		roots := map[string][]string{}
		if err := v.Decode(&roots); err != nil {
			return fmt.Errorf("want {saltenv: [dir, ...]}: %w", err)
		}
		if key == "file_roots" {
			m.FileRoots = roots
		} else {
			m.PillarRoots = roots
		}
		return nil
	case "id":
		// Salt accepts numeric ids; keep the text as written.
		m.ID = v.Value
		return nil
	case "grains":
		var g map[string]any
		if err := v.Decode(&g); err != nil {
			return fmt.Errorf("want a mapping of grains: %w", err)
		}
		if g == nil {
			g = map[string]any{}
		}
		m.Grains = g
		return nil
	case "sls_list":
		if v.Kind == yaml.ScalarNode {
			m.SLSList = splitComma(v.Value)
			return nil
		}
		return v.Decode(&m.SLSList)
	}
	// Every other known key decodes into its typed field; unknown keys
	// only land in Raw, as Salt ignores keys it does not know.
	wrapper := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Value: key}, v}}
	return wrapper.Decode(m)
}

func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// finish applies root_dir to the default paths and fills Raw with the
// effective values so `opts` in templates agrees with what brine uses.
func (m *Minion) finish() {
	if m.RootDir != "" && m.RootDir != "/" {
		prefix := func(p string) string {
			if p == "" || strings.HasPrefix(p, m.RootDir) {
				return p
			}
			return filepath.Join(m.RootDir, p)
		}
		m.DataDir = prefix(m.DataDir)
		m.PKIDir = prefix(m.PKIDir)
		m.CacheDir = prefix(m.CacheDir)
	}
	if m.Saltenv == "" {
		m.Saltenv = "base"
	}
	m.Raw["id"] = m.ID
	masters := make([]any, len(m.Master))
	for i, a := range m.Master {
		masters[i] = a
	}
	if len(masters) == 1 {
		m.Raw["master"] = masters[0]
	} else {
		m.Raw["master"] = masters
	}
	m.Raw["master_port"] = m.MasterPort
	m.Raw["master_finger"] = m.MasterFinger
	m.Raw["file_roots"] = rootsAny(m.FileRoots)
	m.Raw["pillar_roots"] = rootsAny(m.PillarRoots)
	m.Raw["failhard"] = m.Failhard
	m.Raw["state_output"] = m.StateOutput
	m.Raw["state_verbose"] = m.StateVerbose
	m.Raw["test"] = m.Test
	m.Raw["log_level"] = m.LogLevel
	m.Raw["root_dir"] = m.RootDir
	m.Raw["data_dir"] = m.DataDir
	m.Raw["pki_dir"] = m.PKIDir
	m.Raw["cachedir"] = m.CacheDir
	m.Raw["saltenv"] = m.Saltenv
	m.Raw["grains"] = m.Grains
	m.Raw["startup_states"] = m.StartupStates
	if _, ok := m.Raw["file_client"]; !ok {
		m.Raw["file_client"] = "remote"
	}
	if _, ok := m.Raw["renderer"]; !ok {
		m.Raw["renderer"] = "jinja|yaml"
	}
	if _, ok := m.Raw["state_top"]; !ok {
		m.Raw["state_top"] = "top.sls"
	}
}

func rootsAny(r map[string][]string) map[string]any {
	out := make(map[string]any, len(r))
	for env, dirs := range r {
		l := make([]any, len(dirs))
		for i, d := range dirs {
			l[i] = d
		}
		out[env] = l
	}
	return out
}

// Opts returns a copy of the configuration as Salt's __opts__ map, what
// templates read as `opts` and execution modules as Context.Opts.
func (m *Minion) Opts() map[string]any {
	out := make(map[string]any, len(m.Raw))
	for k, v := range m.Raw {
		out[k] = v
	}
	return out
}

// SetFileRoots replaces the base file roots (the --file-root flag) and
// keeps Raw in step.
func (m *Minion) SetFileRoots(env string, dirs []string) {
	m.FileRoots[env] = dirs
	m.Raw["file_roots"] = rootsAny(m.FileRoots)
}

// SetPillarRoots replaces the pillar roots of env (the --pillar-root flag).
func (m *Minion) SetPillarRoots(env string, dirs []string) {
	m.PillarRoots[env] = dirs
	m.Raw["pillar_roots"] = rootsAny(m.PillarRoots)
}

// Set overrides one key from a flag, keeping the typed field and Raw in
// step; only keys with a flag are supported.
func (m *Minion) Set(key string, value any) {
	switch key {
	case "id":
		m.ID, _ = value.(string)
	case "log_level":
		m.LogLevel, _ = value.(string)
	case "failhard":
		m.Failhard, _ = value.(bool)
	case "state_output":
		m.StateOutput, _ = value.(string)
	case "file_client":
	}
	m.Raw[key] = value
}

func yamlErrLine(err error) int {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return 0
	}
	// yaml.v3 syntax errors read "yaml: line N: msg".
	var line int
	if _, scanErr := fmt.Sscanf(err.Error(), "yaml: line %d:", &line); scanErr == nil {
		return line
	}
	return 0
}
