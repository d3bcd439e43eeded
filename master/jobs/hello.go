package jobs

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// helloDebounce gathers the hellos a minion sends while (re)connecting
// into one walk of its queue.
const helloDebounce = 200 * time.Millisecond

// hellos remembers, per minion, when it last said hello and when each of
// its queued jobs was last forwarded. A job forwarded after the minion's
// latest hello went over the connection that said it (or a later one, which
// says hello again), so it is not forwarded twice; one forwarded before
// the latest hello may have gone to a dead connection and is sent again.
type hellos struct {
	mu sync.Mutex
	m  map[string]*helloState
}

type helloState struct {
	last      time.Time            // latest hello
	scheduled bool                 // a walk is pending
	sent      map[string]time.Time // jid -> last forwarded
}

// Hello is called when a minion says hello (it has just connected or
// reconnected): its queued envelopes that have not expired and have no
// stored return are forwarded on its job subject. It does not block.
func (d *Dispatcher) Hello(id string) {
	st := d.store()
	if st == nil {
		return
	}
	h := &d.hellos
	h.mu.Lock()
	if h.m == nil {
		h.m = map[string]*helloState{}
	}
	hs := h.m[id]
	if hs == nil {
		hs = &helloState{sent: map[string]time.Time{}}
		h.m[id] = hs
	}
	hs.last = time.Now()
	if hs.scheduled {
		h.mu.Unlock()
		return
	}
	hs.scheduled = true
	h.mu.Unlock()
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		life := d.lifetime()
		t := time.NewTimer(helloDebounce)
		select {
		case <-life.Done():
			t.Stop()
		case <-t.C:
		}
		h.mu.Lock()
		hs.scheduled = false
		since := hs.last
		h.mu.Unlock()
		if life.Err() != nil {
			return
		}
		ctx, cancel := context.WithTimeout(life, time.Minute)
		defer cancel()
		d.walk(ctx, st, id, hs, since)
	}()
}

// walk forwards id's queued jobs, skipping those already forwarded after
// the hello at since.
func (d *Dispatcher) walk(ctx context.Context, st *store, id string, hs *helloState, since time.Time) {
	h := &d.hellos
	var msgs []*jetstream.RawStreamMsg
	if st.inQueueStream(id) {
		var err error
		if msgs, err = st.backlog(ctx, id); err != nil {
			d.log.Warn("backlog", "id", id, "err", err)
		}
	}
	now := time.Now()
	for _, qm := range msgs {
		var j proto.Job
		if json.Unmarshal(qm.Data, &j) != nil || j.MinionID != id {
			_ = st.queue.DeleteMsg(ctx, qm.Sequence)
			continue
		}
		if now.After(j.NotAfter) {
			d.log.Info("queued job expired, not delivered", "jid", j.JID, "id", id)
			st.takeQueued(j.JID, id)
			_ = st.queue.DeleteMsg(ctx, qm.Sequence)
			continue
		}
		if st.hasReturn(j.JID, id) {
			st.dequeue(ctx, j.JID, id)
			continue
		}
		if st.storedAfter(j.JID, id, since) {
			// Published after the hello, so over the connection that
			// said it (the minion subscribes before saying hello); its
			// return may simply not be stored yet.
			continue
		}
		if !d.forward(id, j.JID, hs, since, func() (*nats.Msg, error) {
			m := nats.NewMsg(proto.JobSubject(id))
			m.Data = qm.Data
			for k, v := range qm.Header {
				if !strings.HasPrefix(k, "Nats-") {
					m.Header[k] = v
				}
			}
			return m, nil
		}) {
			return
		}
	}
	// Envelopes held in memory are signed again from their job records;
	// like the stream's, a minion's backlog is bounded, newest kept.
	held := st.waitingFor(id) // oldest first: jids sort by time
	if n := len(held) - maxQueuedPerMinion; n > 0 {
		for _, q := range held[:n] {
			st.takeQueued(q.JID, id)
		}
		d.log.Warn("backlog over its bound, oldest jobs dropped", "id", id, "dropped", n)
		held = held[n:]
	}
	for _, q := range held {
		rec, ok := st.job(q.JID)
		switch {
		case !ok:
			st.takeQueued(q.JID, id)
			continue
		case now.After(q.NotAfter):
			d.log.Info("queued job expired, not delivered", "jid", q.JID, "id", id)
			st.takeQueued(q.JID, id)
			continue
		case st.hasReturn(q.JID, id):
			st.takeQueued(q.JID, id)
			continue
		case !q.Stored.IsZero() && q.Stored.After(since):
			continue // pushed after the hello, over the connection that said it
		}
		if !d.forward(id, q.JID, hs, since, func() (*nats.Msg, error) { return d.envelope(rec, id) }) {
			return
		}
	}
	// Forget what no longer matters, and the minion once nothing is left.
	h.mu.Lock()
	for jid, at := range hs.sent {
		if time.Since(at) > 10*time.Minute {
			delete(hs.sent, jid)
		}
	}
	if len(hs.sent) == 0 && !hs.scheduled && h.m[id] == hs {
		delete(h.m, id)
	}
	h.mu.Unlock()
}

// forward sends one waiting envelope (made by env) to id unless it was
// already forwarded after the hello at since; it reports false when the
// connection failed and the walk should stop.
func (d *Dispatcher) forward(id, jid string, hs *helloState, since time.Time, env func() (*nats.Msg, error)) bool {
	h := &d.hellos
	h.mu.Lock()
	at, seen := hs.sent[jid]
	h.mu.Unlock()
	if seen && at.After(since) {
		return true
	}
	m, err := env()
	if err != nil {
		d.log.Warn("forward queued job", "jid", jid, "id", id, "err", err)
		return true
	}
	// Taken before publishing: a hello arriving during the publish
	// is later than this, so the next walk sends the job again.
	at = time.Now()
	if err := d.nc.PublishMsg(m); err != nil {
		d.log.Warn("forward queued job", "jid", jid, "id", id, "err", err)
		return false
	}
	h.mu.Lock()
	hs.sent[jid] = at
	h.mu.Unlock()
	d.Forwarded.Add(1)
	d.log.Info("queued job forwarded", "jid", jid, "id", id)
	return true
}
