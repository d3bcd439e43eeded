// Package minion is the brine minion daemon: it creates its nkey on first
// start, asks the master to accept it, pins the master's signing key and
// TLS certificate, and then runs the master-signed jobs addressed to it,
// checking signature, expiry, target and replay before anything runs.
package minion

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brine-cm/brine/pkg/audit"
	"github.com/brine-cm/brine/pkg/bus"
	"github.com/brine-cm/brine/pkg/execmod"
	"github.com/brine-cm/brine/pkg/keys"
	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// Config is the minion daemon's configuration.
type Config struct {
	// ID is the minion id (required; the caller falls back to the FQDN).
	ID string
	// Masters are the master URLs (tls://host:port).
	Masters []string
	// DataDir holds the nkey, the master pin and the replay cache.
	DataDir string
	// MasterFinger, when set, is the fingerprint the master's signing key
	// must have; otherwise the key is trusted on first accept and pinned.
	MasterFinger string
	// MasterTLSFinger, when set, pins the master's TLS certificate.
	MasterTLSFinger string
	// MasterCA, when set, verifies the master's certificate against a CA
	// instead of pinning it.
	MasterCA string
	// Grains are the host's grains, sent with the key request and given
	// to every job.
	Grains map[string]any
	// Opts is the configuration as modules see it (Salt's __opts__).
	Opts map[string]any
	// Registry runs jobs.
	Registry *execmod.Registry
	// Files serves salt:// URLs to modules (nil: none).
	Files execmod.FileClient
	// Limits bound what jobs are accepted.
	Limits proto.JobLimits
	// ReconnectMax caps the reconnect backoff (default 5s).
	ReconnectMax time.Duration
	// Workers bounds concurrent jobs (default 8).
	Workers int
	// Ephemeral keeps the key (Key, or a new one), the master pin and the
	// replay cache in memory only, with no data dir. It exists so one
	// process can simulate thousands of minions for load measurements;
	// the daemon never sets it, since a restart would forget the pin and
	// the jids already run.
	Ephemeral bool
	// Key is the nkey an Ephemeral minion uses (nil: a new one).
	Key nkeys.KeyPair
	// AuditRecover lets the minion start when its audit log ends with a
	// torn line: the log continues in a new segment that records the
	// damage. Without it the minion refuses to start.
	AuditRecover bool
}

// Pin is what the minion trusts about its master, kept in DataDir.
type Pin struct {
	MasterKey string `json:"master_key"`
	TLSFinger string `json:"tls_finger,omitempty"`
}

// ErrMasterChanged is logged (loudly) when the master presents a signing
// key other than the pinned one.
var ErrMasterChanged = errors.New("master signing key changed: refusing it")

// Minion is the running daemon.
type Minion struct {
	cfg   Config
	log   *slog.Logger
	ready chan struct{}
	once  sync.Once

	kp       nkeys.KeyPair
	pin      atomic.Pointer[Pin]
	verifier atomic.Value // nkeys.KeyPair of the pinned key
	tlsSeen  atomic.Value // string
	replay   *replayCache
	sem      chan struct{}
	wg       sync.WaitGroup

	// audit is the minion's own audit log (nil when Ephemeral);
	// auditPoke wakes the forwarder after an append.
	audit     *audit.Log
	auditPoke chan struct{}

	// active holds the jobs in progress, by jid, so saltutil.kill_job
	// can cancel one.
	active running

	// remote is the master's file server and pillar, once connected.
	remote remoteState

	// Counters of refused jobs, for tests and monitoring.
	Refused atomic.Int64
	Ran     atomic.Int64
}

