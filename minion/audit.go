package minion

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/brine-cm/brine/pkg/audit"
	"github.com/brine-cm/brine/pkg/execmod"
	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// AuditDir is where a minion keeps its own audit log under its data dir;
// `brine-minion audit` reads the same path.
func AuditDir(dataDir string) string { return filepath.Join(dataDir, "audit") }

// forwardBatchBytes bounds one forwarded batch well below the master's
// message limit.
const forwardBatchBytes = 256 << 10

// openAudit opens the minion's own log, signed with its nkey. Ephemeral
// minions (the fleet simulator) keep none.
func (m *Minion) openAudit(kp nkeys.KeyPair) error {
	if m.cfg.Ephemeral {
		return nil
	}
	signer, err := audit.NKeySigner(kp)
	if err != nil {
		return fmt.Errorf("minion: audit: %w", err)
	}
	l, err := audit.Open(AuditDir(m.cfg.DataDir), audit.Options{Signer: signer, Logger: m.log, AllowTornTail: m.cfg.AuditRecover})
	if err != nil {
		if errors.Is(err, audit.ErrTornTail) {
			return fmt.Errorf("minion: %w (inspect the file, then start with --audit-recover to continue in a new segment that records the damage)", err)
		}
		return fmt.Errorf("minion: %w", err)
	}
	m.audit = l
	m.auditPoke = make(chan struct{}, 1)
	if err := m.record(audit.Entry{Actor: m.cfg.ID, Action: "minion.start", Target: m.cfg.ID, Outcome: "ok"}); err != nil {
		_ = l.Close()
		m.audit = nil
		return fmt.Errorf("minion: %w", err)
	}
	return nil
}

// closeAudit records the stop and seals the log with a signed checkpoint.
func (m *Minion) closeAudit() {
	if m.audit == nil {
		return
	}
	if err := m.record(audit.Entry{Actor: m.cfg.ID, Action: "minion.stop", Target: m.cfg.ID, Outcome: "ok"}); err != nil {
		m.log.Error("audit: stop not recorded", "err", err)
	}
	if err := m.audit.Seal(); err != nil {
		m.log.Error("audit: seal", "err", err)
	}
	if err := m.audit.Close(); err != nil {
		m.log.Error("audit: close", "err", err)
	}
}

// record appends one entry to the minion's log and wakes the forwarder.
func (m *Minion) record(e audit.Entry) error {
	if m.audit == nil {
		return nil
	}
	if _, err := m.audit.Append(e); err != nil {
		m.log.Error("audit append failed", "action", e.Action, "err", err)
		return fmt.Errorf("audit log unavailable: %w", err)
	}
	select {
	case m.auditPoke <- struct{}{}:
	default:
	}
	return nil
}

func jobActor(user string) string {
	if user == "" {
		return "master"
	}
	if strings.Contains(user, ":") {
		return user
	}
	return "op:" + user
}

// recordRefusal records a job that was not run and why.
func (m *Minion) recordRefusal(what string, err error, data []byte) {
	verdict := map[string]string{
		"job before the master is pinned": "refused: master not pinned",
		"job signature":                   "refused: bad signature",
		"job envelope":                    "refused: malformed",
		"job replay":                      "refused: replay",
	}[what]
	if what == "job check" {
		switch {
		case errors.Is(err, proto.ErrExpired):
			verdict = "refused: expired"
		case errors.Is(err, proto.ErrNotYetValid):
			verdict = "refused: not yet valid"
		case errors.Is(err, proto.ErrNotTarget):
			verdict = "refused: not targeted"
		default:
			verdict = "refused: invalid"
		}
	}
	if verdict == "" {
		verdict = "refused: " + what
	}
	// The payload is untrusted here: only the jid, function and user are
	// kept, for the record.
	var j struct {
		JID  string `json:"jid"`
		Fun  string `json:"fun"`
		User string `json:"user"`
	}
	_ = json.Unmarshal(data, &j)
	detail := map[string]any{"check": what}
	if err != nil {
		detail["error"] = err.Error()
	}
	if j.User != "" {
		detail["claimed_user"] = j.User
	}
	jid := j.JID
	if _, perr := proto.ParseJID(jid); perr != nil {
		jid = ""
	}
	_ = m.record(audit.Entry{Actor: "master", Action: "job.received", Target: j.Fun, JID: jid, Outcome: verdict, Detail: detail})
}

// recordReceived records a job that passed every check, before it runs;
// an error means it must not run.
func (m *Minion) recordReceived(job *proto.Job) error {
	p := m.pin.Load()
	signer := ""
	if p != nil {
		signer = p.MasterKey
	}
	args := map[string]any{}
	if len(job.Args) > 0 {
		args["arg"] = job.Args
	}
	if len(job.Kwargs) > 0 {
		args["kwarg"] = job.Kwargs
	}
	return m.record(audit.Entry{Actor: jobActor(job.User), Action: "job.received", Target: job.Fun, JID: job.JID, Args: args,
		Outcome: "run", Detail: map[string]any{"signer": signer, "master": job.Master}})
}

// refuseUnaudited answers a job the minion could not record with a failed
// return, so the operator learns why nothing ran.
func (m *Minion) refuseUnaudited(nc *nats.Conn, job *proto.Job, err error) {
	m.Refused.Add(1)
	b, _ := json.Marshal(proto.Return{V: proto.Version, JID: job.JID, ID: m.cfg.ID, Fun: job.Fun, Retcode: 1,
		Return: "ERROR: job refused: " + err.Error()})
	_ = nc.Publish(proto.ReturnSubject(m.cfg.ID, job.JID), b)
}

