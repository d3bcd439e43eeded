package audit

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// maxBatch bounds one group commit so a flood of appends still gets
// acknowledged in pieces.
const maxBatch = 4096

// writer is the single goroutine that owns the files: it takes every
// request waiting in the queue, writes them with one write and one fsync,
// then answers them all (group commit).
func (l *Log) writer() {
	defer close(l.done)
	batch := make([]*request, 0, 64)
	quitting := false
	var g gatherState
	for {
		batch = batch[:0]
		if !quitting {
			select {
			case r := <-l.reqs:
				batch = append(batch, r)
			case <-l.quit:
				quitting = true
			}
		}
		l.gather(&batch, quitting, &g)
		if quitting && len(batch) == 0 {
			return
		}
		t0 := time.Now()
		start := 0
		for i, r := range batch {
			if r.body == nil { // a seal request
				l.commit(batch[start:i])
				r.err = l.seal()
				close(r.done)
				start = i + 1
			}
		}
		l.commit(batch[start:])
		g.syncTime = time.Since(t0)
	}
}

// gatherState drives the commit delay: how many writers the recent
// batches showed, and how long an fsync takes.
type gatherState struct {
	target   int           // the largest recent batch, decaying by one per commit
	syncTime time.Duration // the last fsync's duration
}

// gather adds every queued request to the batch. When recent batches were
// bigger, writers just answered by the previous commit are probably about to
// submit again, so it waits for them a little (at most half an fsync, and
// never when a lone writer is appending): one more entry per fsync is worth
// far more than the wait. This is the group-commit delay databases use.
func (l *Log) gather(batch *[]*request, quitting bool, g *gatherState) {
	drain := func() {
		for len(*batch) < maxBatch {
			select {
			case r := <-l.reqs:
				*batch = append(*batch, r)
			default:
				return
			}
		}
	}
	drain()
	if !quitting && len(*batch) > 0 && len(*batch) < g.target {
		for i := 0; i < 4 && len(*batch) < g.target; i++ {
			runtime.Gosched()
			drain()
		}
		if wait := min(g.syncTime/2, 2*time.Millisecond); len(*batch) < g.target && wait > 0 {
			t := time.NewTimer(wait)
		waiting:
			for len(*batch) < g.target && len(*batch) < maxBatch {
				select {
				case r := <-l.reqs:
					*batch = append(*batch, r)
				case <-t.C:
					break waiting
				}
			}
			t.Stop()
			drain()
		}
	}
	g.target = max(len(*batch), g.target-1)
}

func reply(rs []*request, err error) {
	for _, r := range rs {
		if err != nil {
			r.seq, r.err = 0, err
		}
		close(r.done)
	}
}

func (l *Log) commit(rs []*request) {
	if len(rs) == 0 {
		return
	}
	if err := l.ensureWritable(); err != nil {
		reply(rs, err)
		return
	}
	w := &l.w
	size := 0
	for _, r := range rs {
		size += len(r.body) + 120
	}
	buf := make([]byte, 0, size)
	seq, prev := w.seq, w.prev
	for _, r := range rs {
		seq++
		line := entryLine(seq, r.body, prev)
		prev = hashLine(line)
		buf = append(buf, line...)
		buf = append(buf, '\n')
		r.seq = seq
	}
	if err := l.writeSync(buf); err != nil {
		reply(rs, err)
		return
	}
	l.syncs.Add(1)
	l.appended.Add(uint64(len(rs)))
	first := w.seq + 1
	w.seq, w.prev = seq, prev
	l.publish(first)
	reply(rs, nil)
	if w.size >= l.opts.SegmentSize {
		if err := l.seal(); err != nil {
			l.log.Error("seal audit segment", "err", err)
		}
	}
}

// writeSync appends buf to the current segment and fsyncs it. On failure
// the segment is abandoned: its bytes from the old size on are cut, and the
// next append must first start a new segment recording the cut.
func (l *Log) writeSync(buf []byte) error {
	w := &l.w
	n, err := w.cur.Write(buf)
	if err == nil && n < len(buf) {
		err = io.ErrShortWrite
	}
	if err != nil {
		err = fmt.Errorf("audit: write %s: %w", w.curName, err)
	} else if serr := w.cur.Sync(); serr != nil {
		err = fmt.Errorf("audit: fsync %s: %w", w.curName, serr)
	}
	if err != nil {
		l.log.Error("audit segment failed; appends refused until a new segment can be started", "file", w.curName, "offset", w.size, "err", err)
		w.broken = err
		l.disown(Cut{File: w.curName, Offset: w.size})
		w.cur.Close()
		w.cur = nil
		return err
	}
	w.size += int64(len(buf))
	return nil
}

// disown marks bytes that the next recovery entry must cut, and hides them
// from readers at once.
func (l *Log) disown(c Cut) {
	l.w.cuts = append(l.w.cuts, c)
	l.mu.Lock()
	l.cutAt[c.File] = c.Offset
	l.mu.Unlock()
}

// publish makes the newly durable state visible to readers.
func (l *Log) publish(firstNew uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.durable = l.w.size
	l.lastSeq = l.w.seq
	if n := len(l.segs); n > 0 && l.segs[n-1].name == l.w.curName && l.segs[n-1].firstSeq == 0 && firstNew <= l.w.seq {
		l.segs[n-1].firstSeq = firstNew
	}
}

func (l *Log) addSegment(num int, name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.segs = append(l.segs, segInfo{num: num, name: name})
	l.durable = 0
}

func (l *Log) ensureWritable() error {
	if l.w.cur != nil && l.w.broken == nil {
		return nil
	}
	return l.startSegment()
}

