package proto

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// JIDLen is the length of a job id: Salt's timestamp jid,
// YYYYMMDDhhmmssffffff in UTC, which operators already read and sort.
const JIDLen = 20

const jidLayout = "20060102150405.000000"

// ErrBadJID is returned for a job id that is not a 20-digit Salt jid.
var ErrBadJID = errors.New("bad jid")

// JIDGen hands out strictly increasing jids even when two jobs start in
// the same microsecond, so a jid is unique per master.
type JIDGen struct {
	mu   sync.Mutex
	last time.Time
}

// Next returns a fresh jid for the time now.
func (g *JIDGen) Next(now time.Time) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	t := now.UTC().Truncate(time.Microsecond)
	if !t.After(g.last) {
		t = g.last.Add(time.Microsecond)
	}
	g.last = t
	return FormatJID(t)
}

// FormatJID renders t as a jid.
func FormatJID(t time.Time) string {
	s := t.UTC().Format(jidLayout)
	return s[:14] + s[15:]
}

// ParseJID checks a jid's format and returns its time.
func ParseJID(jid string) (time.Time, error) {
	if len(jid) != JIDLen {
		return time.Time{}, fmt.Errorf("%w %q: want %d digits", ErrBadJID, jid, JIDLen)
	}
	for i := 0; i < len(jid); i++ {
		if jid[i] < '0' || jid[i] > '9' {
			return time.Time{}, fmt.Errorf("%w %q: want %d digits", ErrBadJID, jid, JIDLen)
		}
	}
	t, err := time.Parse(jidLayout, jid[:14]+"."+jid[14:])
	if err != nil {
		return time.Time{}, fmt.Errorf("%w %q: %v", ErrBadJID, jid, err)
	}
	return t, nil
}
