// Package jobs publishes master-signed jobs to minions and keeps every job
// and return durably. The job record (InfoStream) is stored first and is
// the promise; each minion then gets its own signed envelope, pushed on
// its own subject, and is remembered as waiting until its return is
// stored. A minion that was offline gets what waits for it, signed again
// from the record, when it says hello, so minions need neither JetStream
// permissions nor a consumer of their own; jobs sent in batches keep their
// envelopes in QueueStream instead. Returns arrive as requests and are
// stored in batches in ReturnStream (returns.go); they are indexed and
// reach waiting callers only once stored and recorded (OnReturn). A
// go-memdb index of jobs, returns and waiting envelopes, rebuilt from the
// streams at start, answers `jobs list`, `jobs show` and `jobs active`.
package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brine-cm/brine/master/keyreg"
	"github.com/brine-cm/brine/pkg/target"
	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Target is one resolved minion.
type Target struct {
	ID string
}

// Options wire the durable store and target resolution (Open).
type Options struct {
	JS  jetstream.JetStream
	Reg *keyreg.Registry
	// Nodegroups are the master config's named compound targets.
	Nodegroups map[string]string
	// Pillar compiles one minion's pillar for -I/-J targets.
	Pillar func(ctx context.Context, id string, grains map[string]any) (map[string]any, error)
	// KeepJobs is how long jobs and returns are kept (Salt's keep_jobs).
	KeepJobs time.Duration
	// DefaultTimeout is how long `run` waits for returns by default.
	DefaultTimeout time.Duration
}

// Dispatcher signs, stores, publishes and collects.
type Dispatcher struct {
	nc     *nats.Conn
	signer proto.Signer
	master string
	ttl    time.Duration
	jids   proto.JIDGen
	log    *slog.Logger

	mu        sync.Mutex
	pending   map[string]*collector // jid -> collector
	recording map[string]bool       // jid.id of returns being recorded
	replaying sync.WaitGroup        // returns replayed at start, being recorded
	// replaySlots bounds the replayed returns recorded at once.
	replaySlots chan struct{}

	st      *store
	res     *Resolver
	life    context.Context // ends at Close
	timeout time.Duration
	stop    func()
	wg      sync.WaitGroup

	returns *returnBatcher
	// Dropped counts returns that matched no job or came from a minion
	// outside the job's targets.
	Dropped atomic.Int64
	// Forwarded counts queued envelopes sent to minions on hello.
	Forwarded atomic.Int64
	hellos    hellos

	// BeforePublish, when set, is called with the job (MinionID empty)
	// and the resolved minion ids once the jid is known and before any
	// envelope is sent; an error refuses the job. The master records the
	// job in its audit log here.
	BeforePublish func(ctx context.Context, job proto.Job, minions []string) error
	// OnReturn, when set, records a return before anyone sees it: the
	// return is indexed and delivered only once it succeeds. It is
	// called for every return stored while the master runs and for
	// every return replayed at start that the index does not hold, so
	// it must skip a return it already recorded (the master's
	// auditlog.Sink.JobReturn does).
	OnReturn func(ctx context.Context, r proto.Return) error
	// Connected, when set, tells whether a minion is connected right
	// now; `run -v` and `jobs show` report it for missing minions.
	Connected func(id string) bool

	progress progressRoutes
	events   atomic.Pointer[eventHooks]
}

// eventHooks raise the dispatcher's events (SetEvents).
type eventHooks struct {
	emit     func(typ, tag string, data map[string]any)
	watching func() bool
}

// SetEvents makes the dispatcher raise Salt's job events through emit:
// salt/job/<jid>/new when a job is published and salt/job/<jid>/ret/<id>
// when a return is recorded, the latter (one per minion) only while
// watching reports someone takes events. It may be called while jobs run.
func (d *Dispatcher) SetEvents(emit func(typ, tag string, data map[string]any), watching func() bool) {
	d.events.Store(&eventHooks{emit: emit, watching: watching})
}

// event raises one event when someone watches.
func (d *Dispatcher) event(tag string, data func() map[string]any) {
	h := d.events.Load()
	if h == nil || (h.watching != nil && !h.watching()) {
		return
	}
	h.emit("job", tag, data())
}

