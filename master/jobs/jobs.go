// Package jobs publishes master-signed jobs to minions and collects their
// returns. Each minion gets its own envelope on its own subject
// (proto.JobSubject), which is the shape a durable per-minion job stream
// needs later: publishing into a stream instead of core NATS changes the
// publish call, not the envelope or what the minion checks.
package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats.go"
)

// Target is one resolved minion.
type Target struct {
	ID string
}

// Dispatcher signs, publishes and collects.
type Dispatcher struct {
	nc     *nats.Conn
	signer proto.Signer
	master string
	ttl    time.Duration
	jids   proto.JIDGen
	log    *slog.Logger

	mu      sync.Mutex
	pending map[string]*collector // jid -> collector

	// Dropped counts returns that matched no job or came from a minion
	// outside the job's targets.
	Dropped atomic.Int64

	// BeforePublish, when set, is called with the job (MinionID empty)
	// and the resolved minion ids once the jid is known and before any
	// envelope is sent; an error refuses the job. The master records the
	// job in its audit log here.
	BeforePublish func(ctx context.Context, job proto.Job, minions []string) error
}

type collector struct {
	want map[string]string // tok -> id
	got  map[string]proto.Return
	done chan struct{}
}

// New builds a dispatcher publishing over nc (the master's in-process
// connection) and signing with signer. ttl bounds each job's life.
func New(nc *nats.Conn, signer proto.Signer, master string, ttl time.Duration, log *slog.Logger) *Dispatcher {
	if ttl <= 0 {
		ttl = 5 * time.Minute
	}
	return &Dispatcher{nc: nc, signer: signer, master: master, ttl: ttl, log: log, pending: map[string]*collector{}}
}

// Run sends req to every target and waits until all returned, timeout
// passes or ctx ends. Minions that did not answer are listed as missing.
func (d *Dispatcher) Run(ctx context.Context, req proto.RunRequest, targets []Target, user string, timeout time.Duration) (proto.RunReply, error) {
	now := time.Now().UTC()
	jid := d.jids.Next(now)
	rep := proto.RunReply{V: proto.Version, JID: jid, Returns: map[string]proto.Return{}}
	if len(targets) == 0 {
		return rep, nil
	}
	c := &collector{want: map[string]string{}, got: map[string]proto.Return{}, done: make(chan struct{})}
	for _, t := range targets {
		c.want[proto.Token(t.ID)] = t.ID
	}
	if d.BeforePublish != nil {
		ids := make([]string, len(targets))
		for i, t := range targets {
			ids[i] = t.ID
		}
		job := proto.Job{V: proto.Version, JID: jid, Master: d.master, Target: req.Target, Fun: req.Fun,
			Args: req.Args, Kwargs: req.Kwargs, User: user, IssuedAt: now, NotAfter: now.Add(d.ttl)}
		if err := d.BeforePublish(ctx, job, ids); err != nil {
			return rep, err
		}
	}
	d.mu.Lock()
	d.pending[jid] = c
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.pending, jid)
		d.mu.Unlock()
	}()
	for _, t := range targets {
		job := proto.Job{V: proto.Version, JID: jid, Master: d.master, MinionID: t.ID, Target: req.Target, Fun: req.Fun,
			Args: req.Args, Kwargs: req.Kwargs, User: user, IssuedAt: now, NotAfter: now.Add(d.ttl)}
		if err := d.Publish(&job); err != nil {
			return rep, err
		}
	}
	d.log.Info("job published", "jid", jid, "fun", req.Fun, "user", user, "minions", len(targets))
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-c.done:
	case <-timer.C:
	case <-ctx.Done():
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for tok, id := range c.want {
		if r, ok := c.got[tok]; ok {
			rep.Returns[id] = r
		} else {
			rep.Missing = append(rep.Missing, id)
		}
	}
	return rep, nil
}

// Publish signs one job envelope and sends it to its minion.
func (d *Dispatcher) Publish(job *proto.Job) error {
	b, err := json.Marshal(job)
	if err != nil {
		return fmt.Errorf("jobs: encode %s: %w", job.JID, err)
	}
	m := nats.NewMsg(proto.JobSubject(job.MinionID))
	m.Data = b
	if err := proto.Sign(d.signer, b, m.Header); err != nil {
		return fmt.Errorf("jobs: %w", err)
	}
	if err := d.nc.PublishMsg(m); err != nil {
		return fmt.Errorf("jobs: publish %s to %s: %w", job.JID, job.MinionID, err)
	}
	return nil
}

// HandleReturn takes one message from brine.ret.<tok>.<jid>. The sender is
// the subject's token, which the server guarantees; the id in the payload
// is replaced by the id the token belongs to.
func (d *Dispatcher) HandleReturn(m *nats.Msg, maxBytes int) {
	tok, jid, ok := proto.SplitTokenSubject(m.Subject, proto.ReturnPrefix)
	if !ok {
		d.Dropped.Add(1)
		return
	}
	if _, err := proto.ParseJID(jid); err != nil {
		d.Dropped.Add(1)
		return
	}
	var r proto.Return
	if err := proto.Decode(m.Data, maxBytes, &r); err != nil || r.JID != jid {
		d.Dropped.Add(1)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.pending[jid]
	if !ok {
		d.Dropped.Add(1)
		return
	}
	id, ok := c.want[tok]
	if !ok {
		d.Dropped.Add(1)
		return
	}
	if _, dup := c.got[tok]; dup {
		return
	}
	r.ID = id
	c.got[tok] = r
	if len(c.got) == len(c.want) {
		close(c.done)
	}
}
