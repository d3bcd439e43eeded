package proto

// Audit forwarding and reading. A minion forwards its own audit log to the
// master on RequestSubject(id, OpAudit), which its permissions already
// allow: the request body is raw audit lines (each ending in "\n") that
// continue the chain at the position the master last acknowledged; an
// empty body only asks for that position. The master answers with an
// AuditAck. The master keeps each minion's copy in a stream under
// AuditStoreSubject(id), which only the master itself can write.
const (
	// OpAudit is the minion request op that forwards audit lines.
	OpAudit = "audit"
	// AuditStorePrefix + <tok> holds a minion's forwarded audit lines.
	AuditStorePrefix = "brine.audit."
	// VerbAuditMinions lists the forwarded minion logs.
	VerbAuditMinions = "audit.minions"
	// VerbAuditRead reads a page of one minion's forwarded log.
	VerbAuditRead = "audit.read"
)

// AuditStoreSubject is where the master stores id's forwarded audit log.
func AuditStoreSubject(id string) string { return AuditStorePrefix + Token(id) }

// AuditAck is the master's answer to a forwarded batch (or a position
// query): the seq of the last entry it holds and the hash of the last line,
// where the minion's next batch must continue.
type AuditAck struct {
	V    int    `json:"v"`
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
	// NewEpoch says the master holds no batch under the minion's current
	// key yet (a first contact, or a re-keyed minion): the minion continues
	// from Seq/Hash if its log holds that point, and otherwise (a rebuilt
	// data dir) sends its log from the start.
	NewEpoch bool `json:"new_epoch,omitempty"`
}

// AuditMinionLog describes one minion's forwarded log on the master.
type AuditMinionLog struct {
	ID      string `json:"id"`
	LastSeq uint64 `json:"last_seq"`
	Batches uint64 `json:"batches"`
	// Epoch is the number of the newest epoch: a new one starts whenever
	// the minion's accepted key changes, so each is verified against the
	// key it was forwarded under.
	Epoch int `json:"epoch,omitempty"`
}

// AuditMinionsReply lists every forwarded log.
type AuditMinionsReply struct {
	V       int              `json:"v"`
	Minions []AuditMinionLog `json:"minions"`
}

// AuditReadRequest asks for the forwarded lines of Minion stored after
// stream position After (0: from the start).
type AuditReadRequest struct {
	V      int    `json:"v"`
	Minion string `json:"minion"`
	After  uint64 `json:"after,omitempty"`
	// Epoch limits the lines to one epoch (0: every epoch).
	Epoch int `json:"epoch,omitempty"`
}

// AuditReadReply carries raw lines (each ending in "\n", exactly as the
// minion wrote them, so the reader can verify the chain itself), the
// position to ask from next, and whether more lines follow.
type AuditReadReply struct {
	V     int    `json:"v"`
	Lines string `json:"lines"`
	Next  uint64 `json:"next"`
	More  bool   `json:"more"`
	// Nkey is the minion's currently accepted key, which signs its
	// checkpoints.
	Nkey string `json:"nkey,omitempty"`
	// EpochKey is the key the requested epoch's batches were verified
	// against when they arrived.
	EpochKey string `json:"epoch_key,omitempty"`
}
