package minion

import (
	"bytes"
	"github.com/brine-cm/brine/pkg/testkit"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brine-cm/brine/proto"
)

type chunk struct {
	stream string
	data   string
}

// chunks collects what a progressWriter sends.
type chunks struct {
	mu  sync.Mutex
	got []chunk
}

func (c *chunks) send(stream string, data []byte) {
	c.mu.Lock()
	c.got = append(c.got, chunk{stream, string(data)})
	c.mu.Unlock()
}

func (c *chunks) list() []chunk {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]chunk(nil), c.got...)
}

func waitFor(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	testkit.WaitFor(t, timeout, "the condition", cond)
}

func TestProgressWriterCoalesces(t *testing.T) {
	var c chunks
	w := newProgressWriter(c.send, time.Hour, 32, 1<<20)
	for _, s := range []string{"a", "b", "c\n"} {
		w.Write("stdout", []byte(s))
	}
	if got := c.list(); len(got) != 0 {
		t.Fatalf("small writes sent before the interval: %v", got)
	}
	w.Write("stderr", []byte("e1"))
	if got := c.list(); len(got) != 1 || got[0] != (chunk{"stdout", "abc\n"}) {
		t.Fatalf("a change of stream did not send the other stream's bytes as one chunk: %v", got)
	}
	w.Close()
	w.Write("stdout", []byte("late"))
	if got := c.list(); len(got) != 2 || got[1] != (chunk{"stderr", "e1"}) {
		t.Fatalf("close did not send the rest (or a write after close was sent): %v", got)
	}
}

func TestProgressWriterInterval(t *testing.T) {
	var c chunks
	w := newProgressWriter(c.send, 10*time.Millisecond, 1<<10, 1<<20)
	defer w.Close()
	w.Write("stdout", []byte("line1\n"))
	waitFor(t, 20*time.Second, func() bool { return len(c.list()) == 1 })
	if got := c.list(); got[0] != (chunk{"stdout", "line1\n"}) {
		t.Fatalf("interval flush sent %v", got)
	}
}

func TestProgressWriterBounds(t *testing.T) {
	var c chunks
	w := newProgressWriter(c.send, time.Hour, 32, 100)
	big := bytes.Repeat([]byte("x"), 70)
	w.Write("stdout", big) // two full chunks and a rest held back
	got := c.list()
	if len(got) != 2 || len(got[0].data) != 32 || len(got[1].data) != 32 {
		t.Fatalf("a 70-byte write with 32-byte chunks sent %v", got)
	}
	w.Write("stdout", big) // crosses the 100-byte bound
	w.Write("stdout", big) // dropped
	w.Close()
	got = c.list()
	total := 0
	for _, ch := range got {
		if len(ch.data) > 32 {
			t.Fatalf("chunk of %d bytes exceeds 32", len(ch.data))
		}
		total += len(ch.data)
	}
	if total != 100 {
		t.Fatalf("sent %d bytes, bound is 100: %v", total, got)
	}
	if last := got[len(got)-1]; last.stream != proto.StreamTruncated || last.data != "" {
		t.Fatalf("last chunk %v, want one empty %s marker", last, proto.StreamTruncated)
	}
	n := 0
	for _, ch := range got {
		if ch.stream == proto.StreamTruncated {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d truncation markers", n)
	}
	if s := got[0].data + got[1].data; s != strings.Repeat("x", 64) {
		t.Fatalf("content changed: %q", s)
	}
}

// BenchmarkProgressWriter is the minion's cost per line of a chatty
// command's output when an operator watches it.
func BenchmarkProgressWriter(b *testing.B) {
	n := 0
	w := newProgressWriter(func(_ string, d []byte) { n += len(d) }, time.Hour, progressMaxChunk, 1<<62)
	line := []byte("a typical line of command output, some eighty bytes long, ending in a newline\n")
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		w.Write("stdout", line)
	}
	w.Close()
}
