package auditlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/brine-cm/brine/pkg/audit"
	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// StreamName is the JetStream stream holding every minion's forwarded
// audit log, one subject per minion token.
const StreamName = "BRINE_AUDIT"

// Headers on every stored batch: who sent it and where the chain stands
// after it, so the master finds a minion's position from the last message
// alone after a restart.
const (
	hdrMinion = "Brine-Minion"
	hdrSeq    = "Brine-Audit-Seq"
	hdrHash   = "Brine-Audit-Hash"
	hdrFirst  = "Brine-Audit-First"
)

// ErrChain is returned when a forwarded batch does not verify or does not
// continue where the stored copy ends; nothing of it is stored.
var ErrChain = errors.New("forwarded audit batch refused")

// Store keeps each minion's forwarded log: a batch is verified with
// audit.VerifyEntries against the minion's accepted key, starting exactly
// at the position of the stored copy, and stored as one message, so a
// batch is kept whole or not at all and nothing is kept twice.
type Store struct {
	js     jetstream.JetStream
	stream jetstream.Stream

	mu    sync.Mutex
	state map[string]*minionState // minion id -> position of its stored copy
}

type minionState struct {
	mu        sync.Mutex
	loaded    bool
	pos       audit.Position
	streamSeq uint64 // stream sequence of the last stored batch
}

// OpenStore creates or opens the stream: file storage, no deletes, no
// purges, no limits, so a stored batch stays.
func OpenStore(ctx context.Context, js jetstream.JetStream, replicas int) (*Store, error) {
	if replicas <= 0 {
		replicas = 1
	}
	st, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        StreamName,
		Description: "brine forwarded minion audit logs",
		Subjects:    []string{proto.AuditStorePrefix + "*"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardNew,
		DenyDelete:  true,
		DenyPurge:   true,
		Replicas:    replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("auditlog: stream %s: %w", StreamName, err)
	}
	return &Store{js: js, stream: st, state: map[string]*minionState{}}, nil
}

func (s *Store) minion(id string) *minionState {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.state[id]
	if !ok {
		m = &minionState{}
		s.state[id] = m
	}
	return m
}

// load reads the position from the last stored batch; m.mu is held.
func (s *Store) load(ctx context.Context, id string, m *minionState) error {
	if m.loaded {
		return nil
	}
	msg, err := s.stream.GetLastMsgForSubject(ctx, proto.AuditStoreSubject(id))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		m.loaded = true
		return nil
	}
	if err != nil {
		return fmt.Errorf("auditlog: position of %s: %w", id, err)
	}
	seq, err := strconv.ParseUint(msg.Header.Get(hdrSeq), 10, 64)
	if err != nil {
		return fmt.Errorf("auditlog: stored batch %d of %s has no position: %w", msg.Sequence, id, err)
	}
	m.pos = audit.Position{Seq: seq, Hash: msg.Header.Get(hdrHash)}
	m.streamSeq = msg.Sequence
	m.loaded = true
	return nil
}

// Position is where id's next forwarded batch must continue.
func (s *Store) Position(ctx context.Context, id string) (audit.Position, error) {
	m := s.minion(id)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := s.load(ctx, id, m); err != nil {
		return audit.Position{}, err
	}
	return m.pos, nil
}

// Append verifies batch (raw lines from id's log, each ending in "\n")
// against nkey, the minion's accepted key, starting at the stored
// position, stores it, and returns the new position. A batch that does
// not continue the stored chain, or fails verification, is refused with
// the verifier's reason and nothing is stored.
func (s *Store) Append(ctx context.Context, id, nkey string, batch []byte) (audit.Position, error) {
	m := s.minion(id)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := s.load(ctx, id, m); err != nil {
		return audit.Position{}, err
	}
	if len(batch) == 0 {
		return m.pos, nil
	}
	rep, err := audit.VerifyEntries(bytes.NewReader(batch), m.pos, func(pk string) bool { return pk == nkey })
	if err != nil {
		return m.pos, fmt.Errorf("%w: from %s after seq %d: %w", ErrChain, id, m.pos.Seq, err)
	}
	msg := nats.NewMsg(proto.AuditStoreSubject(id))
	msg.Data = batch
	msg.Header.Set(hdrMinion, id)
	msg.Header.Set(hdrSeq, strconv.FormatUint(rep.End.Seq, 10))
	msg.Header.Set(hdrHash, rep.End.Hash)
	msg.Header.Set(hdrFirst, strconv.FormatUint(m.pos.Seq+1, 10))
	ack, err := s.js.PublishMsg(ctx, msg, jetstream.WithExpectStream(StreamName), jetstream.WithExpectLastSequencePerSubject(m.streamSeq))
	if err != nil {
		// Another master may have stored a batch meanwhile: reload next time.
		m.loaded = false
		return m.pos, fmt.Errorf("auditlog: store batch of %s: %w", id, err)
	}
	m.pos, m.streamSeq = rep.End, ack.Sequence
	return m.pos, nil
}

// Minions lists every minion with a forwarded log.
func (s *Store) Minions(ctx context.Context) ([]proto.AuditMinionLog, error) {
	info, err := s.stream.Info(ctx, jetstream.WithSubjectFilter(proto.AuditStorePrefix+"*"))
	if err != nil {
		return nil, fmt.Errorf("auditlog: stream info: %w", err)
	}
	var out []proto.AuditMinionLog
	for subj, n := range info.State.Subjects {
		msg, err := s.stream.GetLastMsgForSubject(ctx, subj)
		if err != nil {
			return nil, fmt.Errorf("auditlog: last batch on %s: %w", subj, err)
		}
		seq, _ := strconv.ParseUint(msg.Header.Get(hdrSeq), 10, 64)
		out = append(out, proto.AuditMinionLog{ID: msg.Header.Get(hdrMinion), LastSeq: seq, Batches: n})
	}
	return out, nil
}

// Read returns id's stored lines after stream sequence after, up to about
// maxBytes (at least one batch), the stream sequence to continue from and
// whether more follow.
func (s *Store) Read(ctx context.Context, id string, after uint64, maxBytes int) (lines []byte, next uint64, more bool, err error) {
	subj := proto.AuditStoreSubject(id)
	next = after
	for {
		msg, err := s.stream.GetMsg(ctx, next+1, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return lines, next, false, nil
		}
		if err != nil {
			return lines, next, false, fmt.Errorf("auditlog: read %s: %w", id, err)
		}
		if len(lines) > 0 && len(lines)+len(msg.Data) > maxBytes {
			return lines, next, true, nil
		}
		lines = append(lines, msg.Data...)
		next = msg.Sequence
	}
}
