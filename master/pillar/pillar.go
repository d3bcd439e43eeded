// Package pillar serves each minion its pillar, compiled on the master
// and encrypted end to end to that minion (DESIGN invariant 4). A minion
// asks on its own request subject (brine.req.<tok>.pillar), sending its
// curve public key signed with the identity nkey the master accepted; the
// master compiles the pillar for that id with the grains it holds,
// wraps it with the minion id, a revision and the issue time, seals it
// with its own curve key to the minion's (an nkeys xkey box: X25519,
// XSalsa20-Poly1305) and signs the reply with its job-signing key. No
// other NATS client can read the pillar, even one that sees the reply:
// the broker does not let it, and the bytes are ciphertext anyway.
//
// The package also watches the pillar tree (Watcher): an edit that
// changes a watched value for some minions re-applies the states that
// depend on it on exactly those minions.
package pillar

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brine-cm/brine/pkg/keys"
	"github.com/brine-cm/brine/proto"
	"github.com/brine-cm/brine/states/highstate"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// Version is the wire version of the pillar messages.
const Version = 1

// Request is what a minion sends: its curve public key and its nkey
// signature over Binding(id, XKey).
type Request struct {
	V       int    `json:"v"`
	XKey    string `json:"xkey"`
	XKeySig string `json:"xkey_sig"`
}

// Reply carries the sealed pillar and the master's curve public key; the
// whole payload is signed with the master's signing key (proto.Sign
// headers). Error is set, in clear, only for refusals that reveal no
// pillar data.
type Reply struct {
	V          int    `json:"v"`
	MasterXKey string `json:"master_xkey,omitempty"`
	Sealed     []byte `json:"sealed,omitempty"`
	Error      string `json:"error,omitempty"`
}

// Sealed is the plaintext inside the box. MinionID and Revision let the
// minion refuse a box meant for another minion or an older one.
type Sealed struct {
	V        int            `json:"v"`
	MinionID string         `json:"minion_id"`
	Revision uint64         `json:"revision"`
	IssuedAt time.Time      `json:"issued_at"`
	Pillar   map[string]any `json:"pillar"`
	Errors   []string       `json:"errors,omitempty"`
}

// Binding is the statement a minion signs to bind its curve key to its
// identity; it must match remotefs.XKeyBinding byte for byte.
func Binding(id, xkey string) []byte {
	return []byte("brine pillar xkey v1\n" + id + "\n" + xkey)
}

// Config wires a Server.
type Config struct {
	// Compile compiles the pillar of minion id (highstate.CompilePillar
	// with the grains the master holds). A *highstate.PillarErrors result
	// is sent to the minion inside the box, as Salt's _errors.
	Compile func(ctx context.Context, id string) (map[string]any, error)
	// NkeyOf returns the accepted nkey of minion id.
	NkeyOf func(id string) (string, bool)
	// Signer is the master's job-signing key.
	Signer proto.Signer
	// XKey is the master's curve key (LoadOrCreateXKey).
	XKey nkeys.KeyPair
	// MaxBytes is the broker's message limit.
	MaxBytes int
	Log      *slog.Logger
}

// Counters are kept for monitoring and tests.
type Counters struct {
	Served  atomic.Int64
	Refused atomic.Int64
}

// Server answers pillar requests.
type Server struct {
	cfg  Config
	log  *slog.Logger
	xpub string
	C    Counters

	mu      sync.Mutex
	lastRev uint64
}

// New checks the wiring.
func New(cfg Config) (*Server, error) {
	if cfg.Compile == nil || cfg.NkeyOf == nil || cfg.Signer == nil || cfg.XKey == nil {
		return nil, errors.New("pillar: incomplete config")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 1 << 20
	}
	xpub, err := cfg.XKey.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("pillar: %w", err)
	}
	return &Server{cfg: cfg, log: cfg.Log.With("component", "pillar"), xpub: xpub}, nil
}

