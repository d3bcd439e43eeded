// Package broker embeds nats-server in the master: TLS by default,
// JetStream on a file store under the data dir, and every connection
// authorised by brine's own policy (Policy.Decide) through custom client
// authentication. The master's own code talks to it in-process.
package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/brine-cm/brine/pkg/keys"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// Config is what the broker needs from the master's configuration.
type Config struct {
	Listen     string // host:port; port 0 picks a free one
	StoreDir   string // JetStream file store
	TLS        *tls.Config
	MaxPayload int32
	SyncAlways bool
	Log        *slog.Logger
}

// Broker is the embedded server plus the authentication hook.
type Broker struct {
	cfg      Config
	policy   *Policy
	srv      *server.Server
	internal nkeys.KeyPair
	log      *slog.Logger

	mu   sync.Mutex
	cids map[string][]uint64 // nkey -> recent client ids, for kicking
}

// New validates the configuration; nothing is started until Start.
func New(cfg Config, policy *Policy) (*Broker, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if policy == nil {
		return nil, errors.New("broker: no policy")
	}
	if _, _, err := net.SplitHostPort(cfg.Listen); err != nil {
		return nil, fmt.Errorf("broker: listen %q: %w", cfg.Listen, err)
	}
	internal, err := nkeys.CreateUser()
	if err != nil {
		return nil, fmt.Errorf("broker: internal key: %w", err)
	}
	policy.internal = keys.Public(internal)
	return &Broker{cfg: cfg, policy: policy, internal: internal, log: cfg.Log.With("component", "broker"), cids: map[string][]uint64{}}, nil
}

// Start starts the server and waits until it accepts connections.
func (b *Broker) Start(timeout time.Duration) error {
	host, portS, _ := net.SplitHostPort(b.cfg.Listen)
	port, err := strconv.Atoi(portS)
	if err != nil {
		return fmt.Errorf("broker: listen port %q: %w", portS, err)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	opts := &server.Options{
		ServerName:                 "brine-master",
		Host:                       host,
		Port:                       port,
		NoSigs:                     true,
		JetStream:                  true,
		StoreDir:                   b.cfg.StoreDir,
		SyncAlways:                 b.cfg.SyncAlways,
		AlwaysEnableNonce:          true,
		CustomClientAuthentication: &authenticator{b: b},
		AuthTimeout:                10,
		MaxPayload:                 b.cfg.MaxPayload,
	}
	if b.cfg.TLS != nil {
		opts.TLS = true
		opts.TLSConfig = b.cfg.TLS
		opts.TLSTimeout = 5
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	s.SetLoggerV2(&natsLog{b.log}, false, false, false)
	b.srv = s
	s.Start()
	if !s.ReadyForConnections(timeout) {
		s.Shutdown()
		return fmt.Errorf("broker: not ready for connections after %s", timeout)
	}
	return nil
}

// Addr is the address the server listens on.
func (b *Broker) Addr() net.Addr { return b.srv.Addr() }

// Server exposes the embedded server (for in-process connections).
func (b *Broker) Server() *server.Server { return b.srv }

// Connect opens an in-process connection with full rights, authenticated
// by a key that exists only in this process.
func (b *Broker) Connect(name string, extra ...nats.Option) (*nats.Conn, error) {
	opts := append([]nats.Option{
		nats.InProcessServer(b.srv),
		nats.Name(name),
		nats.Nkey(keys.Public(b.internal), b.internal.Sign),
		nats.MaxReconnects(-1),
	}, extra...)
	nc, err := nats.Connect("", opts...)
	if err != nil {
		return nil, fmt.Errorf("broker: in-process connect: %w", err)
	}
	return nc, nil
}

// Kick closes every live connection authenticated with nkey, so changed
// permissions (accept, reject, delete) apply at once.
func (b *Broker) Kick(nkey string) int {
	b.mu.Lock()
	ids := b.cids[nkey]
	delete(b.cids, nkey)
	b.mu.Unlock()
	n := 0
	for _, id := range ids {
		if b.srv.DisconnectClientByID(id) == nil {
			n++
		}
	}
	return n
}

func (b *Broker) track(nkey string, cid uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	l := append(b.cids[nkey], cid)
	if len(l) > 8 {
		l = l[len(l)-8:]
	}
	b.cids[nkey] = l
}

// Shutdown stops the server; safe to call more than once.
func (b *Broker) Shutdown(ctx context.Context) {
	if b.srv == nil {
		return
	}
	done := make(chan struct{})
	go func() {
		b.srv.DisableJetStream()
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

type authenticator struct{ b *Broker }

// Check is nats-server's hook: verify the nkey signature against the
// nonce ourselves, then let the policy decide and register permissions.
func (a *authenticator) Check(c server.ClientAuthentication) bool {
	if c.Kind() != server.CLIENT {
		return false
	}
	o := c.GetOpts()
	if o == nil {
		return false
	}
	addr := "pipe"
	if ra := c.RemoteAddress(); ra != nil {
		addr = ra.String()
	}
	d := a.b.policy.Decide(AuthRequest{Nkey: o.Nkey, Sig: o.Sig, Nonce: c.GetNonce(), Name: o.Name, Addr: addr})
	if !d.Allow {
		a.b.log.Info("connection refused", "nkey", o.Nkey, "name", o.Name, "addr", addr, "reason", d.Reason)
		return false
	}
	u := &server.User{Username: d.Username, Permissions: d.Permissions}
	if d.Deadline > 0 {
		u.ConnectionDeadline = time.Now().Add(d.Deadline)
	}
	c.RegisterUser(u)
	if d.Role != RoleInternal {
		a.b.track(o.Nkey, c.GetID())
	}
	return true
}

type natsLog struct{ l *slog.Logger }

func (n *natsLog) Noticef(f string, v ...any) { n.l.Debug(fmt.Sprintf(f, v...)) }
func (n *natsLog) Warnf(f string, v ...any)   { n.l.Warn(fmt.Sprintf(f, v...)) }
func (n *natsLog) Fatalf(f string, v ...any)  { n.l.Error(fmt.Sprintf(f, v...)) }
func (n *natsLog) Debugf(f string, v ...any)  { n.l.Debug(fmt.Sprintf(f, v...)) }
func (n *natsLog) Tracef(f string, v ...any)  {}

// Errorf keeps the server's errors at error level, except its line for
// each refused client: Check already logs that refusal with the reason,
// and a rejected fleet retrying would otherwise fill the log with errors.
func (n *natsLog) Errorf(f string, v ...any) {
	msg := fmt.Sprintf(f, v...)
	if strings.Contains(msg, "authentication error") || strings.Contains(msg, "authorization violation") {
		n.l.Debug(msg)
		return
	}
	n.l.Error(msg)
}
