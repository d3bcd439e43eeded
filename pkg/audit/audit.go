// Package audit is brine's append-only, tamper-evident record of who did
// what, shared by the master and every minion so one tool verifies both.
//
// A log is a directory of JSON-lines segments (audit-000001.jsonl, ...).
// Every entry carries the SHA-256 of the exact bytes of the line before it,
// so editing, dropping or reordering any line breaks the chain; each sealed
// segment ends with a checkpoint signed by the owner's key, so a chain
// cannot be rewritten wholesale without that key. Append returns only once
// the entry is on disk (written and fsynced), which lets callers refuse an
// action they could not record.
package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ErrTornTail is returned (wrapped with the file and offset) by Open when the
// last line of the newest segment is incomplete or unreadable, typically
// after a crash mid-write. Open never repairs it on its own: set
// Options.AllowTornTail to continue in a new segment that records the damage.
var ErrTornTail = errors.New("audit log ends with a torn line")

// ErrClosed is returned by Append after Close, so a late caller learns its
// action was not recorded.
var ErrClosed = errors.New("audit log closed")

// ZeroHash is the prev of the very first entry of a log.
const ZeroHash = "0000000000000000000000000000000000000000000000000000000000000000"

// RedactedValue replaces argument values that must not be stored.
const RedactedValue = "**REDACTED**"

// DefaultSegmentSize is used when Options.SegmentSize is zero.
const DefaultSegmentSize = 64 << 20

// ActionTornTail is the action of the entry a log writes when it resumes
// after a torn or failed write; its detail lists the cut bytes.
const ActionTornTail = "log.torn_tail"

// ActionKeyRotated is the action of the entry a log writes when it is
// opened with a signer whose key differs from the one that signed its
// checkpoints so far (a minion re-keyed, a master key replaced). Its detail
// names old_key and new_key; the log is sealed right after it, so the new
// key's checkpoint covers the old key's checkpoints and the rotation, and
// Verify trusts the old key for the lines before the rotation once the new
// key is trusted.
const ActionKeyRotated = "key.rotated"

// Entry is one audited action. Seq and Prev are assigned by Append; Time
// defaults to the time of the Append call.
type Entry struct {
	Seq     uint64         `json:"seq"`
	Time    time.Time      `json:"time"`
	Actor   string         `json:"actor"`  // operator identity, minion id, reactor:<rule>, schedule:<name>
	Action  string         `json:"action"` // job.publish, key.accept, cmd.run, file.changed, ...
	Target  string         `json:"target"`
	JID     string         `json:"jid,omitempty"`
	Args    map[string]any `json:"args,omitempty"`
	Outcome string         `json:"outcome"`
	Detail  map[string]any `json:"detail,omitempty"`
	Prev    string         `json:"prev"`
	// Redact names further Args keys (at any depth, case-insensitive) whose
	// values must be replaced by RedactedValue; it is not stored.
	Redact []string `json:"-"`
}

// Signer signs segment checkpoints; the master uses its own key, a minion
// its nkey. PublicKey is stored in the checkpoint so Verify can check it
// against the keys the reader trusts.
type Signer interface {
	Sign(msg []byte) ([]byte, error)
	PublicKey() string
}

// File is what the log writes segments through. It exists so a test can
// inject a failing writer (a full disk); everything else uses real files.
type File interface {
	io.Writer
	Sync() error
	Close() error
}

// Options tunes a Log. The zero value works: 64 MiB segments, unsigned
// checkpoints, no logging.
type Options struct {
	// SegmentSize is the size after which a segment is sealed with a
	// checkpoint and a new one is started.
	SegmentSize int64
	// Signer signs checkpoints; nil writes unsigned checkpoints, which
	// Verify rejects when it is given a trust function.
	Signer Signer
	Logger *slog.Logger
	// AllowTornTail lets Open continue after a torn last line: it starts a
	// new segment whose first entry (ActionTornTail) records the bad offset.
	AllowTornTail bool
	// Redact lists Args keys to redact in every entry, on top of the
	// built-in secret-looking names.
	Redact []string
	// OpenFile opens a segment for appending; nil means os.OpenFile.
	OpenFile func(name string, flag int, perm os.FileMode) (File, error)
}

