// Package api serves everything that reaches the master over NATS: key
// requests from minions, minion requests (hello), and the operator API;
// returns are read from the job store's stream by master/jobs. Every
// handler is picked from a static table; an unknown verb, an oversized
// or malformed message, a bad jid or a subject that does not belong to
// its sender is answered with an error or dropped and counted, and the
// master keeps serving.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brine-cm/brine/master/jobs"
	"github.com/brine-cm/brine/master/keyreg"
	"github.com/brine-cm/brine/pkg/audit"
	"github.com/brine-cm/brine/pkg/keys"
	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats.go"
)

// Auditor records every key decision and operator action before it is
// acknowledged; an error means the action must be refused. The master
// wires its audit log (auditlog.Sink) here; a nil Auditor only logs.
type Auditor interface {
	Record(ctx context.Context, e audit.Entry) error
}

// Kicker closes the live connections of a key so new permissions apply.
type Kicker interface {
	Kick(nkey string) int
}

// Config wires the API server.
type Config struct {
	NC        *nats.Conn
	Reg       *keyreg.Registry
	Jobs      *jobs.Dispatcher
	Kicker    Kicker
	Signer    proto.Signer
	TLSFinger string
	Audit     Auditor
	// AuditStore keeps the audit logs minions forward (nil: refused).
	AuditStore AuditStore
	Log        *slog.Logger
	// Operators maps operator subject tokens to operator names.
	Operators map[string]string
	// Autosign decides whether a new key is accepted without an operator.
	Autosign func(id string, grains map[string]any) bool
	// MaxBytes bounds every request payload.
	MaxBytes int
	// MaxPending caps pending keys, so a flood of new keys cannot grow
	// the registry without bound.
	MaxPending int
	// DefaultTimeout is how long `run` waits for returns by default.
	DefaultTimeout time.Duration
	// Files serves salt:// URLs to minions (master/fileserver); nil
	// refuses file requests.
	Files MinionHandler
	// Pillar seals each minion's pillar to it (master/pillar); nil
	// refuses pillar requests, so a pillar never travels in clear.
	Pillar MinionHandler
	// ACL limits what each operator may run; nil allows everything.
	ACL *ACL
}

// MinionHandler answers one request from an accepted minion; the API has
// already checked that the subject names id and that the reply goes to
// id's own inbox.
type MinionHandler interface {
	Handle(ctx context.Context, id string, m *nats.Msg)
}

// Counters expose dropped and refused messages for monitoring and tests.
type Counters struct {
	Dropped   atomic.Int64
	Malformed atomic.Int64
	Unknown   atomic.Int64
	Oversized atomic.Int64
}

// Server is the master's NATS-facing request handling.
type Server struct {
	cfg      Config
	log      *slog.Logger
	masterPK string
	C        Counters
	subs     []*nats.Subscription
	sem      chan struct{}
	msem     chan struct{} // minion file and pillar requests in flight
	wg       sync.WaitGroup

	mu       sync.Mutex
	lastSeen map[string]time.Time // minion id -> last hello

	hub eventHub // operators watching events
}

// New checks the wiring.
func New(cfg Config) (*Server, error) {
	if cfg.NC == nil || cfg.Reg == nil || cfg.Jobs == nil || cfg.Signer == nil || cfg.Kicker == nil {
		return nil, errors.New("api: incomplete config")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 1 << 20
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 10000
	}
	if cfg.DefaultTimeout <= 0 {
		cfg.DefaultTimeout = 10 * time.Second
	}
	pk, err := cfg.Signer.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	return &Server{cfg: cfg, log: cfg.Log.With("component", "api"), masterPK: pk, sem: make(chan struct{}, 64), msem: make(chan struct{}, 256), lastSeen: map[string]time.Time{}}, nil
}

// queue makes several masters share the work once they run against one
// cluster.
const queue = "brine-master"