type collector struct {
	want map[string]string // tok -> id
	got  map[string]proto.Return
	ch   chan string // ids as their returns are stored
	done chan struct{}
}

// New builds a dispatcher publishing over nc (the master's in-process
// connection) and signing with signer. ttl bounds each job's life unless
// the job asks for another. Returns are collected once Open has started
// reading the return stream.
func New(nc *nats.Conn, signer proto.Signer, master string, ttl time.Duration, log *slog.Logger) *Dispatcher {
	if ttl <= 0 {
		ttl = 5 * time.Minute
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Dispatcher{nc: nc, signer: signer, master: master, ttl: ttl, log: log, pending: map[string]*collector{}, timeout: 10 * time.Second,
		replaySlots: make(chan struct{}, 64)}
}

// Open creates the job streams, rebuilds the index from them and starts
// capturing returns. It returns once every stored return is indexed.
func (d *Dispatcher) Open(ctx context.Context, o Options) error {
	if o.JS == nil || o.Reg == nil {
		return errors.New("jobs: open: no JetStream or key registry")
	}
	if o.DefaultTimeout > 0 {
		d.timeout = o.DefaultTimeout
	}
	st, err := openStore(ctx, o.JS, o.KeepJobs)
	if err != nil {
		return err
	}
	d.res = &Resolver{Reg: o.Reg, Nodegroups: o.Nodegroups, Pillar: o.Pillar}
	d.mu.Lock()
	d.st = st
	d.mu.Unlock()
	if err := replay(ctx, st.info, func(m jetstream.Msg) {
		var rec JobRecord
		if json.Unmarshal(m.Data(), &rec) == nil && rec.JID != "" {
			st.indexJob(&rec)
		}
	}); err != nil {
		return fmt.Errorf("jobs: load %s: %w", InfoStream, err)
	}
	// Returns first, so queued envelopes already answered are dropped.
	lctx, cancel := context.WithCancel(context.Background())
	d.mu.Lock()
	d.life = lctx
	d.mu.Unlock()
	stored := 0
	if err := replay(ctx, st.returns, func(m jetstream.Msg) {
		meta, err := m.Metadata()
		if err != nil {
			return
		}
		replayReturns(m, func(subject string, data []byte, idx int) {
			stored++
			d.storedReturn(lctx, subject, data, meta.Sequence.Stream, idx, false)
		})
	}); err != nil {
		cancel()
		return fmt.Errorf("jobs: load %s: %w", ReturnStream, err)
	}
	// Replayed returns become visible once recorded; wait for them, so
	// the queue below is checked against them.
	d.replaying.Wait()
	if err := d.startReturns(lctx, st); err != nil {
		cancel()
		return err
	}
	d.stop = func() { cancel(); d.returns.stop() }
	now := time.Now()
	if err := replay(ctx, st.queue, func(m jetstream.Msg) {
		var j proto.Job
		meta, err := m.Metadata()
		if err != nil || json.Unmarshal(m.Data(), &j) != nil {
			return
		}
		if st.hasReturn(j.JID, j.MinionID) || now.After(j.NotAfter) {
			_ = st.queue.DeleteMsg(ctx, meta.Sequence.Stream)
			return
		}
		st.indexQueued(&queuedRecord{JID: j.JID, ID: j.MinionID, Seq: meta.Sequence.Stream, NotAfter: j.NotAfter})
	}); err != nil {
		d.stop()
		return fmt.Errorf("jobs: load %s: %w", QueueStream, err)
	}
	if n := d.rebuildWaiting(st, now); n > 0 {
		d.log.Info("jobs waiting for their minions", "envelopes", n)
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-lctx.Done():
				return
			case now := <-t.C:
				if n := st.prune(now); n > 0 {
					d.log.Info("pruned old jobs", "count", n)
				}
			}
		}
	}()
	d.log.Info("job store open", "jobs", len(st.jobs("", "")), "returns", stored)
	return nil
}

