package master

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/brine-cm/brine/master/api"
	"github.com/brine-cm/brine/master/auditlog"
	"github.com/brine-cm/brine/master/broker"
	"github.com/brine-cm/brine/master/fileserver"
	"github.com/brine-cm/brine/master/jobs"
	"github.com/brine-cm/brine/master/keyreg"
	"github.com/brine-cm/brine/master/pillar"
	"github.com/brine-cm/brine/master/reactor"
	"github.com/brine-cm/brine/pkg/audit"
	"github.com/brine-cm/brine/pkg/execmod"
	"github.com/brine-cm/brine/pkg/fileclient"
	"github.com/brine-cm/brine/pkg/keys"
	"github.com/brine-cm/brine/proto"
	"github.com/brine-cm/brine/states/highstate"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
)

// Master is the running master daemon.
type Master struct {
	cfg   Config
	log   *slog.Logger
	ready chan struct{}

	mu        sync.Mutex
	url       string
	operators map[string]string // nkey -> name
	reg       *keyreg.Registry
	api       *api.Server
	// deniedSeen throttles denied-key records per id and key.
	deniedSeen map[string]time.Time
}

// New validates cfg and allocates; it does no I/O.
func New(cfg Config, log *slog.Logger) (*Master, error) {
	cfg.Defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if _, _, err := net.SplitHostPort(cfg.Listen); err != nil {
		return nil, fmt.Errorf("master: listen %q: %w", cfg.Listen, err)
	}
	for name, pk := range cfg.Operators {
		if !proto.ValidNkeySubjectToken(pk) {
			return nil, fmt.Errorf("master: operator %q: %q is not a user nkey", name, pk)
		}
	}
	return &Master{cfg: cfg, log: log.With("component", "master"), ready: make(chan struct{})}, nil
}

// Ready is closed once the master accepts connections and has written
// master.url.
func (m *Master) Ready() <-chan struct{} { return m.ready }

// URL is the client URL written to master.url.
func (m *Master) URL() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.url
}

