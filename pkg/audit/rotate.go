package audit

import (
	"bytes"
	"fmt"
	"path/filepath"
	"time"
)

// recordKeyChange runs at Open: when the log's checkpoints so far were
// signed by another key than the signer's, it appends a key.rotated entry
// and seals at once, so a checkpoint by the new key covers the rotation and
// everything the old key signed. A rotation left unsealed by a crash is
// sealed now.
func (l *Log) recordKeyChange() error {
	if l.opts.Signer == nil {
		return nil
	}
	cur := l.opts.Signer.PublicKey()
	key, covered, err := l.lastKey()
	if err != nil {
		return err
	}
	switch {
	case key == "":
		return nil
	case key != cur:
		if _, err := l.Append(Entry{
			Time:    time.Now(),
			Actor:   "audit",
			Action:  ActionKeyRotated,
			Target:  cur,
			Outcome: "ok",
			Detail:  map[string]any{"old_key": key, "new_key": cur},
		}); err != nil {
			return fmt.Errorf("audit: record key change: %w", err)
		}
		l.log.Warn("audit log signing key changed; recorded and sealed", "old_key", key, "new_key", cur)
	case covered:
		return nil
	}
	if err := l.Seal(); err != nil {
		return fmt.Errorf("audit: seal after key change: %w", err)
	}
	return nil
}

// lastKey finds the key the log's checkpoints are signed with now, reading
// segments from the newest back to the last signed checkpoint or
// key.rotated entry. covered is false when that is a rotation no
// checkpoint follows yet.
func (l *Log) lastKey() (key string, covered bool, err error) {
	l.mu.Lock()
	segs := append([]segInfo(nil), l.segs...)
	cuts := make(map[string]int64, len(l.cutAt))
	for k, v := range l.cutAt {
		cuts[k] = v
	}
	l.mu.Unlock()
	for i := len(segs) - 1; i >= 0; i-- {
		limit := int64(-1)
		if off, ok := cuts[segs[i].name]; ok {
			limit = off
		}
		data, err := readLimited(filepath.Join(l.dir, segs[i].name), limit)
		if err != nil {
			return "", false, err
		}
		for end := bytes.LastIndexByte(data, '\n'); end > 0; {
			start := bytes.LastIndexByte(data[:end], '\n') + 1
			line := data[start:end]
			end = start - 1
			if !bytes.Contains(line, []byte(`"type":"checkpoint"`)) && !bytes.Contains(line, []byte(`"action":"key.rotated"`)) {
				continue // most lines: no need to decode them
			}
			r, err := parseLine(line)
			if err != nil {
				continue
			}
			if r.isCheckpoint() && r.Signer != "" {
				return r.Signer, true, nil
			}
			if !r.isCheckpoint() && r.Action == ActionKeyRotated {
				if k := rotatedTo(r); k != "" {
					return k, false, nil
				}
			}
		}
	}
	return "", false, nil
}
