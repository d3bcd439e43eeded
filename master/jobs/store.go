package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/brine-cm/brine/proto"
	"github.com/hashicorp/go-memdb"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Streams and subjects of the durable job store. Every piece of job state
// lives in one of these streams; the go-memdb index is rebuilt from them
// at start, so a master restart (SIGKILL included) loses nothing that was
// acknowledged.
const (
	// QueueStream holds one envelope per minion and job on
	// QueuePrefix+<tok>, until the minion's return is stored or the job
	// expires. A minion that was offline gets these when it says hello.
	QueueStream = "BRINE_JOBQ"
	QueuePrefix = "brine.jq."
	// InfoStream holds one record per job (what, who, which minions) on
	// InfoPrefix+<jid>.
	InfoStream = "BRINE_JOBS"
	InfoPrefix = "brine.jobs."
	// ReturnStream holds every minion return, stored by the master in
	// batches on ReturnLogSubject (returns.go).
	ReturnStream = "BRINE_RETURNS"
)

// queueCeiling bounds how long any queued job may wait, whatever its own
// expiry says; maxQueuedPerMinion bounds one minion's backlog.
const (
	queueCeiling       = 7 * 24 * time.Hour
	maxQueuedPerMinion = 256
)

// JobRecord is one job as stored in InfoStream and indexed in memory.
type JobRecord struct {
	JID      string         `json:"jid"`
	Fun      string         `json:"fun"`
	Args     []any          `json:"arg,omitempty"`
	Kwargs   map[string]any `json:"kwarg,omitempty"`
	Target   proto.Target   `json:"target"`
	User     string         `json:"user"`
	Time     time.Time      `json:"time"`
	NotAfter time.Time      `json:"not_after"`
	Minions  []string       `json:"minions"`
	Batch    string         `json:"batch,omitempty"`
}

// returnRecord is one stored return: item Idx of ReturnStream message
// Seq (-1: the message is this return alone).
type returnRecord struct {
	JID    string
	ID     string
	Seq    uint64
	Idx    int
	Return proto.Return
}

// queuedRecord is one envelope waiting for its minion's return: in
// QueueStream at Seq (a batch's envelopes, sent over time), or, with Seq
// 0, held only here and signed again from its job record when the minion
// says hello (every other job: its record is the durable promise, and
// Open rebuilds these from the records and the returns).
type queuedRecord struct {
	JID      string
	ID       string
	Seq      uint64
	NotAfter time.Time
	// Stored is when this master process stored the envelope, just
	// before publishing it (zero for one found at start): a hello walk
	// leaves alone an envelope published after the hello, since it went
	// over the connection that said it.
	Stored time.Time
}

func schema() *memdb.DBSchema {
	return &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
		"jobs": {Name: "jobs", Indexes: map[string]*memdb.IndexSchema{
			"id":   {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "JID"}},
			"fun":  {Name: "fun", Indexer: &memdb.StringFieldIndex{Field: "Fun"}},
			"user": {Name: "user", Indexer: &memdb.StringFieldIndex{Field: "User"}},
		}},
	}}
}

// store is the durable side of the dispatcher.
type store struct {
	js      jetstream.JetStream
	queue   jetstream.Stream
	info    jetstream.Stream
	returns jetstream.Stream
	db      *memdb.MemDB // jobs
	idx     index        // returns and waiting envelopes
	keep    time.Duration
	del     deleter
}

func openStore(ctx context.Context, js jetstream.JetStream, keep time.Duration) (*store, error) {
	if keep <= 0 {
		keep = 24 * time.Hour
	}
	db, err := memdb.NewMemDB(schema())
	if err != nil {
		return nil, fmt.Errorf("jobs: schema: %w", err)
	}
	s := &store{js: js, db: db, keep: keep, idx: newIndex()}
	ceiling := max(queueCeiling, keep)
	if s.queue, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: QueueStream, Description: "brine jobs waiting for their minions",
		Subjects: []string{QueuePrefix + "*"}, Storage: jetstream.FileStorage, Retention: jetstream.LimitsPolicy, MaxAge: ceiling,
		MaxMsgsPerSubject: maxQueuedPerMinion, Discard: jetstream.DiscardOld, AllowMsgTTL: true, Duplicates: 10 * time.Minute}); err != nil {
		return nil, fmt.Errorf("jobs: stream %s: %w", QueueStream, err)
	}
	if s.info, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: InfoStream, Description: "brine job records",
		Subjects: []string{InfoPrefix + "*"}, Storage: jetstream.FileStorage, MaxAge: keep, Duplicates: 10 * time.Minute}); err != nil {
		return nil, fmt.Errorf("jobs: stream %s: %w", InfoStream, err)
	}
	if s.returns, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: ReturnStream, Description: "brine minion returns",
		Subjects: []string{ReturnLogSubject}, Storage: jetstream.FileStorage, MaxAge: keep}); err != nil {
		return nil, fmt.Errorf("jobs: stream %s: %w", ReturnStream, err)
	}
	return s, nil
}

// putJob stores the job record durably, then indexes it.
func (s *store) putJob(ctx context.Context, rec *JobRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("jobs: encode %s: %w", rec.JID, err)
	}
	if _, err := s.js.Publish(ctx, InfoPrefix+rec.JID, b, jetstream.WithMsgID("job."+rec.JID)); err != nil {
		return fmt.Errorf("jobs: store %s: %w", rec.JID, err)
	}
	s.indexJob(rec)
	return nil
}

