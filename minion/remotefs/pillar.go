package remotefs

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/brine-cm/brine/pkg/keys"
	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// Errors the pillar client returns when it refuses what the master sent.
var (
	ErrPillarWrongID  = errors.New("pillar is sealed for another minion")
	ErrPillarRollback = errors.New("pillar revision is older than the one held")
	ErrPillarStale    = errors.New("pillar was issued too long ago")
)

// XKeyBinding is the statement a minion signs with its identity nkey to
// bind its curve key to itself; the master checks it against the nkey it
// accepted, so a pillar is only ever sealed to a key the accepted minion
// vouched for.
func XKeyBinding(id, xkey string) []byte {
	return []byte("brine pillar xkey v1\n" + id + "\n" + xkey)
}

// pillarRequest, pillarReply and sealedPillar are the pillar's wire form
// (version 1). The reply is signed by the master's signing key; the
// sealed bytes are an xkey box from the master's curve key to the
// minion's, and hold the id, revision and issue time with the data, so a
// box cannot be replayed to another minion or to roll a minion back.
type pillarRequest struct {
	V       int    `json:"v"`
	XKey    string `json:"xkey"`
	XKeySig string `json:"xkey_sig"`
}

type pillarReply struct {
	V          int    `json:"v"`
	MasterXKey string `json:"master_xkey,omitempty"`
	Sealed     []byte `json:"sealed,omitempty"`
	Error      string `json:"error,omitempty"`
}

type sealedPillar struct {
	V        int            `json:"v"`
	MinionID string         `json:"minion_id"`
	Revision uint64         `json:"revision"`
	IssuedAt time.Time      `json:"issued_at"`
	Pillar   map[string]any `json:"pillar"`
	Errors   []string       `json:"errors,omitempty"`
}

// MasterVerifier checks that payload was signed (headers h) by the
// master key this minion pinned.
type MasterVerifier func(payload []byte, h nats.Header) error

// Pillar fetches, opens and holds this minion's pillar.
type Pillar struct {
	nc      *nats.Conn
	id      string
	key     nkeys.KeyPair // identity (ed25519)
	xkey    nkeys.KeyPair // curve key the pillar is sealed to
	verify  MasterVerifier
	revFile string // "" keeps the revision in memory only
	maxAge  time.Duration
	log     *slog.Logger

	mu     sync.Mutex
	rev    uint64
	pillar map[string]any
	errs   []string
}

// PillarConfig wires a Pillar.
type PillarConfig struct {
	NC  *nats.Conn
	ID  string
	Key nkeys.KeyPair
	// XKey is the minion's curve key (LoadOrCreateXKey).
	XKey   nkeys.KeyPair
	Verify MasterVerifier
	// RevisionFile keeps the highest revision seen across restarts, so
	// an old sealed pillar cannot be replayed after a restart either.
	RevisionFile string
	// MaxAge bounds how old an issued pillar may be (default 10 minutes).
	MaxAge time.Duration
	Log    *slog.Logger
}

// NewPillar returns a pillar client; it reads the revision file if any.
func NewPillar(cfg PillarConfig) (*Pillar, error) {
	if cfg.NC == nil || cfg.Key == nil || cfg.XKey == nil || cfg.Verify == nil || cfg.ID == "" {
		return nil, errors.New("pillar client: incomplete config")
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 10 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	p := &Pillar{nc: cfg.NC, id: cfg.ID, key: cfg.Key, xkey: cfg.XKey, verify: cfg.Verify, revFile: cfg.RevisionFile,
		maxAge: cfg.MaxAge, log: cfg.Log.With("component", "pillar")}
	if p.revFile != "" {
		b, err := os.ReadFile(p.revFile)
		switch {
		case err == nil:
			p.rev, err = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("pillar revision %s: %w", p.revFile, err)
			}
		case !errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("pillar revision: %w", err)
		}
	}
	return p, nil
}

