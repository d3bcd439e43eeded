package proto

import (
	"crypto/sha256"
	"encoding/base32"
	"strings"
)

// Subjects are built here and nowhere else, so the permissions the master
// grants and the subjects the daemons use cannot drift apart.
const (
	// SubjectPrefix is the root of every brine subject.
	SubjectPrefix = "brine"
	// KeyRequestPrefix + <nkey> is where a minion sends its key request.
	KeyRequestPrefix = "brine.key.req."
	// KeyStatusPrefix + <nkey> is where the master answers it.
	KeyStatusPrefix = "brine.key.st."
	// JobPrefix + <tok> carries master-signed jobs to one minion.
	JobPrefix = "brine.job."
	// ReturnPrefix + <tok>.<jid> carries a minion's return for one job.
	ReturnPrefix = "brine.ret."
	// EventPrefix + <tok>.<type> carries a minion's events.
	EventPrefix = "brine.evt."
	// RequestPrefix + <tok>.<op> carries a minion's requests to the master
	// (hello, pillar, file).
	RequestPrefix = "brine.req."
	// PillarPrefix + <tok> is where the master pushes a minion's pillar.
	PillarPrefix = "brine.pillar."
	// APIPrefix + <optok>.<verb> carries an operator's requests.
	APIPrefix = "brine.api."
	// InboxPrefix + <tok> is a minion's (or operator's) private reply inbox.
	InboxPrefix = "_INBOX."
	// MasterEventPrefix + <type> carries events raised by the master itself
	// (key changes, denied keys).
	MasterEventPrefix = "brine.evt.master."
)

// TokenLen is the length of a subject token derived from an id: 26
// base32 characters keep 130 bits of the SHA-256, far beyond collision
// range for any fleet.
const TokenLen = 26

var tokenEnc = base32.StdEncoding.WithPadding(base32.NoPadding)

// Token encodes a minion id (or operator name) as ONE subject token. Ids
// are usually FQDNs; a dot would split them into several tokens and let a
// permission for `web1.example.>` also match `web1.example.com`. The hash
// also removes wildcards and whitespace from anything a client chose.
func Token(id string) string {
	sum := sha256.Sum256([]byte(id))
	return strings.ToLower(tokenEnc.EncodeToString(sum[:]))[:TokenLen]
}

// ValidToken reports whether s has the shape Token produces, so handlers
// can reject a subject before looking anything up.
func ValidToken(s string) bool {
	if len(s) != TokenLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// JobSubject is the subject a minion receives its jobs on.
func JobSubject(id string) string { return JobPrefix + Token(id) }

// ReturnSubject is where the minion publishes its return for jid.
func ReturnSubject(id, jid string) string { return ReturnPrefix + Token(id) + "." + jid }

// EventSubject is where the minion publishes an event of the given type.
func EventSubject(id, typ string) string { return EventPrefix + Token(id) + "." + typ }

// RequestSubject is where the minion asks the master for op.
func RequestSubject(id, op string) string { return RequestPrefix + Token(id) + "." + op }

// PillarSubject is where the master pushes the minion's pillar.
func PillarSubject(id string) string { return PillarPrefix + Token(id) }

// Inbox is the minion's private reply inbox prefix (no trailing dot), for
// nats.CustomInboxPrefix.
func Inbox(id string) string { return InboxPrefix + Token(id) }

// OperatorInbox is an operator's private reply inbox prefix.
func OperatorInbox(name string) string { return InboxPrefix + "op" + Token(name) }

// KeyRequestSubject is where a minion holding nkey sends its key request.
func KeyRequestSubject(nkey string) string { return KeyRequestPrefix + nkey }

// KeyStatusSubject is where the master answers the holder of nkey.
func KeyStatusSubject(nkey string) string { return KeyStatusPrefix + nkey }

// APISubject is the subject an operator sends verb to.
func APISubject(operator, verb string) string { return APIPrefix + Token(operator) + "." + verb }

// SplitTokenSubject splits "<prefix><tok>.<rest>" into tok and rest; ok is
// false when the subject does not have that shape or the token is not one
// Token could have produced.
func SplitTokenSubject(subject, prefix string) (tok, rest string, ok bool) {
	if !strings.HasPrefix(subject, prefix) {
		return "", "", false
	}
	s := subject[len(prefix):]
	tok, rest, _ = strings.Cut(s, ".")
	if !ValidToken(tok) {
		return "", "", false
	}
	return tok, rest, true
}

// ValidNkeySubjectToken reports whether s looks like a user nkey public
// key (56 base32 characters starting with U), so the key subjects cannot
// be abused with wildcards.
func ValidNkeySubjectToken(s string) bool {
	if len(s) != 56 || s[0] != 'U' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// ValidID reports whether a minion id is acceptable: printable, no
// whitespace, no NATS wildcards, no path separators, at most 255 bytes.
func ValidID(id string) bool {
	if id == "" || len(id) > 255 || id == "." || id == ".." {
		return false
	}
	for _, r := range id {
		if r <= ' ' || r == 0x7f || r == '*' || r == '>' || r == '/' || r == '\\' {
			return false
		}
	}
	return true
}

// ProgressSubject is where a minion streams the live output of job jid.
// It lies under the minion's own event subjects, so the permissions that
// let a minion publish its events let it stream, and no other minion can
// publish output in its name.
func ProgressSubject(id, jid string) string { return EventPrefix + Token(id) + ".progress." + jid }

// OperatorProgressSubject is where the master forwards the live output of
// a run to the operator who started it: under the operator's own inbox,
// which only that operator may read, and named by the tag the operator's
// CLI chose, since the CLI subscribes before it learns the jid.
func OperatorProgressSubject(operator, tag string) string {
	return OperatorInbox(operator) + ".progress." + tag
}

// ValidProgressTag reports whether tag can name an operator's progress
// subject: one token of 1 to 64 lower-case letters and digits, so a
// client cannot smuggle wildcards or extra tokens into it.
func ValidProgressTag(tag string) bool {
	if tag == "" || len(tag) > 64 {
		return false
	}
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
