package proto

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"time"
)

// Header names carried by signed messages. The signature covers the exact
// payload bytes, so a receiver verifies before it parses anything.
const (
	// HeaderKid names the signing key (the master's public nkey).
	HeaderKid = "Brine-Kid"
	// HeaderSig is the base64url ed25519 signature of the payload.
	HeaderSig = "Brine-Sig"
	// HeaderError marks an error reply from the master.
	HeaderError = "Brine-Error"
)

// Version is the envelope version every message carries in "v".
const Version = 1

// Errors a receiver can tell apart with errors.Is.
var (
	ErrUnsigned     = errors.New("message is not signed")
	ErrBadSignature = errors.New("bad signature")
	ErrUnknownKey   = errors.New("signed by an unknown key")
	ErrExpired      = errors.New("job expired")
	ErrNotYetValid  = errors.New("job issued in the future")
	ErrTTL          = errors.New("job lifetime too long")
	ErrNotTarget    = errors.New("minion is not in the job's target")
	ErrTooLarge     = errors.New("message too large")
	ErrMalformed    = errors.New("malformed message")
)

// Signer is what signs envelopes; an nkeys.KeyPair is one.
type Signer interface {
	Sign(input []byte) ([]byte, error)
	PublicKey() (string, error)
}

// Verifier checks a signature; an nkeys.KeyPair from a public key is one.
type Verifier interface {
	Verify(input []byte, sig []byte) error
}

// Sign signs payload and sets the signature headers in h.
func Sign(s Signer, payload []byte, h map[string][]string) error {
	kid, err := s.PublicKey()
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	sig, err := s.Sign(payload)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	h[HeaderKid] = []string{kid}
	h[HeaderSig] = []string{base64.RawURLEncoding.EncodeToString(sig)}
	return nil
}

// Kid returns the signing key id in h, "" when absent.
func Kid(h map[string][]string) string {
	if v := h[HeaderKid]; len(v) == 1 {
		return v[0]
	}
	return ""
}

// VerifySigned checks that h names kid as signer and carries a valid
// signature of payload by v. The caller decides which kid it trusts.
func VerifySigned(v Verifier, kid string, payload []byte, h map[string][]string) error {
	if h == nil || len(h[HeaderSig]) != 1 || len(h[HeaderKid]) != 1 {
		return ErrUnsigned
	}
	if h[HeaderKid][0] != kid {
		return fmt.Errorf("%w: %q", ErrUnknownKey, h[HeaderKid][0])
	}
	sig, err := base64.RawURLEncoding.DecodeString(h[HeaderSig][0])
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	proof := h[HeaderProof]
	if len(proof) == 0 {
		if err := v.Verify(payload, sig); err != nil {
			return fmt.Errorf("%w: %v", ErrBadSignature, err)
		}
		return nil
	}
	if len(proof) != 1 {
		return fmt.Errorf("%w: %d proofs", ErrBadSignature, len(proof))
	}
	msg, err := proofRoot(payload, proof[0])
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	key := kid + "\x00" + string(msg) + "\x00" + string(sig)
	if batchVerified(key) {
		return nil
	}
	if err := v.Verify(msg, sig); err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	rememberBatch(key)
	return nil
}

// Target records what the operator asked for, so a minion can check it is
// inside it and the audit trail can show the expression.
type Target struct {
	Expr string `json:"tgt"`
	Type string `json:"tgt_type"`
}

// Job is the master-signed envelope of one job for one minion. One
// envelope per minion (MinionID) lets jobs sit on a per-minion subject of
// a durable stream later without changing what a minion checks.
type Job struct {
	V        int            `json:"v"`
	JID      string         `json:"jid"`
	Master   string         `json:"master"`
	MinionID string         `json:"minion_id"`
	Target   Target         `json:"target"`
	Fun      string         `json:"fun"`
	Args     []any          `json:"arg"`
	Kwargs   map[string]any `json:"kwarg,omitempty"`
	User     string         `json:"user"`
	IssuedAt time.Time      `json:"issued_at"`
	NotAfter time.Time      `json:"not_after"`
	// Progress asks the minion to stream the live output of a command
	// (cmd.*) on ProgressSubject while it runs. The master sets it only
	// when an operator is waiting to print that output, so a fleet-wide
	// command costs no extra messages otherwise.
	Progress bool `json:"progress,omitempty"`
}

// JobLimits are the minion's bounds on what it accepts.
type JobLimits struct {
	MaxBytes int           // largest payload accepted
	MaxTTL   time.Duration // longest not_after - issued_at
	Skew     time.Duration // tolerated clock skew
}

// DefaultJobLimits are used when a minion configures none.
var DefaultJobLimits = JobLimits{MaxBytes: 1 << 20, MaxTTL: 24 * time.Hour, Skew: 5 * time.Minute}