// recordReturn records the outcome of a job before the return is sent.
func (m *Minion) recordReturn(job *proto.Job, ret *proto.Return) {
	outcome := "success"
	if !ret.Success {
		outcome = "failed"
	}
	_ = m.record(audit.Entry{Actor: jobActor(job.User), Action: "job.return", Target: job.Fun, JID: job.JID, Outcome: outcome,
		Detail: map[string]any{"success": ret.Success, "retcode": ret.Retcode}})
}

// jobAuditor is the execmod.Auditor a job's modules report to: each
// change they make to the host becomes an entry carrying the job's jid
// and the operator who sent it.
type jobAuditor struct {
	m   *Minion
	job *proto.Job
}

// Auditor returns the execmod.Auditor for one job (nil without a log).
func (m *Minion) jobAuditor(job *proto.Job) execmod.Auditor {
	if m.audit == nil {
		return nil
	}
	return &jobAuditor{m: m, job: job}
}

// Record implements execmod.Auditor. A module reports after it acted, so
// a failed append cannot undo anything: it is logged loudly, and the next
// job is refused until the log is writable again.
func (a *jobAuditor) Record(action string, detail map[string]any) {
	target := ""
	for _, k := range []string{"path", "name", "cmd", "pkg", "user"} {
		if s, ok := detail[k].(string); ok && s != "" {
			target = s
			break
		}
	}
	outcome := "changed"
	if rc, ok := detail["retcode"]; ok {
		outcome = fmt.Sprintf("retcode=%v", rc)
	} else if e, ok := detail["error"].(string); ok && e != "" {
		outcome = "error"
	}
	_ = a.m.record(audit.Entry{Actor: jobActor(a.job.User), Action: action, Target: target, JID: a.job.JID, Outcome: outcome, Detail: detail})
}

// forwardAudit ships the local log to the master, forever: it asks the
// master where its copy ends, sends what follows in batches, and starts
// over from the master's answer after any error, so a disconnect neither
// loses nor repeats an entry. The local log is the source; the master
// verifies every batch against this minion's key.
func (m *Minion) forwardAudit(ctx context.Context, nc *nats.Conn) {
	if m.audit == nil {
		return
	}
	subj := proto.RequestSubject(m.cfg.ID, proto.OpAudit)
	var pos *audit.Position
	wait := time.Second
	sleep := func(d time.Duration, poke bool) bool {
		t := time.NewTimer(jitter(d))
		defer t.Stop()
		var pc chan struct{}
		if poke {
			pc = m.auditPoke
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		case <-pc:
		}
		return true
	}
	send := func(body []byte) (*audit.Position, bool, error) {
		msg, err := nc.Request(subj, body, 15*time.Second)
		if err != nil {
			return nil, false, err
		}
		if msg.Header.Get(proto.HeaderError) != "" {
			var e proto.ErrorReply
			_ = json.Unmarshal(msg.Data, &e)
			return nil, false, errors.New(e.Error)
		}
		var ack proto.AuditAck
		if err := json.Unmarshal(msg.Data, &ack); err != nil {
			return nil, false, err
		}
		return &audit.Position{Seq: ack.Seq, Hash: ack.Hash}, ack.NewEpoch, nil
	}
	for ctx.Err() == nil {
		if pos == nil {
			p, newEpoch, err := send(nil)
			if err == nil {
				p, err = m.resumeAt(*p, newEpoch)
			}
			if err != nil {
				m.log.Debug("audit forward: master position", "err", err)
				if !sleep(wait, false) {
					return
				}
				wait = min(wait*2, 30*time.Second)
				continue
			}
			pos = p
		}
		lines, err := m.audit.ReadAfter(*pos, 1000)
		if err != nil {
			m.log.Error("audit forward: read local log", "err", err)
			if !sleep(wait, false) {
				return
			}
			continue
		}
		if len(lines) == 0 {
			if !sleep(5*time.Second, true) {
				return
			}
			continue
		}
		var buf bytes.Buffer
		for _, l := range lines {
			if buf.Len() > 0 && buf.Len()+len(l.Line)+1 > forwardBatchBytes {
				break
			}
			buf.Write(l.Line)
			buf.WriteByte('\n')
		}
		p, _, err := send(buf.Bytes())
		if err != nil {
			m.log.Warn("audit forward: batch not acknowledged; asking the master where to resume", "after_seq", pos.Seq, "err", err)
			pos = nil
			if !sleep(wait, false) {
				return
			}
			wait = min(wait*2, 30*time.Second)
			continue
		}
		pos, wait = p, time.Second
	}
}

// resumeAt decides where forwarding starts from the master's position. A
// log that holds that point continues it. Under a key the master holds
// nothing for yet (this minion was re-keyed and its data dir rebuilt) the
// log is sent from its start, as a new epoch; otherwise the master's copy
// does not belong to this log and nothing is sent.
func (m *Minion) resumeAt(p audit.Position, newEpoch bool) (*audit.Position, error) {
	ok, err := m.audit.Holds(p)
	if err != nil {
		return nil, fmt.Errorf("read local log: %w", err)
	}
	if ok {
		return &p, nil
	}
	if newEpoch {
		m.log.Info("audit forward: the master's copy ends at a point this log does not hold; sending the log from its start under the new key", "master_seq", p.Seq)
		return &audit.Position{}, nil
	}
	err = fmt.Errorf("the master's copy of this minion's audit log ends at seq %d, which this log does not hold", p.Seq)
	m.log.Error("audit forward: not sending", "err", err)
	return nil, err
}
