package proto

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"testing"
	"time"
)

func benchKey(b *testing.B) edKey {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	return edKey{pub, priv}
}

// BenchmarkSignJob is the master's cost per minion per job: one envelope
// is encoded and signed for every targeted minion.
func BenchmarkSignJob(b *testing.B) {
	k := benchKey(b)
	j := validJob(time.Now())
	j.Args = []any{"echo hi"}
	b.ReportAllocs()
	for b.Loop() {
		payload, _ := json.Marshal(j)
		h := map[string][]string{}
		if err := Sign(k, payload, h); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyDecodeCheck is the minion's cost before a job runs.
func BenchmarkVerifyDecodeCheck(b *testing.B) {
	k := benchKey(b)
	kid, _ := k.PublicKey()
	now := time.Now()
	payload, _ := json.Marshal(validJob(now))
	h := map[string][]string{}
	if err := Sign(k, payload, h); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := VerifySigned(k, kid, payload, h); err != nil {
			b.Fatal(err)
		}
		j, err := DecodeJob(payload, DefaultJobLimits)
		if err != nil {
			b.Fatal(err)
		}
		if err := j.Check("web1", now, DefaultJobLimits); err != nil {
			b.Fatal(err)
		}
	}
}