// Run starts everything and blocks until ctx is cancelled, then shuts
// down: handlers stop, the connection drains, JetStream and the server
// stop. It returns only after all of it has finished.
func (m *Master) Run(ctx context.Context) error {
	cfg := &m.cfg
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("master: data dir: %w", err)
	}
	signer, created, err := keys.LoadOrCreate(cfg.SigningKeyFile(), keys.Master)
	if err != nil {
		return fmt.Errorf("master: signing key: %w", err)
	}
	if created {
		m.log.Info("created master signing key", "finger", keys.Fingerprint(keys.Public(signer)))
	}
	sink, err := m.openAudit(signer)
	if err != nil {
		return err
	}
	defer m.closeAudit(sink)
	sealCtx, stopSeal := context.WithCancel(ctx)
	defer stopSeal()
	go sink.SealEvery(sealCtx, auditSealInterval)
	opKey, created, err := keys.LoadOrCreate(cfg.OperatorKeyFile(), keys.User)
	if err != nil {
		return fmt.Errorf("master: operator key: %w", err)
	}
	if created {
		m.log.Info("created operator credential", "file", cfg.OperatorKeyFile())
	}
	m.operators = map[string]string{keys.Public(opKey): "root"}
	opToks := map[string]string{proto.Token("root"): "root"}
	for name, pk := range cfg.Operators {
		m.operators[pk] = name
		opToks[proto.Token(name)] = name
	}
	fileOps, err := loadOperatorFiles(cfg.OperatorsDir())
	if err != nil {
		return fmt.Errorf("master: %w", err)
	}
	for name, pk := range fileOps {
		m.operators[pk] = name
		opToks[proto.Token(name)] = name
	}
	acl, err := api.NewACL(cfg.ACL, "root")
	if err != nil {
		return fmt.Errorf("master: %w", err)
	}
	xkey, created, err := pillar.LoadOrCreateXKey(cfg.PillarKeyFile())
	if err != nil {
		return fmt.Errorf("master: pillar key: %w", err)
	}
	if created {
		m.log.Info("created pillar encryption key", "file", cfg.PillarKeyFile())
	}

	var tlsFinger string
	var bcfg = broker.Config{Listen: cfg.Listen, StoreDir: cfg.StoreDir(), MaxPayload: int32(cfg.MaxRequestBytes), SyncAlways: *cfg.SyncAlways, Log: m.log}
	scheme := "nats"
	if !cfg.TLSDisable {
		if err := cfg.checkOperatorCert(); err != nil {
			return fmt.Errorf("master: %w", err)
		}
		host, _, _ := net.SplitHostPort(cfg.Listen)
		tc, err := broker.EnsureCert(cfg.TLSCert, cfg.TLSKey, []string{host})
		if err != nil {
			return fmt.Errorf("master: %w", err)
		}
		if tlsFinger, err = keys.CertFileFingerprint(cfg.TLSCert); err != nil {
			return fmt.Errorf("master: %w", err)
		}
		bcfg.TLS = tc
		scheme = "tls"
	}

	dir := &directory{m: m}
	policy := broker.NewPolicy(dir, cfg.BrokerLimits())
	b, err := broker.New(bcfg, policy)
	if err != nil {
		return fmt.Errorf("master: %w", err)
	}
	if err := b.Start(10 * time.Second); err != nil {
		return fmt.Errorf("master: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		b.Shutdown(sctx)
	}()

	nc, err := b.Connect("brine-master")
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("master: jetstream: %w", err)
	}
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	reg, err := keyreg.Open(octx, js)
	cancel()
	if err != nil {
		return fmt.Errorf("master: %w", err)
	}
	m.mu.Lock()
	m.reg = reg
	m.mu.Unlock()

	octx, cancel = context.WithTimeout(ctx, 30*time.Second)
	auditStore, err := auditlog.OpenStore(octx, js, 1)
	cancel()
	if err != nil {
		return fmt.Errorf("master: %w", err)
	}

	disp := jobs.New(nc, signer, "master", cfg.JobTTL, m.log)
	disp.BeforePublish = sink.JobPublish
	disp.OnReturn = sink.JobReturn
	disp.Connected = func(id string) bool {
		cz, err := b.Server().Connz(&server.ConnzOptions{Username: true, User: "minion:" + id})
		return err == nil && cz.NumConns > 0
	}
	octx, cancel = context.WithTimeout(ctx, time.Minute)
	err = disp.Open(octx, jobs.Options{JS: js, Reg: reg, Nodegroups: cfg.Nodegroups, Pillar: m.pillar, DefaultTimeout: cfg.Timeout,
		KeepJobs: time.Duration(cfg.KeepJobs * float64(time.Hour))})
	cancel()
	if err != nil {
		return fmt.Errorf("master: %w", err)
	}
	defer disp.Close()
	files := fileserver.New(fileserver.Config{Roots: cfg.FileRoots, MaxBytes: cfg.MaxRequestBytes, Log: m.log, Audit: sink})
	pillars, err := pillar.New(pillar.Config{
		Compile: func(ctx context.Context, id string) (map[string]any, error) {
			rec, _ := reg.Get(id)
			return m.pillar(ctx, id, rec.Grains)
		},
		NkeyOf: func(id string) (string, bool) {
			rec, ok := reg.Get(id)
			return rec.Nkey, ok && rec.State == proto.KeyAccepted
		},
		Signer: signer, XKey: xkey, MaxBytes: cfg.MaxRequestBytes, Log: m.log})
	if err != nil {
		return fmt.Errorf("master: %w", err)
	}
	srv, err := api.New(api.Config{NC: nc, Reg: reg, Jobs: disp, Kicker: b, Signer: signer, TLSFinger: tlsFinger, Audit: sink, AuditStore: auditStore,
		Log: m.log, Operators: opToks, Autosign: cfg.autosign, MaxBytes: cfg.MaxRequestBytes, MaxPending: cfg.MaxPending,
		DefaultTimeout: cfg.Timeout, Files: files, Pillar: pillars, ACL: acl})
	if err != nil {
		return fmt.Errorf("master: %w", err)
	}
	if err := srv.Start(); err != nil {
		return fmt.Errorf("master: %w", err)
	}
	disp.SetEvents(srv.Emit, srv.Watching)
	if len(cfg.Reactor) > 0 {
		r, err := m.reactor(ctx, disp)
		if err != nil {
			return fmt.Errorf("master: %w", err)
		}
		srv.SetReactor(r.React)
		defer r.Wait()
	}
	m.mu.Lock()
	m.api = srv
	m.mu.Unlock()
	defer srv.Stop()
	if len(cfg.PillarWatch.Rules) > 0 {
		if err := m.watchPillar(ctx, reg, disp, sink, srv); err != nil {
			return fmt.Errorf("master: %w", err)
		}
	}

	if !cfg.TLSDisable {
		pemCert, err := os.ReadFile(cfg.TLSCert)
		if err != nil {
			return fmt.Errorf("master: %w", err)
		}
		if err := keys.WriteFileAtomic(cfg.ServedCertFile(), pemCert, 0o644); err != nil {
			return fmt.Errorf("master: %w", err)
		}
	}
	url, err := clientURL(scheme, b.Addr())
	if err != nil {
		return err
	}
	if err := keys.WriteFileAtomic(cfg.URLFile(), []byte(url+"\n"), 0o644); err != nil {
		return fmt.Errorf("master: %w", err)
	}
	m.mu.Lock()
	m.url = url
	m.mu.Unlock()
	m.log.Info("master ready", "url", url, "signing_finger", keys.Fingerprint(keys.Public(signer)), "tls_finger", tlsFinger)
	close(m.ready)

	<-ctx.Done()
	m.log.Info("master shutting down")
	return nil
}

