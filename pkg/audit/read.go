package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"time"
)

// RawEntry is one stored line as written, for forwarding and for printing
// with `--out json`: Line is the exact bytes (without newline), so the
// receiver can verify the chain.
type RawEntry struct {
	Seq        uint64 // the entry's seq; for a checkpoint, the seq it seals
	Checkpoint bool
	Line       []byte
}

// ReadFrom returns up to max durable lines (max <= 0: all) starting with
// entry seq, preceded by the checkpoint that closes seq-1's segment when
// there is one, so a forwarder that acknowledged seq-1 can resume with
// ReadFrom(seq) and the receiver's chain stays continuous.
func (l *Log) ReadFrom(seq uint64, max int) ([]RawEntry, error) {
	l.mu.Lock()
	segs := append([]segInfo(nil), l.segs...)
	durable := l.durable
	cuts := make(map[string]int64, len(l.cutAt))
	for k, v := range l.cutAt {
		cuts[k] = v
	}
	l.mu.Unlock()
	if seq == 0 {
		seq = 1
	}
	start := 0
	for i, s := range segs {
		if s.firstSeq != 0 && s.firstSeq < seq {
			start = i
		}
	}
	var out []RawEntry
	started := seq == 1
	for i := start; i < len(segs); i++ {
		s := segs[i]
		limit := int64(-1)
		if i == len(segs)-1 {
			limit = durable
		}
		if off, ok := cuts[s.name]; ok && (limit < 0 || off < limit) {
			limit = off
		}
		data, err := readLimited(filepath.Join(l.dir, s.name), limit)
		if err != nil {
			return out, err
		}
		for len(data) > 0 {
			nl := bytes.IndexByte(data, '\n')
			if nl < 0 {
				break
			}
			line := data[:nl]
			data = data[nl+1:]
			r, err := parseLine(line)
			if err != nil {
				return out, fmt.Errorf("audit: %s: %w", s.name, err)
			}
			re := RawEntry{Checkpoint: r.isCheckpoint(), Line: append([]byte(nil), line...)}
			if re.Checkpoint {
				re.Seq = r.LastSeq
			} else {
				re.Seq = *r.Seq
			}
			if !started {
				if !re.Checkpoint && re.Seq == seq-1 {
					started = true
				} else if !re.Checkpoint && re.Seq >= seq {
					started = true
					out = append(out, re)
				}
				continue
			}
			out = append(out, re)
			if max > 0 && len(out) >= max {
				return out, nil
			}
		}
	}
	return out, nil
}

func readLimited(p string, limit int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	if limit >= 0 {
		r = io.LimitReader(f, limit)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("audit: read %s: %w", p, err)
	}
	return data, nil
}

// Filter selects entries for Query. Actor, Action and Target are
// path.Match globs ("key.*", "web*"); empty fields match everything.
// Since is inclusive, Until exclusive.
type Filter struct {
	Actor, Action, Target string
	JID                   string
	Since, Until          time.Time
}

func (f *Filter) match(e *Entry) bool {
	glob := func(pat, s string) bool {
		if pat == "" {
			return true
		}
		ok, err := path.Match(pat, s)
		return err == nil && ok
	}
	if !glob(f.Actor, e.Actor) || !glob(f.Action, e.Action) || !glob(f.Target, e.Target) {
		return false
	}
	if f.JID != "" && f.JID != e.JID {
		return false
	}
	if !f.Since.IsZero() && e.Time.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !e.Time.Before(f.Until) {
		return false
	}
	return true
}

// Scan calls fn for every entry in dir that f selects, in order, with the
// decoded entry and its exact line; it skips checkpoints and disowned
// bytes. It does not verify: run Verify for that.
func Scan(dir string, f Filter, fn func(e Entry, line []byte) error) error {
	if _, err := path.Match(f.Actor+f.Action+f.Target, ""); err != nil {
		return fmt.Errorf("audit: bad filter pattern: %w", err)
	}
	st, err := loadDir(dir)
	if err != nil {
		return err
	}
	for _, s := range st.segs {
		limit := int64(-1)
		if off, ok := st.cuts[s.name]; ok {
			limit = off
		}
		data, err := readLimited(filepath.Join(dir, s.name), limit)
		if err != nil {
			return err
		}
		lineNo := 0
		for len(data) > 0 {
			nl := bytes.IndexByte(data, '\n')
			if nl < 0 {
				break // a torn tail: Verify reports it
			}
			line := data[:nl]
			data = data[nl+1:]
			lineNo++
			if bytes.Contains(line[:min(len(line), 40)], []byte(`"type":"checkpoint"`)) {
				continue
			}
			var e Entry
			if err := json.Unmarshal(line, &e); err != nil {
				return fmt.Errorf("audit: %s:%d: %w", s.name, lineNo, err)
			}
			if !f.match(&e) {
				continue
			}
			if err := fn(e, line); err != nil {
				return err
			}
		}
	}
	return nil
}

