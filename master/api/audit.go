package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/brine-cm/brine/pkg/audit"
	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats.go"
)

// AuditStore keeps the audit logs minions forward; auditlog.Store is the
// implementation, an interface here so the API does not own the stream.
type AuditStore interface {
	// Forward verifies batch against nkey from the stored position and
	// stores it; an empty batch only reports the position (and whether
	// nkey opens a new epoch).
	Forward(ctx context.Context, id, nkey string, batch []byte) (proto.AuditAck, error)
	Minions(ctx context.Context) ([]proto.AuditMinionLog, error)
	// ReadEpoch pages through one epoch's batches (0: all) and names the
	// key they were verified against.
	ReadEpoch(ctx context.Context, id string, epoch int, after uint64, maxBytes int) ([]byte, uint64, bool, string, error)
}

func init() {
	minionOps[proto.OpAudit] = (*Server).handleAuditForward
	operatorVerbs[proto.VerbAuditMinions] = (*Server).auditMinions
	operatorVerbs[proto.VerbAuditRead] = (*Server).auditRead
}

// auditCall records one operator API call, with the operator proven by
// the credentials the subject was granted to, before the call is served.
func (s *Server) auditCall(ctx context.Context, op, verb string, data []byte) error {
	var args map[string]any
	_ = json.Unmarshal(data, &args)
	delete(args, "v")
	target := ""
	if t, ok := args["target"].(map[string]any); ok {
		target, _ = t["tgt"].(string)
	}
	if ms, ok := args["match"].([]any); ok {
		var l []string
		for _, m := range ms {
			l = append(l, fmt.Sprint(m))
		}
		target = strings.Join(l, ",")
	}
	if id, ok := args["minion"].(string); ok {
		target = id
	}
	return s.audit(ctx, audit.Entry{Actor: "op:" + op, Action: "api." + verb, Target: target, Args: args, Outcome: "requested"})
}

// handleAuditForward takes a batch of a minion's own audit log from
// brine.req.<tok>.audit. The sender is the subject's token; its chain is
// checked against its accepted key before anything is stored.
func (s *Server) handleAuditForward(id string, m *nats.Msg) {
	if s.cfg.AuditStore == nil {
		s.replyErr(m, "audit forwarding is not enabled on this master")
		return
	}
	rec, ok := s.cfg.Reg.Get(id)
	if !ok || rec.State != proto.KeyAccepted {
		s.C.Dropped.Add(1)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ack, err := s.cfg.AuditStore.Forward(ctx, id, rec.Nkey, m.Data)
	if err != nil {
		s.log.Warn("forwarded audit batch refused", "id", id, "err", err)
		s.replyErr(m, err.Error())
		return
	}
	s.reply(m, ack)
}

func (s *Server) auditMinions(ctx context.Context, _ string, _ []byte) (any, error) {
	if s.cfg.AuditStore == nil {
		return nil, errors.New("audit forwarding is not enabled on this master")
	}
	l, err := s.cfg.AuditStore.Minions(ctx)
	if err != nil {
		return nil, err
	}
	if l == nil {
		l = []proto.AuditMinionLog{}
	}
	return proto.AuditMinionsReply{V: proto.Version, Minions: l}, nil
}

func (s *Server) auditRead(ctx context.Context, _ string, data []byte) (any, error) {
	if s.cfg.AuditStore == nil {
		return nil, errors.New("audit forwarding is not enabled on this master")
	}
	var req proto.AuditReadRequest
	if err := proto.Decode(data, s.cfg.MaxBytes, &req); err != nil {
		return nil, err
	}
	if !proto.ValidID(req.Minion) {
		return nil, fmt.Errorf("%w: minion %q", proto.ErrMalformed, req.Minion)
	}
	// Leave room for JSON escaping of the quotes in the lines.
	if req.Epoch < 0 {
		return nil, fmt.Errorf("%w: epoch %d", proto.ErrMalformed, req.Epoch)
	}
	lines, next, more, key, err := s.cfg.AuditStore.ReadEpoch(ctx, req.Minion, req.Epoch, req.After, s.cfg.MaxBytes/3)
	if err != nil {
		return nil, err
	}
	rep := proto.AuditReadReply{V: proto.Version, Lines: string(lines), Next: next, More: more, EpochKey: key}
	if rec, ok := s.cfg.Reg.Get(req.Minion); ok {
		rep.Nkey = rec.Nkey
	}
	return rep, nil
}