// rebuildWaiting indexes, from the job records, every envelope that was
// pushed but has no return yet: the job has not expired, it was not sent
// in batches (those wait in QueueStream), the minion's key is still the
// accepted one it was sent to, and no kill_job since dropped it. Their
// minions get them when they say hello.
func (d *Dispatcher) rebuildWaiting(st *store, now time.Time) int {
	recs := st.jobs("", "")
	killed := map[string]bool{} // jid.id
	for _, r := range recs {
		if r.Fun == "saltutil.kill_job" && len(r.Args) > 0 {
			if jid, ok := r.Args[0].(string); ok {
				for _, id := range r.Minions {
					killed[jid+"."+id] = true
				}
			}
		}
	}
	n := 0
	for _, r := range recs {
		if r.Batch != "" || !now.Before(r.NotAfter) {
			continue
		}
		var ids []string
		for _, id := range r.Minions {
			if killed[r.JID+"."+id] || st.hasReturn(r.JID, id) || st.isQueued(r.JID, id) {
				continue
			}
			if m, ok := d.res.Reg.Get(id); !ok || m.State != proto.KeyAccepted || m.FirstSeen.After(r.Time) {
				continue
			}
			ids = append(ids, id)
		}
		st.indexWaiting(r.JID, ids, r.NotAfter, time.Time{})
		n += len(ids)
	}
	return n
}

// Close stops capturing returns.
func (d *Dispatcher) Close() {
	if d.stop != nil {
		d.stop()
	}
	d.wg.Wait()
}

