// Package bus holds the NATS connection habits every brine process
// shares: nkey authentication, reconnecting forever with jitter so a
// restarted master is not hit by the whole fleet at once, a private reply
// inbox per identity, and TLS pinned to the master's certificate.
package bus

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/brine-cm/brine/pkg/keys"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// ErrPinMismatch is returned by the TLS check when the master presents a
// certificate other than the pinned one.
var ErrPinMismatch = errors.New("master TLS certificate does not match the pinned fingerprint")

// TLSPin builds a TLS client config that trusts exactly one certificate,
// identified by fingerprint, when pin is set; with an empty pin it
// accepts the first certificate and reports it through seen, so the
// caller can pin it (trust on first use). A caFile, when given, switches
// to ordinary CA verification instead (operator-issued certificates).
func TLSPin(pin, caFile string, seen func(fingerprint string)) (*tls.Config, error) {
	return TLSPinFunc(func() string { return pin }, caFile, seen)
}

// TLSPinFunc is TLSPin with a pin read at every handshake, so a daemon
// that pins the certificate while connected enforces it on the very next
// reconnect.
func TLSPinFunc(pinFn func() string, caFile string, seen func(fingerprint string)) (*tls.Config, error) {
	if caFile != "" {
		b, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("tls: no certificate in %s", caFile)
		}
		return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12, VerifyConnection: func(cs tls.ConnectionState) error {
			if seen != nil && len(cs.PeerCertificates) > 0 {
				seen(keys.CertFingerprint(cs.PeerCertificates[0].Raw))
			}
			return nil
		}}, nil
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Verification is done by fingerprint in VerifyConnection below,
		// which is stricter than a CA check: one certificate only.
		InsecureSkipVerify: true, //nolint:gosec
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("tls: master presented no certificate")
			}
			fp := keys.CertFingerprint(cs.PeerCertificates[0].Raw)
			if pin := pinFn(); pin != "" && fp != pin {
				return fmt.Errorf("%w: got %s", ErrPinMismatch, fp)
			}
			if seen != nil {
				seen(fp)
			}
			return nil
		},
	}, nil
}

// ReconnectDelay returns a backoff that doubles from min to max and
// spreads each wait uniformly over [d/2, d], so a fleet that lost its
// master comes back spread out instead of in one burst.
func ReconnectDelay(min, max time.Duration) func(attempts int) time.Duration {
	return func(attempts int) time.Duration {
		d := min
		for i := 1; i < attempts && d < max; i++ {
			d *= 2
		}
		if d > max {
			d = max
		}
		half := d / 2
		return half + rand.N(half+1)
	}
}

// RefusedRetryMax is how long a client whose credentials the master keeps
// refusing (a rejected or denied key) waits between attempts, jittered
// over its second half: a rejected fleet must not cost the master a TLS
// handshake per minion every few seconds, forever.
const RefusedRetryMax = 30 * time.Second

// refusedInARow is how many refusals in a row switch to RefusedRetryMax;
// a master still loading its keys refuses once or twice at most.
const refusedInARow = 3

// Refusals counts the master's refusals of our credentials in a row; a
// long quiet spell (a working connection) starts the count again. Give
// one to Options through Identity and Watch the connection, so refusals
// are seen on every attempt: nats.go reports them to handlers only once
// a first connection succeeded.
type Refusals struct {
	mu   sync.Mutex
	n    int
	last time.Time
	conn atomic.Pointer[nats.Conn]
}

// Watch lets the backoff read why the connection's last attempt failed.
func (a *Refusals) Watch(nc *nats.Conn) { a.conn.Store(nc) }

func (a *Refusals) watched() bool { return a.conn.Load() != nil }

func (a *Refusals) add(now time.Time) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if now.Sub(a.last) > 3*RefusedRetryMax {
		a.n = 0
	}
	a.n++
	a.last = now
	return a.n
}

