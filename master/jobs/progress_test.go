package jobs

import (
	"bytes"
	"testing"
	"time"

	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// TestProgressForwarding sends chunks as minions would and checks that
// only those of a targeted minion for a job an operator waits on reach
// that operator's progress subject, tagged with the minion's id from the
// subject, and that a minion cannot push more than the bound.
func TestProgressForwarding(t *testing.T) {
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	t.Cleanup(s.Shutdown)
	conn := func() *nats.Conn {
		nc, err := nats.Connect(s.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
	masterNC, minions, operator := conn(), conn(), conn()
	d := New(masterNC, nil, "master", time.Minute, nil)
	if !d.progressReady() {
		t.Fatal("progress subscription failed")
	}
	jid, other := "20261126001500123456", "20261126001500654321"
	d.progress.add(jid, "alice", "tag1", []string{"web1", "web2"})
	got, err := operator.SubscribeSync(proto.OperatorInbox("alice") + ".>")
	if err != nil {
		t.Fatal(err)
	}
	if err := operator.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := masterNC.Flush(); err != nil {
		t.Fatal(err)
	}
	send := func(id, jid, stream, data string) {
		t.Helper()
		m := nats.NewMsg(proto.ProgressSubject(id, jid))
		if stream != "" {
			m.Header.Set(proto.HeaderStream, stream)
		}
		m.Data = []byte(data)
		if err := minions.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	send("web3", jid, "stdout", "not targeted\n")
	send("web1", other, "stdout", "no operator waits\n")
	send("web1", jid, "bogus", "bad stream\n")
	send("web1", jid, "stdout", "hello\n")
	m, err := got.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("forwarded chunk: %v", err)
	}
	if m.Subject != proto.OperatorProgressSubject("alice", "tag1") || string(m.Data) != "hello\n" ||
		m.Header.Get(proto.HeaderMinion) != "web1" || m.Header.Get(proto.HeaderJID) != jid || m.Header.Get(proto.HeaderStream) != "stdout" {
		t.Fatalf("forwarded %s %q %v", m.Subject, m.Data, m.Header)
	}
	waitFor(t, 10*time.Second, "the counts of the first four chunks", func() bool {
		f, dr := d.ProgressCounts()
		return f+dr == 4
	})
	if f, dr := d.ProgressCounts(); f != 1 || dr != 3 {
		t.Fatalf("forwarded %d dropped %d, want 1 and 3", f, dr)
	}

	// The bound: web2 may forward progressMaxTotal bytes, no more.
	big := string(bytes.Repeat([]byte("x"), progressMaxChunk))
	for i := 0; i < progressMaxTotal/progressMaxChunk+2; i++ {
		send("web2", jid, "stderr", big)
	}
	send("web2", jid, "stderr", "")
	waitFor(t, 10*time.Second, "every chunk handled", func() bool {
		f, dr := d.ProgressCounts()
		return f+dr == 4+progressMaxTotal/progressMaxChunk+3
	})
	if f, _ := d.ProgressCounts(); f != 1+progressMaxTotal/progressMaxChunk+1 {
		t.Fatalf("forwarded %d chunks, want the bound's %d and one empty", f-1, progressMaxTotal/progressMaxChunk)
	}
	// Oversized chunks are dropped.
	send("web2", jid, "stderr", big+"y")
	// After the run returned nothing more is forwarded.
	d.progress.drop(jid)
	send("web1", jid, "stdout", "late\n")
	waitFor(t, 10*time.Second, "late chunks handled", func() bool {
		f, dr := d.ProgressCounts()
		return f+dr == 4+progressMaxTotal/progressMaxChunk+3+2
	})
	if f, _ := d.ProgressCounts(); f != 1+progressMaxTotal/progressMaxChunk+1 {
		t.Fatalf("a chunk was forwarded after the route was dropped or over the size bound")
	}
}
