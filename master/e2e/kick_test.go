package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats.go"
)

// Reject and delete close the key's live connections at once, so the
// new rights apply without waiting for a reconnect.
func TestKeyChangesApplyAtOnce(t *testing.T) {
	m := newMaster(t)
	for _, c := range []struct {
		id   string
		args []string
		// after is what a new connection with the same key gets.
		refused bool
	}{
		{"rej", []string{"key", "reject", "--include-accepted", "rej", "-y"}, true},
		{"del", []string{"key", "delete", "del", "-y"}, false},
	} {
		t.Run(c.id, func(t *testing.T) {
			mp := acceptMinion(t, m, c.id)
			kp := mp.key(t)
			mp.stop(syscall.SIGTERM)
			closed := make(chan struct{})
			att := dialAs(t, m, kp, c.id, proto.Inbox(c.id))
			att.nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
			if _, err := att.nc.SubscribeSync(proto.JobSubject(c.id)); err != nil {
				t.Fatal(err)
			}
			if err := att.nc.Flush(); err != nil {
				t.Fatal(err)
			}
			if _, err := m.cli(t, c.args...); err != nil {
				t.Fatal(err)
			}
			select {
			case <-closed:
			case <-time.After(10 * time.Second):
				t.Fatal("live connection not closed after the key change")
			}
			again, err := dial(t, m.url, tlsOption(t, m), nats.Nkey(keysPublic(kp), kp.Sign), nats.Name(c.id))
			if c.refused {
				if err == nil {
					t.Fatal("rejected key connected again")
				}
				return
			}
			if err != nil {
				t.Fatalf("deleted key cannot even ask again: %v", err)
			}
			// A deleted key is unknown again: pending rights only.
			if _, err := again.nc.SubscribeSync(proto.JobSubject(c.id)); err != nil {
				t.Fatal(err)
			}
			_ = again.nc.Flush()
			again.expectViolation(t, "Subscription", proto.JobSubject(c.id))
		})
	}
}

// Once pinned, a master presenting another TLS certificate is refused in
// the handshake, before any credential or job is exchanged.
func TestChangedTLSCertificateRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "master")
	port := freePort(t)
	m := startMaster(t, dir, port)
	mp := acceptMinion(t, m, "pinned")
	m.stop(syscall.SIGTERM)
	for _, f := range []string{"cert.pem", "key.pem"} {
		if err := os.Remove(filepath.Join(dir, "tls", f)); err != nil {
			t.Fatal(err)
		}
	}
	m2 := startMaster(t, dir, port) // same keys, new self-signed certificate
	waitFor(t, 20*time.Second, "pin mismatch refused", func() bool {
		return strings.Contains(mp.out.String(), "does not match the pinned fingerprint")
	})
	lists := m2.keyLists(t)
	if !contains(lists["minions"], "pinned") {
		t.Fatalf("keys: %v", lists)
	}
	if !mp.running() {
		t.Fatal("minion exited")
	}
}
