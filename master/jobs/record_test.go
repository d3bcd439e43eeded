package jobs

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nkeys"
)

// newEnvWith is newEnv with onReturn wired before Open, as the master
// wires its audit log.
func newEnvWith(t *testing.T, dir string, signer nkeys.KeyPair, onReturn func(context.Context, proto.Return) error) *env {
	t.Helper()
	return startEnv(t, envOptions{dir: dir, signer: signer, onReturn: onReturn})
}

// recorder is an audit log in memory: the returns it was handed, and a
// switch that makes it fail or hold them.
type recorder struct {
	mu   sync.Mutex
	got  map[string]int // jid.id -> times recorded
	fail bool
	gate chan struct{} // when set, Record waits for it to close
	seen chan struct{} // closed at the first call
	once sync.Once
	done int // calls that have returned
}

func newRecorder() *recorder {
	return &recorder{got: map[string]int{}, seen: make(chan struct{})}
}

func (r *recorder) record(ctx context.Context, ret proto.Return) error {
	r.once.Do(func() { close(r.seen) })
	defer func() { r.mu.Lock(); r.done++; r.mu.Unlock() }()
	r.mu.Lock()
	gate, fail := r.gate, r.fail
	r.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fail {
		return errors.New("disk full")
	}
	r.mu.Lock()
	r.got[ret.JID+"."+ret.ID]++
	r.mu.Unlock()
	return nil
}

func (r *recorder) count(jid, id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got[jid+"."+id]
}

// A return is shown by `jobs show` only once it is recorded.
func TestReturnVisibleOnlyOnceRecorded(t *testing.T) {
	rec := newRecorder()
	rec.gate = make(chan struct{})
	signer, _ := nkeys.CreateServer()
	e := newEnvWith(t, t.TempDir(), signer, rec.record)
	e.accept("web1", nil)
	e.minion("web1")
	req := runReq("web1", "glob", "test.ping")
	req.Async = true
	rep := call[RunReply](t, e.d.runVerb, req)
	select {
	case <-rec.seen:
	case <-time.After(20 * time.Second):
		t.Fatal("the return never reached the audit hook")
	}
	s := call[ShowReply](t, e.d.showVerb, JIDRequest{JID: rep.JID})
	if len(s.Returns) != 0 || s.Job.Returned != 0 {
		t.Fatalf("return shown before it was recorded: %+v", s)
	}
	close(rec.gate)
	waitFor(t, 20*time.Second, "the recorded return", func() bool {
		s := call[ShowReply](t, e.d.showVerb, JIDRequest{JID: rep.JID})
		return len(s.Returns) == 1 && len(s.Missing) == 0
	})
	if n := rec.count(rep.JID, "web1"); n != 1 {
		t.Fatalf("recorded %d times", n)
	}
}

// A return that could not be recorded stays hidden; the next start
// replays it, records it once, and shows it.
func TestReplayedReturnRecordedAtStart(t *testing.T) {
	dir := t.TempDir()
	signer, _ := nkeys.CreateServer()
	rec := newRecorder()
	rec.fail = true
	e := newEnvWith(t, dir, signer, rec.record)
	e.accept("web1", nil)
	e.accept("web2", nil)
	e.minion("web1")
	req := runReq("web1", "glob", "test.ping")
	req.Async = true
	failed := call[RunReply](t, e.d.runVerb, req)
	waitFor(t, 20*time.Second, "the refused record", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return rec.done > 0
	})
	if s := call[ShowReply](t, e.d.showVerb, JIDRequest{JID: failed.JID}); len(s.Returns) != 0 {
		t.Fatalf("a return the audit log refused is shown: %+v", s)
	}
	rec.mu.Lock()
	rec.fail = false
	rec.mu.Unlock()
	e.minion("web2")
	ok := call[RunReply](t, e.d.runVerb, runReq("web2", "glob", "test.ping"))
	if len(ok.Returns) != 1 || rec.count(ok.JID, "web2") != 1 {
		t.Fatalf("recorded run: %+v, recorded %d", ok, rec.count(ok.JID, "web2"))
	}

	e.stop()
	rec2 := newRecorder()
	e2 := newEnvWith(t, dir, signer, rec2.record)
	if n := rec2.count(failed.JID, "web1"); n != 1 {
		t.Fatalf("the unrecorded return was recorded %d times at start, want 1", n)
	}
	s := call[ShowReply](t, e2.d.showVerb, JIDRequest{JID: failed.JID})
	if len(s.Returns) != 1 || len(s.Missing) != 0 {
		t.Fatalf("replayed return not shown: %+v", s)
	}
	// The one recorded before is handed over again too: skipping what it
	// already holds is the audit log's part (auditlog.Sink.JobReturn).
	if n := rec2.count(ok.JID, "web2"); n != 1 {
		t.Fatalf("replayed recorded return handed over %d times, want 1", n)
	}
}
