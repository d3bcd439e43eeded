package minion

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/brine-cm/brine/pkg/keys"
	"github.com/brine-cm/brine/proto"
)

// ErrReplay is returned for a jid the minion has already accepted.
var ErrReplay = errors.New("job already seen (replay)")

// ErrReplayFull is returned when the cache holds MaxEntries unexpired jids;
// the minion refuses new jobs rather than forget old ones.
var ErrReplayFull = errors.New("replay cache full")

// replayCache remembers every jid the minion accepted until the job's
// not_after has passed, in a file that survives restarts. An entry is
// written and synced before the job runs, so a crash cannot make a job
// runnable twice.
type replayCache struct {
	mu      sync.Mutex
	path    string
	max     int
	seen    map[string]time.Time
	f       *os.File
	written int
}

func openReplay(path string, max int, now time.Time) (*replayCache, error) {
	c := &replayCache{path: path, max: max, seen: map[string]time.Time{}}
	if f, err := os.Open(path); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			jid, exp, ok := strings.Cut(sc.Text(), " ")
			if !ok {
				continue
			}
			sec, err := strconv.ParseInt(exp, 10, 64)
			if err != nil {
				continue
			}
			if t := time.Unix(sec, 0); t.After(now) {
				c.seen[jid] = t
			}
		}
		f.Close()
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("replay cache: %w", err)
	}
	if err := c.rewrite(); err != nil {
		return nil, err
	}
	return c, nil
}

// memReplay is a replay cache with no file, for Ephemeral minions.
func memReplay(max int) *replayCache {
	return &replayCache{max: max, seen: map[string]time.Time{}}
}

// rewrite compacts the file to the live entries.
func (c *replayCache) rewrite() error {
	if c.path == "" {
		return nil
	}
	ids := make([]string, 0, len(c.seen))
	for j := range c.seen {
		ids = append(ids, j)
	}
	sort.Strings(ids)
	var b strings.Builder
	for _, j := range ids {
		fmt.Fprintf(&b, "%s %d\n", j, c.seen[j].Unix()+1)
	}
	if err := keys.WriteFileAtomic(c.path, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("replay cache: %w", err)
	}
	if c.f != nil {
		c.f.Close()
	}
	f, err := os.OpenFile(c.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("replay cache: %w", err)
	}
	c.f, c.written = f, len(ids)
	return nil
}

// Add records jid until notAfter, failing if it was seen before.
func (c *replayCache) Add(jid string, notAfter, now time.Time) error {
	if _, err := proto.ParseJID(jid); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[jid]; ok {
		return fmt.Errorf("%w: %s", ErrReplay, jid)
	}
	if len(c.seen) >= c.max {
		for j, t := range c.seen {
			if !t.After(now) {
				delete(c.seen, j)
			}
		}
		if len(c.seen) >= c.max {
			return ErrReplayFull
		}
		if err := c.rewrite(); err != nil {
			return err
		}
	}
	if c.path != "" {
		if _, err := fmt.Fprintf(c.f, "%s %d\n", jid, notAfter.Unix()+1); err != nil {
			return fmt.Errorf("replay cache: %w", err)
		}
		if err := c.f.Sync(); err != nil {
			return fmt.Errorf("replay cache: %w", err)
		}
	}
	c.seen[jid] = notAfter
	c.written++
	return nil
}

func (c *replayCache) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f != nil {
		c.f.Close()
		c.f = nil
	}
}
