package proto

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"
)

// Every envelope of a batch verifies, for batch sizes around the powers
// of two where nodes are promoted; any change to a payload, its proof,
// its position or the batch size does not.
func TestSignBatchVerifies(t *testing.T) {
	kp, _ := nkeys.CreateServer()
	kid, _ := kp.PublicKey()
	pub, _ := nkeys.FromPublicKey(kid)
	for _, n := range []int{1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33} {
		payloads := make([][]byte, n)
		hs := make([]map[string][]string, n)
		for i := range payloads {
			payloads[i] = []byte(fmt.Sprintf(`{"jid":"20261126000000000001","minion_id":"m%d"}`, i))
			hs[i] = map[string][]string{}
		}
		if err := SignBatch(kp, payloads, hs); err != nil {
			t.Fatal(err)
		}
		for i := range payloads {
			if err := VerifySigned(pub, kid, payloads[i], hs[i]); err != nil {
				t.Fatalf("n=%d i=%d: %v", n, i, err)
			}
			// another minion's payload with this proof
			if n > 1 {
				other := payloads[(i+1)%n]
				if err := VerifySigned(pub, kid, other, hs[i]); !errors.Is(err, ErrBadSignature) {
					t.Fatalf("n=%d i=%d: another payload verified: %v", n, i, err)
				}
			}
			bad := append([]byte(nil), payloads[i]...)
			bad[len(bad)-2] ^= 1
			if err := VerifySigned(pub, kid, bad, hs[i]); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("n=%d i=%d: changed payload verified: %v", n, i, err)
			}
			pos, hashes, _ := strings.Cut(hs[i][HeaderProof][0], ":")
			for _, p := range []string{
				fmt.Sprintf("%d/%d:%s", (i+1)%n, n, hashes),                        // moved
				fmt.Sprintf("%d/%d:%s", i, n+1, hashes),                            // resized
				pos + ":" + hashes + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", // extended
				pos + ":", // emptied
				"garbage",
			} {
				if p == hs[i][HeaderProof][0] {
					continue
				}
				h := map[string][]string{HeaderKid: hs[i][HeaderKid], HeaderSig: hs[i][HeaderSig], HeaderProof: {p}}
				if err := VerifySigned(pub, kid, payloads[i], h); !errors.Is(err, ErrBadSignature) {
					t.Fatalf("n=%d i=%d proof %q verified: %v", n, i, p, err)
				}
			}
		}
	}
}

// A batch signature by another key fails, even after the right key's
// batch with the same payloads was verified (the cache is per key).
func TestSignBatchOtherKey(t *testing.T) {
	kp, _ := nkeys.CreateServer()
	evil, _ := nkeys.CreateServer()
	kid, _ := kp.PublicKey()
	pub, _ := nkeys.FromPublicKey(kid)
	payloads := [][]byte{[]byte(`{"a":1}`), []byte(`{"a":2}`), []byte(`{"a":3}`)}
	good := []map[string][]string{{}, {}, {}}
	forged := []map[string][]string{{}, {}, {}}
	if err := SignBatch(kp, payloads, good); err != nil {
		t.Fatal(err)
	}
	if err := SignBatch(evil, payloads, forged); err != nil {
		t.Fatal(err)
	}
	for i := range payloads {
		if err := VerifySigned(pub, kid, payloads[i], good[i]); err != nil {
			t.Fatal(err)
		}
		forged[i][HeaderKid] = []string{kid}
		if err := VerifySigned(pub, kid, payloads[i], forged[i]); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("forged batch verified: %v", err)
		}
	}
}

func BenchmarkVerifyBatchEnvelope(b *testing.B) {
	kp, _ := nkeys.CreateServer()
	kid, _ := kp.PublicKey()
	pub, _ := nkeys.FromPublicKey(kid)
	const n = 10000
	payloads := make([][]byte, n)
	hs := make([]map[string][]string, n)
	for i := range payloads {
		payloads[i] = []byte(fmt.Sprintf(`{"v":1,"jid":"20261126000000000001","minion_id":"web%05d.example.com","fun":"test.ping"}`, i))
		hs[i] = map[string][]string{}
	}
	if err := SignBatch(kp, payloads, hs); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := VerifySigned(pub, kid, payloads[i%n], hs[i%n]); err != nil {
			b.Fatal(err)
		}
	}
}
