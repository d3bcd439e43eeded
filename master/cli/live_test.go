package cli

import (
	"bytes"
	"testing"

	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats.go"
)

func TestWantLive(t *testing.T) {
	for _, c := range []struct {
		args     []string
		terminal bool
		want     bool
	}{
		{[]string{"web1", "cmd.run", "ls"}, true, true},
		{[]string{"web1", "cmd.run", "ls"}, false, false},
		{[]string{"-p", "web1", "cmd.run", "ls"}, false, true},
		{[]string{"--progress", "web*", "test.ping"}, false, true},
		{[]string{"web*", "cmd.run", "ls"}, true, false},
		{[]string{"-L", "web1", "cmd.run", "ls"}, true, true},
		{[]string{"-L", "web1,web2", "cmd.run", "ls"}, true, false},
		{[]string{"-G", "os:Debian", "cmd.run", "ls"}, true, false},
		{[]string{"web1", "test.ping"}, true, false},
		{[]string{"--async", "-p", "web1", "cmd.run", "ls"}, true, false},
	} {
		r, err := parseRunArgs(c.args)
		if err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		if got := wantLive(r, c.terminal); got != c.want {
			t.Errorf("wantLive(%v, terminal=%v) = %v, want %v", c.args, c.terminal, got, c.want)
		}
	}
}

func TestLiveOutputLines(t *testing.T) {
	var buf bytes.Buffer
	sw := &statusWriter{w: &buf}
	l := &liveOutput{out: sw, partial: map[string][]byte{}}
	chunk := func(id, stream, data string) {
		m := nats.NewMsg("x")
		m.Header.Set(proto.HeaderMinion, id)
		m.Header.Set(proto.HeaderStream, stream)
		m.Data = []byte(data)
		l.handle(m)
	}
	_, _ = sw.Write([]byte("\r[0/1 minions returned]"))
	chunk("web1", "stdout", "one\ntw")
	chunk("web1", "stderr", "oops\n")
	chunk("web1", "stdout", "o\nthree")
	chunk("web1", proto.StreamTruncated, "")
	want := "\r[0/1 minions returned]\r\033[Kweb1: one\nweb1: oops\nweb1: two\nweb1: three\n" +
		"web1: [live output stopped here; the return below has all of it]\n"
	if got := buf.String(); got != want {
		t.Fatalf("printed %q\nwant    %q", got, want)
	}
}
