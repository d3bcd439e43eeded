package master

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/brine-cm/brine/master/auditlog"
	"github.com/brine-cm/brine/pkg/audit"
	"github.com/nats-io/nkeys"
)

// AuditDir is the master's own audit log directory.
func (c *Config) AuditDir() string { return auditlog.Dir(c.DataDir) }

// openAudit opens the audit log before anything can act and records the
// start; the master does not start without it.
func (m *Master) openAudit(signer nkeys.KeyPair) (*auditlog.Sink, error) {
	sink, err := auditlog.Open(m.cfg.AuditDir(), signer, auditlog.Options{RecoverTornTail: m.cfg.AuditRecover, Logger: m.log})
	if err != nil {
		return nil, fmt.Errorf("master: %w", err)
	}
	host, _ := os.Hostname()
	err = sink.Record(context.Background(), audit.Entry{Actor: "master", Action: "master.start", Target: host, Outcome: "ok",
		Detail: map[string]any{"pid": os.Getpid(), "listen": m.cfg.Listen, "data_dir": m.cfg.DataDir}})
	if err != nil {
		_ = sink.Close()
		return nil, fmt.Errorf("master: %w", err)
	}
	return sink, nil
}

// closeAudit records the stop and seals the log, so a clean shutdown
// leaves every entry covered by the master's signature.
func (m *Master) closeAudit(sink *auditlog.Sink) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	host, _ := os.Hostname()
	if err := sink.Record(ctx, audit.Entry{Actor: "master", Action: "master.stop", Target: host, Outcome: "ok",
		Detail: map[string]any{"pid": os.Getpid()}}); err != nil {
		m.log.Error("audit: stop not recorded", "err", err)
	}
	if err := sink.Close(); err != nil {
		m.log.Error("audit: close", "err", err)
	}
}

// auditSealInterval bounds how long an entry stays unsigned while the
// master runs.
const auditSealInterval = 15 * time.Minute