// Start subscribes every handler. Returns are not among them: the
// dispatcher reads them from its return stream, which is what stores them,
// so a core subscription would only bring each return in a second time.
func (s *Server) Start() error {
	for subj, h := range map[string]nats.MsgHandler{
		proto.KeyRequestPrefix + "*": s.handleKeyRequest,
		proto.RequestPrefix + "*.*":  s.handleMinionRequest,
		proto.EventPrefix + "*.>":    s.handleEvent,
		proto.APIPrefix + "*.>":      s.handleAPI,
	} {
		sub, err := s.cfg.NC.QueueSubscribe(subj, queue, h)
		if err != nil {
			return fmt.Errorf("api: subscribe %s: %w", subj, err)
		}
		sub.SetPendingLimits(-1, 256<<20)
		s.subs = append(s.subs, sub)
	}
	return s.cfg.NC.Flush()
}

// Stop unsubscribes and waits for in-flight operator requests.
func (s *Server) Stop() {
	for _, sub := range s.subs {
		_ = sub.Unsubscribe()
	}
	s.wg.Wait()
}

// LastSeen reports when a minion last said hello (zero if never since
// start).
func (s *Server) LastSeen(id string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastSeen[id]
}

// audit records e and returns an error when it could not be recorded, in
// which case the caller refuses the action.
func (s *Server) audit(ctx context.Context, e audit.Entry) error {
	s.log.Debug("audit", "action", e.Action, "actor", e.Actor, "target", e.Target)
	if s.cfg.Audit == nil {
		return nil
	}
	return s.cfg.Audit.Record(ctx, e)
}

// status signs and sends a key status to the holder of nkey.
func (s *Server) status(id, nkey, state, reason string) {
	st := proto.KeyStatus{V: proto.Version, ID: id, Nkey: nkey, State: state, Reason: reason, MasterKey: s.masterPK,
		TLSFinger: s.cfg.TLSFinger, IssuedAt: time.Now().UTC()}
	b, _ := json.Marshal(st)
	m := nats.NewMsg(proto.KeyStatusSubject(nkey))
	m.Data = b
	if err := proto.Sign(s.cfg.Signer, b, m.Header); err != nil {
		s.log.Error("sign key status", "err", err)
		return
	}
	_ = s.cfg.NC.PublishMsg(m)
}

func (s *Server) tooBig(m *nats.Msg) bool {
	if len(m.Data) > s.cfg.MaxBytes {
		s.C.Oversized.Add(1)
		return true
	}
	return false
}

