package proto

// Live output of a running command travels as raw bytes, described by
// headers, so a chunk costs no encoding on the minion and none on the
// master, which only forwards it.
const (
	// HeaderStream names the stream a progress chunk came from: "stdout",
	// "stderr", or StreamTruncated.
	HeaderStream = "Brine-Stream"
	// HeaderMinion is set by the master on a forwarded chunk: the id of
	// the minion whose output it is (taken from the subject the minion
	// was allowed to publish on, never from the minion's payload).
	HeaderMinion = "Brine-Minion"
	// HeaderJID is set by the master on a forwarded chunk: the job it
	// belongs to.
	HeaderJID = "Brine-Jid"
)

// StreamTruncated is the stream of the empty chunk a minion sends once
// when a job's live output reached its bound: the rest arrives only in
// the return.
const StreamTruncated = "truncated"
