package minion

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"

	"github.com/brine-cm/brine/minion/remotefs"
	"github.com/brine-cm/brine/pkg/execmod"
	"github.com/brine-cm/brine/pkg/keys"
	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// remoteState is the minion's link to the master's file server and
// pillar, set up once the connection exists.
type remoteState struct {
	mu     sync.Mutex
	files  *remotefs.Files
	pillar *remotefs.Pillar
	nc     *nats.Conn
}

// XKeyFile is where the minion's curve key (the one its pillar is sealed
// to) lives.
func (m *Minion) XKeyFile() string { return filepath.Join(m.cfg.DataDir, "minion.xk") }

// openRemote builds the remote file client and the pillar client over nc.
func (m *Minion) openRemote(nc *nats.Conn, kp nkeys.KeyPair) error {
	var xk nkeys.KeyPair
	var err error
	revFile, cacheDir := "", ""
	if m.cfg.Ephemeral {
		xk, err = nkeys.CreateCurveKeys()
	} else {
		xk, err = remotefs.LoadOrCreateXKey(m.XKeyFile())
		revFile, cacheDir = filepath.Join(m.cfg.DataDir, "pillar.rev"), filepath.Join(m.cfg.DataDir, "files")
	}
	if err != nil {
		return fmt.Errorf("minion: pillar key: %w", err)
	}
	p, err := remotefs.NewPillar(remotefs.PillarConfig{NC: nc, ID: m.cfg.ID, Key: kp, XKey: xk, Verify: m.verifyMaster,
		RevisionFile: revFile, Log: m.log})
	if err != nil {
		return fmt.Errorf("minion: %w", err)
	}
	r := &m.remote
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nc, r.pillar, r.files = nc, p, remotefs.NewFiles(nc, m.cfg.ID, cacheDir, m.log)
	return nil
}

// verifyMaster checks a payload signed by the pinned master key.
func (m *Minion) verifyMaster(payload []byte, h nats.Header) error {
	p := m.pin.Load()
	v, _ := m.verifier.Load().(nkeys.KeyPair)
	if p == nil || v == nil {
		return errors.New("master not pinned yet")
	}
	return proto.VerifySigned(v, p.MasterKey, payload, h)
}

// Files is the salt:// client jobs use: the configured one, else the
// master's file server.
func (m *Minion) Files() execmod.FileClient {
	if m.cfg.Files != nil {
		return m.cfg.Files
	}
	m.remote.mu.Lock()
	defer m.remote.mu.Unlock()
	if m.remote.files == nil {
		return nil
	}
	return m.remote.files
}

// RemoteFiles exposes the remote file client's counters (nil before the
// connection exists).
func (m *Minion) RemoteFiles() *remotefs.Files {
	m.remote.mu.Lock()
	defer m.remote.mu.Unlock()
	return m.remote.files
}

func (m *Minion) pillarClient() *remotefs.Pillar {
	m.remote.mu.Lock()
	defer m.remote.mu.Unlock()
	return m.remote.pillar
}

// freshPillar lists the functions that fetch the pillar before they run,
// as Salt compiles a fresh pillar for every state run; other functions
// use the pillar fetched last (fetching it once if there is none), and
// the ones that never read it skip it, so a test.ping to a large fleet
// costs the master no pillar compiles.
func freshPillar(fun string) bool {
	return strings.HasPrefix(fun, "state.") || strings.HasPrefix(fun, "pillar.") || fun == "saltutil.refresh_pillar"
}

func noPillar(fun string) bool {
	return strings.HasPrefix(fun, "test.") || strings.HasPrefix(fun, "saltutil.") || strings.HasPrefix(fun, "sys.")
}

// jobPillar returns the pillar a job runs with; errors (a master that
// could not compile it, or a reply that failed the checks) ride in
// _errors, as Salt's do, so state runs refuse to start and print them.
func (m *Minion) jobPillar(ctx context.Context, fun string, log *slog.Logger) map[string]any {
	pc := m.pillarClient()
	if pc == nil || noPillar(fun) {
		return map[string]any{}
	}
	p, errs := pc.Cached()
	if p == nil || freshPillar(fun) {
		var err error
		p, errs, err = pc.Fetch(ctx)
		if err != nil {
			log.Warn("pillar unavailable", "err", err)
			p, errs = map[string]any{}, []string{err.Error()}
		}
	}
	out := make(map[string]any, len(p)+1)
	for k, v := range p {
		out[k] = v
	}
	if len(errs) > 0 {
		l := make([]any, len(errs))
		for i, e := range errs {
			l[i] = e
		}
		out["_errors"] = l
	}
	return out
}

// jobContext is the execution context of one job: the host's grains, the
// pillar from the master, the master's file server and the registry.
func (m *Minion) jobContext(ctx context.Context, job *proto.Job, log *slog.Logger) *execmod.Context {
	pillar := m.jobPillar(ctx, job.Fun, log)
	opts := make(map[string]any, len(m.cfg.Opts)+1)
	for k, v := range m.cfg.Opts {
		opts[k] = v
	}
	opts["pillar"] = pillar
	ctx = execmod.WithSaltutilHost(ctx, saltutilHost{m})
	return &execmod.Context{Ctx: ctx, Grains: m.cfg.Grains, Pillar: pillar, Opts: opts, Log: log,
		Files: m.Files(), Registry: m.cfg.Registry, Saltenv: "base"}
}

// saltutilHost serves the saltutil module for this minion.
type saltutilHost struct{ m *Minion }

func (h saltutilHost) RefreshPillar(c *execmod.Context) error {
	pc := h.m.pillarClient()
	if pc == nil {
		return errors.New("not connected to a master")
	}
	p, errs, err := pc.Fetch(c.Context())
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return fmt.Errorf("pillar failed to render: %s", strings.Join(errs, "; "))
	}
	c.Pillar = p
	return nil
}

// RefreshGrains sends the grains again with a key request, which is how
// the master learns them; the grains themselves are collected at start.
func (h saltutilHost) RefreshGrains(c *execmod.Context) error {
	h.m.remote.mu.Lock()
	nc := h.m.remote.nc
	h.m.remote.mu.Unlock()
	if nc == nil || h.m.kp == nil {
		return errors.New("not connected to a master")
	}
	b, err := json.Marshal(proto.KeyRequest{V: proto.Version, ID: h.m.cfg.ID, Nkey: keys.Public(h.m.kp), Grains: h.m.cfg.Grains})
	if err != nil {
		return err
	}
	return nc.Publish(proto.KeyRequestSubject(keys.Public(h.m.kp)), b)
}

func (h saltutilHost) FindJob(jid string) map[string]any {
	r := h.m.running()
	r.mu.Lock()
	defer r.mu.Unlock()
	rj, ok := r.jobs[jid]
	if !ok {
		return nil
	}
	return map[string]any{"jid": rj.job.JID, "fun": rj.job.Fun, "arg": rj.job.Args, "user": rj.job.User,
		"tgt": rj.job.Target.Expr, "tgt_type": rj.job.Target.Type, "id": h.m.cfg.ID}
}

// saltutilMu serialises the check-then-register of minions that share
// one registry (the fleet simulator runs thousands in one process).
var saltutilMu sync.Mutex

// registerSaltutil adds the saltutil module unless the registry already
// has one; each job's context names the minion serving it.
func (m *Minion) registerSaltutil() {
	saltutilMu.Lock()
	defer saltutilMu.Unlock()
	if _, ok := m.cfg.Registry.Lookup("saltutil.refresh_pillar"); ok {
		return
	}
	execmod.RegisterSaltutil(m.cfg.Registry)
}