// LoadOrCreateXKey reads the master's curve key seed at path, creating
// it (0600) on first start.
func LoadOrCreateXKey(path string) (kp nkeys.KeyPair, created bool, err error) {
	kp, err = keys.Load(path)
	if err == nil {
		return kp, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, false, err
	}
	kp, err = nkeys.CreateCurveKeys()
	if err != nil {
		return nil, false, fmt.Errorf("create curve key: %w", err)
	}
	seed, err := kp.Seed()
	if err != nil {
		return nil, false, fmt.Errorf("create curve key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("create curve key: %w", err)
	}
	if err := keys.WriteFileAtomic(path, append(seed, '\n'), 0o600); err != nil {
		return nil, false, err
	}
	return kp, true, nil
}

// revision returns a number larger than any this master issued before:
// the clock in nanoseconds, bumped past the last one, so revisions grow
// across restarts without any stored counter.
func (s *Server) revision(now time.Time) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := uint64(now.UnixNano())
	if r <= s.lastRev {
		r = s.lastRev + 1
	}
	s.lastRev = r
	return r
}

// Handle answers one pillar request from minion id (the caller checked
// that the subject names id and the connection is that minion's).
func (s *Server) Handle(ctx context.Context, id string, m *nats.Msg) {
	data, err := s.Build(ctx, id, m.Data, time.Now())
	if err != nil {
		s.C.Refused.Add(1)
		s.log.Warn("pillar request refused", "minion", id, "err", err)
		data, _ = json.Marshal(Reply{V: Version, Error: err.Error()})
	} else {
		s.C.Served.Add(1)
	}
	if m.Reply == "" {
		return
	}
	out := nats.NewMsg(m.Reply)
	out.Data = data
	if err := proto.Sign(s.cfg.Signer, data, out.Header); err != nil {
		s.log.Error("sign pillar reply", "err", err)
		return
	}
	if err := m.RespondMsg(out); err != nil {
		s.log.Debug("pillar reply not sent", "minion", id, "err", err)
	}
}

// Build checks a request and returns the reply payload (unsigned).
func (s *Server) Build(ctx context.Context, id string, reqData []byte, now time.Time) ([]byte, error) {
	var req Request
	if err := proto.Decode(reqData, s.cfg.MaxBytes, &req); err != nil {
		return nil, fmt.Errorf("malformed pillar request: %w", err)
	}
	nkey, ok := s.cfg.NkeyOf(id)
	if !ok {
		return nil, fmt.Errorf("minion %s is not accepted", id)
	}
	if len(req.XKey) != 56 || req.XKey[0] != 'X' {
		return nil, errors.New("pillar request without a curve public key")
	}
	sig, err := base64.RawURLEncoding.DecodeString(req.XKeySig)
	if err != nil {
		return nil, errors.New("pillar request: undecodable key binding signature")
	}
	v, err := nkeys.FromPublicKey(nkey)
	if err != nil {
		return nil, fmt.Errorf("accepted key of %s: %w", id, err)
	}
	if err := v.Verify(Binding(id, req.XKey), sig); err != nil {
		return nil, errors.New("pillar request: curve key not signed by the accepted minion key")
	}
	p, cerr := s.cfg.Compile(ctx, id)
	sp := Sealed{V: Version, MinionID: id, Revision: s.revision(now), IssuedAt: now.UTC(), Pillar: p}
	if cerr != nil {
		var pe *highstate.PillarErrors
		if errors.As(cerr, &pe) {
			sp.Errors = pe.List
		} else {
			sp.Errors = []string{cerr.Error()}
		}
	}
	if sp.Pillar == nil {
		sp.Pillar = map[string]any{}
	}
	plain, err := json.Marshal(sp)
	if err != nil {
		return nil, fmt.Errorf("encode pillar: %w", err)
	}
	sealed, err := s.cfg.XKey.Seal(plain, req.XKey)
	if err != nil {
		return nil, fmt.Errorf("seal pillar: %w", err)
	}
	out, err := json.Marshal(Reply{V: Version, MasterXKey: s.xpub, Sealed: sealed})
	if err != nil {
		return nil, fmt.Errorf("encode pillar reply: %w", err)
	}
	if len(out) > s.cfg.MaxBytes-1024 {
		return nil, fmt.Errorf("sealed pillar for %s is %d bytes, above the message limit %d", id, len(out), s.cfg.MaxBytes)
	}
	return out, nil
}
