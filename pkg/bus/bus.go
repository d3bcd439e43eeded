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

// Identity is who connects: a name (minion id or operator name) and the
// nkey that proves it.
type Identity struct {
	Name  string
	Key   nkeys.KeyPair
	Inbox string // private reply inbox prefix, from proto.Inbox/OperatorInbox
}

// Options returns the connect options shared by minions and operators:
// nkey auth, private inbox, forever-reconnect with jitter, auth errors not
// fatal (a pending or kicked key must keep trying).
func Options(id Identity, tlsCfg *tls.Config, log *slog.Logger, maxDelay time.Duration) []nats.Option {
	if maxDelay <= 0 {
		maxDelay = 5 * time.Second
	}
	opts := []nats.Option{
		nats.Name(id.Name),
		nats.Nkey(keys.Public(id.Key), id.Key.Sign),
		nats.MaxReconnects(-1),
		nats.IgnoreAuthErrorAbort(),
		nats.CustomReconnectDelay(ReconnectDelay(250*time.Millisecond, maxDelay)),
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
	if log != nil {
		opts = append(opts,
			nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
				log.Warn("disconnected from master", "err", err)
			}),
			nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("reconnected to master", "url", nc.ConnectedUrlRedacted()) }),
			nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
				if err != nil {
					log.Warn("reconnect to master failed", "err", err)
				}
			}),
			nats.ErrorHandler(func(_ *nats.Conn, s *nats.Subscription, err error) {
				subj := ""
				if s != nil {
					subj = s.Subject
				}
				log.Warn("nats error", "subject", subj, "err", err)
			}),
		)
	}
	return opts
}
