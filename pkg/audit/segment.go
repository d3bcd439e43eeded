package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// rawLine is the union of the entry and checkpoint fields, for reading.
type rawLine struct {
	Type     string          `json:"type"`
	Seq      *uint64         `json:"seq"`
	Time     string          `json:"time"`
	Actor    string          `json:"actor"`
	Action   string          `json:"action"`
	Prev     *string         `json:"prev"`
	Detail   json.RawMessage `json:"detail"`
	File     string          `json:"file"`
	LastSeq  uint64          `json:"last_seq"`
	LastHash string          `json:"last_hash"`
	Signer   string          `json:"signer"`
	Sig      string          `json:"sig"`
}

func (r *rawLine) isCheckpoint() bool { return r.Type == "checkpoint" }

// parseLine decodes one stored line and checks it has the fields its type
// requires.
func parseLine(line []byte) (*rawLine, error) {
	if len(line) == 0 || line[0] != '{' {
		return nil, errors.New("not a JSON object")
	}
	var r rawLine
	if err := json.Unmarshal(line, &r); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	if r.Prev == nil {
		return nil, errors.New(`no "prev" field`)
	}
	switch r.Type {
	case "":
		if r.Seq == nil {
			return nil, errors.New(`no "seq" field`)
		}
	case "checkpoint":
	default:
		return nil, fmt.Errorf("unknown line type %q", r.Type)
	}
	return &r, nil
}

// markerCuts returns the cuts a recovery entry declares.
func (r *rawLine) markerCuts() []Cut {
	if r.Type != "" || r.Action != ActionTornTail || len(r.Detail) == 0 {
		return nil
	}
	var d struct {
		Cut []Cut `json:"cut"`
	}
	if json.Unmarshal(r.Detail, &d) != nil {
		return nil
	}
	return d.Cut
}

// listSegments returns the segment files of dir in order.
func listSegments(dir string) ([]segInfo, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("audit: read %s: %w", dir, err)
	}
	var segs []segInfo
	for _, e := range ents {
		if n, ok := parseSegmentName(e.Name()); ok && e.Type().IsRegular() {
			segs = append(segs, segInfo{num: n, name: e.Name()})
		}
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].num < segs[j].num })
	return segs, nil
}

func readFirstLine(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	line, err := bufio.NewReaderSize(f, 64<<10).ReadBytes('\n')
	if err == io.EOF {
		return nil, nil // no complete line
	}
	if err != nil {
		return nil, err
	}
	return line[:len(line)-1], nil
}

// dirState is what readers need to walk a log directory: its segments in
// order and the bytes that recovery entries disowned.
type dirState struct {
	segs []segInfo
	cuts map[string]int64
	// cutBy names the segment whose first entry declared each cut.
	cutBy map[string]string
}

// loadDir reads the first line of every segment to learn first sequence
// numbers and recovery cuts. A segment cut from offset 0 by a later
// recovery entry is ignored entirely, including any recovery entry of its
// own.
func loadDir(dir string) (*dirState, error) {
	segs, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	st := &dirState{segs: segs, cuts: map[string]int64{}, cutBy: map[string]string{}}
	for i := len(segs) - 1; i >= 0; i-- {
		s := &segs[i]
		if off, ok := st.cuts[s.name]; ok && off == 0 {
			continue
		}
		line, err := readFirstLine(filepath.Join(dir, s.name))
		if err != nil {
			return nil, fmt.Errorf("audit: read %s: %w", s.name, err)
		}
		if line == nil {
			continue
		}
		r, err := parseLine(line)
		if err != nil || r.isCheckpoint() {
			continue
		}
		s.firstSeq = *r.Seq
		for _, c := range r.markerCuts() {
			if _, seen := st.cuts[c.File]; !seen {
				st.cuts[c.File] = c.Offset
				st.cutBy[c.File] = s.name
			}
		}
	}
	return st, nil
}

// tailState describes the end of one segment for Open.
type tailState struct {
	size    int64
	goodEnd int64    // end of the last complete, parsable line
	last    []byte   // that line, without newline
	lastRaw *rawLine // parsed
}

func scanTail(path string) (*tailState, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	st := &tailState{size: int64(len(data))}
	end := bytes.LastIndexByte(data, '\n') + 1 // bytes after it are a partial line
	for end > 0 {
		start := bytes.LastIndexByte(data[:end-1], '\n') + 1
		line := data[start : end-1]
		if r, err := parseLine(line); err == nil {
			st.goodEnd, st.last, st.lastRaw = int64(end), line, r
			return st, nil
		}
		end = start
	}
	return st, nil
}

