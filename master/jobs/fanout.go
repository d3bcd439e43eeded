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
	"github.com/nats-io/nkeys"
)

// sendAll sends one job to many minions. The job record, already stored
// when this runs, is the durable promise: each minion's envelope is
// indexed as waiting (in memory, rebuilt from the job records at start),
// then signed and pushed at once, on every CPU. A minion that misses the
// push (offline, or its connection died) gets the envelope, signed again
// from the job record, when it next says hello. Storing each envelope
// in the queue stream first cost one synced write per minion, plus a
// synced delete once it returned: at 0.7 ms per sync that was seconds
// per job at fleet scale.
func (d *Dispatcher) sendAll(ctx context.Context, base proto.Job, ids []string) error {
	if st := d.store(); st != nil {
		st.indexWaiting(base.JID, ids, base.NotAfter, time.Now())
	}
	return d.signAll(ctx, base, ids, func(_ *proto.Job, m *nats.Msg) error {
		if err := d.nc.PublishMsg(m); err != nil {
			return fmt.Errorf("jobs: publish %s to %s: %w", base.JID, m.Subject, err)
		}
		return nil
	})
}

// signAll makes each minion's envelope and hands it to emit. The
// payloads are encoded on every CPU and signed together with one
// signature (proto.SignBatch): one ed25519 signature per minion was a
// fifth of the master's CPU in a fleet-wide job. emit may be called from
// several goroutines at once.
func (d *Dispatcher) signAll(ctx context.Context, base proto.Job, ids []string, emit func(*proto.Job, *nats.Msg) error) error {
	if len(ids) == 1 {
		job := base
		job.MinionID = ids[0]
		m, err := signEnvelope(fastSigner(d.signer), &job)
		if err != nil {
			return err
		}
		return emit(&job, m)
	}
	jobs := make([]proto.Job, len(ids))
	msgs := make([]*nats.Msg, len(ids))
	payloads := make([][]byte, len(ids))
	hs := make([]map[string][]string, len(ids))
	err := parallel(len(ids), func(i int) error {
		jobs[i] = base
		jobs[i].MinionID = ids[i]
		markCompound(&jobs[i])
		b, err := json.Marshal(&jobs[i])
		if err != nil {
			return fmt.Errorf("jobs: encode %s: %w", base.JID, err)
		}
		msgs[i] = nats.NewMsg(proto.JobSubject(ids[i]))
		msgs[i].Data, payloads[i], hs[i] = b, b, msgs[i].Header
		return nil
	})
	if err != nil {
		return err
	}
	if err := proto.SignBatch(fastSigner(d.signer), payloads, hs); err != nil {
		return fmt.Errorf("jobs: %w", err)
	}
	return parallel(len(ids), func(i int) error {
		if ctx.Err() != nil {
			return fmt.Errorf("jobs: publish %s: %w", base.JID, ctx.Err())
		}
		return emit(&jobs[i], msgs[i])
	})
}

// parallel runs fn(0..n-1) on every CPU (at least 64 items per
// goroutine) and returns the first error.
func parallel(n int, fn func(i int) error) error {
	workers := max(1, min(runtime.GOMAXPROCS(0), n/64))
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				if err := fn(i); err != nil {
					errs[w] = err
					return
				}
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

// markCompound flags a job whose target the minion's own matcher would
// not find it in: the minion re-checks glob and list targets with its
// simpler matcher, and the master's resolution is authoritative.
func markCompound(job *proto.Job) {
	if !proto.TargetMatches(job.Target, job.MinionID) {
		job.Target = proto.Target{Expr: job.Target.Expr, Type: "compound"}
	}
}

// signEnvelope builds the signed envelope message of one minion's job.
func signEnvelope(signer proto.Signer, job *proto.Job) (*nats.Msg, error) {
	markCompound(job)
	b, err := json.Marshal(job)
	if err != nil {
		return nil, fmt.Errorf("jobs: encode %s: %w", job.JID, err)
	}
	m := nats.NewMsg(proto.JobSubject(job.MinionID))
	m.Data = b
	if err := proto.Sign(signer, b, m.Header); err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	return m, nil
}

// envelope rebuilds the envelope of a stored job for one minion. ed25519
// signatures are deterministic, so it is the envelope first pushed
// (without the live-output flag, which only a waiting operator uses);
// the minion's replay cache makes a second delivery harmless.
func (d *Dispatcher) envelope(rec *JobRecord, id string) (*nats.Msg, error) {
	job := proto.Job{V: proto.Version, JID: rec.JID, Master: d.master, MinionID: id, Target: rec.Target, Fun: rec.Fun,
		Args: rec.Args, Kwargs: rec.Kwargs, User: rec.User, IssuedAt: rec.Time, NotAfter: rec.NotAfter}
	return signEnvelope(fastSigner(d.signer), &job)
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
	if !ok || q.Seq == 0 {
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
