// Package auditlog is where the master records what happens: one Sink,
// opened at start under DATA_DIR/audit and signed with the master key,
// that every part of the master calls before it acknowledges an action,
// and one Store that keeps every minion's forwarded log in a JetStream
// stream after checking it against the minion's accepted key.
package auditlog

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/brine-cm/brine/pkg/audit"
	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nkeys"
)

// ErrUnavailable wraps every failed append, so callers and operators see
// that an action was refused because it could not be recorded.
var ErrUnavailable = errors.New("audit log unavailable, action refused")

// Dir is the master's own audit log directory under its data dir. The CLI
// on the master host reads the same path.
func Dir(dataDir string) string { return filepath.Join(dataDir, "audit") }

// Options tune Open.
type Options struct {
	// RecoverTornTail lets the master start after a crash left a torn last
	// line: the log continues in a new segment whose first entry records
	// the damage. Without it Open fails and names the file and offset.
	RecoverTornTail bool
	// SegmentSize overrides the segment size (0: the library default).
	SegmentSize int64
	Logger      *slog.Logger
}

// Sink is the master's audit log. Record is the one call every part of the
// master uses; it returns only once the entry is on disk.
type Sink struct {
	log    *audit.Log
	lg     *slog.Logger
	opened time.Time

	mu       sync.Mutex
	retSince time.Time       // rets holds every job.return recorded since
	rets     map[string]bool // jid.id of job.return entries, jobs before opened
}

// Open opens (or creates) the log in dir, signing checkpoints with key.
func Open(dir string, key nkeys.KeyPair, opts Options) (*Sink, error) {
	lg := opts.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	signer, err := audit.NKeySigner(key)
	if err != nil {
		return nil, fmt.Errorf("auditlog: %w", err)
	}
	l, err := audit.Open(dir, audit.Options{Signer: signer, Logger: lg, AllowTornTail: opts.RecoverTornTail, SegmentSize: opts.SegmentSize})
	if err != nil {
		if errors.Is(err, audit.ErrTornTail) {
			return nil, fmt.Errorf("auditlog: %w (inspect the file, then start with --audit-recover to continue in a new segment that records the damage)", err)
		}
		return nil, fmt.Errorf("auditlog: %w", err)
	}
	if err := RememberKey(dir, signer.PublicKey(), time.Now()); err != nil {
		_ = l.Close()
		return nil, err
	}
	return &Sink{log: l, lg: lg.With("component", "audit"), opened: time.Now()}, nil
}

