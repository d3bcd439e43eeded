package auditlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brine-cm/brine/pkg/audit"
	"github.com/brine-cm/brine/pkg/testkit"
	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
)

func jetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(s.Shutdown)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// minionLog is a real minion-side log signed with its own nkey.
func minionLog(t *testing.T) (*audit.Log, string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := audit.NKeySigner(kp)
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open(filepath.Join(t.TempDir(), "audit"), audit.Options{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	pub, _ := kp.PublicKey()
	return l, pub
}

func appendN(t *testing.T, l *audit.Log, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, err := l.Append(audit.Entry{Actor: "op:root", Action: "cmd.run", Target: "true", Outcome: "retcode=0"}); err != nil {
			t.Fatal(err)
		}
	}
}

func batch(lines []audit.RawEntry) []byte {
	var b bytes.Buffer
	for _, l := range lines {
		b.Write(l.Line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func TestStoreForwardResumeAndRead(t *testing.T) {
	ctx := context.Background()
	js := jetStream(t)
	st, err := OpenStore(ctx, js, 1)
	if err != nil {
		t.Fatal(err)
	}
	l, pub := minionLog(t)
	appendN(t, l, 5)
	if err := l.Seal(); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 3)

	pos, err := st.Position(ctx, "web1")
	if err != nil || pos.Seq != 0 {
		t.Fatalf("initial position %+v %v", pos, err)
	}
	lines, err := l.ReadAfter(pos, 4)
	if err != nil {
		t.Fatal(err)
	}
	pos, err = st.Append(ctx, "web1", pub, batch(lines))
	if err != nil || pos.Seq != 4 {
		t.Fatalf("first batch: %+v %v", pos, err)
	}
	// Sending the same batch again does not continue the chain: refused,
	// nothing stored twice.
	if _, err := st.Append(ctx, "web1", pub, batch(lines)); !errors.Is(err, ErrChain) {
		t.Fatalf("duplicate batch: %v", err)
	}
	// A fresh Store (a master restart) finds the position in the stream.
	st2, err := OpenStore(ctx, js, 1)
	if err != nil {
		t.Fatal(err)
	}
	if p2, err := st2.Position(ctx, "web1"); err != nil || p2 != pos {
		t.Fatalf("position after reopen %+v, want %+v (%v)", p2, pos, err)
	}
	rest, err := l.ReadAfter(pos, 0)
	if err != nil {
		t.Fatal(err)
	}
	end, err := st2.Append(ctx, "web1", pub, batch(rest))
	if err != nil || end.Seq != 8 {
		t.Fatalf("rest: %+v %v", end, err)
	}

	// Reading back in small pages gives the exact lines, which verify
	// from the start against the minion's key.
	var all []byte
	var after uint64
	for {
		b, next, more, err := st2.Read(ctx, "web1", after, 10)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
		after = next
		if !more {
			break
		}
	}
	rep, err := audit.VerifyEntries(bytes.NewReader(all), audit.Position{}, func(pk string) bool { return pk == pub })
	if err != nil || rep.Entries != 8 || rep.Signed != 1 {
		t.Fatalf("stored copy: %+v %v", rep, err)
	}
	ms, err := st2.Minions(ctx)
	if err != nil || len(ms) != 1 || ms[0].ID != "web1" || ms[0].LastSeq != 8 || ms[0].Batches != 2 {
		t.Fatalf("minions: %+v %v", ms, err)
	}
}

func TestStoreRefusesForgedBatches(t *testing.T) {
	ctx := context.Background()
	st, err := OpenStore(ctx, jetStream(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	l, pub := minionLog(t)
	appendN(t, l, 3)
	if err := l.Seal(); err != nil {
		t.Fatal(err)
	}
	lines, err := l.ReadAfter(audit.Position{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Signed by a key that is not the minion's accepted key.
	_, other := minionLog(t)
	if _, err := st.Append(ctx, "web1", other, batch(lines)); !errors.Is(err, ErrChain) {
		t.Fatalf("checkpoint by another key: %v", err)
	}
	// An edited entry.
	forged := bytes.Replace(batch(lines), []byte(`"op:root"`), []byte(`"op:eve"`), 1)
	if _, err := st.Append(ctx, "web1", pub, forged); !errors.Is(err, ErrChain) {
		t.Fatalf("edited entry: %v", err)
	}
	// Starting in the middle (a gap).
	if _, err := st.Append(ctx, "web1", pub, batch(lines[1:])); err == nil || !strings.Contains(err.Error(), "seq") {
		t.Fatalf("gap: %v", err)
	}
	if pos, _ := st.Position(ctx, "web1"); pos.Seq != 0 {
		t.Fatalf("a refused batch was stored: %+v", pos)
	}
	if ms, _ := st.Minions(ctx); len(ms) != 0 {
		t.Fatalf("stored: %+v", ms)
	}
}

func TestStreamDeniesDeleteAndPurge(t *testing.T) {
	ctx := context.Background()
	js := jetStream(t)
	st, err := OpenStore(ctx, js, 1)
	if err != nil {
		t.Fatal(err)
	}
	l, pub := minionLog(t)
	appendN(t, l, 2)
	lines, _ := l.ReadAfter(audit.Position{}, 0)
	if _, err := st.Append(ctx, "web1", pub, batch(lines)); err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, StreamName)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMsg(ctx, 1); err == nil {
		t.Fatal("deleting a stored audit batch succeeded")
	}
	if err := s.Purge(ctx); err == nil {
		t.Fatal("purging the audit stream succeeded")
	}
	if b, _, _, err := st.Read(ctx, "web1", 0, 1<<20); err != nil || !bytes.Equal(b, batch(lines)) {
		t.Fatalf("read back %q: %v", b, err)
	}
	if proto.AuditStoreSubject("web1") == proto.RequestSubject("web1", proto.OpAudit) {
		t.Fatal("store and request subjects must differ")
	}
}

func TestSinkRecordsAndSeals(t *testing.T) {
	kp, err := nkeys.CreateOperator()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "audit")
	s, err := Open(dir, kp, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	job := proto.Job{JID: "20261125000000000001", User: "alice", Fun: "user.present", Target: proto.Target{Expr: "web*", Type: "glob"},
		Kwargs: map[string]any{"name": "deploy", "password": "hunter2"}, NotAfter: time.Now()}
	if err := s.JobPublish(ctx, job, []string{"web1", "web2"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Record(ctx, audit.Entry{Action: "x"}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("record after close: %v", err)
	}
	pub, _ := kp.PublicKey()
	rep, err := audit.Verify(dir, func(pk string) bool { return pk == pub })
	if err != nil || rep.Entries != 1 || rep.Signed != 1 || rep.Unsigned != 0 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	es, err := audit.Query(dir, audit.Filter{Action: "job.publish"})
	if err != nil || len(es) != 1 {
		t.Fatalf("query: %v %v", es, err)
	}
	e := es[0]
	kw := e.Args["kwarg"].(map[string]any)
	if e.Actor != "op:alice" || kw["password"] != audit.RedactedValue || kw["name"] != "deploy" || len(e.Detail["minions"].([]any)) != 2 {
		t.Fatalf("entry: %+v", e)
	}
}

func TestSealEverySignsNewEntries(t *testing.T) {
	kp, err := nkeys.CreateOperator()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "audit")
	s, err := Open(dir, kp, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.SealEvery(ctx, 10*time.Millisecond)
	if err := s.Record(ctx, audit.Entry{Actor: "master", Action: "master.start", Outcome: "ok"}); err != nil {
		t.Fatal(err)
	}
	testkit.WaitSeen(t, 10*time.Second, "the entry signed by a checkpoint", func() (bool, string) {
		rep, err := audit.Verify(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		return rep.Entries == 1 && rep.Unsigned == 0 && rep.Signed == 1, fmt.Sprintf("%+v", rep)
	})

}