func (s *store) indexJob(rec *JobRecord) {
	txn := s.db.Txn(true)
	defer txn.Abort()
	if err := txn.Insert("jobs", rec); err == nil {
		txn.Commit()
	}
}

// job returns the record for jid.
func (s *store) job(jid string) (*JobRecord, bool) {
	raw, err := s.db.Txn(false).First("jobs", "id", jid)
	if err != nil || raw == nil {
		return nil, false
	}
	return raw.(*JobRecord), true
}

// jobs lists records with jid in [since, until], newest last.
func (s *store) jobs(since, until string) []*JobRecord {
	txn := s.db.Txn(false)
	it, err := txn.LowerBound("jobs", "id", since)
	if err != nil {
		return nil
	}
	var out []*JobRecord
	for raw := it.Next(); raw != nil; raw = it.Next() {
		r := raw.(*JobRecord)
		if until != "" && r.JID > until {
			break
		}
		out = append(out, r)
	}
	return out
}

// loadReturns reads the returns of jid back from ReturnStream, keyed by
// minion id.
func (s *store) loadReturns(ctx context.Context, jid string) map[string]proto.Return {
	out := map[string]proto.Return{}
	fun := ""
	if rec, ok := s.job(jid); ok {
		fun = rec.Fun
	}
	batches := map[uint64][]returnItem{}
	for id, e := range s.idx.returns(jid) {
		var r proto.Return
		data, err := s.readReturn(ctx, e.seq, int(e.idx), batches)
		if err == nil {
			err = json.Unmarshal(data, &r)
		}
		if err != nil {
			r = proto.Return{V: proto.Version, JID: jid, Fun: fun, Retcode: int(e.retcode), Success: e.success,
				Return: fmt.Sprintf("return no longer readable: %v", err)}
		}
		r.ID = id
		out[id] = r
	}
	return out
}

// enqueue stores one signed envelope on its minion's queue subject; the
// message expires with the job.
func (s *store) enqueue(ctx context.Context, job *proto.Job, m *nats.Msg) (uint64, error) {
	q := nats.NewMsg(QueuePrefix + proto.Token(job.MinionID))
	q.Data = m.Data
	for k, v := range m.Header {
		q.Header[k] = v
	}
	ttl := time.Until(job.NotAfter).Round(time.Second) + time.Second
	if ttl < time.Second {
		ttl = time.Second
	}
	ack, err := s.js.PublishMsg(ctx, q, jetstream.WithMsgID(job.JID+"."+proto.Token(job.MinionID)), jetstream.WithMsgTTL(ttl))
	if err != nil {
		return 0, fmt.Errorf("jobs: queue %s for %s: %w", job.JID, job.MinionID, err)
	}
	s.indexQueued(&queuedRecord{JID: job.JID, ID: job.MinionID, Seq: ack.Sequence, NotAfter: job.NotAfter, Stored: time.Now()})
	return ack.Sequence, nil
}

// dequeue drops the queued envelope of (jid, id), once its return is
// stored or it can no longer run.
func (s *store) dequeue(ctx context.Context, jid, id string) {
	q, ok := s.takeQueued(jid, id)
	if !ok || q.Seq == 0 {
		return
	}
	if err := s.queue.DeleteMsg(ctx, q.Seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		// The message expires on its own; the replay cache keeps a
		// second delivery harmless.
		_ = err
	}
}

// backlog walks one minion's queue subject and returns the envelopes
// still waiting, oldest first.
func (s *store) backlog(ctx context.Context, id string) ([]*jetstream.RawStreamMsg, error) {
	subj := QueuePrefix + proto.Token(id)
	var out []*jetstream.RawStreamMsg
	seq := uint64(1)
	for {
		m, err := s.queue.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("jobs: backlog of %s: %w", id, err)
		}
		out = append(out, m)
		seq = m.Sequence + 1
	}
}

// prune drops index entries of jobs older than the retention; the
// streams' MaxAge drops the stored messages.
func (s *store) prune(now time.Time) int {
	s.idx.pruneWaiting(now)
	cut := proto.FormatJID(now.Add(-s.keep))
	old := s.jobs("", cut)
	if len(old) == 0 {
		return 0
	}
	txn := s.db.Txn(true)
	defer txn.Abort()
	for _, r := range old {
		_ = txn.Delete("jobs", r)
		s.idx.dropReturns(r.JID)
	}
	txn.Commit()
	return len(old)
}

// summary renders a record for the CLI.
func (s *store) summary(r *JobRecord) JobSummary {
	rets := s.idx.returns(r.JID)
	js := JobSummary{JID: r.JID, Function: r.Fun, Arguments: r.Args, Kwargs: r.Kwargs, Target: r.Target.Expr, TargetType: r.Target.Type,
		User: r.User, StartTime: r.Time, NotAfter: r.NotAfter, Minions: r.Minions, Returned: len(rets), Batch: r.Batch}
	if js.Arguments == nil {
		js.Arguments = []any{}
	}
	for _, id := range r.Minions {
		if _, ok := rets[id]; !ok {
			js.Missing = append(js.Missing, id)
		}
	}
	sort.Strings(js.Missing)
	return js
}

// matchesTarget is the `jobs list --target` filter: the job's target
// expression equals the filter, or one of its minions is named.
func matchesTarget(r *JobRecord, filter string) bool {
	if filter == "" || r.Target.Expr == filter {
		return true
	}
	for _, id := range r.Minions {
		if id == filter {
			return true
		}
	}
	return strings.Contains(r.Target.Expr, filter)
}