// Log is an open audit directory. It is safe for concurrent use; one
// process at a time may hold a directory open.
type Log struct {
	dir  string
	opts Options
	log  *slog.Logger
	lock *os.File

	reqs    chan *request
	closeMu sync.RWMutex
	closed  bool
	quit    chan struct{}
	done    chan struct{}

	mu      sync.Mutex // guards segs, durable and lastSeq for readers
	segs    []segInfo
	durable int64 // bytes of the current segment known to be on disk
	lastSeq uint64
	cutAt   map[string]int64 // segment name -> offset where its disowned bytes start

	syncs    atomic.Uint64 // fsyncs of entry batches, for Stats
	appended atomic.Uint64 // entries made durable since Open, for Stats

	// w is owned by the writer goroutine (and by Open before it starts).
	w writerState
}

type writerState struct {
	cur     File
	curName string
	curNum  int
	size    int64
	seq     uint64
	prev    string
	// broken is the error that stopped the current segment; cuts list the
	// bytes that must be disowned by the next recovery entry.
	broken error
	cuts   []Cut
	// spare is a created but still empty segment left by a failed recovery.
	spare *spareFile
}

type spareFile struct {
	f    File
	name string
	num  int
}

// Cut names bytes of a segment that are not part of the log: from Offset to
// the end of File. A recovery entry lists them.
type Cut struct {
	File   string `json:"file"`
	Offset int64  `json:"offset"`
}

type segInfo struct {
	num      int
	name     string
	firstSeq uint64 // seq of the first entry, 0 if none
}

type request struct {
	body []byte // JSON object without seq and prev; nil asks for a seal
	seq  uint64
	err  error
	done chan struct{}
}

// SegmentName is the file name of segment n.
func SegmentName(n int) string { return fmt.Sprintf("audit-%06d.jsonl", n) }

func parseSegmentName(name string) (int, bool) {
	if !strings.HasPrefix(name, "audit-") || !strings.HasSuffix(name, ".jsonl") {
		return 0, false
	}
	n, err := strconv.Atoi(name[len("audit-") : len(name)-len(".jsonl")])
	if err != nil || n <= 0 || SegmentName(n) != name {
		return 0, false
	}
	return n, true
}

// Open opens or creates the log in dir and resumes its sequence and chain.
func Open(dir string, opts Options) (*Log, error) {
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = DefaultSegmentSize
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.OpenFile == nil {
		opts.OpenFile = func(name string, flag int, perm os.FileMode) (File, error) {
			return os.OpenFile(name, flag, perm)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: create %s: %w", dir, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	l := &Log{
		dir:   dir,
		opts:  opts,
		log:   opts.Logger.With("component", "audit", "dir", dir),
		lock:  lock,
		reqs:  make(chan *request, 1024),
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
		cutAt: map[string]int64{},
	}
	if err := l.resume(); err != nil {
		lock.Close()
		return nil, err
	}
	go l.writer()
	if err := l.recordKeyChange(); err != nil {
		_ = l.Close()
		return nil, err
	}
	return l, nil
}

func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: lock %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("audit: %s is in use by another process: %w", dir, err)
	}
	return f, nil
}

// Dir is the directory the log lives in.
func (l *Log) Dir() string { return l.dir }