// resume finds where the log left off. It never modifies existing bytes:
// after damage it starts a new segment whose first entry records the cut.
func (l *Log) resume() error {
	st, err := loadDir(l.dir)
	if err != nil {
		return err
	}
	l.segs = st.segs
	for f, off := range st.cuts {
		l.cutAt[f] = off
	}
	w := &l.w
	w.prev = ZeroHash
	if len(st.segs) == 0 {
		f, name, num, err := l.createSegment()
		if err != nil {
			return err
		}
		w.cur, w.curName, w.curNum = f, name, num
		return nil
	}
	last := len(st.segs) - 1
	w.curNum = st.segs[last].num
	var (
		cuts      []Cut
		torn      *Cut
		lastEmpty bool
		found     = -1
		tail      *tailState
	)
	for i := last; i >= 0; i-- {
		name := st.segs[i].name
		if off, ok := st.cuts[name]; ok && off == 0 {
			continue // already disowned by a recovery entry
		}
		ts, err := scanTail(filepath.Join(l.dir, name))
		if err != nil {
			return fmt.Errorf("audit: read %s: %w", name, err)
		}
		if ts.size == 0 {
			if i == last {
				lastEmpty = true
			} else {
				cuts = append(cuts, Cut{File: name})
			}
			continue
		}
		if ts.goodEnd < ts.size {
			c := Cut{File: name, Offset: ts.goodEnd}
			cuts = append(cuts, c)
			if torn == nil {
				torn = &c
			}
		}
		if ts.last != nil {
			found, tail = i, ts
			break
		}
	}
	if torn != nil && !l.opts.AllowTornTail {
		return fmt.Errorf("audit: %s offset %d: %w", filepath.Join(l.dir, torn.File), torn.Offset, ErrTornTail)
	}
	if tail != nil {
		r := tail.lastRaw
		w.prev = hashLine(tail.last)
		if r.isCheckpoint() {
			w.seq = r.LastSeq
		} else {
			w.seq = *r.Seq
		}
		// An unsealed segment followed by other files needs a recovery entry
		// to explain why it stops.
		if found < last && !r.isCheckpoint() && (len(cuts) == 0 || cuts[len(cuts)-1].File != st.segs[found].name) {
			cuts = append(cuts, Cut{File: st.segs[found].name, Offset: tail.goodEnd})
		}
	}
	l.lastSeq = w.seq
	// Cuts were collected newest first; record them oldest first.
	for i, j := 0, len(cuts)-1; i < j; i, j = i+1, j-1 {
		cuts[i], cuts[j] = cuts[j], cuts[i]
	}
	if len(cuts) == 0 {
		switch {
		case lastEmpty:
			return l.reopen(st.segs[last], 0)
		case tail != nil && tail.lastRaw.isCheckpoint():
			f, name, num, err := l.createSegment()
			if err != nil {
				return err
			}
			w.cur, w.curName, w.curNum = f, name, num
			return nil
		case tail == nil:
			f, name, num, err := l.createSegment()
			if err != nil {
				return err
			}
			w.cur, w.curName, w.curNum = f, name, num
			return nil
		default:
			return l.reopen(st.segs[found], tail.size)
		}
	}
	if torn != nil {
		l.log.Warn("audit log has a torn tail; continuing in a new segment", "file", torn.File, "offset", torn.Offset)
		w.broken = fmt.Errorf("%s offset %d: %w", torn.File, torn.Offset, ErrTornTail)
	} else {
		w.broken = errors.New("segment ends unsealed before an empty segment")
	}
	w.cuts = cuts
	if lastEmpty {
		f, err := l.opts.OpenFile(filepath.Join(l.dir, st.segs[last].name), os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("audit: open %s: %w", st.segs[last].name, err)
		}
		w.spare = &spareFile{f: f, name: st.segs[last].name, num: st.segs[last].num}
	}
	return l.startSegment()
}

func (l *Log) reopen(s segInfo, size int64) error {
	f, err := l.opts.OpenFile(filepath.Join(l.dir, s.name), os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("audit: open %s: %w", s.name, err)
	}
	w := &l.w
	w.cur, w.curName, w.curNum, w.size = f, s.name, s.num, size
	l.durable = size
	return nil
}
