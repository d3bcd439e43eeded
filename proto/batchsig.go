package proto

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// HeaderProof carries an envelope's place in a signed batch:
// "<index>/<count>:<sibling hashes, base64>". With it, HeaderSig signs
// the batch's Merkle root instead of the payload itself.
const HeaderProof = "Brine-Proof"

// A job to 10,000 minions is 10,000 envelopes, each naming its own
// minion. Signing each cost the master one ed25519 signature per minion,
// a fifth of its CPU in a fleet-wide job; SignBatch signs them all with
// one signature over a Merkle tree of the payloads, and each envelope
// carries the sibling hashes that lead from it to the signed root (14 of
// them at 10,000). A minion still checks a signature by the master's key
// over something that commits to its exact payload; the proof only says
// where in the signed tree the payload sits. Leaves and inner nodes are
// hashed with distinct prefixes, and the signed message binds the
// number of leaves, so no proof can present an inner node as a payload.
const batchDomain = "brine.batch.v1\x00"

func leafHash(payload []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(payload)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

func nodeHash(l, r [32]byte) [32]byte {
	var b [65]byte
	b[0] = 1
	copy(b[1:], l[:])
	copy(b[33:], r[:])
	return sha256.Sum256(b[:])
}

// batchMessage is what the batch signature covers.
func batchMessage(root [32]byte, n int) []byte {
	b := make([]byte, 0, len(batchDomain)+8+32)
	b = append(b, batchDomain...)
	b = binary.BigEndian.AppendUint64(b, uint64(n))
	return append(b, root[:]...)
}

// SignBatch signs payloads with one signature and sets, in each of hs
// (one per payload), the signature headers and the payload's proof.
// VerifySigned accepts the result.
func SignBatch(s Signer, payloads [][]byte, hs []map[string][]string) error {
	n := len(payloads)
	if n != len(hs) {
		return fmt.Errorf("sign batch: %d payloads, %d headers", n, len(hs))
	}
	if n == 0 {
		return nil
	}
	kid, err := s.PublicKey()
	if err != nil {
		return fmt.Errorf("sign batch: %w", err)
	}
	// levels[0] are the leaves; an odd last node moves up unhashed.
	levels := [][][32]byte{make([][32]byte, n)}
	for i, p := range payloads {
		levels[0][i] = leafHash(p)
	}
	for cur := levels[0]; len(cur) > 1; cur = levels[len(levels)-1] {
		next := make([][32]byte, 0, (len(cur)+1)/2)
		for i := 0; i+1 < len(cur); i += 2 {
			next = append(next, nodeHash(cur[i], cur[i+1]))
		}
		if len(cur)%2 == 1 {
			next = append(next, cur[len(cur)-1])
		}
		levels = append(levels, next)
	}
	root := levels[len(levels)-1][0]
	sig, err := s.Sign(batchMessage(root, n))
	if err != nil {
		return fmt.Errorf("sign batch: %w", err)
	}
	// Every envelope shares the key and signature values, and the proofs
	// are cut from one string: a fleet-wide job makes no per-envelope
	// allocation here beyond its proof's header slice.
	kidVals := []string{kid}
	sigVals := []string{base64.RawURLEncoding.EncodeToString(sig)}
	enc := base64.RawURLEncoding
	all := make([]byte, 0, n*(24+enc.EncodedLen(32*len(levels))))
	ends := make([]int, n)
	var proof [64 * 32]byte // at most 64 levels
	for i := range payloads {
		p := proof[:0]
		idx := i
		for _, lv := range levels[:len(levels)-1] {
			if sib := idx ^ 1; sib < len(lv) {
				p = append(p, lv[sib][:]...)
			}
			idx /= 2
		}
		all = strconv.AppendInt(all, int64(i), 10)
		all = append(all, '/')
		all = strconv.AppendInt(all, int64(n), 10)
		all = append(all, ':')
		all = enc.AppendEncode(all, p)
		ends[i] = len(all)
	}
	text := string(all)
	start := 0
	for i := range payloads {
		hs[i][HeaderKid] = kidVals
		hs[i][HeaderSig] = sigVals
		hs[i][HeaderProof] = []string{text[start:ends[i]]}
		start = ends[i]
	}
	return nil
}

// proofRoot folds payload up its proof to the batch's signed message.
func proofRoot(payload []byte, proof string) ([]byte, error) {
	pos, hashes, ok := strings.Cut(proof, ":")
	is, ns, ok2 := strings.Cut(pos, "/")
	if !ok || !ok2 {
		return nil, errors.New("malformed proof")
	}
	idx, err1 := strconv.Atoi(is)
	n, err2 := strconv.Atoi(ns)
	if err1 != nil || err2 != nil || n < 1 || idx < 0 || idx >= n || n > 1<<24 {
		return nil, errors.New("malformed proof position")
	}
	raw, err := base64.RawURLEncoding.DecodeString(hashes)
	if err != nil || len(raw)%32 != 0 {
		return nil, errors.New("malformed proof hashes")
	}
	h := leafHash(payload)
	for cnt := n; cnt > 1; cnt = (cnt + 1) / 2 {
		if idx%2 == 0 && idx == cnt-1 {
			idx /= 2 // promoted: no sibling at this level
			continue
		}
		if len(raw) < 32 {
			return nil, errors.New("proof too short")
		}
		var sib [32]byte
		copy(sib[:], raw[:32])
		raw = raw[32:]
		if idx%2 == 0 {
			h = nodeHash(h, sib)
		} else {
			h = nodeHash(sib, h)
		}
		idx /= 2
	}
	if len(raw) != 0 {
		return nil, errors.New("proof too long")
	}
	return batchMessage(h, n), nil
}

// verifiedBatches remembers batch signatures already checked in this
// process. Every envelope of a batch carries the same signature over the
// same root, so a process holding many minions (the fleet simulator)
// checks it once; one real minion sees each batch once and gains
// nothing, but loses nothing either. ed25519 verification is
// deterministic, so a (key, message, signature) found valid stays valid.
var verifiedBatches struct {
	sync.Mutex
	m map[string]struct{}
}

const maxVerifiedBatches = 4096

func batchVerified(key string) bool {
	verifiedBatches.Lock()
	defer verifiedBatches.Unlock()
	_, ok := verifiedBatches.m[key]
	return ok
}

func rememberBatch(key string) {
	verifiedBatches.Lock()
	defer verifiedBatches.Unlock()
	if verifiedBatches.m == nil || len(verifiedBatches.m) >= maxVerifiedBatches {
		verifiedBatches.m = map[string]struct{}{}
	}
	verifiedBatches.m[key] = struct{}{}
}