// replay reads every message of a stream once, in order, up to the last
// one stored when it starts.
func replay(ctx context.Context, s jetstream.Stream, fn func(jetstream.Msg)) error {
	info, err := s.Info(ctx)
	if err != nil {
		return err
	}
	if info.State.Msgs == 0 {
		return nil
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return err
	}
	// Ask for exactly what is left, so a fetch returns as soon as it is
	// served instead of waiting out its deadline for a full batch.
	remaining := info.State.Msgs
	for remaining > 0 {
		batch, err := cons.Fetch(int(min(remaining, 512)), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return err
		}
		n := 0
		var seq uint64
		for m := range batch.Messages() {
			n++
			remaining--
			fn(m)
			if meta, err := m.Metadata(); err == nil {
				seq = meta.Sequence.Stream
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, nats.ErrTimeout) {
			return err
		}
		if n == 0 || seq >= info.State.LastSeq {
			return nil
		}
	}
	return nil
}

// lifetime is cancelled by Close, so background work (async batches,
// backlog walks) cannot hold up a master shutdown.
func (d *Dispatcher) lifetime() context.Context {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.life == nil {
		return context.Background()
	}
	return d.life
}

func (d *Dispatcher) store() *store {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st
}

// storedReturn handles one return read back from ReturnStream: record it
// (OnReturn), then index it, drop the minion's queued envelope and hand
// it to a waiting caller, so neither `jobs show` nor the caller sees a
// return the audit log does not hold. Returns replayed at start (live
// false) are recorded too; OnReturn skips those already recorded before
// the restart (auditlog.Sink.JobReturn does), and Open waits for them.
func (d *Dispatcher) storedReturn(ctx context.Context, subject string, data []byte, seq uint64, idx int, live bool) {
	tok, jid, ok := proto.SplitTokenSubject(subject, proto.ReturnPrefix)
	if !ok {
		d.Dropped.Add(1)
		return
	}
	if _, err := proto.ParseJID(jid); err != nil {
		d.Dropped.Add(1)
		return
	}
	var r proto.Return
	if err := json.Unmarshal(data, &r); err != nil || r.JID != jid {
		d.Dropped.Add(1)
		return
	}
	st := d.store()
	id, ok := d.returnID(tok, r.ID)
	if !ok {
		d.Dropped.Add(1)
		return
	}
	r.ID = id
	if st == nil || st.hasReturn(jid, id) || !d.claim(jid, id) {
		return // a duplicate, or one being recorded right now
	}
	rec := &returnRecord{JID: jid, ID: id, Seq: seq, Idx: idx, Return: r}
	if d.OnReturn == nil {
		d.release(jid, id)
		d.returned(st, tok, rec)
		return
	}
	// Each return is recorded on its own goroutine so that a burst of
	// returns shares the audit log's fsyncs instead of queueing behind
	// them.
	// At start, all of a long retention replays at once: at most
	// replayWorkers of them are recorded at a time.
	if !live {
		d.replaying.Add(1)
		d.replaySlots <- struct{}{}
	}
	go func() {
		if !live {
			defer func() { <-d.replaySlots; d.replaying.Done() }()
		}
		defer d.release(jid, id)
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := d.OnReturn(actx, r); err != nil {
			// Left out of the index: a later start replays it and
			// records it then.
			d.log.Error("return not recorded in the audit log; not shown or reported until it is", "jid", jid, "id", id, "err", err)
			return
		}
		d.returned(st, tok, rec)
	}()
}

// returned makes a recorded return visible: indexed, its envelope
// dropped from the queue, handed to a waiting caller.
func (d *Dispatcher) returned(st *store, tok string, rec *returnRecord) {
	if !st.indexReturn(rec) {
		return
	}
	st.dequeueAsync(rec.JID, rec.ID)
	d.deliver(tok, rec.Return)
	d.event("salt/job/"+rec.JID+"/ret/"+rec.ID, func() map[string]any {
		data := map[string]any{"jid": rec.JID, "id": rec.ID, "fun": rec.Return.Fun, "success": rec.Return.Success, "retcode": rec.Return.Retcode}
		if jr, ok := st.job(rec.JID); ok {
			data["user"] = jr.User
		}
		return data
	})
}

// claim marks the return of (jid, id) as being recorded; it reports
// false when it already is, so a return stored twice is recorded once.
func (d *Dispatcher) claim(jid, id string) bool {
	k := jid + "." + id
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.recording == nil {
		d.recording = map[string]bool{}
	}
	if d.recording[k] {
		return false
	}
	d.recording[k] = true
	return true
}

func (d *Dispatcher) release(jid, id string) {
	d.mu.Lock()
	delete(d.recording, jid+"."+id)
	d.mu.Unlock()
}

// deliver hands a stored return to the caller waiting for its job.
func (d *Dispatcher) deliver(tok string, r proto.Return) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.pending[r.JID]
	if !ok {
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
	select {
	case c.ch <- id:
	default:
	}
	if len(c.got) == len(c.want) {
		close(c.done)
	}
}

// Resolve turns a target into accepted minions (used by the API's plain
// run verb).
func (d *Dispatcher) Resolve(ctx context.Context, t proto.Target) ([]Target, error) {
	if d.res == nil {
		return nil, errors.New("jobs: no resolver (store not open)")
	}
	ids, err := d.res.Resolve(ctx, t)
	if err != nil {
		return nil, err
	}
	out := make([]Target, len(ids))
	for i, id := range ids {
		out[i] = Target{ID: id}
	}
	return out, nil
}

// spec is one job to start.
type spec struct {
	req       proto.RunRequest
	ids       []string
	user      string
	timeout   time.Duration
	expire    time.Duration
	async     bool
	batch     int
	batchText string
	batchWait time.Duration
	progress  string // the operator's progress tag; empty: no live output
}

// Run sends req to every target and waits until all returned, timeout
// passes or ctx ends. Minions that did not answer are listed as missing.
func (d *Dispatcher) Run(ctx context.Context, req proto.RunRequest, targets []Target, user string, timeout time.Duration) (proto.RunReply, error) {
	ids := make([]string, len(targets))
	for i, t := range targets {
		ids[i] = t.ID
	}
	return d.execute(ctx, spec{req: req, ids: ids, user: user, timeout: timeout, expire: d.ttl})
}

// execute stores the job, publishes it (all at once or in batches) and,
// unless async, waits for the returns.
func (d *Dispatcher) execute(ctx context.Context, sp spec) (proto.RunReply, error) {
	now := time.Now().UTC()
	jid := d.jids.Next(now)
	rep := proto.RunReply{V: proto.Version, JID: jid, Returns: map[string]proto.Return{}}
	if err := authorized(ctx, sp.req.Fun, sp.ids); err != nil {
		return rep, err
	}
	if len(sp.ids) == 0 {
		return rep, nil
	}
	if sp.expire <= 0 {
		sp.expire = d.ttl
	}
	if sp.timeout <= 0 {
		sp.timeout = d.timeout
	}
	base := proto.Job{V: proto.Version, JID: jid, Master: d.master, Target: sp.req.Target, Fun: sp.req.Fun,
		Args: sp.req.Args, Kwargs: sp.req.Kwargs, User: sp.user, IssuedAt: now, NotAfter: now.Add(sp.expire)}
	if sp.progress != "" && !sp.async {
		base.Progress = d.progressReady()
	}
	if d.BeforePublish != nil {
		if err := d.BeforePublish(ctx, base, sp.ids); err != nil {
			return rep, err
		}
	}
	st := d.store()
	if st != nil {
		rec := &JobRecord{JID: jid, Fun: sp.req.Fun, Args: sp.req.Args, Kwargs: sp.req.Kwargs, Target: sp.req.Target, User: sp.user,
			Time: now, NotAfter: base.NotAfter, Minions: sp.ids, Batch: sp.batchText}
		if err := st.putJob(ctx, rec); err != nil {
			return rep, err
		}
	}
	c := &collector{want: map[string]string{}, got: map[string]proto.Return{}, ch: make(chan string, len(sp.ids)), done: make(chan struct{})}
	for _, id := range sp.ids {
		c.want[proto.Token(id)] = id
	}
	d.mu.Lock()
	d.pending[jid] = c
	d.mu.Unlock()
	if base.Progress {
		d.progress.add(jid, sp.user, sp.progress, sp.ids)
	}
	release := func() {
		d.mu.Lock()
		delete(d.pending, jid)
		d.mu.Unlock()
		d.progress.drop(jid)
	}
	if sp.batch > 0 && sp.batch < len(sp.ids) {
		d.log.Info("job published in batches", "jid", jid, "fun", sp.req.Fun, "user", sp.user, "minions", len(sp.ids), "batch", sp.batch)
		if sp.async {
			d.wg.Add(1)
			go func() {
				defer d.wg.Done()
				defer release()
				bctx, cancel := context.WithTimeout(d.lifetime(), sp.expire+sp.timeout)
				defer cancel()
				d.batches(bctx, base, sp, c)
			}()
			return rep, nil
		}
		defer release()
		d.batches(ctx, base, sp, c)
		return d.collect(rep, c), nil
	}
	if err := d.sendAll(ctx, base, sp.ids); err != nil {
		release()
		return rep, err
	}
	d.log.Info("job published", "jid", jid, "fun", sp.req.Fun, "user", sp.user, "minions", len(sp.ids))
	d.event("salt/job/"+jid+"/new", func() map[string]any {
		return map[string]any{"jid": jid, "fun": sp.req.Fun, "arg": base.Args, "tgt": sp.req.Target.Expr, "tgt_type": sp.req.Target.Type,
			"user": sp.user, "minions": sp.ids}
	})
	if sp.async {
		release()
		return rep, nil
	}
	defer release()
	timer := time.NewTimer(sp.timeout)
	defer timer.Stop()
	select {
	case <-c.done:
	case <-timer.C:
	case <-ctx.Done():
	}
	return d.collect(rep, c), nil
}

func (d *Dispatcher) collect(rep proto.RunReply, c *collector) proto.RunReply {
	d.mu.Lock()
	defer d.mu.Unlock()
	for tok, id := range c.want {
		if r, ok := c.got[tok]; ok {
			rep.Returns[id] = r
		} else {
			rep.Missing = append(rep.Missing, id)
		}
	}
	sort.Strings(rep.Missing)
	return rep
}

// batches publishes to at most sp.batch minions at a time. A minion holds
// its slot from publish until its return is stored or sp.timeout passes
// (then its envelope is dropped from the queue, so it cannot start later
// outside the window), plus sp.batchWait after a return.
func (d *Dispatcher) batches(ctx context.Context, base proto.Job, sp spec, c *collector) {
	queue := append([]string(nil), sp.ids...)
	type slot struct {
		until    time.Time
		returned bool
	}
	running := map[string]*slot{}
	for len(queue) > 0 || len(running) > 0 {
		now := time.Now()
		for id, s := range running {
			if !now.Before(s.until) {
				if !s.returned {
					if st := d.store(); st != nil {
						st.dequeue(ctx, base.JID, id)
					}
				}
				delete(running, id)
			}
		}
		for len(running) < sp.batch && len(queue) > 0 {
			id := queue[0]
			queue = queue[1:]
			job := base
			job.MinionID = id
			job.IssuedAt = time.Now().UTC()
			job.NotAfter = job.IssuedAt.Add(sp.expire)
			if err := d.send(ctx, &job); err != nil {
				d.log.Error("batch publish", "jid", base.JID, "id", id, "err", err)
				continue
			}
			running[id] = &slot{until: time.Now().Add(sp.timeout)}
		}
		if len(running) == 0 {
			continue
		}
		next := time.Time{}
		for _, s := range running {
			if next.IsZero() || s.until.Before(next) {
				next = s.until
			}
		}
		t := time.NewTimer(time.Until(next))
		select {
		case id := <-c.ch:
			if s, ok := running[id]; ok && !s.returned {
				s.returned, s.until = true, time.Now().Add(sp.batchWait)
			}
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
		t.Stop()
	}
}

// send queues one envelope durably (when the store is open) and pushes it
// to the minion, which receives it now if connected.
func (d *Dispatcher) send(ctx context.Context, job *proto.Job) error {
	m, err := signEnvelope(fastSigner(d.signer), job)
	if err != nil {
		return err
	}
	if st := d.store(); st != nil {
		if _, err := st.enqueue(ctx, job, m); err != nil {
			return err
		}
	}
	if err := d.nc.PublishMsg(m); err != nil {
		return fmt.Errorf("jobs: publish %s to %s: %w", job.JID, job.MinionID, err)
	}
	return nil
}

// Publish signs one job envelope and sends it to its minion.
func (d *Dispatcher) Publish(job *proto.Job) error {
	return d.send(context.Background(), job)
}

// Forget drops every job queued for a minion whose key was rejected or
// deleted: if the id comes back (accepted again, perhaps with another
// key), nothing published for the old key reaches it.
func (d *Dispatcher) Forget(ctx context.Context, id string) error {
	st := d.store()
	if st == nil {
		return nil
	}
	if err := st.queue.Purge(ctx, jetstream.WithPurgeSubject(QueuePrefix+proto.Token(id))); err != nil {
		return fmt.Errorf("jobs: purge queue of %s: %w", id, err)
	}
	st.idx.forget(id)
	return nil
}

// Verb returns the handler of an operator verb this package serves, or
// nil.
func (d *Dispatcher) Verb(verb string) func(ctx context.Context, op string, data []byte) (any, error) {
	switch verb {
	case VerbRun:
		return d.runVerb
	case VerbPreview:
		return d.previewVerb
	case VerbList:
		return d.listVerb
	case VerbShow:
		return d.showVerb
	case VerbActive:
		return d.activeVerb
	case VerbKill:
		return d.killVerb
	}
	return nil
}

const maxRequest = 1 << 20

func decodeReq(data []byte, v any) error {
	if len(data) > maxRequest {
		return fmt.Errorf("%w: request too large", proto.ErrMalformed)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %v", proto.ErrMalformed, err)
	}
	return nil
}

// BatchSize reads Salt's -b value ("10" or "25%") for n minions.
func BatchSize(s string, n int) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if p, ok := strings.CutSuffix(s, "%"); ok {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || f <= 0 || f > 100 {
			return 0, fmt.Errorf("batch %q: want N or N%% with 0 < N <= 100", s)
		}
		return max(1, int(math.Ceil(f*float64(n)/100))), nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("batch %q: want a positive number or a percentage", s)
	}
	return v, nil
}

func (d *Dispatcher) resolveReq(ctx context.Context, data []byte) (RunRequest, RunReply, bool, error) {
	var req RunRequest
	if err := decodeReq(data, &req); err != nil {
		return req, RunReply{}, false, err
	}
	rep := RunReply{RunReply: proto.RunReply{V: proto.Version, Returns: map[string]proto.Return{}}, Minions: []string{}}
	if d.res == nil {
		return req, rep, false, errors.New("job store is not open")
	}
	ids, err := d.res.Resolve(ctx, req.Target)
	if err != nil {
		var te *target.Error
		if errors.As(err, &te) || strings.Contains(err.Error(), "target kind") {
			rep.TargetError = asTargetError(err)
			if rep.TargetError.Expr == "" {
				rep.TargetError.Expr = req.Target.Expr
			}
			return req, rep, false, nil
		}
		return req, rep, false, err
	}
	if ids != nil {
		rep.Minions = ids
	}
	return req, rep, true, nil
}

func (d *Dispatcher) previewVerb(ctx context.Context, _ string, data []byte) (any, error) {
	_, rep, _, err := d.resolveReq(ctx, data)
	if err != nil {
		return nil, err
	}
	return rep, nil
}

func (d *Dispatcher) runVerb(ctx context.Context, op string, data []byte) (any, error) {
	req, rep, ok, err := d.resolveReq(ctx, data)
	if err != nil || !ok {
		return rep, err
	}
	if !proto.ValidFun(req.Fun) {
		return nil, fmt.Errorf("%w: function %q", proto.ErrMalformed, req.Fun)
	}
	if len(rep.Minions) == 0 {
		return rep, authorized(ctx, req.Fun, nil)
	}
	sp := spec{req: req.RunRequest, ids: rep.Minions, user: op, async: req.Async, batchText: req.Batch,
		timeout: time.Duration(req.TimeoutSec * float64(time.Second)), expire: time.Duration(req.ExpireSec * float64(time.Second)),
		batchWait: time.Duration(req.BatchWait * float64(time.Second)), progress: req.Progress}
	if sp.progress != "" && !proto.ValidProgressTag(sp.progress) {
		return nil, fmt.Errorf("%w: progress tag %q", proto.ErrMalformed, sp.progress)
	}
	if req.Stream != "" && !proto.ValidProgressTag(req.Stream) {
		return nil, fmt.Errorf("%w: stream tag %q", proto.ErrMalformed, req.Stream)
	}
	if sp.batch, err = BatchSize(req.Batch, len(rep.Minions)); err != nil {
		return nil, err
	}
	if sp.expire > 0 && sp.expire < time.Second {
		sp.expire = time.Second
	}
	r, err := d.execute(ctx, sp)
	if err != nil {
		return nil, err
	}
	rep.RunReply = r
	d.connected(rep.Missing, &rep.Connected)
	if req.Stream == "" {
		d.capReturns(&rep)
		return rep, nil
	}
	if err := d.streamReply(&rep, ReturnsSubject(op, req.Stream)); err != nil {
		return nil, err
	}
	return rep, nil
}

func (d *Dispatcher) connected(ids []string, into *map[string]bool) {
	if d.Connected == nil || len(ids) == 0 {
		return
	}
	*into = map[string]bool{}
	for _, id := range ids {
		(*into)[id] = d.Connected(id)
	}
}

func (d *Dispatcher) listVerb(_ context.Context, _ string, data []byte) (any, error) {
	var req ListRequest
	if len(data) > 0 {
		if err := decodeReq(data, &req); err != nil {
			return nil, err
		}
	}
	st := d.store()
	if st == nil {
		return nil, errors.New("job store is not open")
	}
	since, err := jidBound(req.Since, false)
	if err != nil {
		return nil, err
	}
	until, err := jidBound(req.Until, true)
	if err != nil {
		return nil, err
	}
	rep := ListReply{V: proto.Version, Jobs: []JobSummary{}}
	for _, r := range st.jobs(since, until) {
		if req.Function != "" && r.Fun != req.Function {
			continue
		}
		if req.User != "" && r.User != req.User {
			continue
		}
		if !matchesTarget(r, req.Target) {
			continue
		}
		rep.Jobs = append(rep.Jobs, st.summary(r))
	}
	if req.Limit > 0 && len(rep.Jobs) > req.Limit {
		rep.Jobs = rep.Jobs[len(rep.Jobs)-req.Limit:]
	}
	return rep, nil
}

// jidBound reads a --since/--until value: a jid, an RFC 3339 time, a
// date, or a duration back from now ("2h").
func jidBound(s string, upper bool) (string, error) {
	if s == "" {
		return "", nil
	}
	if _, err := proto.ParseJID(s); err == nil {
		return s, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return proto.FormatJID(time.Now().Add(-d)), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			if upper && layout == "2006-01-02" {
				t = t.Add(24*time.Hour - time.Microsecond)
			}
			return proto.FormatJID(t), nil
		}
	}
	return "", fmt.Errorf("time %q: want a jid, RFC 3339 time, YYYY-MM-DD or a duration such as 2h", s)
}

