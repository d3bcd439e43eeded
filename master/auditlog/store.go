package auditlog

import (
	"bytes"
	"context"
	"encoding/json"
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
	// hdrKey is the accepted key the batch was verified against, hdrEpoch
	// the number of the run of batches under that key (1, 2, ... as the
	// minion's key changes) and hdrSigner the key the minion's checkpoints
	// are signed with after the batch (its old key until the key.rotated
	// entry of a re-keyed minion has been forwarded).
	hdrKey    = "Brine-Audit-Key"
	hdrEpoch  = "Brine-Audit-Epoch"
	hdrSigner = "Brine-Audit-Signer"
)

// ErrChain is returned when a forwarded batch does not verify or does not
// continue where the stored copy ends; nothing of it is stored.
var ErrChain = errors.New("forwarded audit batch refused")

// Store keeps each minion's forwarded log: a batch is verified with
// audit.VerifyEntries against the minion's accepted key, starting exactly
// at the position of the stored copy, and stored as one message, so a
// batch is kept whole or not at all and nothing is kept twice.
//
// The copy is split into epochs, one per accepted key: when a minion is
// re-keyed, the next batch opens a new epoch that either continues the
// previous one (the minion kept its log, whose key.rotated entry records
// the change) or starts a log of its own from seq 1 (the data dir was
// rebuilt). An epoch is never reopened: batches always go to the epoch of
// the key accepted now.
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
	epoch     int    // 0: nothing stored
	key       string // the accepted key of the epoch ("": stored before epochs were kept)
	signer    string // the key the minion's checkpoints are signed with at pos
}

// Ack is where a minion's stored copy ends after an append or a position
// query, and in which epoch.
type Ack struct {
	audit.Position
	Epoch int
	// NewEpoch says the key given holds no batch yet: the next batch opens
	// a new epoch.
	NewEpoch bool
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
	m.epoch = epochOf(msg.Header)
	m.key = msg.Header.Get(hdrKey)
	m.signer = msg.Header.Get(hdrSigner)
	m.loaded = true
	return nil
}

