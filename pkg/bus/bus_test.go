package bus

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brine-cm/brine/pkg/testkit"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

func TestReconnectDelayJitteredAndCapped(t *testing.T) {
	f := ReconnectDelay(100*time.Millisecond, 2*time.Second)
	seen := map[time.Duration]bool{}
	for i := 0; i < 200; i++ {
		d := f(10)
		if d < time.Second || d > 2*time.Second {
			t.Fatalf("attempt 10 delay %v outside [1s,2s]", d)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Fatalf("delays not spread: %d distinct values", len(seen))
	}
	if d := f(1); d < 50*time.Millisecond || d > 100*time.Millisecond {
		t.Fatalf("first delay %v", d)
	}
}

// A master that keeps refusing the key moves the client to the slow
// retry; a refusal after a long working spell does not.
func TestRefusedKeyRetriesSlowly(t *testing.T) {
	fast := ReconnectDelay(250*time.Millisecond, 5*time.Second)
	slow := ReconnectDelay(RefusedRetryMax, RefusedRetryMax)
	var a Refusals
	now := time.Now()
	for i := 1; i < refusedInARow; i++ {
		a.add(now)
		if d := a.delay(10, fast, slow, nil, now); d > 5*time.Second {
			t.Fatalf("after %d refusals: %v, want the fast backoff", i, d)
		}
	}
	a.add(now)
	if d := a.delay(10, fast, slow, nil, now); d < RefusedRetryMax/2 || d > RefusedRetryMax {
		t.Fatalf("after %d refusals: %v, want within [%v, %v]", refusedInARow, d, RefusedRetryMax/2, RefusedRetryMax)
	}
	later := now.Add(10 * RefusedRetryMax)
	if d := a.delay(1, fast, slow, nil, later); d > time.Second {
		t.Fatalf("long after the last refusal: %v", d)
	}
	if n := a.add(later); n != 1 {
		t.Fatalf("refusal after a quiet spell counted as %d in a row", n)
	}
}

// refusingAuth refuses every client and counts the attempts.
type refusingAuth struct{ n atomic.Int32 }

func (r *refusingAuth) Check(server.ClientAuthentication) bool { r.n.Add(1); return false }

// lockedBuf is a log sink safe for the client's callback goroutine.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Against a real server that refuses the key, the client keeps trying,
// says why at error level (not once per attempt), and after a few
// refusals switches to the slow retry.
func TestRefusalsReportedAndSlowed(t *testing.T) {
	auth := &refusingAuth{}
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true, AlwaysEnableNonce: true, CustomClientAuthentication: auth})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	defer srv.Shutdown()
	if !srv.ReadyForConnections(5 * time.Second) {
		t.Fatal("server not ready")
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuf
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ref := &Refusals{}
	nc, err := nats.Connect(srv.ClientURL(), Options(Identity{Name: "m1", Key: kp, Refusals: ref}, nil, log, 200*time.Millisecond)...)
	if err != nil {
		t.Fatal(err)
	}
	ref.Watch(nc)
	defer nc.Close()
	testkit.WaitSeen(t, 30*time.Second, "the switch to the slow retry", func() (bool, string) {
		out := logs.String()
		return strings.Contains(out, "slow_retry=true"), fmt.Sprintf("%d attempts; logs:\n%s", auth.n.Load(), out)
	})
	out := logs.String()
	if !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "master refused our credentials") || !strings.Contains(strings.ToLower(out), "authorization violation") {
		t.Fatalf("refusal not reported clearly:\n%s", out)
	}
	// Logged on the 1st and 2nd refusal and at the switch: not once per
	// attempt after that.
	if n := strings.Count(out, "master refused our credentials"); n != 3 {
		t.Fatalf("%d refusal lines after %d attempts:\n%s", n, auth.n.Load(), out)
	}
	// The slow retry holds the next attempt back well past the fast
	// backoff's 200ms cap.
	seen := auth.n.Load()
	time.Sleep(2 * time.Second)
	if got := auth.n.Load(); got > seen+1 {
		t.Fatalf("%d attempts within 2s of the switch to the slow retry", got-seen)
	}
}