func (d *Dispatcher) showVerb(ctx context.Context, op string, data []byte) (any, error) {
	var req JIDRequest
	if err := decodeReq(data, &req); err != nil {
		return nil, err
	}
	st := d.store()
	if st == nil {
		return nil, errors.New("job store is not open")
	}
	r, ok := st.job(req.JID)
	if !ok {
		return nil, fmt.Errorf("job %s not found", req.JID)
	}
	sum := st.summary(r)
	rep := ShowReply{V: proto.Version, Job: sum, Returns: st.loadReturns(ctx, r.JID), Missing: sum.Missing}
	d.connected(rep.Missing, &rep.Connected)
	run := RunReply{RunReply: proto.RunReply{V: proto.Version, JID: r.JID, Returns: rep.Returns, Missing: rep.Missing}, Connected: rep.Connected}
	if req.Stream == "" {
		d.capReturns(&run)
		return rep, nil
	}
	if err := d.streamReply(&run, ReturnsSubject(op, req.Stream)); err != nil {
		return nil, err
	}
	rep.Returns, rep.Missing, rep.Connected, rep.Parts = run.Returns, run.Missing, run.Connected, run.Parts
	return rep, nil
}

func (d *Dispatcher) activeVerb(_ context.Context, _ string, _ []byte) (any, error) {
	st := d.store()
	if st == nil {
		return nil, errors.New("job store is not open")
	}
	now := time.Now()
	rep := ListReply{V: proto.Version, Jobs: []JobSummary{}}
	for _, r := range st.jobs(proto.FormatJID(now.Add(-max(queueCeiling, st.keep))), "") {
		if now.After(r.NotAfter) {
			continue
		}
		if s := st.summary(r); len(s.Missing) > 0 {
			rep.Jobs = append(rep.Jobs, s)
		}
	}
	return rep, nil
}