// New validates cfg; it does no I/O.
func New(cfg Config, log *slog.Logger) (*Minion, error) {
	if !proto.ValidID(cfg.ID) {
		return nil, fmt.Errorf("minion: bad id %q", cfg.ID)
	}
	if len(cfg.Masters) == 0 {
		return nil, errors.New("minion: no master url")
	}
	if cfg.DataDir == "" && !cfg.Ephemeral {
		return nil, errors.New("minion: no data dir")
	}
	if cfg.Registry == nil {
		return nil, errors.New("minion: no module registry")
	}
	if cfg.Limits.MaxBytes == 0 {
		cfg.Limits = proto.DefaultJobLimits
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Minion{cfg: cfg, log: log.With("component", "minion", "id", cfg.ID), ready: make(chan struct{}), sem: make(chan struct{}, cfg.Workers)}
	m.registerSaltutil()
	return m, nil
}

// Ready is closed once the key is accepted and the minion receives jobs.
func (m *Minion) Ready() <-chan struct{} { return m.ready }

// KeyFile is where the minion's nkey seed lives.
func (m *Minion) KeyFile() string { return filepath.Join(m.cfg.DataDir, "minion.nk") }

func (m *Minion) pinFile() string { return filepath.Join(m.cfg.DataDir, "master.pin") }

// Run connects and serves until ctx is cancelled. It never gives up on a
// pending or rejected key; it returns an error only for local failures
// (unreadable key, pin mismatch with the configured fingerprint).
func (m *Minion) Run(ctx context.Context) error {
	kp, err := m.openState()
	if err != nil {
		return err
	}
	defer m.replay.Close()
	if err := m.openAudit(kp); err != nil {
		return err
	}
	defer m.closeAudit()

	reconnected := make(chan struct{}, 1)
	refusals := &bus.Refusals{}
	opts := bus.Options(bus.Identity{Name: m.cfg.ID, Key: kp, Inbox: proto.Inbox(m.cfg.ID), Refusals: refusals}, nil, m.log, m.cfg.ReconnectMax)
	if strings.HasPrefix(m.cfg.Masters[0], "tls://") || m.cfg.MasterCA != "" {
		// The pin is read at every handshake: pinned on first accept, it
		// is enforced from the next reconnect on, without a restart.
		tlsPin := func() string {
			if p := m.pin.Load(); p != nil && p.TLSFinger != "" {
				return p.TLSFinger
			}
			return m.cfg.MasterTLSFinger
		}
		tc, err := bus.TLSPinFunc(tlsPin, m.cfg.MasterCA, func(fp string) { m.tlsSeen.Store(fp) })
		if err != nil {
			return fmt.Errorf("minion: %w", err)
		}
		// nats.go reports no error for a failed TLS handshake while
		// reconnecting; say it here, loudly.
		verify := tc.VerifyConnection
		tc.VerifyConnection = func(cs tls.ConnectionState) error {
			err := verify(cs)
			if err != nil {
				m.log.Error("master TLS certificate refused", "err", err)
			}
			return err
		}
		opts = append(opts, nats.Secure(tc))
	}
	opts = append(opts, nats.ReconnectHandler(func(*nats.Conn) {
		m.log.Info("reconnected to master")
		select {
		case reconnected <- struct{}{}:
		default:
		}
	}))
	nc, err := nats.Connect(strings.Join(m.cfg.Masters, ","), opts...)
	if err != nil {
		return fmt.Errorf("minion: connect: %w", err)
	}
	refusals.Watch(nc)
	if err := m.openRemote(nc, kp); err != nil {
		nc.Close()
		return err
	}
	defer func() {
		_ = nc.Drain()
		m.wg.Wait()
		nc.Close()
	}()

	status := make(chan *nats.Msg, 16)
	if _, err := nc.ChanSubscribe(proto.KeyStatusSubject(keys.Public(kp)), status); err != nil {
		return fmt.Errorf("minion: subscribe key status: %w", err)
	}
	jobsSub := false
	for ctx.Err() == nil {
		if !m.awaitAccept(ctx, nc, status) {
			break
		}
		if !jobsSub {
			if _, err := nc.Subscribe(proto.JobSubject(m.cfg.ID), func(msg *nats.Msg) { m.onJob(ctx, nc, msg) }); err != nil {
				return fmt.Errorf("minion: subscribe jobs: %w", err)
			}
			jobsSub = true
		}
		if !m.hello(ctx, nc) {
			continue
		}
		m.once.Do(func() {
			close(m.ready)
			m.wg.Add(1)
			go func() { defer m.wg.Done(); m.forwardAudit(ctx, nc) }()
		})
		select {
		case <-ctx.Done():
		case <-reconnected:
		}
	}
	return nil
}

// openState loads or creates the key, the pin and the replay cache (in
// memory only when Ephemeral).
func (m *Minion) openState() (nkeys.KeyPair, error) {
	if m.cfg.Ephemeral {
		kp := m.cfg.Key
		if kp == nil {
			var err error
			if kp, err = nkeys.CreateUser(); err != nil {
				return nil, fmt.Errorf("minion: key: %w", err)
			}
		}
		m.kp = kp
		m.replay = memReplay(100000)
		return kp, nil
	}
	if err := os.MkdirAll(m.cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("minion: data dir: %w", err)
	}
	kp, created, err := keys.LoadOrCreate(m.KeyFile(), keys.User)
	if err != nil {
		return nil, fmt.Errorf("minion: %w", err)
	}
	m.kp = kp
	if created {
		m.log.Info("created minion key", "finger", keys.Fingerprint(keys.Public(kp)))
	}
	if err := m.loadPin(); err != nil {
		return nil, err
	}
	m.replay, err = openReplay(filepath.Join(m.cfg.DataDir, "jids"), 100000, time.Now())
	if err != nil {
		return nil, fmt.Errorf("minion: %w", err)
	}
	return kp, nil
}

func (m *Minion) loadPin() error {
	b, err := os.ReadFile(m.pinFile())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("minion: master pin: %w", err)
	}
	var p Pin
	if err := json.Unmarshal(b, &p); err != nil {
		return fmt.Errorf("minion: master pin %s: %w", m.pinFile(), err)
	}
	if m.cfg.MasterFinger != "" && keys.Fingerprint(p.MasterKey) != m.cfg.MasterFinger {
		return fmt.Errorf("minion: pinned master key %s does not match master_finger %s", keys.Fingerprint(p.MasterKey), m.cfg.MasterFinger)
	}
	v, err := keys.Verifier(p.MasterKey)
	if err != nil {
		return fmt.Errorf("minion: master pin: %w", err)
	}
	m.verifier.Store(v)
	m.pin.Store(&p)
	return nil
}

