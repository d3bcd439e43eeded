package jobs

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats.go"
)

// Bounds on one message of a run reply. A part holds at most
// maxPartBytes, and never more than the server's max_payload less
// partSlack (room for headers and the part's own fields).
const (
	maxPartBytes = 256 << 10
	partSlack    = 2 << 10
)

// runPart is one part of a streamed run reply; the CLI decodes it as a
// RunReply and merges it. Returns stay encoded, as measured.
type runPart struct {
	V         int                        `json:"v"`
	JID       string                     `json:"jid"`
	Part      int                        `json:"part"`
	Minions   []string                   `json:"minions,omitempty"`
	Returns   map[string]json.RawMessage `json:"returns,omitempty"`
	Missing   []string                   `json:"missing,omitempty"`
	Connected map[string]bool            `json:"connected,omitempty"`
}

// partBound is the most one reply message may carry on this master.
func (d *Dispatcher) partBound() int {
	b := maxPartBytes
	if mp := int(d.nc.MaxPayload()); mp > 0 && mp-partSlack < b {
		b = mp - partSlack
	}
	return max(b, 1024)
}

// encodeReturn encodes one return for the operator. A return too large
// for any message (one minion's huge output) is replaced by an error for
// that minion, returned as well, so the rest of the reply still gets
// through; the full return stays in the job store.
func encodeReturn(r proto.Return, bound int) (json.RawMessage, *proto.Return) {
	b, err := json.Marshal(r)
	if err == nil && len(b)+len(r.ID)+8 <= bound {
		return b, nil
	}
	msg := fmt.Sprintf("return too large to send to the operator: %d bytes, over the %d bytes one message may carry (raise max_request_bytes)", len(b), bound)
	if err != nil {
		msg = fmt.Sprintf("return cannot be encoded: %v", err)
	}
	e := proto.Return{V: r.V, JID: r.JID, ID: r.ID, Fun: r.Fun, Return: msg, Retcode: r.Retcode, Success: false}
	if e.Retcode == 0 {
		e.Retcode = 1
	}
	b, _ = json.Marshal(e)
	return b, &e
}

// capReturns replaces, in a reply sent as one message, each return too
// large for any message by an error for its minion (encodeReturn).
func (d *Dispatcher) capReturns(rep *RunReply) {
	bound := d.partBound()
	for id, r := range rep.Returns {
		if _, e := encodeReturn(r, bound); e != nil {
			d.log.Warn("return too large to send to the operator", "jid", rep.JID, "id", id)
			rep.Returns[id] = *e
		}
	}
}

// streamReply publishes rep's minions, returns, missing ids and their
// connected state in parts on subject, each under partBound, and leaves
// in rep only what the final reply carries (the jid and the number of
// parts). Parts go out on the connection the reply goes out on, so
// they reach the operator before it.
func (d *Dispatcher) streamReply(rep *RunReply, subject string) error {
	bound := d.partBound()
	ids := make([]string, 0, len(rep.Returns))
	for id := range rep.Returns {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	part := runPart{V: proto.Version, JID: rep.JID}
	size, parts := 0, 0
	base := len(rep.JID) + 64
	flush := func() error {
		if size == 0 {
			return nil
		}
		part.Part = parts
		b, err := json.Marshal(part)
		if err != nil {
			return fmt.Errorf("jobs: encode reply part: %w", err)
		}
		m := nats.NewMsg(subject)
		m.Header.Set(proto.HeaderJID, rep.JID)
		m.Data = b
		if err := d.nc.PublishMsg(m); err != nil {
			return fmt.Errorf("jobs: publish reply part %d of %s: %w", parts, rep.JID, err)
		}
		parts++
		part = runPart{V: proto.Version, JID: rep.JID}
		size = 0
		return nil
	}
	add := func(n int, put func()) error {
		if size > 0 && base+size+n > bound {
			if err := flush(); err != nil {
				return err
			}
		}
		put()
		size += n
		return nil
	}
	for _, id := range rep.Minions {
		if err := add(len(id)+8, func() { part.Minions = append(part.Minions, id) }); err != nil {
			return err
		}
	}
	for _, id := range ids {
		b, e := encodeReturn(rep.Returns[id], bound-base)
		if e != nil {
			d.log.Warn("return too large to send to the operator", "jid", rep.JID, "id", id)
		}
		if err := add(len(id)+len(b)+8, func() {
			if part.Returns == nil {
				part.Returns = map[string]json.RawMessage{}
			}
			part.Returns[id] = b
		}); err != nil {
			return err
		}
	}
	for _, id := range rep.Missing {
		err := add(2*len(id)+24, func() {
			part.Missing = append(part.Missing, id)
			if up, ok := rep.Connected[id]; ok {
				if part.Connected == nil {
					part.Connected = map[string]bool{}
				}
				part.Connected[id] = up
			}
		})
		if err != nil {
			return err
		}
	}
	if err := flush(); err != nil {
		return err
	}
	rep.Minions, rep.Missing, rep.Connected = []string{}, nil, nil
	rep.Returns = map[string]proto.Return{}
	rep.Parts = parts
	return nil
}