// watchPillar starts the pillar watcher of the pillar_watch section: a
// changed value is recorded in the audit log and raised as the event
// salt/pillar/changed, then the minions it changed for get state.apply
// of the rule's SLS (or a pillar refresh), as a job of the
// "pillar-watch" user that `jobs list` shows.
func (m *Master) watchPillar(ctx context.Context, reg *keyreg.Registry, disp *jobs.Dispatcher, sink *auditlog.Sink, srv *api.Server) error {
	pw := m.cfg.PillarWatch
	w, err := pillar.NewWatcher(pillar.WatchConfig{Rules: pw.Rules, Roots: m.cfg.PillarRoots, Interval: pw.Interval, Log: m.log,
		Minions: func() []string {
			var ids []string
			for _, r := range reg.List(proto.KeyAccepted) {
				ids = append(ids, r.ID)
			}
			return ids
		},
		Compile: func(ctx context.Context, id string) (map[string]any, error) {
			rec, _ := reg.Get(id)
			return m.pillar(ctx, id, rec.Grains)
		},
		Changed: func(ctx context.Context, rule pillar.WatchRule, ids []string) {
			fun, args := "saltutil.refresh_pillar", []any{}
			if rule.SLS != "" {
				fun, args = "state.apply", []any{rule.SLS}
			}
			if err := sink.Record(ctx, audit.Entry{Actor: "master", Action: "pillar.changed", Target: strings.Join(ids, ","), Outcome: "success",
				Detail: map[string]any{"key": rule.Key, "sls": rule.SLS, "minions": len(ids), "fun": fun}}); err != nil {
				m.log.Error("pillar change not recorded; minions not refreshed", "key", rule.Key, "err", err)
				return
			}
			srv.Emit("pillar", "salt/pillar/changed", map[string]any{"key": rule.Key, "sls": rule.SLS, "minions": ids, "fun": fun})
			targets := make([]jobs.Target, len(ids))
			for i, id := range ids {
				targets[i] = jobs.Target{ID: id}
			}
			req := proto.RunRequest{V: proto.Version, Target: proto.Target{Expr: strings.Join(ids, ","), Type: "list"}, Fun: fun, Args: args}
			go func() {
				if err := m.runLogged(ctx, disp, "pillar watch: refresh done", req, targets, "pillar-watch", pw.Timeout, "key", rule.Key); err != nil {
					m.log.Error("pillar watch: refresh not published", "key", rule.Key, "err", err)
				}
			}()
		}})
	if err != nil {
		return err
	}
	go w.Run(ctx)
	return nil
}

