package jobs

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
)

// fanoutWindow bounds the queue writes in flight during a fan-out.
const fanoutWindow = 256

// sendAll sends one job to many minions with the guarantees of send (each
// envelope is stored before it is pushed) at a fleet's scale: envelopes
// are signed on every CPU, and queue writes are published without
// waiting for each acknowledgement in turn (at most fanoutWindow in
// flight); each minion's envelope is pushed as soon as its own write is
// acknowledged. Sending one by one cost a signature plus a full JetStream
// round trip per minion, in series.
func (d *Dispatcher) sendAll(ctx context.Context, base proto.Job, ids []string) error {
	st := d.store()
	if st == nil || len(ids) < 8 {
		for _, id := range ids {
			job := base
			job.MinionID = id
			if err := d.send(ctx, &job); err != nil {
				return err
			}
		}
		return nil
	}
	jobs := make([]proto.Job, len(ids))
	msgs := make([]*nats.Msg, len(ids))
	if err := d.signAll(base, ids, jobs, msgs); err != nil {
		return err
	}
	for lo := 0; lo < len(ids); lo += fanoutWindow {
		hi := min(lo+fanoutWindow, len(ids))
		futs := make([]jetstream.PubAckFuture, 0, hi-lo)
		for i := lo; i < hi; i++ {
			f, err := st.enqueueAsync(&jobs[i], msgs[i])
			if err != nil {
				return err
			}
			futs = append(futs, f)
		}
		for k, f := range futs {
			i := lo + k
			select {
			case ack := <-f.Ok():
				st.indexQueued(&queuedRecord{JID: jobs[i].JID, ID: jobs[i].MinionID, Seq: ack.Sequence, NotAfter: jobs[i].NotAfter, Stored: time.Now()})
			case err := <-f.Err():
				return fmt.Errorf("jobs: queue %s for %s: %w", jobs[i].JID, jobs[i].MinionID, err)
			case <-ctx.Done():
				return fmt.Errorf("jobs: queue %s: %w", jobs[i].JID, ctx.Err())
			}
			if err := d.nc.PublishMsg(msgs[i]); err != nil {
				return fmt.Errorf("jobs: publish %s to %s: %w", jobs[i].JID, jobs[i].MinionID, err)
			}
		}
	}
	return nil
}

// signAll fills jobs and msgs with each minion's signed envelope, spread
// over the CPUs (ed25519 signing is most of a large fan-out's CPU).
func (d *Dispatcher) signAll(base proto.Job, ids []string, jobs []proto.Job, msgs []*nats.Msg) error {
	workers := min(runtime.GOMAXPROCS(0), len(ids))
	signer := fastSigner(d.signer)
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(ids); i += workers {
				jobs[i] = base
				jobs[i].MinionID = ids[i]
				if !proto.TargetMatches(jobs[i].Target, ids[i]) {
					// as in send: the master's resolution is authoritative
					jobs[i].Target = proto.Target{Expr: jobs[i].Target.Expr, Type: "compound"}
				}
				b, err := json.Marshal(&jobs[i])
				if err != nil {
					errs[w] = fmt.Errorf("jobs: encode %s: %w", jobs[i].JID, err)
					return
				}
				m := nats.NewMsg(proto.JobSubject(ids[i]))
				m.Data = b
				if err := proto.Sign(signer, b, m.Header); err != nil {
					errs[w] = fmt.Errorf("jobs: %w", err)
					return
				}
				msgs[i] = m
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// enqueueAsync is enqueue without waiting for the acknowledgement; the
// caller indexes the record once the future reports its sequence.
func (s *store) enqueueAsync(job *proto.Job, m *nats.Msg) (jetstream.PubAckFuture, error) {
	q := nats.NewMsg(QueuePrefix + proto.Token(job.MinionID))
	q.Data = m.Data
	for k, v := range m.Header {
		q.Header[k] = v
	}
	ttl := time.Until(job.NotAfter).Round(time.Second) + time.Second
	if ttl < time.Second {
		ttl = time.Second
	}
	f, err := s.js.PublishMsgAsync(q, jetstream.WithMsgID(job.JID+"."+proto.Token(job.MinionID)), jetstream.WithMsgTTL(ttl))
	if err != nil {
		return nil, fmt.Errorf("jobs: queue %s for %s: %w", job.JID, job.MinionID, err)
	}
	return f, nil
}

// deleter removes delivered envelopes from the queue stream in the
// background: each deletion is a JetStream API round trip plus an fsync,
// and done inline it held up every following return of a large job.
type deleter struct {
	once    sync.Once
	seqs    chan uint64
	running atomic.Int32
}

// deleterWorkers bounds the deletions in flight; deleterIdle is how long
// an idle worker waits before it exits (a new one starts on demand).
const (
	deleterWorkers = 2
	deleterIdle    = 2 * time.Second
)

// dequeueAsync is dequeue for an envelope whose return is stored: the
// record leaves the index at once and the message is deleted by a
// background worker. A leftover envelope is harmless: once its return is
// stored it is never forwarded again, and it expires with its job.
func (s *store) dequeueAsync(jid, id string) {
	q, ok := s.takeQueued(jid, id)
	if !ok {
		return
	}
	s.del.once.Do(func() { s.del.seqs = make(chan uint64, 1<<16) })
	select {
	case s.del.seqs <- q.Seq:
		s.startDeleter()
	default:
		// A full backlog means the stream cannot keep up: delete inline.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.queue.DeleteMsg(ctx, q.Seq)
	}
}

func (s *store) startDeleter() {
	for {
		n := s.del.running.Load()
		if n >= deleterWorkers {
			return
		}
		if s.del.running.CompareAndSwap(n, n+1) {
			break
		}
	}
	go func() {
		t := time.NewTimer(deleterIdle)
		defer t.Stop()
		for {
			select {
			case seq := <-s.del.seqs:
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_ = s.queue.DeleteMsg(ctx, seq) // not found: it expired meanwhile
				cancel()
				t.Reset(deleterIdle)
			case <-t.C:
				s.del.running.Add(-1)
				// Work that raced with the exit gets a new worker.
				if len(s.del.seqs) > 0 {
					s.startDeleter()
				}
				return
			}
		}
	}()
}

// fastSigners caches, per master public key, the ed25519 key expanded
// once: an nkeys key pair re-derives it from the seed on every Sign,
// which doubled the CPU of signing one envelope per minion.
var fastSigners sync.Map // public key -> *edSigner

// fastSigner returns a signer making the same signatures as s (ed25519
// is deterministic) without the per-call key derivation; s itself when it
// is not an nkeys key pair with a seed.
func fastSigner(s proto.Signer) proto.Signer {
	kp, ok := s.(nkeys.KeyPair)
	if !ok {
		return s
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return s
	}
	if v, ok := fastSigners.Load(pub); ok {
		return v.(*edSigner)
	}
	seed, err := kp.Seed()
	if err != nil {
		return s
	}
	_, raw, err := nkeys.DecodeSeed(seed)
	if err != nil || len(raw) != ed25519.SeedSize {
		return s
	}
	es := &edSigner{priv: ed25519.NewKeyFromSeed(raw), pub: pub}
	fastSigners.Store(pub, es)
	return es
}

type edSigner struct {
	priv ed25519.PrivateKey
	pub  string
}

func (e *edSigner) Sign(b []byte) ([]byte, error) { return ed25519.Sign(e.priv, b), nil }
func (e *edSigner) PublicKey() (string, error)    { return e.pub, nil }