// handleKeyRequest answers brine.key.req.<nkey>. The server only lets the
// holder of nkey publish there, so the subject is the sender's identity.
func (s *Server) handleKeyRequest(m *nats.Msg) {
	if s.tooBig(m) {
		return
	}
	nkey := strings.TrimPrefix(m.Subject, proto.KeyRequestPrefix)
	if !proto.ValidNkeySubjectToken(nkey) {
		s.C.Dropped.Add(1)
		return
	}
	var req proto.KeyRequest
	if err := proto.Decode(m.Data, s.cfg.MaxBytes, &req); err != nil || req.Nkey != nkey || !proto.ValidID(req.ID) {
		s.C.Malformed.Add(1)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	now := time.Now().UTC()
	if rec, ok := s.cfg.Reg.Get(req.ID); ok {
		if rec.Nkey != nkey {
			s.Deny(ctx, req.ID, nkey, "")
			s.status(req.ID, nkey, proto.KeyDenied, "id is registered with another key")
			return
		}
		if req.Grains != nil && grainsChanged(rec.Grains, req.Grains) {
			rec.Grains, rec.OS, rec.Arch, rec.Updated = req.Grains, str(req.Grains["os"]), str(req.Grains["cpuarch"]), now
			if err := s.cfg.Reg.Put(ctx, rec); err != nil {
				s.log.Error("update pending key", "id", req.ID, "err", err)
			}
		}
		s.status(rec.ID, nkey, rec.State, "")
		return
	}
	if other, ok := s.cfg.Reg.ByNkey(nkey); ok {
		s.status(req.ID, nkey, proto.KeyDenied, "key is registered for id "+other.ID)
		return
	}
	if s.cfg.Reg.Count(proto.KeyPending) >= s.cfg.MaxPending {
		s.C.Dropped.Add(1)
		s.log.Warn("pending key limit reached, request dropped", "id", req.ID)
		return
	}
	state := proto.KeyPending
	if s.cfg.Autosign != nil && s.cfg.Autosign(req.ID, req.Grains) {
		state = proto.KeyAccepted
		if err := s.audit(ctx, audit.Entry{Actor: "master", Action: "key.autosign", Target: req.ID, Outcome: "accepted",
			Detail: map[string]any{"nkey": nkey, "finger": keys.Fingerprint(nkey)}}); err != nil {
			s.log.Error("key request not auto-accepted", "id", req.ID, "err", err)
			return
		}
	}
	rec := keyreg.Minion{ID: req.ID, Nkey: nkey, State: state, Grains: req.Grains, OS: str(req.Grains["os"]),
		Arch: str(req.Grains["cpuarch"]), FirstSeen: now, Updated: now}
	if err := s.cfg.Reg.Put(ctx, rec); err != nil {
		s.log.Error("store key request", "id", req.ID, "err", err)
		return
	}
	s.Emit("key", "salt/key", map[string]any{"id": req.ID, "act": state, "finger": keys.Fingerprint(nkey)})
	s.status(req.ID, nkey, state, "")
	if state == proto.KeyAccepted {
		s.cfg.Kicker.Kick(nkey)
	}
}

// Deny records a known id presenting another key: denied table, event,
// audit. It never accepts anything.
func (s *Server) Deny(ctx context.Context, id, nkey, addr string) {
	// Recorded first; the key stays refused whether or not this succeeds.
	if err := s.audit(ctx, audit.Entry{Actor: "master", Action: "key.denied", Target: id, Outcome: "denied",
		Detail: map[string]any{"nkey": nkey, "finger": keys.Fingerprint(nkey), "addr": addr}}); err != nil {
		s.log.Error("denied key not recorded", "id", id, "err", err)
	}
	d, err := s.cfg.Reg.PutDenied(ctx, id, nkey, addr, time.Now().UTC())
	if err != nil {
		s.log.Error("record denied key", "id", id, "err", err)
		return
	}
	s.Emit("key", "salt/key", map[string]any{"id": id, "act": proto.KeyDenied, "finger": keys.Fingerprint(nkey), "count": d.Count})
}

func grainsChanged(a, b map[string]any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) != string(jb)
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// minionOps is the static table of minion request verbs.
var minionOps = map[string]func(s *Server, id string, m *nats.Msg){
	"hello":  (*Server).handleHello,
	"file":   (*Server).handleFile,
	"pillar": (*Server).handlePillar,
}

// handleFile hands a file request to the file server, which confines
// every path to the file roots.
func (s *Server) handleFile(id string, m *nats.Msg) {
	if s.cfg.Files == nil {
		s.replyErr(m, "no file server")
		return
	}
	s.async(m, func(ctx context.Context) { s.cfg.Files.Handle(ctx, id, m) })
}

// handlePillar hands a pillar request to the pillar server, which seals
// the minion's pillar to that minion's key.
func (s *Server) handlePillar(id string, m *nats.Msg) {
	if s.cfg.Pillar == nil {
		s.replyErr(m, "no pillar server")
		return
	}
	s.async(m, func(ctx context.Context) { s.cfg.Pillar.Handle(ctx, id, m) })
}

// async runs a minion request off the subscription's goroutine, so a
// slow pillar compile or a large file does not hold up hellos and
// returns; at most cap(s.msem) run at once, beyond that the minion is
// told the master is busy and retries.
func (s *Server) async(m *nats.Msg, f func(ctx context.Context)) {
	select {
	case s.msem <- struct{}{}:
	default:
		s.replyErr(m, "master busy")
		return
	}
	s.wg.Add(1)
	go func() {
		defer func() { <-s.msem; s.wg.Done() }()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		f(ctx)
	}()
}

func (s *Server) handleMinionRequest(m *nats.Msg) {
	if s.tooBig(m) {
		return
	}
	tok, op, ok := proto.SplitTokenSubject(m.Subject, proto.RequestPrefix)
	if !ok {
		s.C.Dropped.Add(1)
		return
	}
	rec, ok := s.cfg.Reg.ByToken(tok)
	if !ok || rec.State != proto.KeyAccepted {
		s.C.Dropped.Add(1)
		return
	}
	// Replies go only to the sender's own inbox.
	if m.Reply != "" && !strings.HasPrefix(m.Reply, proto.InboxPrefix+tok+".") {
		s.C.Dropped.Add(1)
		return
	}
	h, ok := minionOps[op]
	if !ok {
		s.C.Unknown.Add(1)
		s.replyErr(m, "unknown request "+op)
		return
	}
	h(s, rec.ID, m)
}

func (s *Server) handleHello(id string, m *nats.Msg) {
	var h proto.Hello
	if err := proto.Decode(m.Data, s.cfg.MaxBytes, &h); err != nil {
		s.C.Malformed.Add(1)
		s.replyErr(m, "malformed hello")
		return
	}
	s.mu.Lock()
	s.lastSeen[id] = time.Now()
	s.mu.Unlock()
	s.Emit("minion", "salt/minion/"+id+"/start", map[string]any{"id": id})
	s.reply(m, map[string]any{"v": proto.Version, "id": id})
	// A minion that was away gets the jobs queued for it meanwhile.
	s.cfg.Jobs.Hello(id)
}

func (s *Server) handleEvent(m *nats.Msg) {
	if s.tooBig(m) {
		return
	}
	tok, rest, ok := proto.SplitTokenSubject(m.Subject, proto.EventPrefix)
	if !ok {
		return // master's own events, or garbage
	}
	if strings.HasPrefix(rest, "progress.") {
		return // live command output, raw bytes, forwarded by the dispatcher
	}
	var e proto.Event
	if err := proto.Decode(m.Data, s.cfg.MaxBytes, &e); err != nil {
		s.C.Malformed.Add(1)
		return
	}
	if rec, ok := s.cfg.Reg.ByToken(tok); ok {
		s.minionEvent(rec.ID, e)
	}
}

func (s *Server) reply(m *nats.Msg, v any) {
	if m.Reply == "" {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		s.log.Error("encode reply", "err", err)
		return
	}
	_ = m.Respond(b)
}

func (s *Server) replyErr(m *nats.Msg, msg string) {
	if m.Reply == "" {
		return
	}
	r := nats.NewMsg(m.Reply)
	r.Header.Set(proto.HeaderError, "1")
	r.Data, _ = json.Marshal(proto.ErrorReply{V: proto.Version, Error: msg})
	_ = s.cfg.NC.PublishMsg(r)
}

// operatorVerbs is the static table of the operator API.
var operatorVerbs = map[string]func(s *Server, ctx context.Context, op string, data []byte) (any, error){
	proto.VerbKeyList:   (*Server).keyList,
	proto.VerbKeyFinger: (*Server).keyList,
	proto.VerbKeyAccept: func(s *Server, ctx context.Context, op string, d []byte) (any, error) {
		return s.keyChange(ctx, op, d, proto.KeyAccepted)
	},
	proto.VerbKeyReject: func(s *Server, ctx context.Context, op string, d []byte) (any, error) {
		return s.keyChange(ctx, op, d, proto.KeyRejected)
	},
	proto.VerbKeyDelete: func(s *Server, ctx context.Context, op string, d []byte) (any, error) {
		return s.keyChange(ctx, op, d, "")
	},
	proto.VerbRun:    (*Server).run,
	VerbEventWatch:   (*Server).eventWatch,
	VerbEventUnwatch: (*Server).eventUnwatch,
}

func (s *Server) handleAPI(m *nats.Msg) {
	if s.tooBig(m) {
		s.replyErr(m, "request too large")
		return
	}
	tok, verb, ok := proto.SplitTokenSubject(m.Subject, proto.APIPrefix)
	if !ok {
		s.C.Dropped.Add(1)
		return
	}
	op, ok := s.cfg.Operators[tok]
	if !ok {
		s.C.Dropped.Add(1)
		return
	}
	h, ok := operatorVerbs[verb]
	if jh := s.cfg.Jobs.Verb(verb); !ok && jh != nil {
		// The job store serves its own verbs (job.run, job.list, ...).
		h, ok = func(_ *Server, ctx context.Context, op string, d []byte) (any, error) { return jh(ctx, op, d) }, true
	}
	if !ok {
		s.C.Unknown.Add(1)
		s.replyErr(m, "unknown verb "+verb)
		return
	}
	select {
	case s.sem <- struct{}{}:
	default:
		s.replyErr(m, "master busy")
		return
	}
	s.wg.Add(1)
	go func() {
		defer func() { <-s.sem; s.wg.Done() }()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		if err := s.auditCall(ctx, op, verb, m.Data); err != nil {
			s.replyErr(m, err.Error())
			return
		}
		ctx, err := s.authorize(ctx, op, verb, m.Data)
		if err != nil {
			s.replyErr(m, err.Error())
			return
		}
		out, err := h(s, ctx, op, m.Data)
		if err != nil {
			if errors.Is(err, proto.ErrMalformed) {
				s.C.Malformed.Add(1)
			}
			s.replyErr(m, err.Error())
			return
		}
		s.reply(m, out)
	}()
}

func (s *Server) keyList(_ context.Context, _ string, data []byte) (any, error) {
	var cmd proto.KeyCmd
	if len(data) > 0 {
		if err := proto.Decode(data, s.cfg.MaxBytes, &cmd); err != nil {
			return nil, err
		}
	}
	rep := proto.KeyReply{V: proto.Version, Keys: []proto.KeyRecord{}}
	for _, m := range s.cfg.Reg.List() {
		if matches(cmd, m.ID) {
			rep.Keys = append(rep.Keys, m.Record())
		}
	}
	for _, d := range s.cfg.Reg.DeniedList() {
		if matches(cmd, d.ID) {
			rep.Keys = append(rep.Keys, d.Record())
		}
	}
	rep.Master = proto.MasterKeys{SigningKey: s.masterPK, SigningFinger: keys.Fingerprint(s.masterPK), TLSFinger: s.cfg.TLSFinger}
	return rep, nil
}

func matches(cmd proto.KeyCmd, id string) bool {
	if cmd.All || len(cmd.Match) == 0 {
		return true
	}
	for _, g := range cmd.Match {
		if ok, err := path.Match(g, id); (err == nil && ok) || g == id {
			return true
		}
	}
	return false
}

// keyChange accepts, rejects (to = state) or deletes (to = "") the
// selected keys, kicking each one's live connection so the change applies
// at once.
func (s *Server) keyChange(ctx context.Context, op string, data []byte, to string) (any, error) {
	var cmd proto.KeyCmd
	if err := proto.Decode(data, s.cfg.MaxBytes, &cmd); err != nil {
		return nil, err
	}
	if !cmd.All && len(cmd.Match) == 0 {
		return nil, errors.New("no keys selected")
	}
	from := map[string]bool{proto.KeyPending: true}
	for _, st := range cmd.Include {
		from[st] = true
	}
	if to == "" {
		from = map[string]bool{proto.KeyPending: true, proto.KeyAccepted: true, proto.KeyRejected: true, proto.KeyDenied: true}
	}
	rep := proto.KeyReply{V: proto.Version, Keys: []proto.KeyRecord{}}
	for _, m := range s.cfg.Reg.List() {
		if !from[m.State] || m.State == to || !matches(cmd, m.ID) {
			continue
		}
		rec := m.Record()
		if cmd.DryRun {
			rep.Keys = append(rep.Keys, rec)
			continue
		}
		action := "key.delete"
		if to != "" {
			action = "key." + map[string]string{proto.KeyAccepted: "accept", proto.KeyRejected: "reject"}[to]
		}
		e := audit.Entry{Actor: "op:" + op, Action: action, Target: m.ID, Outcome: "ok",
			Detail: map[string]any{"nkey": m.Nkey, "finger": keys.Fingerprint(m.Nkey), "from": m.State}}
		if err := s.audit(ctx, e); err != nil {
			return nil, err
		}
		var err error
		if to == "" {
			err = s.cfg.Reg.Delete(ctx, m.ID)
		} else {
			m.State, m.Updated = to, time.Now().UTC()
			err = s.cfg.Reg.Put(ctx, m)
			rec.State = to
		}
		if err != nil {
			e.Outcome, e.Detail["error"] = "failed", err.Error()
			_ = s.audit(ctx, e)
			return nil, err
		}
		s.Emit("key", "salt/key", map[string]any{"id": m.ID, "act": map[string]string{"": "delete"}[to] + to})
		if to != "" {
			s.status(m.ID, m.Nkey, to, "")
		}
		s.cfg.Kicker.Kick(m.Nkey)
		if to != proto.KeyAccepted {
			if err := s.cfg.Jobs.Forget(ctx, m.ID); err != nil {
				s.log.Warn("queued jobs not dropped", "id", m.ID, "err", err)
			}
		}
		rep.Keys = append(rep.Keys, rec)
	}
	// Denied records are only ever deleted: accepting one would hand an
	// id to a second key.
	if to == "" && from[proto.KeyDenied] {
		for _, d := range s.cfg.Reg.DeniedList() {
			if !matches(cmd, d.ID) {
				continue
			}
			rep.Keys = append(rep.Keys, d.Record())
			if cmd.DryRun {
				continue
			}
			e := audit.Entry{Actor: "op:" + op, Action: "key.delete", Target: d.ID, Outcome: "ok",
				Detail: map[string]any{"nkey": d.Nkey, "finger": keys.Fingerprint(d.Nkey), "from": proto.KeyDenied}}
			if err := s.audit(ctx, e); err != nil {
				return nil, err
			}
			if err := s.cfg.Reg.DeleteDenied(ctx, d.ID, d.Nkey); err != nil {
				e.Outcome, e.Detail["error"] = "failed", err.Error()
				_ = s.audit(ctx, e)
				return nil, err
			}
		}
	}
	return rep, nil
}

func (s *Server) run(ctx context.Context, op string, data []byte) (any, error) {
	var req proto.RunRequest
	if err := proto.Decode(data, s.cfg.MaxBytes, &req); err != nil {
		return nil, err
	}
	if !proto.ValidFun(req.Fun) {
		return nil, fmt.Errorf("%w: function %q", proto.ErrMalformed, req.Fun)
	}
	targets, err := s.cfg.Jobs.Resolve(ctx, req.Target)
	if err != nil {
		return nil, err
	}
	timeout := s.cfg.DefaultTimeout
	if req.TimeoutSec > 0 {
		timeout = time.Duration(req.TimeoutSec * float64(time.Second))
	}
	// The job is recorded by Jobs.BeforePublish and each return by
	// Jobs.OnReturn, before the caller sees it.
	return s.cfg.Jobs.Run(ctx, req, targets, op, timeout)
}