// createSegment makes the next segment file and makes its name durable.
func (l *Log) createSegment() (File, string, int, error) {
	num := l.w.curNum + 1
	name := SegmentName(num)
	f, err := l.opts.OpenFile(filepath.Join(l.dir, name), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, "", 0, fmt.Errorf("audit: create %s: %w", name, err)
	}
	l.w.curNum = num
	l.addSegment(num, name)
	if err := syncDir(l.dir); err != nil {
		f.Close()
		l.disown(Cut{File: name, Offset: 0})
		return nil, "", 0, err
	}
	return f, name, num, nil
}

// startSegment opens a fresh segment after a seal or a failure. After a
// failure its first entry (ActionTornTail) disowns the cut bytes and chains
// to the last durable entry, so Verify can tell damage that was recorded
// from damage that was hidden.
func (l *Log) startSegment() error {
	w := &l.w
	var (
		f    File
		name string
		num  int
		err  error
	)
	if w.spare != nil {
		f, name, num = w.spare.f, w.spare.name, w.spare.num
	} else if f, name, num, err = l.createSegment(); err != nil {
		if w.broken == nil {
			w.broken = err
		}
		return err
	}
	w.spare = nil
	if len(w.cuts) == 0 {
		w.cur, w.curName, w.curNum, w.size, w.broken = f, name, num, 0, nil
		return nil
	}
	reason := "unknown"
	if w.broken != nil {
		reason = w.broken.Error()
	}
	cuts := make([]any, len(w.cuts))
	for i, c := range w.cuts {
		cuts[i] = map[string]any{"file": c.File, "offset": c.Offset}
	}
	body, err := encodeBody(&Entry{
		Time:    time.Now(),
		Actor:   "audit",
		Action:  ActionTornTail,
		Target:  w.cuts[0].File,
		Outcome: "recovered",
		Detail:  map[string]any{"cut": cuts, "reason": reason},
	}, nil)
	if err != nil {
		return err
	}
	line := entryLine(w.seq+1, body, w.prev)
	buf := append(line, '\n')
	n, werr := f.Write(buf)
	if werr == nil && n < len(buf) {
		werr = io.ErrShortWrite
	}
	if werr == nil {
		if serr := f.Sync(); serr != nil {
			werr = fmt.Errorf("audit: fsync %s: %w", name, serr)
			n = len(buf)
		}
	} else {
		werr = fmt.Errorf("audit: write %s: %w", name, werr)
	}
	if werr != nil {
		if n == 0 {
			// Nothing reached the file: keep it for the next attempt.
			w.spare = &spareFile{f: f, name: name, num: num}
		} else {
			f.Close()
			l.disown(Cut{File: name, Offset: 0})
		}
		return werr
	}
	l.log.Warn("audit log resumed in a new segment", "file", name, "cut", w.cuts, "reason", reason)
	l.mu.Lock()
	for _, c := range w.cuts {
		l.cutAt[c.File] = c.Offset
	}
	l.mu.Unlock()
	w.cur, w.curName, w.curNum, w.size = f, name, num, int64(len(buf))
	w.seq++
	w.prev = hashLine(line)
	w.broken, w.cuts = nil, nil
	l.publish(w.seq)
	return nil
}

// checkpoint is the line that seals a segment.
type checkpoint struct {
	Type     string `json:"type"`
	Time     string `json:"time"`
	File     string `json:"file"`
	LastSeq  uint64 `json:"last_seq"`
	LastHash string `json:"last_hash"`
	Signer   string `json:"signer,omitempty"`
	Sig      string `json:"sig,omitempty"`
	Prev     string `json:"prev"`
}

// checkpointMessage is what a checkpoint signature covers. last_hash
// commits to every line before it, so signing it signs the whole chain.
func checkpointMessage(file string, lastSeq uint64, lastHash, t string) []byte {
	return fmt.Appendf(nil, "brine-audit-checkpoint-v1\nfile=%s\nlast_seq=%d\nlast_hash=%s\ntime=%s\n", file, lastSeq, lastHash, t)
}

// seal ends the current segment with a checkpoint and opens the next one.
func (l *Log) seal() error {
	w := &l.w
	if w.broken != nil || w.cur == nil {
		if err := l.ensureWritable(); err != nil {
			return err
		}
	}
	if w.size == 0 {
		return nil // nothing to seal
	}
	cp := checkpoint{
		Type:     "checkpoint",
		Time:     time.Now().UTC().Format(time.RFC3339Nano),
		File:     w.curName,
		LastSeq:  w.seq,
		LastHash: w.prev,
		Prev:     w.prev,
	}
	if s := l.opts.Signer; s != nil {
		cp.Signer = s.PublicKey()
		sig, err := s.Sign(checkpointMessage(cp.File, cp.LastSeq, cp.LastHash, cp.Time))
		if err != nil {
			return fmt.Errorf("audit: sign checkpoint of %s: %w", w.curName, err)
		}
		cp.Sig = base64.StdEncoding.EncodeToString(sig)
	}
	line, err := marshal(cp)
	if err != nil {
		return fmt.Errorf("audit: encode checkpoint: %w", err)
	}
	if err := l.writeSync(append(line, '\n')); err != nil {
		return err
	}
	w.prev = hashLine(line)
	l.publish(w.seq + 1)
	if err := w.cur.Close(); err != nil {
		l.log.Warn("close sealed audit segment", "file", w.curName, "err", err)
	}
	w.cur = nil
	f, name, num, err := l.createSegment()
	if err != nil {
		w.broken = err
		return err
	}
	w.cur, w.curName, w.curNum, w.size = f, name, num, 0
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("audit: open dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("audit: fsync dir %s: %w", dir, err)
	}
	return nil
}