// awaitAccept sends key requests until a valid "accepted" status arrives.
// Pending polls back off to 30s; rejected or denied keys retry every few
// minutes, forever.
func (m *Minion) awaitAccept(ctx context.Context, nc *nats.Conn, status <-chan *nats.Msg) bool {
	req, _ := json.Marshal(proto.KeyRequest{V: proto.Version, ID: m.cfg.ID, Nkey: keys.Public(m.kp), Grains: m.cfg.Grains})
	wait := time.Second
	var last string
	for {
		_ = nc.Publish(proto.KeyRequestSubject(keys.Public(m.kp)), req)
		timer := time.NewTimer(jitter(wait))
		next := min(wait*2, 30*time.Second)
	collect:
		for {
			select {
			case <-ctx.Done():
				timer.Stop()
				return false
			case <-timer.C:
				break collect
			case msg := <-status:
				st := m.checkStatus(msg)
				if st == nil {
					continue
				}
				switch st.State {
				case proto.KeyAccepted:
					if err := m.pinMaster(st); err != nil {
						m.log.Error("master refused", "err", err)
						next = 2 * time.Minute
						continue
					}
					timer.Stop()
					return true
				case proto.KeyPending:
					if last != st.State {
						m.log.Info("key pending acceptance on the master", "finger", keys.Fingerprint(keys.Public(m.kp)))
					}
				default:
					if last != st.State {
						m.log.Error("master refused our key; retrying later", "state", st.State, "reason", st.Reason)
					}
					next = 2 * time.Minute
				}
				last = st.State
			}
		}
		wait = next
	}
}

