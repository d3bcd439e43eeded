package minion

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats.go"
)

// running tracks the jobs this minion is running, so saltutil.kill_job can
// cancel one by jid and saltutil.running can list them.
type running struct {
	mu   sync.Mutex
	jobs map[string]*runningJob
}

type runningJob struct {
	job    *proto.Job
	cancel context.CancelFunc
	start  time.Time
}

func (m *Minion) running() *running {
	r := &m.active
	r.mu.Lock()
	if r.jobs == nil {
		r.jobs = map[string]*runningJob{}
	}
	r.mu.Unlock()
	return r
}

type parentCtxKey struct{}

// runTracked runs one accepted job with its own cancellable context. The
// functions that act on other jobs (saltutil.kill_job, saltutil.running)
// are answered here, since only the job runner knows what is running.
func (m *Minion) runTracked(ctx context.Context, nc *nats.Conn, job *proto.Job) {
	switch job.Fun {
	case "saltutil.kill_job", "saltutil.term_job", "saltutil.signal_job", "saltutil.running":
		m.runControl(ctx, nc, job)
		return
	}
	r := m.running()
	jctx, cancel := context.WithCancel(context.WithValue(ctx, parentCtxKey{}, ctx))
	defer cancel()
	r.mu.Lock()
	r.jobs[job.JID] = &runningJob{job: job, cancel: cancel, start: time.Now()}
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.jobs, job.JID)
		r.mu.Unlock()
	}()
	m.run(jctx, nc, job)
}

func (m *Minion) runControl(ctx context.Context, nc *nats.Conn, job *proto.Job) {
	m.Ran.Add(1)
	r := m.running()
	ret := proto.Return{V: proto.Version, JID: job.JID, ID: m.cfg.ID, Fun: job.Fun, Success: true}
	if job.Fun == "saltutil.running" {
		r.mu.Lock()
		list := []any{}
		for _, rj := range r.jobs {
			list = append(list, map[string]any{"jid": rj.job.JID, "fun": rj.job.Fun, "arg": rj.job.Args, "user": rj.job.User,
				"tgt": rj.job.Target.Expr, "tgt_type": rj.job.Target.Type, "id": m.cfg.ID})
		}
		r.mu.Unlock()
		sort.Slice(list, func(i, j int) bool {
			return list[i].(map[string]any)["jid"].(string) < list[j].(map[string]any)["jid"].(string)
		})
		ret.Return = list
	} else {
		jid := ""
		if len(job.Args) > 0 {
			jid = fmt.Sprint(job.Args[0])
		} else if v, ok := job.Kwargs["jid"]; ok {
			jid = fmt.Sprint(v)
		}
		r.mu.Lock()
		rj, ok := r.jobs[jid]
		r.mu.Unlock()
		if ok {
			rj.cancel()
			m.log.Info("job cancelled", "jid", jid, "by", job.JID, "user", job.User)
			ret.Return = fmt.Sprintf("Job %s cancelled", jid)
		} else {
			ret.Return = nil
		}
	}
	m.recordReturn(job, &ret)
	b, _ := json.Marshal(ret)
	m.publishReturn(ctx, nc, job, b)
}

// publishReturn sends a return until the master's return stream has
// stored it (its acknowledgement arrives on our inbox), retrying across
// disconnections until the job expires, so a return is not lost when
// the master restarts while the job runs. The message id makes retries
// of one return one stored message.
func (m *Minion) publishReturn(ctx context.Context, nc *nats.Conn, job *proto.Job, data []byte) {
	if p, ok := ctx.Value(parentCtxKey{}).(context.Context); ok {
		ctx = p // a cancelled job still returns
	}
	msg := nats.NewMsg(proto.ReturnSubject(m.cfg.ID, job.JID))
	msg.Data = data
	msg.Header.Set("Nats-Msg-Id", job.JID+"."+proto.Token(m.cfg.ID))
	deadline := job.NotAfter
	if min := time.Now().Add(time.Minute); deadline.Before(min) {
		deadline = min
	}
	wait := time.Second
	for attempt := 1; ; attempt++ {
		reply, err := nc.RequestMsg(msg, 5*time.Second)
		if err == nil && bytes.Contains(reply.Data, []byte(`"stream"`)) && !bytes.Contains(reply.Data, []byte(`"error"`)) {
			return
		}
		if err == nil {
			err = fmt.Errorf("return not stored: %s", reply.Data)
		}
		if errors.Is(err, nats.ErrConnectionClosed) || time.Now().After(deadline) {
			m.log.Error("return not acknowledged, giving up", "jid", job.JID, "attempts", attempt, "err", err)
			return
		}
		m.log.Debug("return not acknowledged yet", "jid", job.JID, "attempt", attempt, "err", err)
		t := time.NewTimer(jitter(wait))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(wait*2, 15*time.Second)
	}
}
