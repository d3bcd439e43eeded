package minion

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/brine-cm/brine/proto"
)

func TestReplayCachePersistsAndExpires(t *testing.T) {
	p := filepath.Join(t.TempDir(), "jids")
	now := time.Now()
	c, err := openReplay(p, 3, now)
	if err != nil {
		t.Fatal(err)
	}
	j1, j2 := proto.FormatJID(now), proto.FormatJID(now.Add(time.Microsecond))
	if err := c.Add(j1, now.Add(time.Hour), now); err != nil {
		t.Fatal(err)
	}
	if err := c.Add(j2, now.Add(time.Second), now); err != nil {
		t.Fatal(err)
	}
	if err := c.Add(j1, now.Add(time.Hour), now); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay accepted: %v", err)
	}
	if err := c.Add("not-a-jid", now.Add(time.Hour), now); err == nil {
		t.Fatal("bad jid accepted")
	}
	c.Close()

	// After a restart j1 is still remembered; j2 expired and is dropped.
	later := now.Add(time.Minute)
	c2, err := openReplay(p, 3, later)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.Add(j1, now.Add(time.Hour), later); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay after restart accepted: %v", err)
	}
	if _, ok := c2.seen[j2]; ok {
		t.Fatal("expired jid kept")
	}
	// Full of live entries: refuse rather than forget.
	for i := 2; i < 4; i++ {
		if err := c2.Add(proto.FormatJID(now.Add(time.Duration(i)*time.Microsecond)), now.Add(time.Hour), later); err != nil {
			t.Fatal(err)
		}
	}
	if err := c2.Add(proto.FormatJID(now.Add(9*time.Microsecond)), now.Add(time.Hour), later); !errors.Is(err, ErrReplayFull) {
		t.Fatalf("full cache: %v", err)
	}
}
