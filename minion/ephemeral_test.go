package minion

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/brine-cm/brine/pkg/execmod"
	"github.com/brine-cm/brine/proto"
)

// TestMemReplayRefusesReplays checks the in-memory replay cache keeps the
// same promise as the file one: a jid runs once.
func TestMemReplayRefusesReplays(t *testing.T) {
	c := memReplay(2)
	var g proto.JIDGen
	now := time.Now()
	a, b, x := g.Next(now), g.Next(now), g.Next(now)
	if err := c.Add(a, now.Add(time.Minute), now); err != nil {
		t.Fatal(err)
	}
	if err := c.Add(a, now.Add(time.Minute), now); !errors.Is(err, ErrReplay) {
		t.Fatalf("replayed jid: %v", err)
	}
	if err := c.Add(b, now.Add(time.Minute), now); err != nil {
		t.Fatal(err)
	}
	if err := c.Add(x, now.Add(time.Minute), now); !errors.Is(err, ErrReplayFull) {
		t.Fatalf("full cache: %v", err)
	}
	if err := c.Add("not-a-jid", now.Add(time.Minute), now); err == nil {
		t.Fatal("bad jid accepted")
	}
	c.Close()
}

// TestEphemeralNeedsNoDataDir checks New accepts an Ephemeral minion
// without a data dir and still refuses a normal one without it.
func TestEphemeralNeedsNoDataDir(t *testing.T) {
	cfg := Config{ID: "sim1", Masters: []string{"tls://127.0.0.1:1"}, Registry: execmod.NewRegistry(), Ephemeral: true}
	m, err := New(cfg, nil)
	if err != nil {
		t.Fatalf("ephemeral: %v", err)
	}
	kp, err := m.openState()
	if err != nil || kp == nil {
		t.Fatalf("open state: %v", err)
	}
	if _, err := os.Stat(m.KeyFile()); err == nil {
		t.Fatalf("an ephemeral minion wrote %s", m.KeyFile())
	}
	cfg.Ephemeral = false
	if _, err := New(cfg, nil); err == nil {
		t.Fatal("a daemon minion without a data dir was accepted")
	}
}
