package proto

// Operator API verbs. The master dispatches them from one static table;
// anything else is answered with an error.
const (
	VerbKeyList   = "key.list"
	VerbKeyAccept = "key.accept"
	VerbKeyReject = "key.reject"
	VerbKeyDelete = "key.delete"
	VerbKeyFinger = "key.finger"
	VerbRun       = "run"
)

// KeyRecord is one key as the operator sees it.
type KeyRecord struct {
	ID        string `json:"id"`
	Nkey      string `json:"nkey"`
	State     string `json:"state"`
	Finger    string `json:"finger"`
	OS        string `json:"os,omitempty"`
	Arch      string `json:"arch,omitempty"`
	Addr      string `json:"addr,omitempty"`
	Count     int    `json:"count,omitempty"`
	FirstSeen string `json:"first_seen,omitempty"`
	LastSeen  string `json:"last_seen,omitempty"`
}

// KeyCmd selects keys for accept/reject/delete/list/finger: ids or globs,
// or all keys in the states the verb applies to. Include lets
// `reject`/`accept` reach keys in states Salt reaches with
// --include-accepted/--include-rejected.
type KeyCmd struct {
	V       int      `json:"v"`
	Match   []string `json:"match,omitempty"`
	All     bool     `json:"all,omitempty"`
	Include []string `json:"include,omitempty"`
	DryRun  bool     `json:"dry_run,omitempty"`
}

// KeyReply lists the keys a key verb saw or changed.
type KeyReply struct {
	V      int         `json:"v"`
	Keys   []KeyRecord `json:"keys"`
	Master MasterKeys  `json:"master,omitempty"`
	Error  string      `json:"error,omitempty"`
}

// MasterKeys are the master's own fingerprints (salt-key -F master).
type MasterKeys struct {
	SigningKey    string `json:"signing_key,omitempty"`
	SigningFinger string `json:"signing_finger,omitempty"`
	TLSFinger     string `json:"tls_finger,omitempty"`
}

// RunRequest asks the master to run one function on a target.
type RunRequest struct {
	V          int            `json:"v"`
	Target     Target         `json:"target"`
	Fun        string         `json:"fun"`
	Args       []any          `json:"arg,omitempty"`
	Kwargs     map[string]any `json:"kwarg,omitempty"`
	TimeoutSec float64        `json:"timeout,omitempty"`
}

// RunReply carries each targeted minion's return; Missing lists minions
// that did not answer in time.
type RunReply struct {
	V       int               `json:"v"`
	JID     string            `json:"jid"`
	Returns map[string]Return `json:"returns"`
	Missing []string          `json:"missing,omitempty"`
	Error   string            `json:"error,omitempty"`
}

// ErrorReply is what the master answers to a request it refuses.
type ErrorReply struct {
	V     int    `json:"v"`
	Error string `json:"error"`
}
