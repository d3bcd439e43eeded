package jobs

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats.go"
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
	msgs, err := st.backlog(ctx, id)
	if err != nil {
		d.log.Warn("backlog", "id", id, "err", err)
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
		h.mu.Lock()
		at, seen := hs.sent[j.JID]
		h.mu.Unlock()
		if seen && at.After(since) {
			continue
		}
		m := nats.NewMsg(proto.JobSubject(id))
		m.Data = qm.Data
		for k, v := range qm.Header {
			if !strings.HasPrefix(k, "Nats-") {
				m.Header[k] = v
			}
		}
		// Taken before publishing: a hello arriving during the publish
		// is later than this, so the next walk sends the job again.
		at = time.Now()
		if err := d.nc.PublishMsg(m); err != nil {
			d.log.Warn("forward queued job", "jid", j.JID, "id", id, "err", err)
			return
		}
		h.mu.Lock()
		hs.sent[j.JID] = at
		h.mu.Unlock()
		d.Forwarded.Add(1)
		d.log.Info("queued job forwarded", "jid", j.JID, "id", id)
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