// Append records e and returns its sequence number once the entry is
// written and fsynced. Concurrent calls share one write and one fsync.
// On any error the entry is not part of the log and the caller should
// refuse the action it describes; later calls keep failing until the
// cause (a full disk, say) clears.
func (l *Log) Append(e Entry) (uint64, error) {
	if e.Actor == "" || e.Action == "" {
		return 0, errors.New("audit: entry needs an actor and an action")
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	body, err := encodeBody(&e, l.opts.Redact)
	if err != nil {
		return 0, err
	}
	r := &request{body: body, done: make(chan struct{})}
	l.closeMu.RLock()
	if l.closed {
		l.closeMu.RUnlock()
		return 0, ErrClosed
	}
	l.reqs <- r
	l.closeMu.RUnlock()
	<-r.done
	return r.seq, r.err
}

// entryBody fixes the field order of the stored line after "seq".
type entryBody struct {
	Time    string         `json:"time"`
	Actor   string         `json:"actor"`
	Action  string         `json:"action"`
	Target  string         `json:"target"`
	JID     string         `json:"jid,omitempty"`
	Args    map[string]any `json:"args,omitempty"`
	Outcome string         `json:"outcome"`
	Detail  map[string]any `json:"detail,omitempty"`
}

func encodeBody(e *Entry, extra []string) ([]byte, error) {
	b := entryBody{
		Time:    e.Time.UTC().Format(time.RFC3339Nano),
		Actor:   e.Actor,
		Action:  e.Action,
		Target:  e.Target,
		JID:     e.JID,
		Outcome: e.Outcome,
		Detail:  e.Detail,
	}
	if e.Args != nil {
		b.Args = redactMap(e.Args, append(append([]string(nil), extra...), e.Redact...))
	}
	buf, err := marshal(b)
	if err != nil {
		return nil, fmt.Errorf("audit: encode %s entry: %w", e.Action, err)
	}
	return buf, nil
}

// marshal encodes without HTML escaping (the log is read by people and
// SIEMs, not browsers) and without the encoder's trailing newline.
func marshal(v any) ([]byte, error) {
	var sb strings.Builder
	enc := json.NewEncoder(&sb)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return []byte(strings.TrimSuffix(sb.String(), "\n")), nil
}

// entryLine builds the stored line (without newline) from a body.
func entryLine(seq uint64, body []byte, prev string) []byte {
	line := make([]byte, 0, len(body)+120)
	line = append(line, `{"seq":`...)
	line = strconv.AppendUint(line, seq, 10)
	if len(body) > 2 {
		line = append(line, ',')
		line = append(line, body[1:len(body)-1]...)
	}
	line = append(line, `,"prev":"`...)
	line = append(line, prev...)
	line = append(line, `"}`...)
	return line
}

func hashLine(line []byte) string {
	sum := sha256.Sum256(line)
	return hex.EncodeToString(sum[:])
}

// Close stops accepting entries, waits for those already submitted, and
// releases the directory. The open segment stays unsealed so the next Open
// continues it.
func (l *Log) Close() error {
	l.closeMu.Lock()
	if l.closed {
		l.closeMu.Unlock()
		return nil
	}
	l.closed = true
	close(l.quit)
	l.closeMu.Unlock()
	<-l.done
	var err error
	if l.w.cur != nil {
		err = l.w.cur.Close()
	}
	if l.w.spare != nil {
		l.w.spare.f.Close()
	}
	l.lock.Close()
	if err != nil {
		return fmt.Errorf("audit: close %s: %w", l.w.curName, err)
	}
	return nil
}

// Seal ends the current segment with a signed checkpoint now, instead of
// waiting for it to fill; call it at shutdown or on a schedule so recent
// entries are covered by a signature.
func (l *Log) Seal() error {
	r := &request{done: make(chan struct{})}
	l.closeMu.RLock()
	if l.closed {
		l.closeMu.RUnlock()
		return ErrClosed
	}
	l.reqs <- r
	l.closeMu.RUnlock()
	<-r.done
	return r.err
}

// LastSeq is the sequence number of the newest durable entry.
func (l *Log) LastSeq() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastSeq
}

// Stats reports how well group commit is working: the durable entries and
// the fsyncs it took to write them.
type Stats struct {
	Entries uint64
	Syncs   uint64
}

// Stats returns counters since Open.
func (l *Log) Stats() Stats {
	return Stats{Entries: l.appended.Load(), Syncs: l.syncs.Load()}
}