// Query returns the entries of dir that f selects.
func Query(dir string, f Filter) ([]Entry, error) {
	var out []Entry
	err := Scan(dir, f, func(e Entry, _ []byte) error {
		out = append(out, e)
		return nil
	})
	return out, err
}

// Tail calls fn for every line from entry seq on (0 or 1: from the start)
// and then for every line appended later, polling every poll interval
// (250ms when zero) until ctx is done, like `tail -f` for a SIEM shipper.
// It follows segments as they are sealed and skips disowned bytes known
// when it reads them.
func Tail(ctx context.Context, dir string, seq uint64, poll time.Duration, fn func(RawEntry) error) error {
	if poll <= 0 {
		poll = 250 * time.Millisecond
	}
	cur := ""
	var off int64
	sealed := false // cur ended with a checkpoint
	started := seq <= 1
	for {
		if ctx.Err() != nil {
			return nil
		}
		st, err := loadDir(dir)
		if err != nil {
			return err
		}
		idx := -1
		for i, s := range st.segs {
			if s.name == cur {
				idx = i
			}
		}
		if cur == "" && len(st.segs) > 0 {
			idx, cur, off, sealed = 0, st.segs[0].name, 0, false
		}
		progressed := false
		for idx >= 0 && idx < len(st.segs) {
			s := st.segs[idx]
			limit := int64(-1)
			cutOff, cut := st.cuts[s.name]
			if cut {
				limit = cutOff
			}
			data, err := readFrom(filepath.Join(dir, s.name), off, limit)
			if err != nil {
				return err
			}
			for {
				nl := bytes.IndexByte(data, '\n')
				if nl < 0 {
					break
				}
				line := data[:nl]
				data = data[nl+1:]
				off += int64(nl + 1)
				r, err := parseLine(line)
				if err != nil {
					return fmt.Errorf("audit: %s offset %d: %w", s.name, off-int64(nl+1), err)
				}
				re := RawEntry{Checkpoint: r.isCheckpoint(), Line: append([]byte(nil), line...)}
				if re.Checkpoint {
					re.Seq, sealed = r.LastSeq, true
				} else {
					re.Seq = *r.Seq
					if !started && re.Seq >= seq {
						started = true
					}
				}
				if !started {
					continue
				}
				progressed = true
				if err := fn(re); err != nil {
					return err
				}
			}
			if (sealed || cut) && idx+1 < len(st.segs) {
				idx++
				cur, off, sealed = st.segs[idx].name, 0, false
				continue
			}
			break
		}
		if progressed {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(poll):
		}
	}
}

func readFrom(p string, off, limit int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, fmt.Errorf("audit: seek %s: %w", p, err)
	}
	var r io.Reader = f
	if limit >= 0 {
		if limit <= off {
			return nil, nil
		}
		r = io.LimitReader(f, limit-off)
	}
	return io.ReadAll(r)
}

// ReadAfter returns up to max durable lines that follow pos, the Position
// a receiver reached (Report.End of its last VerifyEntries). Unlike
// ReadFrom it never repeats the checkpoint the receiver already has, so a
// forwarder loops: lines := ReadAfter(pos, n); send; pos = receiver's End.
func (l *Log) ReadAfter(pos Position, max int) ([]RawEntry, error) {
	n := max
	if n > 0 {
		n++
	}
	out, err := l.ReadFrom(pos.Seq+1, n)
	if err != nil {
		return out, err
	}
	if len(out) > 0 && out[0].Checkpoint && hashLine(out[0].Line) == pos.Hash {
		out = out[1:]
	}
	if max > 0 && len(out) > max {
		out = out[:max]
	}
	return out, nil
}

// Holds says whether pos is a point of this log's chain: the zero position,
// or an entry (or the checkpoint after it) whose line hashes to pos.Hash. A
// forwarder asks before resuming where a receiver says its copy ends, since
// a log rebuilt from scratch does not continue the receiver's copy.
func (l *Log) Holds(pos Position) (bool, error) {
	if pos.Seq == 0 {
		return pos.Hash == "" || pos.Hash == ZeroHash, nil
	}
	out, err := l.ReadFrom(pos.Seq, 3)
	if err != nil {
		return false, err
	}
	for _, r := range out {
		if r.Seq == pos.Seq && hashLine(r.Line) == pos.Hash {
			return true, nil
		}
	}
	return false, nil
}
