package cli

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats.go"
)

// wantLive decides whether `run` prints a command's output as it comes:
// always with --progress, and on a terminal for a cmd.* job aimed at one
// minion (a plain id or a one-element list), where interleaved lines of
// many hosts would be more noise than help.
func wantLive(r runArgs, terminal bool) bool {
	if r.async {
		return false
	}
	if r.progress {
		return true
	}
	if !terminal || !strings.HasPrefix(r.fun, "cmd.") {
		return false
	}
	switch r.target.Type {
	case "", "glob":
		return !strings.ContainsAny(r.target.Expr, "*?[")
	case "list":
		return !strings.ContainsAny(strings.TrimSpace(r.target.Expr), ", ")
	}
	return false
}

// statusWriter serialises the two things `run` prints on stderr while it
// waits (the answered/expected status line, rewritten in place with \r,
// and live output lines) and clears the status line before a line of
// output, so the two do not garble each other.
type statusWriter struct {
	mu     sync.Mutex
	w      io.Writer
	status bool // a status line is shown and not ended
}

func (s *statusWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = len(p) > 0 && p[0] == '\r' && p[len(p)-1] != '\n'
	return s.w.Write(p)
}

// lines writes whole lines, clearing a shown status line first.
func (s *statusWriter) lines(b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status {
		_, _ = io.WriteString(s.w, "\r\033[K")
		s.status = false
	}
	_, _ = s.w.Write(b)
}

// liveOutput prints the chunks the master forwards for one run, each
// line prefixed with the minion's id, as `web1: line`.
type liveOutput struct {
	tag string
	out *statusWriter
	sub *nats.Subscription
	nc  *nats.Conn

	mu      sync.Mutex
	partial map[string][]byte // minion id + stream -> an unfinished line
}

// live subscribes to this run's progress subject under the operator's
// inbox; the tag it picks goes in the run request.
func (c *Client) live(out *statusWriter) (*liveOutput, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("live output: %w", err)
	}
	l := &liveOutput{tag: hex.EncodeToString(b[:]), out: out, nc: c.nc, partial: map[string][]byte{}}
	sub, err := c.nc.Subscribe(proto.OperatorProgressSubject(c.operator, l.tag), l.handle)
	if err != nil {
		return nil, fmt.Errorf("live output: %w", err)
	}
	sub.SetPendingLimits(-1, 64<<20)
	l.sub = sub
	// The subscription must be in place before the master publishes.
	if err := c.nc.Flush(); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("live output: %w", err)
	}
	return l, nil
}

func (l *liveOutput) handle(m *nats.Msg) {
	id := m.Header.Get(proto.HeaderMinion)
	stream := m.Header.Get(proto.HeaderStream)
	if id == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if stream == proto.StreamTruncated {
		l.flushLocked(id)
		l.out.lines([]byte(id + ": [live output stopped here; the return below has all of it]\n"))
		return
	}
	key := id + "\x00" + stream
	data := append(l.partial[key], m.Data...)
	var b bytes.Buffer
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		b.WriteString(id)
		b.WriteString(": ")
		b.Write(data[:i+1])
		data = data[i+1:]
	}
	if len(data) > 0 {
		l.partial[key] = append([]byte(nil), data...)
	} else {
		delete(l.partial, key)
	}
	if b.Len() > 0 {
		l.out.lines(b.Bytes())
	}
}

// flushLocked prints id's unfinished lines.
func (l *liveOutput) flushLocked(id string) {
	for key, data := range l.partial {
		if strings.HasPrefix(key, id+"\x00") {
			l.out.lines([]byte(id + ": " + string(data) + "\n"))
			delete(l.partial, key)
		}
	}
}

// stop prints what already arrived, including unfinished lines, and
// unsubscribes. Chunks still in flight after the run returned are left
// out: the return that follows is the whole output.
func (l *liveOutput) stop() {
	_ = l.nc.Flush()
	closed := l.sub.StatusChanged(nats.SubscriptionClosed)
	if l.sub.Drain() == nil {
		select {
		case <-closed:
		case <-time.After(2 * time.Second):
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for key, data := range l.partial {
		id, _, _ := strings.Cut(key, "\x00")
		l.out.lines([]byte(id + ": " + string(data) + "\n"))
		delete(l.partial, key)
	}
}
