package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Returns reach the master as requests on proto.ReturnPrefix+<tok>.<jid>.
// The master stores them in ReturnStream in batches, one message (so one
// synced write) for all the returns that arrived while the previous batch
// was being written, and only then answers each minion: an answer is the
// promise that its return is stored, so the minion stops retrying. A
// stream capturing the return subjects directly made one synced write
// per return, which bounded a fleet-wide job to about 1,400 returns a
// second on a disk that syncs in 0.7 ms.
const (
	// ReturnLogSubject is ReturnStream's one subject; only the master
	// publishes on it.
	ReturnLogSubject = "brine.retlog"
	// returnSubjectHeader marks a stored message holding one return as
	// it was sent (the return subject in this header), used for a return
	// too large to share a message.
	returnSubjectHeader = "Brine-Return-Subject"
)

// returnItem is one return inside a stored batch.
type returnItem struct {
	Subject string          `json:"s"`
	Data    json.RawMessage `json:"d"`
}

// returnAck is the answer a minion waits for: the shape of a JetStream
// publish acknowledgement, which minions check for.
type returnAck struct {
	Stream string `json:"stream"`
	Seq    uint64 `json:"seq"`
}

// returnBatcher gathers the returns that arrive while a batch is being
// written.
type returnBatcher struct {
	mu   sync.Mutex
	q    []*nats.Msg
	wake chan struct{}
	sub  *nats.Subscription
	done chan struct{}
}

