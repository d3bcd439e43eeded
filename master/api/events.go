package api

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/brine-cm/brine/proto"
)

// Operator verbs of the event bus.
const (
	VerbEventWatch   = "event.watch"
	VerbEventUnwatch = "event.unwatch"
)

// maxEventLease bounds one watch; the CLI renews it while it runs, so a
// watcher that went away stops costing anything soon after.
const maxEventLease = 10 * time.Minute

// EventWatch asks for the master's events whose Salt-style tag matches
// Tag (a glob in which * also matches "/"), published on
// EventsSubject(operator, Stream) until Lease passes; sending it again
// with the same Stream extends it.
type EventWatch struct {
	V        int    `json:"v"`
	Tag      string `json:"tag,omitempty"`
	Stream   string `json:"stream"`
	LeaseSec int    `json:"lease_sec,omitempty"`
}

// EventWatchReply names the subject the events arrive on.
type EventWatchReply struct {
	V       int       `json:"v"`
	Subject string    `json:"subject"`
	Until   time.Time `json:"until"`
}

// EventsSubject is where a watch's events go: under the operator's own
// inbox, the only place an operator may subscribe.
func EventsSubject(operator, stream string) string {
	return proto.OperatorInbox(operator) + ".events." + stream
}

var streamTag = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// watch is one operator's event subscription.
type watch struct {
	subject string
	match   *regexp.Regexp
	until   time.Time
}

// eventHub fans the master's events out to operator watches and to the
// reactor.
type eventHub struct {
	mu      sync.Mutex
	watches map[string]*watch // operator + stream
	react   func(tag string, data map[string]any)
}

// SetReactor hands every event the master raises or receives to react
// (the reactor), which must not block.
func (s *Server) SetReactor(react func(tag string, data map[string]any)) {
	s.hub.mu.Lock()
	s.hub.react = react
	s.hub.mu.Unlock()
}

// Watching reports whether any operator or the reactor takes events, so
// a producer of many events (one per return) can skip building them.
func (s *Server) Watching() bool {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return len(s.hub.watches) > 0 || s.hub.react != nil
}

// Emit raises a master event: it is published on the master's event
// subject of its type and handed to every operator watching its tag.
// The dispatcher and the pillar watcher raise theirs through it.
func (s *Server) Emit(typ, tag string, data map[string]any) {
	b, err := json.Marshal(proto.Event{V: proto.Version, Tag: tag, Data: data, Time: time.Now().UTC()})
	if err != nil {
		s.log.Warn("event not encoded", "tag", tag, "err", err)
		return
	}
	_ = s.cfg.NC.Publish(proto.MasterEventPrefix+typ, b)
	s.forward(tag, b)
	s.reactTo(tag, data)
}

func (s *Server) reactTo(tag string, data map[string]any) {
	s.hub.mu.Lock()
	react := s.hub.react
	s.hub.mu.Unlock()
	if react != nil {
		react(tag, data)
	}
}

// forward hands an encoded event to the watches of its tag, dropping
// those whose lease ran out.
func (s *Server) forward(tag string, b []byte) {
	now := time.Now()
	s.hub.mu.Lock()
	var subjects []string
	for k, w := range s.hub.watches {
		if now.After(w.until) {
			delete(s.hub.watches, k)
			continue
		}
		if w.match.MatchString(tag) {
			subjects = append(subjects, w.subject)
		}
	}
	s.hub.mu.Unlock()
	for _, subj := range subjects {
		_ = s.cfg.NC.Publish(subj, b)
	}
}

func (s *Server) eventWatch(_ context.Context, op string, data []byte) (any, error) {
	var req EventWatch
	if err := proto.Decode(data, s.cfg.MaxBytes, &req); err != nil {
		return nil, err
	}
	if !streamTag.MatchString(req.Stream) {
		return nil, fmt.Errorf("%w: stream %q: want 1 to 64 letters, digits, _ or -", proto.ErrMalformed, req.Stream)
	}
	re, err := proto.TagPattern(req.Tag)
	if err != nil {
		return nil, fmt.Errorf("%w: tag %q: %v", proto.ErrMalformed, req.Tag, err)
	}
	lease := time.Duration(req.LeaseSec) * time.Second
	if lease <= 0 || lease > maxEventLease {
		lease = maxEventLease
	}
	w := &watch{subject: EventsSubject(op, req.Stream), match: re, until: time.Now().Add(lease)}
	s.hub.mu.Lock()
	if s.hub.watches == nil {
		s.hub.watches = map[string]*watch{}
	}
	s.hub.watches[op+"\x00"+req.Stream] = w
	s.hub.mu.Unlock()
	return EventWatchReply{V: proto.Version, Subject: w.subject, Until: w.until.UTC()}, nil
}

func (s *Server) eventUnwatch(_ context.Context, op string, data []byte) (any, error) {
	var req EventWatch
	if err := proto.Decode(data, s.cfg.MaxBytes, &req); err != nil {
		return nil, err
	}
	s.hub.mu.Lock()
	delete(s.hub.watches, op+"\x00"+req.Stream)
	s.hub.mu.Unlock()
	return map[string]any{"v": proto.Version}, nil
}

// minionEvent forwards an event a minion raised (its tag as it sent it,
// its id added to the data) to the watches and the reactor.
func (s *Server) minionEvent(id string, e proto.Event) {
	if !s.Watching() {
		return
	}
	if e.Data == nil {
		e.Data = map[string]any{}
	}
	e.Data["id"] = id
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	s.forward(e.Tag, b)
	s.reactTo(e.Tag, e.Data)
}