// checkStatus verifies a key status: signed by the pinned master key, or
// (before any pin) by the key it names.
func (m *Minion) checkStatus(msg *nats.Msg) *proto.KeyStatus {
	var st proto.KeyStatus
	if err := proto.Decode(msg.Data, 64<<10, &st); err != nil || st.Nkey != keys.Public(m.kp) {
		return nil
	}
	key := st.MasterKey
	if p := m.pin.Load(); p != nil {
		if st.MasterKey != p.MasterKey {
			m.log.Error("MASTER KEY CHANGED: status signed by an unpinned key; refusing it", "err", ErrMasterChanged,
				"pinned", keys.Fingerprint(p.MasterKey), "offered", keys.Fingerprint(st.MasterKey))
			return nil
		}
		key = p.MasterKey
	}
	v, err := keys.Verifier(key)
	if err != nil {
		return nil
	}
	if err := proto.VerifySigned(v, key, msg.Data, msg.Header); err != nil {
		m.log.Warn("ignoring key status with a bad signature", "err", err)
		return nil
	}
	return &st
}

// pinMaster pins the master's signing key (and the TLS certificate the
// signed status vouches for) on first accept; later it only checks them.
func (m *Minion) pinMaster(st *proto.KeyStatus) error {
	if p := m.pin.Load(); p != nil {
		if p.MasterKey != st.MasterKey {
			return ErrMasterChanged
		}
		return nil
	}
	if m.cfg.MasterFinger != "" && keys.Fingerprint(st.MasterKey) != m.cfg.MasterFinger {
		return fmt.Errorf("%w: fingerprint %s is not master_finger %s", ErrMasterChanged, keys.Fingerprint(st.MasterKey), m.cfg.MasterFinger)
	}
	seen, _ := m.tlsSeen.Load().(string)
	if seen != "" && st.TLSFinger != "" && seen != st.TLSFinger && m.cfg.MasterCA == "" {
		return fmt.Errorf("master TLS certificate %s is not the one the master signed for (%s)", seen, st.TLSFinger)
	}
	p := &Pin{MasterKey: st.MasterKey, TLSFinger: seen}
	if m.cfg.MasterCA != "" {
		p.TLSFinger = ""
	}
	if !m.cfg.Ephemeral {
		b, _ := json.MarshalIndent(p, "", "  ")
		if err := keys.WriteFileAtomic(m.pinFile(), append(b, '\n'), 0o600); err != nil {
			return err
		}
	}
	v, err := keys.Verifier(p.MasterKey)
	if err != nil {
		return err
	}
	m.verifier.Store(v)
	m.pin.Store(p)
	m.log.Info("pinned master key", "finger", keys.Fingerprint(p.MasterKey), "tls_finger", p.TLSFinger)
	return nil
}

// hello tells the master we are here; it fails while the connection still
// carries pending permissions, in which case the connection is renewed.
func (m *Minion) hello(ctx context.Context, nc *nats.Conn) bool {
	b, _ := json.Marshal(proto.Hello{V: proto.Version, ID: m.cfg.ID})
	wait := 500 * time.Millisecond
	for i := 0; i < 6 && ctx.Err() == nil; i++ {
		_, err := nc.Request(proto.RequestSubject(m.cfg.ID, "hello"), b, 5*time.Second)
		if err == nil {
			m.log.Info("connected to master, receiving jobs")
			return true
		}
		m.log.Debug("hello failed", "err", err)
		// A connection still carrying pending rights (accepted a moment
		// ago) cannot receive the reply: the server says so with a
		// permissions violation, and the connection is renewed at once. A
		// merely slow master gets two more tries first, so a busy master
		// does not make the whole fleet reconnect.
		if le := nc.LastError(); (le != nil && strings.Contains(strings.ToLower(le.Error()), "permissions violation")) || i == 2 {
			_ = nc.ForceReconnect()
		}
		t := time.NewTimer(jitter(wait))
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		wait *= 2
	}
	return false
}

