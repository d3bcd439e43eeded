package cli

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/brine-cm/brine/master/jobs"
	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats.go"
)

// returnStream gathers the parts of a run reply the master streams on
// the operator's inbox (jobs.RunRequest.Stream), so a fleet's returns
// never have to fit in one message.
type returnStream struct {
	tag string
	sub *nats.Subscription

	mu      sync.Mutex
	seen    map[int]bool
	rep     jobs.RunReply
	err     error
	arrived chan struct{}
}

// returnStream subscribes to this run's returns subject; the tag it
// picks goes in the run request.
func (c *Client) returnStream() (*returnStream, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("returns: %w", err)
	}
	s := &returnStream{tag: hex.EncodeToString(b[:]), seen: map[int]bool{}, arrived: make(chan struct{}, 1),
		rep: jobs.RunReply{Minions: []string{}}}
	s.rep.Returns = map[string]proto.Return{}
	sub, err := c.nc.Subscribe(jobs.ReturnsSubject(c.operator, s.tag), s.handle)
	if err != nil {
		return nil, fmt.Errorf("returns: %w", err)
	}
	sub.SetPendingLimits(-1, -1)
	s.sub = sub
	// The subscription must be in place before the master publishes.
	if err := c.nc.Flush(); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("returns: %w", err)
	}
	return s, nil
}

// streamPart is a part as it arrives: a RunReply and its index.
type streamPart struct {
	jobs.RunReply
	Part int `json:"part"`
}

func (s *returnStream) handle(m *nats.Msg) {
	var p streamPart
	dec := json.NewDecoder(bytes.NewReader(m.Data))
	dec.UseNumber()
	err := dec.Decode(&p)
	if err == nil {
		fixNumbers(&p.RunReply)
	}
	s.mu.Lock()
	switch {
	case err != nil:
		if s.err == nil {
			s.err = fmt.Errorf("returns: part: %w", err)
		}
	case !s.seen[p.Part]:
		s.seen[p.Part] = true
		s.rep.Minions = append(s.rep.Minions, p.Minions...)
		for id, r := range p.Returns {
			s.rep.Returns[id] = r
		}
		s.rep.Missing = append(s.rep.Missing, p.Missing...)
		for id, up := range p.Connected {
			if s.rep.Connected == nil {
				s.rep.Connected = map[string]bool{}
			}
			s.rep.Connected[id] = up
		}
	}
	s.mu.Unlock()
	select {
	case s.arrived <- struct{}{}:
	default:
	}
}

// merge waits (up to wait) for the parts the final reply counts and
// adds them to it. The master publishes every part before its reply,
// so they are normally all here already.
func (s *returnStream) merge(rep *jobs.RunReply, wait time.Duration) error {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		n, err := len(s.seen), s.err
		s.mu.Unlock()
		if err != nil {
			return err
		}
		if n >= rep.Parts {
			break
		}
		select {
		case <-s.arrived:
		case <-deadline.C:
			return fmt.Errorf("returns: got %d of %d parts of the reply for job %s (see brine-master jobs show %s)", n, rep.Parts, rep.JID, rep.JID)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if rep.Parts == 0 {
		return nil
	}
	rep.Minions = append(rep.Minions, s.rep.Minions...)
	if rep.Returns == nil {
		rep.Returns = s.rep.Returns
	} else {
		for id, r := range s.rep.Returns {
			rep.Returns[id] = r
		}
	}
	rep.Missing = append(rep.Missing, s.rep.Missing...)
	if len(s.rep.Connected) > 0 && rep.Connected == nil {
		rep.Connected = map[string]bool{}
	}
	for id, up := range s.rep.Connected {
		rep.Connected[id] = up
	}
	return nil
}

func (s *returnStream) stop() { _ = s.sub.Unsubscribe() }
