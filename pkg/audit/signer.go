package audit

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nkeys"
)

type ed25519Signer struct {
	priv ed25519.PrivateKey
	pub  string
}

// NewEd25519Signer signs checkpoints with a raw ed25519 key; its public key
// reads "ed25519:<base64>".
func NewEd25519Signer(priv ed25519.PrivateKey) Signer {
	pub := priv.Public().(ed25519.PublicKey)
	return &ed25519Signer{priv: priv, pub: "ed25519:" + base64.StdEncoding.EncodeToString(pub)}
}

func (s *ed25519Signer) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(s.priv, msg), nil }
func (s *ed25519Signer) PublicKey() string               { return s.pub }

type nkeySigner struct {
	kp  nkeys.KeyPair
	pub string
}

// NKeySigner signs checkpoints with an nkey (the master's or a minion's own
// key), so the log is verified against the keys brine already manages.
func NKeySigner(kp nkeys.KeyPair) (Signer, error) {
	pub, err := kp.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("audit: nkey public key: %w", err)
	}
	return &nkeySigner{kp: kp, pub: pub}, nil
}

func (s *nkeySigner) Sign(msg []byte) ([]byte, error) { return s.kp.Sign(msg) }
func (s *nkeySigner) PublicKey() string               { return s.pub }

// verifySig checks sig over msg for a public key in either accepted form:
// "ed25519:<base64>" or an nkey public string.
func verifySig(pub string, msg, sig []byte) error {
	if raw, ok := strings.CutPrefix(pub, "ed25519:"); ok {
		key, err := base64.StdEncoding.DecodeString(raw)
		if err != nil || len(key) != ed25519.PublicKeySize {
			return errors.New("malformed ed25519 public key")
		}
		if !ed25519.Verify(ed25519.PublicKey(key), msg, sig) {
			return errors.New("signature does not verify")
		}
		return nil
	}
	kp, err := nkeys.FromPublicKey(pub)
	if err != nil {
		return fmt.Errorf("unknown public key format: %w", err)
	}
	if err := kp.Verify(msg, sig); err != nil {
		return errors.New("signature does not verify")
	}
	return nil
}
