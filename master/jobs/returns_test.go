package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// Returns sent at once are stored, answered and shown; a retry of a
// stored return is answered without being stored again; a malformed one
// is refused; all of them read back the same after a restart.
func TestReturnsBatchedStoredAndAnswered(t *testing.T) {
	dir := t.TempDir()
	signer, _ := nkeys.CreateServer()
	e := newEnv(t, dir, signer)
	const n = 40
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("m%02d", i)
		e.accept(ids[i], nil)
	}
	req := runReq("m*", "glob", "test.echo")
	req.Async = true
	rep := call[RunReply](t, e.d.runVerb, req)

	nc, err := nats.Connect(e.srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	send := func(id string, data []byte) string {
		m, err := nc.Request(proto.ReturnSubject(id, rep.JID), data, 10*time.Second)
		if err != nil {
			return "error: " + err.Error()
		}
		return string(m.Data)
	}
	ret := func(id string) []byte {
		b, _ := json.Marshal(proto.Return{V: proto.Version, JID: rep.JID, ID: id, Fun: "test.echo", Return: "hello " + id, Success: true})
		return b
	}
	var wg sync.WaitGroup
	answers := make([]string, n)
	for i, id := range ids {
		wg.Add(1)
		go func() { defer wg.Done(); answers[i] = send(id, ret(id)) }()
	}
	wg.Wait()
	for i, a := range answers {
		if !strings.Contains(a, `"stream"`) || strings.Contains(a, `"error"`) {
			t.Fatalf("%s answered %s", ids[i], a)
		}
	}
	info, err := e.d.store().returns.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	stored := info.State.Msgs
	if stored == 0 || stored > n {
		t.Fatalf("%d returns stored in %d messages", n, stored)
	}

	waitFor(t, 20*time.Second, "every return shown", func() bool {
		s := call[ShowReply](t, e.d.showVerb, JIDRequest{JID: rep.JID})
		return len(s.Returns) == n
	})
	if a := send("m07", ret("m07")); !strings.Contains(a, `"stream"`) {
		t.Fatalf("retry answered %s", a)
	}
	if a := send("m08", []byte(`{"jid":`)); !strings.Contains(a, `"error"`) {
		t.Fatalf("malformed return answered %s", a)
	}
	if info, _ := e.d.store().returns.Info(context.Background()); info.State.Msgs != stored {
		t.Fatalf("retry or malformed return stored: %d messages, was %d", info.State.Msgs, stored)
	}

	e.stop()
	e2 := newEnv(t, dir, signer)
	s := call[ShowReply](t, e2.d.showVerb, JIDRequest{JID: rep.JID})
	if len(s.Returns) != n {
		t.Fatalf("after restart: %d returns", len(s.Returns))
	}
	for _, id := range ids {
		if got := s.Returns[id].Return; got != "hello "+id {
			t.Fatalf("%s: return %v after restart", id, got)
		}
	}
}
