package jobs

import (
	"sync"
	"sync/atomic"

	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats.go"
)

// Bounds on what the master forwards of one minion's live output for
// one job. The minion bounds itself; these hold against a minion that
// does not.
const (
	progressMaxChunk = 64 << 10
	progressMaxTotal = 2 << 20
)

// progressRoutes forwards minions' live output (proto.ProgressSubject) to
// the operator who is waiting for that job, and to nobody else: a chunk
// for a jid with no operator waiting, or from a minion the job did not
// target, is dropped. Routes live from publish until the run returns,
// after which the return is the authoritative output.
type progressRoutes struct {
	once sync.Once
	sub  *nats.Subscription

	mu     sync.Mutex
	routes map[string]*progressRoute // jid -> route

	// Forwarded and Dropped count chunks, for monitoring and tests.
	Forwarded atomic.Int64
	Dropped   atomic.Int64
}

type progressRoute struct {
	subject string            // the operator's progress subject
	want    map[string]string // minion token -> id
	sent    map[string]int    // minion token -> bytes forwarded
}

// progressReady subscribes to every minion's progress subjects the first
// time an operator asks for live output, and reports whether it can be
// forwarded. The subscription is not in a queue group: with several
// masters, each sees every chunk and forwards those of its own runs.
func (d *Dispatcher) progressReady() bool {
	p := &d.progress
	p.once.Do(func() {
		sub, err := d.nc.Subscribe(proto.EventPrefix+"*.progress.*", d.handleProgress)
		if err != nil {
			d.log.Warn("live output unavailable", "err", err)
			return
		}
		sub.SetPendingLimits(-1, 64<<20)
		p.sub = sub
	})
	return p.sub != nil
}

// ProgressCounts reports how many live-output chunks were forwarded to
// operators and how many were dropped (unknown jid, untargeted minion,
// over the bound, malformed).
func (d *Dispatcher) ProgressCounts() (forwarded, dropped int64) {
	return d.progress.Forwarded.Load(), d.progress.Dropped.Load()
}

func (p *progressRoutes) add(jid, operator, tag string, ids []string) {
	r := &progressRoute{subject: proto.OperatorProgressSubject(operator, tag), want: make(map[string]string, len(ids)), sent: map[string]int{}}
	for _, id := range ids {
		r.want[proto.Token(id)] = id
	}
	p.mu.Lock()
	if p.routes == nil {
		p.routes = map[string]*progressRoute{}
	}
	p.routes[jid] = r
	p.mu.Unlock()
}

func (p *progressRoutes) drop(jid string) {
	p.mu.Lock()
	delete(p.routes, jid)
	p.mu.Unlock()
}

// handleProgress forwards one chunk from brine.evt.<tok>.progress.<jid>.
// The minion id comes from the subject, which the server lets only that
// minion publish on, never from the payload.
func (d *Dispatcher) handleProgress(m *nats.Msg) {
	p := &d.progress
	tok, rest, ok := proto.SplitTokenSubject(m.Subject, proto.EventPrefix)
	if !ok || len(rest) <= len("progress.") || len(m.Data) > progressMaxChunk {
		p.Dropped.Add(1)
		return
	}
	jid := rest[len("progress."):]
	stream := m.Header.Get(proto.HeaderStream)
	if stream != "stdout" && stream != "stderr" && stream != proto.StreamTruncated {
		p.Dropped.Add(1)
		return
	}
	p.mu.Lock()
	r, ok := p.routes[jid]
	id, targeted := "", false
	if ok {
		id, targeted = r.want[tok]
	}
	if !targeted || r.sent[tok]+len(m.Data) > progressMaxTotal {
		p.mu.Unlock()
		p.Dropped.Add(1)
		return
	}
	r.sent[tok] += len(m.Data)
	subject := r.subject
	p.mu.Unlock()
	out := nats.NewMsg(subject)
	out.Header.Set(proto.HeaderMinion, id)
	out.Header.Set(proto.HeaderJID, jid)
	out.Header.Set(proto.HeaderStream, stream)
	out.Data = m.Data
	if err := d.nc.PublishMsg(out); err != nil {
		p.Dropped.Add(1)
		return
	}
	p.Forwarded.Add(1)
}
