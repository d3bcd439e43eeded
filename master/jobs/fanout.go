package jobs

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
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
				st.indexQueued(&queuedRecord{JID: jobs[i].JID, ID: jobs[i].MinionID, Seq: ack.Sequence, NotAfter: jobs[i].NotAfter})
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
				m, err := d.sign(&jobs[i])
				if err != nil {
					errs[w] = err
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