// LoadOrCreateXKey reads the minion's curve key seed at path, creating
// it (0600) on first start.
func LoadOrCreateXKey(path string) (nkeys.KeyPair, error) {
	kp, err := keys.Load(path)
	if err == nil {
		return kp, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	kp, err = nkeys.CreateCurveKeys()
	if err != nil {
		return nil, fmt.Errorf("create curve key: %w", err)
	}
	seed, err := kp.Seed()
	if err != nil {
		return nil, fmt.Errorf("create curve key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create curve key: %w", err)
	}
	if err := keys.WriteFileAtomic(path, append(seed, '\n'), 0o600); err != nil {
		return nil, err
	}
	return kp, nil
}

// Cached returns the pillar last fetched (nil before the first fetch)
// and the compile errors the master reported with it.
func (p *Pillar) Cached() (map[string]any, []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pillar, p.errs
}

// Revision is the highest pillar revision accepted so far.
func (p *Pillar) Revision() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rev
}

// Fetch asks the master to compile this minion's pillar now, and returns
// it once the signature, the seal, the id, the revision and the age are
// all checked. Compile errors on the master come back as errs, with the
// part of the pillar that did compile.
func (p *Pillar) Fetch(ctx context.Context) (map[string]any, []string, error) {
	xpub, err := p.xkey.PublicKey()
	if err != nil {
		return nil, nil, fmt.Errorf("pillar: %w", err)
	}
	sig, err := p.key.Sign(XKeyBinding(p.id, xpub))
	if err != nil {
		return nil, nil, fmt.Errorf("pillar: %w", err)
	}
	b, _ := json.Marshal(pillarRequest{V: 1, XKey: xpub, XKeySig: base64.RawURLEncoding.EncodeToString(sig)})
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	msg, err := request(ctx, p.nc, proto.RequestSubject(p.id, "pillar"), b)
	if err != nil {
		return nil, nil, fmt.Errorf("pillar: %w", err)
	}
	return p.Open(msg.Data, msg.Header, time.Now())
}

// Open checks and opens one pillar reply (exported so the checks can be
// tested against crafted replies).
func (p *Pillar) Open(data []byte, h nats.Header, now time.Time) (map[string]any, []string, error) {
	if h.Get(proto.HeaderError) != "" {
		var e proto.ErrorReply
		_ = json.Unmarshal(data, &e)
		return nil, nil, fmt.Errorf("pillar: master: %s", e.Error)
	}
	if err := p.verify(data, h); err != nil {
		return nil, nil, fmt.Errorf("pillar: reply not signed by the pinned master: %w", err)
	}
	var rep pillarReply
	if err := json.Unmarshal(data, &rep); err != nil {
		return nil, nil, fmt.Errorf("pillar: reply: %w", err)
	}
	if rep.Error != "" {
		return nil, nil, fmt.Errorf("pillar: master: %s", rep.Error)
	}
	plain, err := p.xkey.Open(rep.Sealed, rep.MasterXKey)
	if err != nil {
		return nil, nil, fmt.Errorf("pillar: open: %w", err)
	}
	var sp sealedPillar
	if err := json.Unmarshal(plain, &sp); err != nil {
		return nil, nil, fmt.Errorf("pillar: sealed payload: %w", err)
	}
	if sp.MinionID != p.id {
		return nil, nil, fmt.Errorf("%w: %q", ErrPillarWrongID, sp.MinionID)
	}
	if now.Sub(sp.IssuedAt) > p.maxAge || sp.IssuedAt.Sub(now) > p.maxAge {
		return nil, nil, fmt.Errorf("%w: issued at %s", ErrPillarStale, sp.IssuedAt.Format(time.RFC3339))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if sp.Revision <= p.rev {
		return nil, nil, fmt.Errorf("%w: revision %d, holding %d", ErrPillarRollback, sp.Revision, p.rev)
	}
	if p.revFile != "" {
		if err := keys.WriteFileAtomic(p.revFile, []byte(strconv.FormatUint(sp.Revision, 10)+"\n"), 0o600); err != nil {
			return nil, nil, fmt.Errorf("pillar revision: %w", err)
		}
	}
	if sp.Pillar == nil {
		sp.Pillar = map[string]any{}
	}
	p.rev, p.pillar, p.errs = sp.Revision, sp.Pillar, sp.Errors
	return sp.Pillar, sp.Errors, nil
}