// Record appends e and returns once it is written and fsynced. An error
// means the action was not recorded and must be refused; it wraps
// ErrUnavailable.
func (s *Sink) Record(ctx context.Context, e audit.Entry) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if _, err := s.log.Append(e); err != nil {
		s.lg.Error("audit append failed", "action", e.Action, "actor", e.Actor, "err", err)
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// Log is the underlying log, for readers in the same process.
func (s *Sink) Log() *audit.Log { return s.log }

// Close seals the current segment with a signed checkpoint, so every
// entry written so far is covered by the master's signature, and releases
// the directory.
func (s *Sink) Close() error {
	serr := s.log.Seal()
	cerr := s.log.Close()
	if serr != nil {
		return fmt.Errorf("auditlog: seal: %w", serr)
	}
	if cerr != nil {
		return fmt.Errorf("auditlog: close: %w", cerr)
	}
	return nil
}

// JobPublish records a job with its resolved minion list before any
// envelope is sent; it has the shape of jobs.Dispatcher.BeforePublish.
// Arguments are redacted by key name (password, secret, token, key, ...).
func (s *Sink) JobPublish(ctx context.Context, job proto.Job, minions []string) error {
	args := map[string]any{"fun": job.Fun}
	if len(job.Args) > 0 {
		args["arg"] = job.Args
	}
	if len(job.Kwargs) > 0 {
		args["kwarg"] = job.Kwargs
	}
	if minions == nil {
		minions = []string{}
	}
	return s.Record(ctx, audit.Entry{Actor: Actor(job.User), Action: "job.publish", Target: job.Target.Expr, JID: job.JID,
		Args: args, Outcome: "published", Detail: map[string]any{"tgt_type": job.Target.Type, "minions": minions,
			"not_after": job.NotAfter.UTC().Format(time.RFC3339Nano)}})
}

// Actor turns the user a job or API call names into an audit actor: an
// operator name becomes op:<name>; reactor:… and schedule:… stay as they are.
func Actor(user string) string {
	if user == "" {
		return "master"
	}
	if strings.Contains(user, ":") {
		return user
	}
	return "op:" + user
}

// JobReturn records one minion's return before any caller sees it; it
// has the shape of jobs.Dispatcher.OnReturn. The dispatcher hands it the
// returns it replays at start too, so a return of a job older than this
// sink is recorded only when the log does not hold it yet: one entry per
// return across restarts.
func (s *Sink) JobReturn(ctx context.Context, r proto.Return) error {
	outcome := "success"
	if !r.Success {
		outcome = "failed"
	}
	e := audit.Entry{Actor: r.ID, Action: "job.return", Target: r.ID, JID: r.JID, Outcome: outcome,
		Detail: map[string]any{"fun": r.Fun, "success": r.Success, "retcode": r.Retcode}}
	issued, err := proto.ParseJID(r.JID)
	if err != nil || !issued.Before(s.opened) {
		return s.Record(ctx, e)
	}
	// The lock is not held over Record, so these returns still share
	// the log's fsyncs; the dispatcher never hands over one return twice
	// at once.
	k := r.JID + "." + r.ID
	s.mu.Lock()
	err = s.loadReturns(issued)
	seen := s.rets[k]
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if seen {
		return nil
	}
	if err := s.Record(ctx, e); err != nil {
		return err
	}
	s.mu.Lock()
	s.rets[k] = true
	s.mu.Unlock()
	return nil
}

// loadReturns makes s.rets cover every job.return recorded since issued,
// reading the log once, then again with a wider window (at least twice
// the last) only when an older job shows up. Called with s.mu held.
func (s *Sink) loadReturns(issued time.Time) error {
	if s.rets != nil && !issued.Before(s.retSince) {
		return nil
	}
	since := issued
	if wider := s.opened.Add(-2 * s.opened.Sub(s.retSince)); s.rets != nil && wider.Before(since) {
		since = wider
	}
	rets := map[string]bool{}
	err := audit.Scan(s.log.Dir(), audit.Filter{Action: "job.return", Since: since}, func(e audit.Entry, _ []byte) error {
		rets[e.JID+"."+e.Target] = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("auditlog: read recorded returns: %w", err)
	}
	s.rets, s.retSince = rets, since
	return nil
}

// SealEvery seals the current segment every interval when entries were
// added since the last seal, until ctx ends, so entries do not stay
// unsigned for long on a master that is never stopped cleanly.
func (s *Sink) SealEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	sealed := s.log.LastSeq()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		last := s.log.LastSeq()
		if last == sealed {
			continue
		}
		if err := s.log.Seal(); err != nil {
			s.lg.Error("audit: periodic seal", "err", err)
			continue
		}
		sealed = last
	}
}

// KeyHistoryFile lists every public key that has signed the master's log in
// dir, one "<key> <first used, RFC 3339>" a line, so `audit verify` still
// trusts checkpoints made before the master key was replaced. It is public
// data (0644); what protects it is that only root can write the data dir.
func KeyHistoryFile(dir string) string { return filepath.Join(dir, "trusted-keys") }

// RememberKey appends pub to dir's key history unless it is there already,
// and fsyncs it, before the key signs anything.
func RememberKey(dir, pub string, now time.Time) error {
	known, err := TrustedKeys(dir)
	if err != nil {
		return err
	}
	if known[pub] {
		return nil
	}
	p := KeyHistoryFile(dir)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("auditlog: key history: %w", err)
	}
	werr := f.Chmod(0o644)
	if werr == nil {
		_, werr = fmt.Fprintf(f, "%s %s\n", pub, now.UTC().Format(time.RFC3339))
	}
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("auditlog: key history %s: %w", p, werr)
	}
	return nil
}

// TrustedKeys reads dir's key history (empty when there is none).
func TrustedKeys(dir string) (map[string]bool, error) {
	p := KeyHistoryFile(dir)
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("auditlog: key history: %w", err)
	}
	keys := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("auditlog: %s:%d: want \"<public key> <time>\"", p, n)
		}
		keys[f[0]] = true
	}
	return keys, nil
}