// reactor builds the reactor of the reactor section; its jobs are
// published as the reactor user and their outcome logged.
func (m *Master) reactor(ctx context.Context, disp *jobs.Dispatcher) (*reactor.Reactor, error) {
	return reactor.New(ctx, reactor.Config{Rules: m.cfg.Reactor, Log: m.log,
		Run: func(ctx context.Context, req proto.RunRequest) error {
			targets, err := disp.Resolve(ctx, req.Target)
			if err != nil {
				return err
			}
			return m.runLogged(ctx, disp, "reactor: job done", req, targets, reactor.User, m.cfg.Timeout, "tgt", req.Target.Expr)
		}})
}

// runLogged runs a job the master starts by itself (pillar watch,
// reactor) and logs msg with its outcome once the returns are in or the
// timeout passes; attrs name what started it.
func (m *Master) runLogged(ctx context.Context, disp *jobs.Dispatcher, msg string, req proto.RunRequest, targets []jobs.Target,
	user string, timeout time.Duration, attrs ...any) error {
	rep, err := disp.Run(ctx, req, targets, user, timeout)
	if err != nil {
		return err
	}
	failed := 0
	for _, r := range rep.Returns {
		if !r.Success {
			failed++
		}
	}
	m.log.Info(msg, append(attrs, "jid", rep.JID, "fun", req.Fun, "returned", len(rep.Returns), "failed", failed, "missing", len(rep.Missing))...)
	return nil
}

// pillar compiles one minion's pillar from the pillar roots with the
// grains it last reported, as Salt's master does.
func (m *Master) pillar(ctx context.Context, id string, grains map[string]any) (map[string]any, error) {
	g := map[string]any{}
	for k, v := range grains {
		g[k] = v
	}
	g["id"] = id
	ec := &execmod.Context{Ctx: ctx, Grains: g, Pillar: map[string]any{}, Opts: map[string]any{"id": id, "grains": g},
		Log: m.log, Files: fileclient.NewLocal(m.cfg.FileRoots...), Registry: execmod.Builtin(), Saltenv: "base"}
	return highstate.CompilePillar(ctx, ec, m.cfg.PillarRoots)
}

func clientURL(scheme string, a net.Addr) (string, error) {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return "", errors.New("master: server is not listening on TCP")
	}
	host := ta.IP.String()
	if ta.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return scheme + "://" + net.JoinHostPort(host, strconv.Itoa(ta.Port)), nil
}

// directory adapts the key registry to the broker's policy.
type directory struct{ m *Master }

func (d *directory) registry() *keyreg.Registry {
	d.m.mu.Lock()
	defer d.m.mu.Unlock()
	return d.m.reg
}

func (d *directory) MinionByNkey(nkey string) (string, string, bool) {
	r := d.registry()
	if r == nil {
		return "", "", false
	}
	rec, ok := r.ByNkey(nkey)
	return rec.ID, rec.State, ok
}

func (d *directory) MinionByID(id string) (string, string, bool) {
	r := d.registry()
	if r == nil {
		return "", "", false
	}
	rec, ok := r.Get(id)
	return rec.Nkey, rec.State, ok
}

func (d *directory) Operator(nkey string) (string, bool) {
	name, ok := d.m.operators[nkey]
	return name, ok
}

// Denied is called from the server's auth hook, which must not block on
// JetStream: the record is written in the background, at most once per
// id and key every few seconds, so a reconnect loop cannot flood the
// registry or the audit log.
func (d *directory) Denied(id, nkey, addr string) {
	d.m.mu.Lock()
	srv := d.m.api
	k := id + " " + nkey
	now := time.Now()
	if d.m.deniedSeen == nil {
		d.m.deniedSeen = map[string]time.Time{}
	}
	last, seen := d.m.deniedSeen[k]
	if !seen || now.Sub(last) > 5*time.Second {
		d.m.deniedSeen[k] = now
	}
	if len(d.m.deniedSeen) > 10000 {
		d.m.deniedSeen = map[string]time.Time{}
	}
	d.m.mu.Unlock()
	if srv == nil || (seen && now.Sub(last) <= 5*time.Second) {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Deny(ctx, id, nkey, addr)
	}()
}

// Compile-time checks of the wiring.
var (
	_ broker.Directory = (*directory)(nil)
	_ proto.Signer     = nkeys.KeyPair(nil)
	_ api.Kicker       = (*broker.Broker)(nil)
)