// refused tells a refusal of our credentials from other errors: it comes
// as ErrAuthorization once connected, and as the server's text while the
// first connection is still being retried.
func refused(err error) bool {
	return err != nil && (errors.Is(err, nats.ErrAuthorization) || strings.Contains(strings.ToLower(err.Error()), "authorization violation"))
}

// report counts a refusal and logs it at error level on the 1st, 2nd,
// 4th, 8th... in a row and when the slow retry starts, so a rejected
// minion says why without flooding.
func (a *Refusals) report(log *slog.Logger, err error, now time.Time) {
	if n := a.add(now); n&(n-1) == 0 || n == refusedInARow {
		log.Error("master refused our credentials: this key is rejected or denied there, or the id is known with another key; retrying",
			"err", err, "refusals", n, "slow_retry", a.persistent(now))
	}
}

// delay is the reconnect backoff: slow once the master keeps refusing us.
func (a *Refusals) delay(attempts int, fast, slow func(int) time.Duration, log *slog.Logger, now time.Time) time.Duration {
	if nc := a.conn.Load(); nc != nil {
		if err := nc.LastError(); refused(err) {
			a.report(log, err, now)
		}
	}
	if a.persistent(now) {
		return slow(attempts)
	}
	return fast(attempts)
}

func (a *Refusals) persistent(now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n >= refusedInARow && now.Sub(a.last) <= 3*RefusedRetryMax
}

// Identity is who connects: a name (minion id or operator name) and the
// nkey that proves it.
type Identity struct {
	Name  string
	Key   nkeys.KeyPair
	Inbox string // private reply inbox prefix, from proto.Inbox/OperatorInbox
	// Refusals, when set, is the refusal count Options backs off on; the
	// caller Watches the connection with it.
	Refusals *Refusals
}

// Options returns the connect options shared by minions and operators:
// nkey auth, private inbox, forever-reconnect with jitter, auth errors not
// fatal (a pending or kicked key must keep trying) but, when the master
// keeps refusing the key, retried only every RefusedRetryMax and said so
// at error level.
func Options(id Identity, tlsCfg *tls.Config, log *slog.Logger, maxDelay time.Duration) []nats.Option {
	if maxDelay <= 0 {
		maxDelay = 5 * time.Second
	}
	refusals := id.Refusals
	if refusals == nil {
		refusals = &Refusals{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fast := ReconnectDelay(250*time.Millisecond, maxDelay)
	slow := ReconnectDelay(RefusedRetryMax, RefusedRetryMax)
	opts := []nats.Option{
		nats.Name(id.Name),
		nats.Nkey(keys.Public(id.Key), id.Key.Sign),
		nats.MaxReconnects(-1),
		nats.IgnoreAuthErrorAbort(),
		nats.CustomReconnectDelay(func(attempts int) time.Duration { return refusals.delay(attempts, fast, slow, log, time.Now()) }),
		nats.RetryOnFailedConnect(true),
		// The 2s default gives up on a TLS handshake that a busy master
		// (a whole fleet reconnecting at once) would finish a moment
		// later; every retry costs the master a new handshake, so short
		// timeouts turn a slow start into a storm.
		nats.Timeout(10 * time.Second),
		nats.PingInterval(20 * time.Second),
		nats.MaxPingsOutstanding(3),
	}
	if id.Inbox != "" {
		opts = append(opts, nats.CustomInboxPrefix(id.Inbox))
	}
	if tlsCfg != nil {
		opts = append(opts, nats.Secure(tlsCfg))
	}
	opts = append(opts,
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn("disconnected from master", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("reconnected to master", "url", nc.ConnectedUrlRedacted()) }),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			if refused(err) {
				if !refusals.watched() {
					refusals.report(log, err, time.Now())
				}
			} else if err != nil {
				log.Warn("reconnect to master failed", "err", err)
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, s *nats.Subscription, err error) {
			if refused(err) {
				if !refusals.watched() {
					refusals.report(log, err, time.Now())
				}
				return
			}
			subj := ""
			if s != nil {
				subj = s.Subject
			}
			log.Warn("nats error", "subject", subj, "err", err)
		}),
	)
	return opts
}
