package proto

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

type edKey struct {
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
}

func (k edKey) Sign(b []byte) ([]byte, error) { return ed25519.Sign(k.priv, b), nil }
func (k edKey) PublicKey() (string, error) {
	return base64.RawURLEncoding.EncodeToString(k.pub), nil
}
func (k edKey) Verify(b, sig []byte) error {
	if !ed25519.Verify(k.pub, b, sig) {
		return errors.New("invalid")
	}
	return nil
}

func newKey(t *testing.T) edKey {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return edKey{pub, priv}
}

func TestTokenIsOneSubjectToken(t *testing.T) {
	for _, id := range []string{"web1", "web1.example.com", "a*b", "x >", ""} {
		tok := Token(id)
		if !ValidToken(tok) || strings.ContainsAny(tok, ".*> ") {
			t.Errorf("Token(%q) = %q is not one safe token", id, tok)
		}
	}
	if Token("web1.example") == Token("web1.example.com") {
		t.Fatal("distinct ids share a token")
	}
	tok, rest, ok := SplitTokenSubject(ReturnSubject("m1", "20260101000000000000"), ReturnPrefix)
	if !ok || tok != Token("m1") || rest != "20260101000000000000" {
		t.Fatalf("split: %q %q %v", tok, rest, ok)
	}
	if _, _, ok := SplitTokenSubject("brine.ret.*.x", ReturnPrefix); ok {
		t.Fatal("wildcard token accepted")
	}
}

func TestJIDMonotonicAndParse(t *testing.T) {
	var g JIDGen
	now := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	a, b := g.Next(now), g.Next(now)
	if a >= b || len(a) != JIDLen {
		t.Fatalf("jids %q %q not increasing", a, b)
	}
	got, err := ParseJID(a)
	if err != nil || !got.Equal(now) {
		t.Fatalf("ParseJID(%q) = %v, %v", a, got, err)
	}
	for _, bad := range []string{"", "123", "2026010203040500000x", "20261302030405000000", "202601020304050000001"} {
		if _, err := ParseJID(bad); !errors.Is(err, ErrBadJID) {
			t.Errorf("ParseJID(%q) err = %v", bad, err)
		}
	}
}

func validJob(now time.Time) *Job {
	return &Job{V: Version, JID: FormatJID(now), Master: "m", MinionID: "web1", Target: Target{Expr: "web*", Type: "glob"},
		Fun: "test.ping", IssuedAt: now, NotAfter: now.Add(time.Minute)}
}

func TestSignVerifyAndCheck(t *testing.T) {
	k, other := newKey(t), newKey(t)
	now := time.Now()
	payload, _ := json.Marshal(validJob(now))
	h := map[string][]string{}
	if err := Sign(k, payload, h); err != nil {
		t.Fatal(err)
	}
	kid, _ := k.PublicKey()
	if err := VerifySigned(k, kid, payload, h); err != nil {
		t.Fatalf("verify: %v", err)
	}
	tampered := append([]byte{}, payload...)
	tampered[len(tampered)-2] ^= 1
	if err := VerifySigned(k, kid, tampered, h); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered payload: %v", err)
	}
	okid, _ := other.PublicKey()
	if err := VerifySigned(other, okid, payload, h); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("other kid: %v", err)
	}
	if err := VerifySigned(k, kid, payload, nil); !errors.Is(err, ErrUnsigned) {
		t.Fatalf("unsigned: %v", err)
	}
	j, err := DecodeJob(payload, DefaultJobLimits)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Check("web1", now, DefaultJobLimits); err != nil {
		t.Fatal(err)
	}
	if err := j.Check("web2", now, DefaultJobLimits); !errors.Is(err, ErrNotTarget) {
		t.Fatalf("other minion: %v", err)
	}
	if err := j.Check("web1", now.Add(2*time.Minute), DefaultJobLimits); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
	if err := j.Check("web1", now.Add(-time.Hour), DefaultJobLimits); !errors.Is(err, ErrNotYetValid) {
		t.Fatalf("future: %v", err)
	}
	j.NotAfter = now.Add(48 * time.Hour)
	if err := j.Check("web1", now, DefaultJobLimits); !errors.Is(err, ErrTTL) {
		t.Fatalf("ttl: %v", err)
	}
	j.NotAfter = now.Add(time.Minute)
	j.Target = Target{Expr: "db*", Type: "glob"}
	if err := j.Check("web1", now, DefaultJobLimits); !errors.Is(err, ErrNotTarget) {
		t.Fatalf("glob outside target: %v", err)
	}
}

func TestDecodeJobRejects(t *testing.T) {
	now := time.Now()
	good, _ := json.Marshal(validJob(now))
	cases := map[string][]byte{
		"empty":    nil,
		"trailing": append(append([]byte{}, good...), []byte(`{}`)...),
		"array":    []byte(`[1]`),
		"bad jid":  []byte(strings.Replace(string(good), FormatJID(now), "abc", 1)),
		"bad fun":  []byte(strings.Replace(string(good), "test.ping", "rm -rf", 1)),
		"big":      append(append([]byte{}, good...), make([]byte, 2<<20)...),
	}
	for name, b := range cases {
		if _, err := DecodeJob(b, DefaultJobLimits); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

func TestValidFunAndID(t *testing.T) {
	for _, f := range []string{"test.ping", "cmd.run_all", "state.apply"} {
		if !ValidFun(f) {
			t.Errorf("ValidFun(%q) = false", f)
		}
	}
	for _, f := range []string{"", "ping", ".a", "a.", "a..b", "a.b c", "a.*"} {
		if ValidFun(f) {
			t.Errorf("ValidFun(%q) = true", f)
		}
	}
	for _, id := range []string{"", "a b", "a*", "a>", "a/b", ".."} {
		if ValidID(id) {
			t.Errorf("ValidID(%q) = true", id)
		}
	}
}

// FuzzDecodeJob feeds arbitrary bytes to the wire decoder: it must never
// panic, and whatever it accepts must re-encode to a job that decodes again.
func FuzzDecodeJob(f *testing.F) {
	good, _ := json.Marshal(validJob(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"v":1,"jid":"99999999999999999999"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := DecodeJob(b, DefaultJobLimits)
		if err != nil {
			return
		}
		again, err := json.Marshal(j)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if _, err := DecodeJob(again, DefaultJobLimits); err != nil {
			t.Fatalf("accepted job does not round-trip: %v", err)
		}
		_ = j.Check(j.MinionID, j.IssuedAt, DefaultJobLimits)
	})
}
