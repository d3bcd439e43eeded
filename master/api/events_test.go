package api

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/brine-cm/brine/master/jobs"
	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nkeys"
)

// An operator watching salt/job/* gets the job's new event and its
// minion's return event on its own events subject, and no key event;
// unwatching ends the watch.
func TestEventWatchForwardsMatchingEvents(t *testing.T) {
	e := newAPIEnv(t, nil, nil)
	e.disp.SetEvents(e.api.Emit, e.api.Watching)
	e.accept("web1", nil)
	e.minion("web1")
	evs, err := e.nc.SubscribeSync(EventsSubject("root", "s1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	var wr EventWatchReply
	if msg := e.call(rootTok, VerbEventWatch, EventWatch{V: proto.Version, Tag: "salt/job/*", Stream: "s1", LeaseSec: 60}, &wr); msg != "" {
		t.Fatal(msg)
	}
	if wr.Subject != EventsSubject("root", "s1") || !e.api.Watching() {
		t.Fatalf("watch reply %+v", wr)
	}
	other, _ := nkeys.CreateUser()
	opk, _ := other.PublicKey()
	e.api.Deny(context.Background(), "web1", opk, "127.0.0.1:1") // salt/key: not watched

	var rep jobs.RunReply
	if msg := e.call(rootTok, jobs.VerbRun, jobs.RunRequest{RunRequest: proto.RunRequest{V: proto.Version, Target: proto.Target{Expr: "web1"},
		Fun: "test.ping", TimeoutSec: 10}}, &rep); msg != "" || len(rep.Returns) != 1 {
		t.Fatalf("run: %s %+v", msg, rep)
	}
	var tags []string
	for len(tags) < 2 {
		m, err := evs.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("after %v: %v", tags, err)
		}
		var ev proto.Event
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Fatal(err)
		}
		tags = append(tags, ev.Tag)
		if strings.HasSuffix(ev.Tag, "/ret/web1") && (ev.Data["success"] != true || ev.Data["fun"] != "test.ping") {
			t.Fatalf("return event %s", m.Data)
		}
	}
	if want := []string{"salt/job/" + rep.JID + "/new", "salt/job/" + rep.JID + "/ret/web1"}; strings.Join(tags, " ") != strings.Join(want, " ") {
		t.Fatalf("events %v, want %v", tags, want)
	}
	if msg := e.call(rootTok, VerbEventUnwatch, EventWatch{V: proto.Version, Stream: "s1"}, &map[string]any{}); msg != "" {
		t.Fatal(msg)
	}
	if e.api.Watching() {
		t.Fatal("still watching after unwatch")
	}
	if msg := e.call(rootTok, VerbEventWatch, EventWatch{V: proto.Version, Stream: "bad.tag"}, &wr); !strings.Contains(msg, "stream") {
		t.Fatalf("a stream tag with a dot: %q", msg)
	}
}

// An operator limited by the ACL may not watch events (they name jobs
// and minions beyond its reach).
func TestEventWatchRefusedToRestrictedOperator(t *testing.T) {
	acl, err := NewACL(map[string][]ACLRule{"alice": {{Target: "web*", Functions: []string{"test.*"}}}})
	if err != nil {
		t.Fatal(err)
	}
	e := newAPIEnv(t, acl, nil)
	var wr EventWatchReply
	if msg := e.call(aliceTok, VerbEventWatch, EventWatch{V: proto.Version, Stream: "s1"}, &wr); !strings.Contains(msg, "may not use event.watch") {
		t.Fatalf("alice's watch: %q", msg)
	}
	if e.api.Watching() {
		t.Fatal("a refused watch is active")
	}
}
