// Package keys holds brine's ed25519 identities: the minion's user nkey,
// the master's signing key and the operators' keys. Seeds live in files
// written atomically with mode 0600, and every key has a Salt-style
// fingerprint operators can compare out of band.
package keys

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nkeys"
)

// Kind selects which nkey prefix a new key gets, so a key's role shows in
// its public form (U... users and minions, N... the master's signing key).
type Kind int

const (
	// User keys identify minions and operators to NATS.
	User Kind = iota
	// Master is the master's job-signing key.
	Master
)

// LoadOrCreate reads the nkey seed at path, creating it (0600, atomically)
// when it does not exist. created tells the caller it was a first start.
func LoadOrCreate(path string, kind Kind) (kp nkeys.KeyPair, created bool, err error) {
	kp, err = Load(path)
	if err == nil {
		return kp, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, false, err
	}
	switch kind {
	case Master:
		kp, err = nkeys.CreateServer()
	default:
		kp, err = nkeys.CreateUser()
	}
	if err != nil {
		return nil, false, fmt.Errorf("create key: %w", err)
	}
	seed, err := kp.Seed()
	if err != nil {
		return nil, false, fmt.Errorf("create key: %w", err)
	}
	if err := WriteFileAtomic(path, append(seed, '\n'), 0o600); err != nil {
		return nil, false, err
	}
	return kp, true, nil
}

// Load reads an nkey seed file; it refuses a seed file readable by group
// or others, as ssh does, because the seed is the identity.
func Load(path string) (nkeys.KeyPair, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("load key %s: mode %o is too open, want 0600", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load key: %w", err)
	}
	kp, err := nkeys.FromSeed(bytes.TrimSpace(b))
	if err != nil {
		return nil, fmt.Errorf("load key %s: %w", path, err)
	}
	return kp, nil
}

// Public returns the public key of kp (never fails for a valid pair).
func Public(kp nkeys.KeyPair) string {
	pub, _ := kp.PublicKey()
	return pub
}

// Fingerprint is the SHA-256 of the raw ed25519 public key, as colon-
// separated hex pairs, the form salt-key prints. It returns "" for a
// string that is not an nkey public key.
func Fingerprint(pub string) string {
	raw, err := rawPublic(pub)
	if err != nil {
		return ""
	}
	return colonHex(sha256.Sum256(raw))
}

func rawPublic(pub string) ([]byte, error) {
	if len(pub) == 0 {
		return nil, errors.New("empty key")
	}
	pre := nkeys.PrefixByte(0)
	switch pub[0] {
	case 'U':
		pre = nkeys.PrefixByteUser
	case 'N':
		pre = nkeys.PrefixByteServer
	case 'O':
		pre = nkeys.PrefixByteOperator
	case 'A':
		pre = nkeys.PrefixByteAccount
	default:
		return nil, fmt.Errorf("unknown key prefix %q", pub[0])
	}
	return nkeys.Decode(pre, []byte(pub))
}

func colonHex(sum [32]byte) string {
	var b strings.Builder
	for i, c := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02x", c)
	}
	return b.String()
}

// CertFingerprint is the SHA-256 of a certificate's DER bytes in the same
// colon-hex form, used to pin the master's TLS certificate.
func CertFingerprint(der []byte) string { return colonHex(sha256.Sum256(der)) }

// CertFileFingerprint reads the first certificate of a PEM file and
// returns its fingerprint.
func CertFileFingerprint(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read certificate: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return "", fmt.Errorf("read certificate %s: no PEM certificate", path)
	}
	if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
		return "", fmt.Errorf("read certificate %s: %w", path, err)
	}
	return CertFingerprint(blk.Bytes), nil
}

// Verifier returns a signature checker for a public key.
func Verifier(pub string) (nkeys.KeyPair, error) {
	kp, err := nkeys.FromPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("public key %q: %w", pub, err)
	}
	return kp, nil
}

// WriteFileAtomic writes data to a temp file in the same directory, syncs
// it and renames it over path, so a crash never leaves a half-written key
// or pin behind.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