// DecodeJob parses a job payload strictly: size bound, one JSON object, no
// trailing data, a valid jid, a known function-name shape. It checks form
// only; Check does the time and target checks.
func DecodeJob(payload []byte, lim JobLimits) (*Job, error) {
	if lim.MaxBytes > 0 && len(payload) > lim.MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(payload))
	}
	var j Job
	if err := decodeStrict(payload, &j); err != nil {
		return nil, err
	}
	if j.V != Version {
		return nil, fmt.Errorf("%w: version %d", ErrMalformed, j.V)
	}
	if _, err := ParseJID(j.JID); err != nil {
		return nil, err
	}
	if !ValidID(j.MinionID) {
		return nil, fmt.Errorf("%w: minion_id %q", ErrMalformed, j.MinionID)
	}
	if !ValidFun(j.Fun) {
		return nil, fmt.Errorf("%w: function %q", ErrMalformed, j.Fun)
	}
	if j.IssuedAt.IsZero() || j.NotAfter.IsZero() {
		return nil, fmt.Errorf("%w: missing issued_at or not_after", ErrMalformed)
	}
	return &j, nil
}

// Check is what a minion does after the signature: the job is for it,
// within its validity window, and not longer-lived than allowed.
func (j *Job) Check(self string, now time.Time, lim JobLimits) error {
	if j.MinionID != self {
		return fmt.Errorf("%w: job for %q", ErrNotTarget, j.MinionID)
	}
	if !TargetMatches(j.Target, self) {
		return fmt.Errorf("%w: %s %q", ErrNotTarget, j.Target.Type, j.Target.Expr)
	}
	if now.After(j.NotAfter) {
		return fmt.Errorf("%w: not_after %s", ErrExpired, j.NotAfter.Format(time.RFC3339))
	}
	if j.IssuedAt.After(now.Add(lim.Skew)) {
		return fmt.Errorf("%w: issued_at %s", ErrNotYetValid, j.IssuedAt.Format(time.RFC3339))
	}
	if lim.MaxTTL > 0 && j.NotAfter.Sub(j.IssuedAt) > lim.MaxTTL {
		return fmt.Errorf("%w: %s", ErrTTL, j.NotAfter.Sub(j.IssuedAt))
	}
	return nil
}

// TargetMatches is the minion's own check of the simple target kinds it
// can judge alone (glob and list); richer kinds (grains, pillar, compound)
// were resolved by the master and are trusted through the signature plus
// MinionID.
func TargetMatches(t Target, id string) bool {
	switch t.Type {
	case "glob", "":
		ok, err := path.Match(t.Expr, id)
		return err == nil && ok
	case "list":
		for _, s := range splitList(t.Expr) {
			if s == id {
				return true
			}
		}
		return false
	default:
		return true
	}
}

func splitList(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

// ValidFun reports whether s has the shape "module.function".
func ValidFun(s string) bool {
	if len(s) < 3 || len(s) > 128 {
		return false
	}
	dot := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if i == 0 || i == len(s)-1 || s[i-1] == '.' {
				return false
			}
			dot = true
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_':
		default:
			return false
		}
	}
	return dot
}

// Return is a minion's answer to one job. The sender's identity is the
// subject's token, which the server guarantees; ID is informative.
type Return struct {
	V       int    `json:"v"`
	JID     string `json:"jid"`
	ID      string `json:"id"`
	Fun     string `json:"fun"`
	Return  any    `json:"return"`
	Retcode int    `json:"retcode"`
	Success bool   `json:"success"`
}

// KeyRequest is what a minion sends while its key is not accepted.
type KeyRequest struct {
	V      int            `json:"v"`
	ID     string         `json:"id"`
	Nkey   string         `json:"nkey"`
	Grains map[string]any `json:"grains,omitempty"`
}

// Key states, as salt-key names them.
const (
	KeyPending  = "pending"
	KeyAccepted = "accepted"
	KeyRejected = "rejected"
	KeyDenied   = "denied"
)

// KeyStatus is the master's signed answer to a key request. On "accepted"
// it carries the master's signing key and TLS fingerprint for the minion
// to pin.
type KeyStatus struct {
	V         int       `json:"v"`
	ID        string    `json:"id"`
	Nkey      string    `json:"nkey"`
	State     string    `json:"state"`
	Reason    string    `json:"reason,omitempty"`
	MasterKey string    `json:"master_key"`
	TLSFinger string    `json:"tls_finger,omitempty"`
	IssuedAt  time.Time `json:"issued_at"`
}

// Hello is what an accepted minion sends on (re)connect.
type Hello struct {
	V  int    `json:"v"`
	ID string `json:"id"`
}

// Event is a Salt-style event: a tag and data.
type Event struct {
	V    int            `json:"v"`
	Tag  string         `json:"tag"`
	Data map[string]any `json:"data"`
	Time time.Time      `json:"_stamp"`
}

// decodeStrict decodes exactly one JSON object into v.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(bytes.TrimSpace(b[dec.InputOffset():])) != 0 {
		return fmt.Errorf("%w: trailing data", ErrMalformed)
	}
	return nil
}

// Decode parses one JSON object of at most maxBytes into v; every
// handler uses it so limits and strictness are the same everywhere.
func Decode(b []byte, maxBytes int, v any) error {
	if maxBytes > 0 && len(b) > maxBytes {
		return fmt.Errorf("%w: %d bytes", ErrTooLarge, len(b))
	}
	return decodeStrict(b, v)
}
