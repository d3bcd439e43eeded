package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestEventsCommandShowsJobEvents runs `brine-master events` as its own
// process while a job runs: it prints the job's new and return events,
// Salt's tags, then stops after the two it was asked for.
func TestEventsCommandShowsJobEvents(t *testing.T) {
	m := newMaster(t)
	acceptMinion(t, m, "web1")
	ev := start(t, "brine-master", "--data-dir", m.dir, "events", "--count", "2", "--timeout", "2m", "salt/job/*")
	waitFor(t, 30*time.Second, "the watch", func() bool {
		return logLine(m, "action=api.event.watch") != ""
	})
	if r := m.runOne(t, "web1", "test.ping"); r != true {
		t.Fatalf("test.ping returned %v", r)
	}
	select {
	case <-ev.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("events did not stop after two events:\n%s", ev.out.String())
	}
	lines := strings.Split(strings.TrimSpace(ev.out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "salt/job/") || !strings.Contains(lines[0], "/new\t{") ||
		!strings.Contains(lines[1], "/ret/web1\t{") || !strings.Contains(lines[1], `"success":true`) {
		t.Fatalf("events printed:\n%s", ev.out.String())
	}
	if code := ev.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("events exited %d", code)
	}
}
