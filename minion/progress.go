package minion

import (
	"strings"
	"sync"
	"time"

	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats.go"
)

// Bounds on the live output one job streams. Chunks are coalesced so a
// command printing one byte at a time does not become one message per
// byte, and the total is capped so a runaway command cannot flood the
// bus; the return still carries the whole output.
const (
	progressEvery    = 100 * time.Millisecond
	progressMaxChunk = 32 << 10
	progressMaxTotal = 1 << 20
)

// progressWriter coalesces a job's output into chunks of at most
// maxChunk bytes, sent when a chunk is full, when the stream changes, or
// every interval after the first unsent byte, and stops after limit
// bytes with one StreamTruncated chunk. It is the execmod.Context
// progress sink of a job whose envelope asked for live output.
type progressWriter struct {
	send     func(stream string, data []byte)
	every    time.Duration
	maxChunk int
	limit    int

	mu        sync.Mutex
	stream    string
	buf       []byte
	sent      int
	truncated bool
	closed    bool
	timer     *time.Timer
}

func newProgressWriter(send func(stream string, data []byte), every time.Duration, maxChunk, limit int) *progressWriter {
	return &progressWriter{send: send, every: every, maxChunk: maxChunk, limit: limit}
}

// Write takes one piece of a stream's output; it never blocks on the
// network for longer than a buffered publish.
func (p *progressWriter) Write(stream string, chunk []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.truncated || len(chunk) == 0 {
		return
	}
	if stream != p.stream && len(p.buf) > 0 {
		p.flushLocked()
	}
	p.stream = stream
	if room := p.limit - p.sent - len(p.buf); len(chunk) > room {
		p.buf = append(p.buf, chunk[:max(room, 0)]...)
		p.flushLocked()
		p.truncated = true
		p.send(proto.StreamTruncated, nil)
		return
	}
	p.buf = append(p.buf, chunk...)
	if len(p.buf) >= p.maxChunk {
		p.sendFullLocked()
	}
	if len(p.buf) > 0 && p.timer == nil {
		p.timer = time.AfterFunc(p.every, p.tick)
	}
}

func (p *progressWriter) tick() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.timer = nil
	if !p.closed {
		p.flushLocked()
	}
}

// sendFullLocked sends the full chunks buffered and keeps the rest for
// the interval to collect more.
func (p *progressWriter) sendFullLocked() {
	for len(p.buf) >= p.maxChunk {
		p.send(p.stream, p.buf[:p.maxChunk])
		p.sent += p.maxChunk
		p.buf = p.buf[p.maxChunk:]
	}
	if len(p.buf) == 0 {
		p.buf = nil
	}
}

// flushLocked sends what is buffered, in chunks of at most maxChunk.
func (p *progressWriter) flushLocked() {
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	for len(p.buf) > 0 {
		n := min(len(p.buf), p.maxChunk)
		p.send(p.stream, p.buf[:n])
		p.sent += n
		p.buf = p.buf[n:]
	}
	p.buf = nil
}

// Close sends what is left; later writes are dropped. The job's return
// is published after Close, so the last chunk precedes it.
func (p *progressWriter) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.flushLocked()
	p.closed = true
}

// jobProgress returns the progress sink for job and a function to call
// when the job is done, or nil when the job did not ask for live output
// (only commands stream).
func (m *Minion) jobProgress(nc *nats.Conn, job *proto.Job) (func(stream string, chunk []byte), func()) {
	if !job.Progress || !strings.HasPrefix(job.Fun, "cmd.") {
		return nil, func() {}
	}
	subject := proto.ProgressSubject(m.cfg.ID, job.JID)
	w := newProgressWriter(func(stream string, data []byte) {
		msg := nats.NewMsg(subject)
		msg.Header.Set(proto.HeaderStream, stream)
		msg.Data = data // Publish copies it into the connection's buffer
		if err := nc.PublishMsg(msg); err != nil {
			m.log.Debug("progress not sent", "jid", job.JID, "err", err)
		}
	}, progressEvery, progressMaxChunk, progressMaxTotal)
	return w.Write, w.Close
}