// killVerb sends saltutil.kill_job to the minions that have not returned
// the job yet, and drops the job from their queues so one that is
// offline never starts it.
func (d *Dispatcher) killVerb(ctx context.Context, op string, data []byte) (any, error) {
	var req JIDRequest
	if err := decodeReq(data, &req); err != nil {
		return nil, err
	}
	st := d.store()
	if st == nil {
		return nil, errors.New("job store is not open")
	}
	r, ok := st.job(req.JID)
	if !ok {
		return nil, fmt.Errorf("job %s not found", req.JID)
	}
	sum := st.summary(r)
	rep := KillReply{V: proto.Version, JID: r.JID, Minions: []string{}}
	if len(sum.Missing) == 0 {
		return rep, nil
	}
	for _, id := range sum.Missing {
		st.dequeue(ctx, r.JID, id)
	}
	kr := proto.RunRequest{V: proto.Version, Target: proto.Target{Expr: strings.Join(sum.Missing, ","), Type: "list"},
		Fun: "saltutil.kill_job", Args: []any{r.JID}}
	out, err := d.execute(ctx, spec{req: kr, ids: sum.Missing, user: op, async: true, expire: time.Minute})
	if err != nil {
		return nil, err
	}
	rep.KillJID, rep.Minions = out.JID, sum.Missing
	return rep, nil
}
