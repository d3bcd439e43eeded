package audit

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Position is a point in a chain: the seq of the last entry and the hash of
// the last line (entry or checkpoint). A receiver of forwarded entries keeps
// it to verify the next batch; the zero value is the start of a log.
type Position struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

// Problem names the first line that fails verification.
type Problem struct {
	File   string // segment file name; empty for a stream
	Line   int    // 1-based line in File (or in the stream)
	Seq    uint64 // the seq found on, or expected at, that line
	Reason string
}

// Error formats as "audit: FILE:LINE: seq N: reason" so the CLI can print
// it as is.
func (p *Problem) Error() string {
	where := fmt.Sprintf("line %d", p.Line)
	if p.File != "" {
		where = fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("audit: %s: seq %d: %s", where, p.Seq, p.Reason)
}

// Report summarises a verification.
type Report struct {
	Files       int
	Entries     uint64 // entries checked
	Checkpoints int
	Signed      int // checkpoints with a valid signature
	FirstSeq    uint64
	LastSeq     uint64
	End         Position // where the next line must continue
	// Unsigned is how many entries at the end are not yet covered by a
	// checkpoint (and so could be truncated without a trace).
	Unsigned uint64
	Warnings []string
	Problem  *Problem // nil when the log is intact
	// Key is the key that signs the log's checkpoints at its end (after the
	// last key.rotated entry); empty when no checkpoint names one yet. A
	// receiver passes it to VerifyEntriesFrom with the next batch.
	Key string
	// Rotations counts the key.rotated entries checked.
	Rotations int
}

type location struct {
	file string
	line int
	seq  uint64
}

type chain struct {
	trusted  func(string) bool
	eraKey   string // the key checkpoints must be signed with now; "" until known
	eraFrom  uint64 // seq of the key.rotated entry that set eraKey (0: none)
	rots     []rotation
	vouched  map[string]bool // keys trusted because a trusted key's checkpoint covers their rotation
	pending  []pendingCkp    // checkpoints by keys not (yet) trusted
	expSeq   uint64
	prev     string
	prevLoc  *location
	sealed   bool
	rep      *Report
	sinceCkp uint64
}

// rotation is a key.rotated entry seen by the chain; covered once a
// checkpoint (necessarily signed by the new key) follows it.
type rotation struct {
	old, new string
	covered  bool
}

func newChain(start Position, trusted func(string) bool, rep *Report) *chain {
	c := &chain{trusted: trusted, expSeq: start.Seq + 1, prev: start.Hash, rep: rep, vouched: map[string]bool{}}
	if c.prev == "" {
		c.prev = ZeroHash
	}
	return c
}

func (c *chain) problem(file string, line int, seq uint64, format string, args ...any) *Problem {
	return &Problem{File: file, Line: line, Seq: seq, Reason: fmt.Sprintf(format, args...)}
}

// chainBreak blames the previous line: its bytes no longer hash to what the
// line after it recorded.
func (c *chain) chainBreak(file string, line int, seq uint64) *Problem {
	if c.prevLoc == nil {
		return c.problem(file, line, seq, "prev is not the expected start of the chain %s", c.prev)
	}
	p := c.prevLoc
	next := fmt.Sprintf("line %d", line)
	if file != "" {
		next = fmt.Sprintf("%s:%d", file, line)
	}
	return c.problem(p.file, p.line, p.seq, "line does not match the hash recorded by the next line (%s): it was edited or replaced, or that line's prev was altered", next)
}

// feed checks one line (without its newline).
func (c *chain) feed(line []byte, file string, lineNo int) *Problem {
	r, err := parseLine(line)
	if err != nil {
		return c.problem(file, lineNo, c.expSeq, "unreadable line: %v", err)
	}
	if c.sealed && file != "" {
		return c.problem(file, lineNo, c.expSeq, "line after the segment's checkpoint")
	}
	if r.isCheckpoint() {
		if *r.Prev != c.prev {
			return c.chainBreak(file, lineNo, r.LastSeq)
		}
		if r.LastSeq != c.expSeq-1 {
			return c.problem(file, lineNo, r.LastSeq, "checkpoint says the last seq is %d, but it is %d", r.LastSeq, c.expSeq-1)
		}
		if r.LastHash != c.prev {
			return c.problem(file, lineNo, r.LastSeq, "checkpoint last_hash does not match the last entry")
		}
		if file != "" && r.File != file {
			return c.problem(file, lineNo, r.LastSeq, "checkpoint names file %q", r.File)
		}
		if r.Sig == "" {
			if c.trusted != nil {
				return c.problem(file, lineNo, r.LastSeq, "checkpoint is not signed")
			}
		} else {
			sig, err := base64.StdEncoding.DecodeString(r.Sig)
			if err != nil {
				return c.problem(file, lineNo, r.LastSeq, "checkpoint signature is not base64")
			}
			if err := verifySig(r.Signer, checkpointMessage(r.File, r.LastSeq, r.LastHash, r.Time), sig); err != nil {
				return c.problem(file, lineNo, r.LastSeq, "bad checkpoint signature by %s: %v", r.Signer, err)
			}
			if p := c.checkEra(r.Signer, file, lineNo, r.LastSeq); p != nil {
				return p
			}
			if c.trusted != nil && !c.isTrusted(r.Signer) {
				c.pending = append(c.pending, pendingCkp{key: r.Signer, p: c.problem(file, lineNo, r.LastSeq, "checkpoint signed by untrusted key %s", r.Signer)})
			}
			c.rep.Signed++
		}
		c.sealed = true
		c.rep.Checkpoints++
		c.sinceCkp = 0
		c.prev = hashLine(line)
		c.prevLoc = &location{file: file, line: lineNo, seq: r.LastSeq}
		return nil
	}
	seq := *r.Seq
	if seq != c.expSeq {
		if seq > c.expSeq {
			return c.problem(file, lineNo, c.expSeq, "expected seq %d, found %d: entries are missing or out of order", c.expSeq, seq)
		}
		return c.problem(file, lineNo, c.expSeq, "expected seq %d, found %d: entry out of order or repeated", c.expSeq, seq)
	}
	if *r.Prev != c.prev {
		return c.chainBreak(file, lineNo, seq)
	}
	if _, err := time.Parse(time.RFC3339Nano, r.Time); err != nil {
		return c.problem(file, lineNo, seq, "bad time %q", r.Time)
	}
	if r.Actor == "" || r.Action == "" {
		return c.problem(file, lineNo, seq, "entry has no actor or action")
	}
	if r.Action == ActionKeyRotated {
		if p := c.rotate(r, file, lineNo, seq); p != nil {
			return p
		}
	}
	if c.rep.FirstSeq == 0 {
		c.rep.FirstSeq = seq
	}
	c.rep.LastSeq = seq
	c.rep.Entries++
	c.sinceCkp++
	c.expSeq++
	c.prev = hashLine(line)
	c.prevLoc = &location{file: file, line: lineNo, seq: seq}
	return nil
}

func (c *chain) finish() {
	c.rep.End = Position{Seq: c.expSeq - 1, Hash: c.prev}
	c.rep.Unsigned = c.sinceCkp
	c.rep.Key = c.eraKey
}

// isTrusted says whether checkpoints by pub are trusted: directly, or
// vouched for by a key.rotated entry that a trusted key's checkpoint covers.
func (c *chain) isTrusted(pub string) bool { return c.trusted(pub) || c.vouched[pub] }

// checkEra enforces one signing key at a time: every checkpoint is signed
// by the key the last key.rotated entry named as new (before any rotation,
// by the key of the first checkpoint). A valid signature by another key
// therefore cannot slip in, even a key the reader trusts.
func (c *chain) checkEra(signer, file string, lineNo int, seq uint64) *Problem {
	if c.eraKey == "" {
		c.eraKey = signer
	}
	if signer != c.eraKey && len(c.rots) == 0 && c.trusted != nil && c.trusted(signer) && c.trusted(c.eraKey) {
		// A log written before key changes were recorded: both keys are
		// trusted by the reader (the master's key history, say).
		c.rep.Warnings = append(c.rep.Warnings, fmt.Sprintf("seq %d: checkpoints switch from key %s to %s without a key.rotated entry; both keys are trusted", seq, c.eraKey, signer))
		c.eraKey = signer
	}
	if signer != c.eraKey {
		since := "the start"
		if c.eraFrom > 0 {
			since = fmt.Sprintf("the key.rotated entry at seq %d", c.eraFrom)
		}
		return c.problem(file, lineNo, seq, "checkpoint signed by %s, but the log's key since %s is %s (a key change needs a key.rotated entry)", signer, since, c.eraKey)
	}
	// This checkpoint covers every rotation before it (one whose own seal
	// was lost in a crash included).
	if n := len(c.rots); n > 0 && !c.rots[n-1].covered {
		for i := n - 1; i >= 0 && !c.rots[i].covered; i-- {
			c.rots[i].covered = true
		}
		if c.trusted != nil {
			c.vouch()
		}
	}
	return nil
}

// vouch extends trust backwards through covered rotations (a checkpoint by
// the new key signs the hash of every line before it, the old key's
// checkpoints and the rotation entry included) and drops the pending
// checkpoints that became trusted.
func (c *chain) vouch() {
	for i := len(c.rots) - 1; i >= 0; i-- {
		if r := c.rots[i]; r.covered && c.isTrusted(r.new) {
			c.vouched[r.old] = true
		}
	}
	kept := c.pending[:0]
	for _, p := range c.pending {
		if !c.isTrusted(p.key) {
			kept = append(kept, p)
		}
	}
	c.pending = kept
}

// pendingCkp is a checkpoint whose key may still be vouched for later.
type pendingCkp struct {
	key string
	p   *Problem
}

// rotate checks a key.rotated entry: it must name the key in use as old
// and a different new key, which every later checkpoint must be signed by.
func (c *chain) rotate(r *rawLine, file string, lineNo int, seq uint64) *Problem {
	d := rotationOf(r)
	if d.Old == "" || d.New == "" || d.Old == d.New {
		return c.problem(file, lineNo, seq, "key.rotated entry needs distinct old_key and new_key in its detail")
	}
	if c.eraKey != "" && d.Old != c.eraKey {
		return c.problem(file, lineNo, seq, "key.rotated names old key %s, but the log's checkpoints are signed by %s", d.Old, c.eraKey)
	}
	c.rots = append(c.rots, rotation{old: d.Old, new: d.New})
	c.eraKey, c.eraFrom = d.New, seq
	c.rep.Rotations++
	return nil
}

type rotationDetail struct {
	Old string `json:"old_key"`
	New string `json:"new_key"`
}

func rotationOf(r *rawLine) rotationDetail {
	var d rotationDetail
	if len(r.Detail) > 0 {
		_ = json.Unmarshal(r.Detail, &d)
	}
	return d
}

func rotatedTo(r *rawLine) string { return rotationOf(r).New }

// unvouched is the first checkpoint whose key nothing trusted vouched for.
func (c *chain) unvouched() *Problem {
	if len(c.pending) == 0 {
		return nil
	}
	p := c.pending[0].p
	if len(c.rots) > 0 {
		p.Reason += " (no key.rotated entry covered by a checkpoint of a trusted key vouches for it)"
	}
	return p
}

// Verify checks every segment in dir: sequence continuity, the hash chain,
// checkpoint signatures and, when trusted is not nil, that every checkpoint
// is signed by a trusted key. It returns the *Problem for the first bad line
// as the error (and in Report.Problem). Entries after the last checkpoint
// are chained but not signed: Report.Unsigned counts them.
func Verify(dir string, trusted func(pubkey string) bool) (Report, error) {
	var rep Report
	st, err := loadDir(dir)
	if err != nil {
		return rep, err
	}
	rep.Files = len(st.segs)
	c := newChain(Position{}, trusted, &rep)
	fail := func(p *Problem) (Report, error) {
		c.finish()
		rep.Problem = p
		return rep, p
	}
	for i, s := range st.segs {
		if want := i + 1; s.num != want {
			return fail(c.problem(SegmentName(want), 0, c.expSeq, "segment file is missing"))
		}
	}
	for file, by := range st.cutBy {
		fn, _ := parseSegmentName(file)
		bn, _ := parseSegmentName(by)
		if fn >= bn {
			return fail(c.problem(by, 1, 0, "recovery entry cuts a later segment %s", file))
		}
	}
	for i, s := range st.segs {
		data, err := os.ReadFile(filepath.Join(dir, s.name))
		if err != nil {
			return rep, fmt.Errorf("audit: read %s: %w", s.name, err)
		}
		limit := int64(len(data))
		off, cut := st.cuts[s.name]
		if cut {
			if off > limit || (off > 0 && data[off-1] != '\n') {
				return fail(c.problem(s.name, 0, c.expSeq, "recovery entry in %s cuts at offset %d, which is not a line boundary", st.cutBy[s.name], off))
			}
			if off < limit {
				rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: %d bytes from offset %d were never acknowledged and are disowned by the recovery entry in %s", s.name, limit-off, off, st.cutBy[s.name]))
			} else {
				rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: ends unsealed at offset %d, recorded by the recovery entry in %s", s.name, off, st.cutBy[s.name]))
			}
			limit = off
		}
		c.sealed = false
		lineNo := 0
		rest := data[:limit]
		for len(rest) > 0 {
			lineNo++
			nl := bytes.IndexByte(rest, '\n')
			if nl < 0 {
				return fail(c.problem(s.name, lineNo, c.expSeq, "torn line: no newline at the end of the file"))
			}
			if p := c.feed(rest[:nl], s.name, lineNo); p != nil {
				return fail(p)
			}
			rest = rest[nl+1:]
		}
		if !c.sealed && !cut && i < len(st.segs)-1 {
			return fail(c.problem(s.name, lineNo+1, c.expSeq, "segment ends without a checkpoint although later segments exist: lines were removed"))
		}
	}
	if p := c.unvouched(); p != nil {
		return fail(p)
	}
	c.finish()
	return rep, nil
}

// VerifyEntries checks a stream of lines (forwarded from a minion, or read
// back from a SIEM) that continues the chain at start. It checks the same
// things as Verify except file boundaries; Report.End is where the next
// batch must continue.
func VerifyEntries(r io.Reader, start Position, trusted func(pubkey string) bool) (Report, error) {
	return VerifyEntriesFrom(r, start, "", trusted)
}

// VerifyEntriesFrom is VerifyEntries for a stream that starts in the middle
// of a log whose checkpoints are, at start, signed by key (the Report.Key
// of the batch before; empty when unknown), so a key.rotated entry or a
// checkpoint in this batch is held to the same key as the lines before.
func VerifyEntriesFrom(r io.Reader, start Position, key string, trusted func(pubkey string) bool) (Report, error) {
	var rep Report
	c := newChain(start, trusted, &rep)
	c.eraKey = key
	br := bufio.NewReaderSize(r, 64<<10)
	lineNo := 0
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			lineNo++
			if line[len(line)-1] != '\n' {
				c.finish()
				p := c.problem("", lineNo, c.expSeq, "torn line: no newline at the end of the stream")
				rep.Problem = p
				return rep, p
			}
			if p := c.feed(line[:len(line)-1], "", lineNo); p != nil {
				c.finish()
				rep.Problem = p
				return rep, p
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			c.finish()
			return rep, fmt.Errorf("audit: read stream: %w", err)
		}
	}
	c.finish()
	if p := c.unvouched(); p != nil {
		rep.Problem = p
		return rep, p
	}
	return rep, nil
}