// epochOf reads a stored batch's epoch; batches stored before epochs were
// kept belong to the first.
func epochOf(h nats.Header) int {
	n, err := strconv.Atoi(h.Get(hdrEpoch))
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// StartsLog says whether batch begins a log (seq 1 chained to the zero
// hash) rather than continuing one: an epoch that does is verified on its
// own, one that does not from where the epoch before it ended.
func StartsLog(batch []byte) bool {
	line, _, _ := bytes.Cut(batch, []byte("\n"))
	var first struct {
		Seq  uint64 `json:"seq"`
		Prev string `json:"prev"`
		Type string `json:"type"`
	}
	return json.Unmarshal(line, &first) == nil && first.Type == "" && first.Seq == 1 && first.Prev == audit.ZeroHash
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
	a, err := s.AppendEpoch(ctx, id, nkey, batch)
	return a.Position, err
}

// AppendEpoch is Append that also says in which epoch the copy stands.
// Under a key that holds no batch yet it opens a new epoch: the batch must
// either continue the stored copy, its checkpoints signed by the previous
// key until a key.rotated entry hands over to nkey, or start a log of its
// own at seq 1.
func (s *Store) AppendEpoch(ctx context.Context, id, nkey string, batch []byte) (Ack, error) {
	m := s.minion(id)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := s.load(ctx, id, m); err != nil {
		return Ack{}, err
	}
	fresh := m.epoch == 0 || (m.key != "" && m.key != nkey)
	ack := Ack{Position: m.pos, Epoch: m.epoch, NewEpoch: fresh}
	if len(batch) == 0 {
		return ack, nil
	}
	start, signer, epoch := m.pos, m.signer, m.epoch
	if signer == "" {
		signer = m.key
	}
	if fresh {
		epoch++
		if m.epoch == 0 || StartsLog(batch) {
			start, signer = audit.Position{}, ""
		}
	}
	trusted := func(pk string) bool { return pk == nkey || (signer != "" && pk == signer) }
	rep, err := audit.VerifyEntriesFrom(bytes.NewReader(batch), start, signer, trusted)
	if err != nil {
		if fresh && m.epoch > 0 {
			return ack, fmt.Errorf("%w: from %s, first batch under a new key, neither continuing seq %d nor starting at seq 1: %w", ErrChain, id, m.pos.Seq, err)
		}
		return ack, fmt.Errorf("%w: from %s after seq %d: %w", ErrChain, id, m.pos.Seq, err)
	}
	msg := nats.NewMsg(proto.AuditStoreSubject(id))
	msg.Data = batch
	msg.Header.Set(hdrMinion, id)
	msg.Header.Set(hdrSeq, strconv.FormatUint(rep.End.Seq, 10))
	msg.Header.Set(hdrHash, rep.End.Hash)
	msg.Header.Set(hdrFirst, strconv.FormatUint(start.Seq+1, 10))
	msg.Header.Set(hdrKey, nkey)
	msg.Header.Set(hdrEpoch, strconv.Itoa(epoch))
	if rep.Key != "" {
		msg.Header.Set(hdrSigner, rep.Key)
	}
	pa, err := s.js.PublishMsg(ctx, msg, jetstream.WithExpectStream(StreamName), jetstream.WithExpectLastSequencePerSubject(m.streamSeq))
	if err != nil {
		// Another master may have stored a batch meanwhile: reload next time.
		m.loaded = false
		return ack, fmt.Errorf("auditlog: store batch of %s: %w", id, err)
	}
	m.pos, m.streamSeq, m.epoch, m.key, m.signer = rep.End, pa.Sequence, epoch, nkey, rep.Key
	return Ack{Position: m.pos, Epoch: epoch}, nil
}

// Forward is AppendEpoch answered as the minion reads it.
func (s *Store) Forward(ctx context.Context, id, nkey string, batch []byte) (proto.AuditAck, error) {
	a, err := s.AppendEpoch(ctx, id, nkey, batch)
	if err != nil {
		return proto.AuditAck{}, err
	}
	return proto.AuditAck{V: proto.Version, Seq: a.Seq, Hash: a.Hash, NewEpoch: a.NewEpoch}, nil
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
		out = append(out, proto.AuditMinionLog{ID: msg.Header.Get(hdrMinion), LastSeq: seq, Batches: n, Epoch: epochOf(msg.Header)})
	}
	return out, nil
}

// Read returns id's stored lines after stream sequence after, up to about
// maxBytes (at least one batch), the stream sequence to continue from and
// whether more follow.
func (s *Store) Read(ctx context.Context, id string, after uint64, maxBytes int) (lines []byte, next uint64, more bool, err error) {
	lines, next, more, _, err = s.ReadEpoch(ctx, id, 0, after, maxBytes)
	return lines, next, more, err
}

// ReadEpoch is Read limited to one epoch (0: all); it also returns the key
// that epoch's batches were verified against.
func (s *Store) ReadEpoch(ctx context.Context, id string, epoch int, after uint64, maxBytes int) (lines []byte, next uint64, more bool, key string, err error) {
	subj := proto.AuditStoreSubject(id)
	next = after
	for {
		msg, err := s.stream.GetMsg(ctx, next+1, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return lines, next, false, key, nil
		}
		if err != nil {
			return lines, next, false, key, fmt.Errorf("auditlog: read %s: %w", id, err)
		}
		if e := epochOf(msg.Header); epoch > 0 && e != epoch {
			if e > epoch {
				return lines, next, false, key, nil
			}
			next = msg.Sequence
			continue
		}
		if len(lines) > 0 && len(lines)+len(msg.Data) > maxBytes {
			return lines, next, true, key, nil
		}
		lines = append(lines, msg.Data...)
		next = msg.Sequence
		if k := msg.Header.Get(hdrKey); k != "" {
			key = k
		}
	}
}
