package jobs

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats.go"
)

const smallPayload = 64 << 10

// newSmallEnv is newEnv on a server whose max_payload is smallPayload.
func newSmallEnv(t *testing.T) *env {
	t.Helper()
	return startEnv(t, envOptions{maxPayload: smallPayload})
}

// sizedMinion answers every job with a string of size bytes.
func (e *env) sizedMinion(id string, size int) {
	e.t.Helper()
	nc, err := nats.Connect(e.srv.ClientURL())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(nc.Close)
	_, err = nc.Subscribe(proto.JobSubject(id), func(m *nats.Msg) {
		j, err := proto.DecodeJob(m.Data, proto.DefaultJobLimits)
		if err != nil {
			return
		}
		b, _ := json.Marshal(proto.Return{V: proto.Version, JID: j.JID, ID: id, Fun: j.Fun, Return: strings.Repeat("x", size), Success: true})
		// The master answers a return just before handing it on, so a test
		// can end (closing this connection) while the answer is on its way.
		if _, err := nc.Request(proto.ReturnSubject(id, j.JID), b, 5*time.Second); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			e.t.Errorf("%s: return of %d bytes: %v", id, len(b), err)
		}
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		e.t.Fatal(err)
	}
}

// partSink collects the parts of streamed run replies, as the CLI does.
type partSink struct {
	mu      sync.Mutex
	parts   int
	largest int
	rep     RunReply
}

func (e *env) partSink(op, tag string) *partSink {
	e.t.Helper()
	nc, err := nats.Connect(e.srv.ClientURL())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(nc.Close)
	ps := &partSink{}
	ps.rep.Returns = map[string]proto.Return{}
	sub, err := nc.Subscribe(ReturnsSubject(op, tag), func(m *nats.Msg) {
		var p RunReply
		if err := json.Unmarshal(m.Data, &p); err != nil {
			e.t.Errorf("part: %v", err)
			return
		}
		ps.mu.Lock()
		defer ps.mu.Unlock()
		ps.parts++
		ps.largest = max(ps.largest, len(m.Data))
		ps.rep.Minions = append(ps.rep.Minions, p.Minions...)
		ps.rep.Missing = append(ps.rep.Missing, p.Missing...)
		for id, r := range p.Returns {
			ps.rep.Returns[id] = r
		}
	})
	if err != nil {
		e.t.Fatal(err)
	}
	sub.SetPendingLimits(-1, -1)
	if err := nc.Flush(); err != nil {
		e.t.Fatal(err)
	}
	return ps
}

func (ps *partSink) count() int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.parts
}

// TestRunRepliesInParts runs a job whose returns together are several
// times the server's max_payload: the reply comes in parts, each under
// the limit, holding every return, and the final reply is small.
func TestRunRepliesInParts(t *testing.T) {
	e := newSmallEnv(t)
	const n, size = 40, 8 << 10 // 320 KiB of returns, five times the limit
	for i := range n {
		id := fmt.Sprintf("web%02d", i)
		e.accept(id, nil)
		e.sizedMinion(id, size)
	}
	e.accept("offline", nil)
	ps := e.partSink("root", "tag1")
	req := runReq("*", "glob", "test.echo")
	req.TimeoutSec = 3
	req.Stream = "tag1"
	rep := call[RunReply](t, e.d.runVerb, req)
	b, _ := json.Marshal(rep)
	if len(b) > 1024 || len(rep.Returns) != 0 || rep.Parts < 5 {
		t.Fatalf("final reply %d bytes, %d returns, %d parts: %s", len(b), len(rep.Returns), rep.Parts, b)
	}
	waitFor(t, 10*time.Second, "every part", func() bool { return ps.count() >= rep.Parts })
	ps.mu.Lock()
	if ps.parts != rep.Parts || ps.largest > smallPayload-partSlack {
		t.Fatalf("%d parts (reply says %d), largest %d bytes", ps.parts, rep.Parts, ps.largest)
	}
	if len(ps.rep.Minions) != n+1 || len(ps.rep.Returns) != n || len(ps.rep.Missing) != 1 || ps.rep.Missing[0] != "offline" {
		t.Fatalf("merged: %d minions, %d returns, missing %v", len(ps.rep.Minions), len(ps.rep.Returns), ps.rep.Missing)
	}
	for id, r := range ps.rep.Returns {
		if s, _ := r.Return.(string); len(s) != size || !r.Success || r.ID != id {
			t.Fatalf("%s: return of %d bytes, success %v", id, len(s), r.Success)
		}
	}
	ps.mu.Unlock()

	// jobs show of the same job, read back from the store, streams too;
	// without a stream its reply is one message that still fits.
	shown := e.partSink("root", "tag3")
	sr := call[ShowReply](t, e.d.showVerb, JIDRequest{JID: rep.JID, Stream: "tag3"})
	if len(sr.Returns) != 0 || len(sr.Missing) != 0 || sr.Parts < 5 || sr.Job.Returned != n {
		t.Fatalf("streamed show: %d returns, missing %v, %d parts, job %+v", len(sr.Returns), sr.Missing, sr.Parts, sr.Job)
	}
	waitFor(t, 10*time.Second, "every part of the show", func() bool { return shown.count() >= sr.Parts })
	shown.mu.Lock()
	if len(shown.rep.Returns) != n || len(shown.rep.Missing) != 1 || shown.largest > smallPayload-partSlack {
		t.Fatalf("show parts: %d returns, missing %v, largest %d", len(shown.rep.Returns), shown.rep.Missing, shown.largest)
	}
	for id, r := range shown.rep.Returns {
		if s, _ := r.Return.(string); len(s) != size || r.ID != id {
			t.Fatalf("show %s: return of %d bytes", id, len(s))
		}
	}
	shown.mu.Unlock()
}

// TestOversizedReturnFailsAlone gives one minion a return that fits the
// server's limit on its own but not with a reply around it: that minion
// gets a clear error, the others their returns, streamed or not.
func TestOversizedReturnFailsAlone(t *testing.T) {
	e := newSmallEnv(t)
	e.accept("big", nil)
	e.sizedMinion("big", smallPayload-1024)
	e.accept("small", nil)
	e.sizedMinion("small", 100)
	check := func(how string, returns map[string]proto.Return) {
		t.Helper()
		big, small := returns["big"], returns["small"]
		msg, _ := big.Return.(string)
		if big.Success || big.Retcode == 0 || !strings.Contains(msg, "return too large to send to the operator") {
			t.Fatalf("%s: big: %+.200v", how, big)
		}
		if s, _ := small.Return.(string); len(s) != 100 || !small.Success {
			t.Fatalf("%s: small: %+v", how, small)
		}
	}

	ps := e.partSink("root", "tag2")
	req := runReq("*", "glob", "test.echo")
	req.Stream = "tag2"
	rep := call[RunReply](t, e.d.runVerb, req)
	if len(rep.Missing) != 0 || rep.Parts == 0 {
		t.Fatalf("streamed: %+v", rep)
	}
	waitFor(t, 10*time.Second, "every part", func() bool { return ps.count() >= rep.Parts })
	ps.mu.Lock()
	check("streamed", ps.rep.Returns)
	ps.mu.Unlock()

	// One message, as an older CLI asks: it still fits.
	req.Stream = ""
	one := call[RunReply](t, e.d.runVerb, req)
	check("one message", one.Returns)
	if b, _ := json.Marshal(one); len(b) > smallPayload-partSlack {
		t.Fatalf("one-message reply is %d bytes", len(b))
	}
}
