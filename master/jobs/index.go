package jobs

import (
	"sort"
	"sync"
	"time"
)

// index holds, per job, the returns stored and, per minion, the envelopes
// still waiting. Both change once per minion per job, so at fleet scale
// they are the master's busiest state: plain maps under a lock cost a
// few words per entry, where go-memdb's copy-on-write radix trees cost
// hundreds of bytes and a tree path copied on every write (a quarter of
// the master's CPU in a 10,000-minion fan-out went to those writes and
// to collecting their garbage). Nothing here is durable: it is rebuilt
// from the streams and the job records at start.
type index struct {
	mu   sync.RWMutex
	rets map[string]map[string]retEntry      // jid -> id -> where its return is stored
	wait map[string]map[string]*queuedRecord // id -> jid -> waiting envelope
}

// retEntry locates one stored return (item idx of ReturnStream message
// seq, idx -1 for a message holding it alone) and keeps what listings
// show without reading it back.
type retEntry struct {
	seq     uint64
	idx     int32
	retcode int32
	success bool
}

func newIndex() index {
	return index{rets: map[string]map[string]retEntry{}, wait: map[string]map[string]*queuedRecord{}}
}

// addReturn records a stored return; it reports false for a duplicate.
func (x *index) addReturn(r *returnRecord) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	m := x.rets[r.JID]
	if m == nil {
		m = map[string]retEntry{}
		x.rets[r.JID] = m
	}
	if _, dup := m[r.ID]; dup {
		return false
	}
	m[r.ID] = retEntry{seq: r.Seq, idx: int32(r.Idx), retcode: int32(r.Return.Retcode), success: r.Return.Success}
	return true
}

func (x *index) hasReturn(jid, id string) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	_, ok := x.rets[jid][id]
	return ok
}

// returns copies the stored returns of jid by minion id.
func (x *index) returns(jid string) map[string]retEntry {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make(map[string]retEntry, len(x.rets[jid]))
	for id, e := range x.rets[jid] {
		out[id] = e
	}
	return out
}

func (x *index) dropReturns(jid string) {
	x.mu.Lock()
	delete(x.rets, jid)
	x.mu.Unlock()
}

// addWaiting records waiting envelopes; one already recorded is kept.
func (x *index) addWaiting(qs ...*queuedRecord) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, q := range qs {
		m := x.wait[q.ID]
		if m == nil {
			m = map[string]*queuedRecord{}
			x.wait[q.ID] = m
		}
		if _, ok := m[q.JID]; !ok {
			m[q.JID] = q
		}
	}
}

// waiting lists id's waiting envelopes, oldest first (jids sort by
// time); streamed selects those in QueueStream (true) or held in memory.
func (x *index) waiting(id string, streamed bool) []*queuedRecord {
	x.mu.RLock()
	var out []*queuedRecord
	for _, q := range x.wait[id] {
		if (q.Seq != 0) == streamed {
			out = append(out, q)
		}
	}
	x.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].JID < out[j].JID })
	return out
}

func (x *index) isWaiting(jid, id string) (*queuedRecord, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	q, ok := x.wait[id][jid]
	return q, ok
}

// take removes and returns the waiting envelope of (jid, id).
func (x *index) take(jid, id string) (*queuedRecord, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	m := x.wait[id]
	q, ok := m[jid]
	if ok {
		delete(m, jid)
		if len(m) == 0 {
			delete(x.wait, id)
		}
	}
	return q, ok
}

// forget drops everything waiting for id.
func (x *index) forget(id string) {
	x.mu.Lock()
	delete(x.wait, id)
	x.mu.Unlock()
}

// pruneWaiting drops the envelopes held in memory whose jobs expired.
func (x *index) pruneWaiting(now time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for id, m := range x.wait {
		for jid, q := range m {
			if q.Seq == 0 && now.After(q.NotAfter) {
				delete(m, jid)
			}
		}
		if len(m) == 0 {
			delete(x.wait, id)
		}
	}
}

// Thin store methods keep the callers' vocabulary.

func (s *store) hasReturn(jid, id string) bool { return s.idx.hasReturn(jid, id) }

// indexReturn records a stored return; it reports false for a duplicate.
// The index keeps what listings need (retcode, success); the returned
// data stays in ReturnStream, read back by loadReturns, so a fleet's
// state returns do not all sit in the master's memory.
func (s *store) indexReturn(r *returnRecord) bool { return s.idx.addReturn(r) }

func (s *store) indexQueued(q *queuedRecord) { s.idx.addWaiting(q) }

// indexWaiting records that each of ids waits for the return of jid;
// pushed is when the envelopes are pushed.
func (s *store) indexWaiting(jid string, ids []string, notAfter, pushed time.Time) {
	qs := make([]queuedRecord, len(ids))
	ptrs := make([]*queuedRecord, len(ids))
	for i, id := range ids {
		qs[i] = queuedRecord{JID: jid, ID: id, NotAfter: notAfter, Stored: pushed}
		ptrs[i] = &qs[i]
	}
	s.idx.addWaiting(ptrs...)
}

// waitingFor lists the envelopes of id held in memory (Seq 0).
func (s *store) waitingFor(id string) []*queuedRecord { return s.idx.waiting(id, false) }

// inQueueStream reports whether id has an envelope in QueueStream (the
// index holds every one: Open indexes what it finds there), so a hello
// from a minion with nothing there costs no stream lookup.
func (s *store) inQueueStream(id string) bool { return len(s.idx.waiting(id, true)) > 0 }

// isQueued reports whether (jid, id) has a waiting envelope.
func (s *store) isQueued(jid, id string) bool {
	_, ok := s.idx.isWaiting(jid, id)
	return ok
}

// takeQueued removes and returns the waiting envelope of (jid, id).
func (s *store) takeQueued(jid, id string) (*queuedRecord, bool) { return s.idx.take(jid, id) }

// storedAfter reports whether this process stored (and so published)
// the envelope of (jid, id) after t.
func (s *store) storedAfter(jid, id string, t time.Time) bool {
	q, ok := s.idx.isWaiting(jid, id)
	return ok && !q.Stored.IsZero() && q.Stored.After(t)
}