// startReturns subscribes to every minion's return subject and starts the
// writer. The subscription is a plain one on the master's own
// connection: the server's permissions already confine each minion to
// its own token, which storedReturn maps back to its id.
func (d *Dispatcher) startReturns(ctx context.Context, st *store) error {
	b := &returnBatcher{wake: make(chan struct{}, 1), done: make(chan struct{})}
	sub, err := d.nc.Subscribe(proto.ReturnPrefix+">", func(m *nats.Msg) {
		b.mu.Lock()
		b.q = append(b.q, m)
		b.mu.Unlock()
		select {
		case b.wake <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return fmt.Errorf("jobs: subscribe to returns: %w", err)
	}
	// A fleet answering at once must not be dropped as a slow consumer.
	_ = sub.SetPendingLimits(-1, -1)
	b.sub = sub
	d.returns = b
	go func() {
		defer close(b.done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-b.wake:
			}
			for {
				b.mu.Lock()
				batch := b.q
				b.q = nil
				b.mu.Unlock()
				if len(batch) == 0 {
					break
				}
				d.storeReturns(ctx, st, batch)
			}
		}
	}()
	return nil
}

// stop ends the subscription and waits for the writer.
func (b *returnBatcher) stop() {
	_ = b.sub.Unsubscribe()
	<-b.done
}

// storeReturns writes one batch of returns, then answers their minions
// and hands each to storedReturn. Returns already stored are answered at
// once (a retry after a lost answer); malformed ones are refused.
func (d *Dispatcher) storeReturns(ctx context.Context, st *store, msgs []*nats.Msg) {
	limit := d.batchLimit()
	var items []returnItem
	var replies []string
	size := 0
	flush := func() {
		if len(items) == 0 {
			return
		}
		seq, whole, err := d.appendReturns(ctx, st, items)
		if err != nil {
			d.log.Error("returns not stored; their minions will send them again", "count", len(items), "err", err)
			for _, r := range replies {
				d.replyReturn(r, nil, err)
			}
		} else {
			for i, it := range items {
				d.replyReturn(replies[i], &returnAck{Stream: ReturnStream, Seq: seq}, nil)
				idx := i
				if whole {
					idx = -1
				}
				d.storedReturn(ctx, it.Subject, it.Data, seq, idx, true)
			}
		}
		items, replies, size = items[:0], replies[:0], 0
	}
	for _, m := range msgs {
		tok, jid, ok := proto.SplitTokenSubject(m.Subject, proto.ReturnPrefix)
		var r proto.Return
		if !ok || json.Unmarshal(m.Data, &r) != nil || r.JID != jid {
			d.Dropped.Add(1)
			d.replyReturn(m.Reply, nil, errors.New("malformed return"))
			continue
		}
		id, known := d.returnID(tok, r.ID)
		if !known {
			d.Dropped.Add(1)
			d.replyReturn(m.Reply, nil, errors.New("return from an unknown minion"))
			continue
		}
		if st.hasReturn(jid, id) {
			d.replyReturn(m.Reply, &returnAck{Stream: ReturnStream}, nil)
			continue
		}
		n := len(m.Data) + len(m.Subject) + 16
		if len(items) > 0 && size+n > limit {
			flush()
		}
		items = append(items, returnItem{Subject: m.Subject, Data: m.Data})
		replies = append(replies, m.Reply)
		size += n
	}
	flush()
}

// appendReturns stores items as one message of ReturnStream and returns
// its sequence; whole reports a lone return too large to share a
// message, stored as it came.
func (d *Dispatcher) appendReturns(ctx context.Context, st *store, items []returnItem) (seq uint64, whole bool, err error) {
	m := nats.NewMsg(ReturnLogSubject)
	if len(items) == 1 && len(items[0].Data)+len(items[0].Subject)+64 > d.batchLimit() {
		m.Header.Set(returnSubjectHeader, items[0].Subject)
		m.Data, whole = items[0].Data, true
	} else if m.Data, err = json.Marshal(items); err != nil {
		return 0, false, fmt.Errorf("jobs: encode returns: %w", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ack, err := st.js.PublishMsg(wctx, m)
	if err != nil {
		return 0, false, fmt.Errorf("jobs: store returns: %w", err)
	}
	return ack.Sequence, whole, nil
}

// batchLimit bounds the bytes of one stored batch, below the server's
// largest message.
func (d *Dispatcher) batchLimit() int { return max(int(d.nc.MaxPayload())-4096, 4096) }

func (d *Dispatcher) replyReturn(reply string, ack *returnAck, err error) {
	if reply == "" {
		return
	}
	var b []byte
	if err != nil {
		b = []byte(`{"error":` + strconv.Quote(err.Error()) + `}`)
	} else {
		b, _ = json.Marshal(ack)
	}
	_ = d.nc.Publish(reply, b)
}

// returnID maps a return subject's token to the minion id: the key
// registry's, or, for a key deleted since, the id the return names when
// its token matches (the token still proves the sender).
func (d *Dispatcher) returnID(tok, named string) (string, bool) {
	if rec, ok := d.res.Reg.ByToken(tok); ok {
		return rec.ID, true
	}
	if proto.Token(named) == tok {
		return named, true
	}
	return "", false
}

// replayReturns hands every return stored in one ReturnStream message to
// fn with its position in the message (-1 for a message holding one
// return as it came).
func replayReturns(m jetstream.Msg, fn func(subject string, data []byte, idx int)) {
	if strings.HasPrefix(m.Subject(), proto.ReturnPrefix) {
		fn(m.Subject(), m.Data(), -1) // stored by an older master, one per message
		return
	}
	if s := m.Headers().Get(returnSubjectHeader); s != "" {
		fn(s, m.Data(), -1)
		return
	}
	var items []returnItem
	if json.Unmarshal(m.Data(), &items) != nil {
		return
	}
	for i, it := range items {
		fn(it.Subject, it.Data, i)
	}
}

// readReturn reads one stored return back: message seq, item idx.
// batches caches the messages already decoded by this caller.
func (s *store) readReturn(ctx context.Context, seq uint64, idx int, batches map[uint64][]returnItem) ([]byte, error) {
	if items, ok := batches[seq]; ok && idx >= 0 && idx < len(items) {
		return items[idx].Data, nil
	}
	m, err := s.returns.GetMsg(ctx, seq)
	if err != nil {
		return nil, err
	}
	if idx < 0 {
		return m.Data, nil
	}
	var items []returnItem
	if err := json.Unmarshal(m.Data, &items); err != nil {
		return nil, fmt.Errorf("stored returns %d: %w", seq, err)
	}
	batches[seq] = items
	if idx >= len(items) {
		return nil, fmt.Errorf("stored returns %d hold %d, not %d", seq, len(items), idx+1)
	}
	return items[idx].Data, nil
}
