package auditlog

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nkeys"
)

// BenchmarkJobAudit1000 is what the master's audit log adds to one job on
// 1,000 minions: the job.publish entry with its minion list, then 1,000
// job.return entries appended concurrently, as returns arrive (each
// return waits for its own entry before the caller sees it). One
// iteration is one job; ns/op is the audit time per job, and
// entries/fsync shows how well group commit batches the returns.
func BenchmarkJobAudit1000(b *testing.B) {
	kp, err := nkeys.CreateOperator()
	if err != nil {
		b.Fatal(err)
	}
	s, err := Open(filepath.Join(b.TempDir(), "audit"), kp, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = fmt.Sprintf("minion-%04d.example.com", i)
	}
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for n := 0; n < b.N; n++ {
		jid := proto.FormatJID(time.Now().Add(time.Duration(n)))
		job := proto.Job{JID: jid, User: "root", Fun: "test.ping", Target: proto.Target{Expr: "*", Type: "glob"}, NotAfter: time.Now()}
		if err := s.JobPublish(ctx, job, ids); err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		for _, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.JobReturn(ctx, proto.Return{ID: id, JID: jid, Fun: "test.ping", Return: true, Success: true}); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	el := time.Since(start)
	st := s.Log().Stats()
	b.ReportMetric(float64(st.Entries)/el.Seconds(), "entries/s")
	b.ReportMetric(float64(st.Entries)/float64(max(st.Syncs, 1)), "entries/fsync")
	b.ReportMetric(float64(el.Microseconds())/1000/float64(b.N), "ms/job")
}
