package master

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/brine-cm/brine/pkg/keys"
)

// OperatorsDir holds the credentials `brine-master operator add` creates,
// one seed file per operator (NAME.nk, mode 0600); the master reads their
// public keys at start, so a new operator needs no config edit.
func (c *Config) OperatorsDir() string { return filepath.Join(c.DataDir, "operators") }

// PillarKeyFile is the master's curve key the pillar is sealed with.
func (c *Config) PillarKeyFile() string { return filepath.Join(c.DataDir, "pillar.xk") }

// operatorName is what an operator may be called: it becomes part of
// file names and audit actors, so it stays plain.
var operatorName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// ValidOperatorName reports whether name can name an operator.
func ValidOperatorName(name string) bool { return operatorName.MatchString(name) && name != "root" }

// AddOperator creates the credential of a new operator under dir and
// returns its public key and seed file. It refuses an existing name.
func AddOperator(dir, name string) (pub, file string, err error) {
	if !ValidOperatorName(name) {
		return "", "", fmt.Errorf("operator name %q: want letters, digits, '.', '_' or '-' (and not root)", name)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("operator %s: %w", name, err)
	}
	file = filepath.Join(dir, name+".nk")
	if _, err := os.Stat(file); err == nil {
		return "", "", fmt.Errorf("operator %s already exists (%s)", name, file)
	}
	kp, _, err := keys.LoadOrCreate(file, keys.User)
	if err != nil {
		return "", "", fmt.Errorf("operator %s: %w", name, err)
	}
	return keys.Public(kp), file, nil
}

// loadOperatorFiles returns name -> public key for every credential in
// dir. A missing dir holds none.
func loadOperatorFiles(dir string) (map[string]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("operators: %w", err)
	}
	out := map[string]string{}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".nk")
		if !ok || e.IsDir() || !ValidOperatorName(name) {
			continue
		}
		kp, err := keys.Load(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("operators: %w", err)
		}
		out[name] = keys.Public(kp)
	}
	return out, nil
}
