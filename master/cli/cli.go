// Package cli is the operator side of brine-master: `key` and `run`. It
// talks to the master only through its NATS API, authenticated with the
// operator credential the master created at first start, so it works the
// same on the master host and (given the files) anywhere else.
package cli

import (
	"bytes"
	"encoding/json"

	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/brine-cm/brine/pkg/bus"
	"github.com/brine-cm/brine/pkg/keys"
	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats.go"
	"gopkg.in/yaml.v3"
)

// IO is where a command reads and writes; injected so tests and main
// share the code.
type IO struct {
	In       io.Reader
	Out, Err io.Writer
	// Interactive is true when In is a terminal (accept/reject/delete ask).
	Interactive bool
}

// Global holds the flags every command accepts: how to find the master.
type Global struct {
	DataDir  string
	Config   string
	URL      string
	KeyFile  string
	Operator string
	TLSCert  string
}

// ExtractGlobal removes the global flags from args wherever they appear.
func ExtractGlobal(args []string) (Global, []string, error) {
	var g Global
	var rest []string
	flags := map[string]*string{"--data-dir": &g.DataDir, "--config": &g.Config, "-c": &g.Config, "--url": &g.URL,
		"--operator-key": &g.KeyFile, "--operator": &g.Operator, "--tls-cert": &g.TLSCert}
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(a, "=")
		p, ok := flags[name]
		if !ok {
			rest = append(rest, a)
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				return g, nil, fmt.Errorf("flag %s needs a value", name)
			}
			i++
			val = args[i]
		}
		*p = val
	}
	return g, rest, nil
}

// fileConfig is the part of master.yaml the CLI reads.
type fileConfig struct {
	DataDir string `yaml:"data_dir"`
	TLSCert string `yaml:"tls_cert"`
}

// resolve fills the data dir, URL, key and certificate from flags, the
// config file and defaults.
func (g *Global) resolve() error {
	cfgPath := g.Config
	if cfgPath == "" {
		cfgPath = "/etc/brine/master.yaml"
	}
	if b, err := os.ReadFile(cfgPath); err == nil {
		var fc fileConfig
		if err := yaml.Unmarshal(b, &fc); err != nil {
			return fmt.Errorf("config %s: %w", cfgPath, err)
		}
		if g.DataDir == "" {
			g.DataDir = fc.DataDir
		}
		if g.TLSCert == "" {
			g.TLSCert = fc.TLSCert
		}
	} else if g.Config != "" {
		return fmt.Errorf("config: %w", err)
	}
	if g.DataDir == "" {
		g.DataDir = "/var/lib/brine/master"
	}
	if g.URL == "" {
		b, err := os.ReadFile(filepath.Join(g.DataDir, "master.url"))
		if err != nil {
			return fmt.Errorf("find master: %w (is `brine-master serve` running with --data-dir %s?)", err, g.DataDir)
		}
		g.URL = strings.TrimSpace(string(b))
	}
	if g.KeyFile == "" {
		g.KeyFile = filepath.Join(g.DataDir, "operator.nk")
	}
	if g.Operator == "" {
		g.Operator = "root"
	}
	if g.TLSCert == "" {
		// The master's copy of the certificate it serves, whichever it is;
		// older masters left only the generated one.
		g.TLSCert = filepath.Join(g.DataDir, "master.crt")
		if _, err := os.Stat(g.TLSCert); err != nil {
			g.TLSCert = filepath.Join(g.DataDir, "tls", "cert.pem")
		}
	}
	return nil
}

// Client is a connected operator.
type Client struct {
	nc       *nats.Conn
	operator string
}

// Dial connects to the master as the operator.
func Dial(g Global) (*Client, error) {
	if err := g.resolve(); err != nil {
		return nil, err
	}
	kp, err := keys.Load(g.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("operator credential: %w", err)
	}
	opts := []nats.Option{
		nats.Name("operator:" + g.Operator),
		nats.Nkey(keys.Public(kp), kp.Sign),
		nats.CustomInboxPrefix(proto.OperatorInbox(g.Operator)),
		nats.Timeout(5 * time.Second),
	}
	if strings.HasPrefix(g.URL, "tls://") {
		pin, err := keys.CertFileFingerprint(g.TLSCert)
		if err != nil {
			return nil, fmt.Errorf("master certificate: %w", err)
		}
		tc, err := bus.TLSPin(pin, "", nil)
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.Secure(tc))
	}
	nc, err := nats.Connect(g.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to master at %s: %w", g.URL, err)
	}
	return &Client{nc: nc, operator: g.Operator}, nil
}

// Close disconnects.
func (c *Client) Close() { c.nc.Close() }

// Call sends one API request and decodes the reply into out.
func (c *Client) Call(verb string, req, out any, timeout time.Duration) error {
	b, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("%s: %w", verb, err)
	}
	m, err := c.nc.Request(proto.APISubject(c.operator, verb), b, timeout)
	if err != nil {
		return fmt.Errorf("%s: %w", verb, err)
	}
	if m.Header.Get(proto.HeaderError) != "" {
		var e proto.ErrorReply
		_ = json.Unmarshal(m.Data, &e)
		return fmt.Errorf("%s: master: %s", verb, e.Error)
	}
	dec := json.NewDecoder(bytes.NewReader(m.Data))
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("%s: reply: %w", verb, err)
	}
	fixNumbers(out)
	return nil
}

// Main runs one operator command and returns the exit code.
func Main(args []string, io IO) int {
	g, rest, err := ExtractGlobal(args)
	if err != nil {
		fmt.Fprintln(io.Err, "brine-master:", err)
		return 2
	}
	if len(rest) == 0 {
		fmt.Fprintln(io.Err, "usage: brine-master key|run|jobs|audit|events|operator ...")
		return 2
	}
	var code int
	switch rest[0] {
	case "key":
		code, err = keyCmd(g, rest[1:], io)
	case "run":
		code, err = runCmd(g, rest[1:], io)
	case "jobs":
		code, err = jobsCmd(g, rest[1:], io)
	case "audit":
		code, err = auditCmd(g, rest[1:], io)
	case "operator":
		code, err = operatorCmd(g, rest[1:], io)
	case "events":
		code, err = eventsCmd(g, rest[1:], io)
	default:
		fmt.Fprintf(io.Err, "brine-master: unknown command %q\n", rest[0])
		return 2
	}
	if err != nil {
		fmt.Fprintln(io.Err, "brine-master:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}