func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

// onJob checks a job fully before anything runs: signature by the pinned
// key, envelope form, addressed to us, within its validity window, jid
// never seen. Identity is ours from our credentials; nothing in the job
// can change it.
func (m *Minion) onJob(ctx context.Context, nc *nats.Conn, msg *nats.Msg) {
	p := m.pin.Load()
	if p == nil {
		m.refuse("job before the master is pinned", nil, msg.Data)
		return
	}
	v, _ := m.verifier.Load().(nkeys.KeyPair)
	if v == nil {
		m.refuse("job before the master is pinned", nil, msg.Data)
		return
	}
	if err := proto.VerifySigned(v, p.MasterKey, msg.Data, msg.Header); err != nil {
		m.refuse("job signature", err, msg.Data)
		return
	}
	job, err := proto.DecodeJob(msg.Data, m.cfg.Limits)
	if err != nil {
		m.refuse("job envelope", err, msg.Data)
		return
	}
	now := time.Now()
	if err := job.Check(m.cfg.ID, now, m.cfg.Limits); err != nil {
		m.refuse("job check", err, msg.Data)
		return
	}
	if err := m.replay.Add(job.JID, job.NotAfter, now); err != nil {
		m.refuse("job replay", err, msg.Data)
		return
	}
	if err := m.recordReceived(job); err != nil {
		m.refuseUnaudited(nc, job, err)
		return
	}
	select {
	case m.sem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	m.wg.Add(1)
	go func() {
		defer func() { <-m.sem; m.wg.Done() }()
		m.runTracked(ctx, nc, job)
	}()
}

func (m *Minion) refuse(what string, err error, data []byte) {
	m.Refused.Add(1)
	m.recordRefusal(what, err, data)
	m.log.Warn("job refused", "check", what, "err", err)
}

func (m *Minion) run(ctx context.Context, nc *nats.Conn, job *proto.Job) {
	m.Ran.Add(1)
	log := m.log.With("jid", job.JID, "fun", job.Fun)
	log.Info("running job", "user", job.User)
	ec := m.jobContext(ctx, job, log)
	ec.Audit = m.jobAuditor(job)
	if v, ok := job.Kwargs["test"].(bool); ok {
		ec.Test = v
	}
	ret := proto.Return{V: proto.Version, JID: job.JID, ID: m.cfg.ID, Fun: job.Fun, Success: true}
	var endProgress func()
	ec.Progress, endProgress = m.jobProgress(nc, job)
	out, err := safeCall(ec, job.Fun, job.Args, job.Kwargs)
	endProgress()
	if err != nil {
		ret.Success, ret.Retcode = false, 1
		if errors.Is(err, execmod.ErrUnknownFunction) {
			ret.Return = fmt.Sprintf("'%s' is not available.", job.Fun)
		} else {
			ret.Return = "ERROR: " + err.Error()
		}
	} else {
		ret.Return = out
		if mp, ok := out.(map[string]any); ok {
			if rc, ok := mp["retcode"].(int); ok && strings.HasPrefix(job.Fun, "cmd.") {
				ret.Retcode = rc
			}
		}
	}
	m.recordReturn(job, &ret)
	b, err := json.Marshal(ret)
	if err != nil {
		b, _ = json.Marshal(proto.Return{V: proto.Version, JID: job.JID, ID: m.cfg.ID, Fun: job.Fun, Return: "ERROR: unencodable return: " + err.Error(), Retcode: 1})
	}
	m.publishReturn(ctx, nc, job, b)
}

func safeCall(ec *execmod.Context, fun string, args []any, kwargs map[string]any) (out any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s panicked: %v\n%s", fun, r, debug.Stack())
		}
	}()
	if kwargs != nil {
		kw := make(map[string]any, len(kwargs))
		for k, v := range kwargs {
			kw[k] = v
		}
		kwargs = kw
	}
	return ec.Registry.Call(ec, fun, args, kwargs)
}
