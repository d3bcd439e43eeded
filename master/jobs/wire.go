package jobs

import (
	"time"

	"github.com/brine-cm/brine/proto"
)

// Operator verbs served by this package. They sit beside the API server's
// own verbs (the API hands any verb it does not know to Verb), so the job
// CLI and the job store change together.
const (
	VerbRun     = "job.run"
	VerbPreview = "job.preview"
	VerbList    = "job.list"
	VerbShow    = "job.show"
	VerbActive  = "job.active"
	VerbKill    = "job.kill"
)

// RunRequest is `brine-master run` on the wire: the plain run request plus
// the options Salt's CLI has (async, batch, expiry).
type RunRequest struct {
	proto.RunRequest
	// Async returns as soon as the job is stored and published.
	Async bool `json:"async,omitempty"`
	// Batch is "N" or "N%": never more than that many minions running
	// the job at once.
	Batch string `json:"batch,omitempty"`
	// BatchWait is how many seconds to wait after a minion returns
	// before its slot is given to the next one.
	BatchWait float64 `json:"batch_wait,omitempty"`
	// ExpireSec bounds the job's life (its signed not_after); zero uses
	// the master's job_ttl.
	ExpireSec float64 `json:"expire,omitempty"`
	// Progress, when set, asks for the live output of a command: each
	// targeted minion streams it while the job runs, and the master
	// forwards it to proto.OperatorProgressSubject(operator, Progress)
	// until the run returns. The CLI picks a fresh tag per run (it
	// subscribes before it learns the jid); ignored with Async.
	Progress string `json:"progress,omitempty"`
	// Stream, when set, asks for the returns in parts, each a RunReply
	// bounded well under the server's max_payload, published on
	// ReturnsSubject(operator, Stream) before the reply; the reply then
	// carries only the jid and Parts. A fleet's returns then never have
	// to fit in one message. The CLI picks a fresh tag per run and
	// subscribes before it asks.
	Stream string `json:"stream,omitempty"`
}

// ReturnsSubject is where the master publishes the parts of a streamed
// run reply: under the operator's own inbox, which only that operator
// may subscribe to.
func ReturnsSubject(operator, tag string) string {
	return proto.OperatorInbox(operator) + ".returns." + tag
}

// TargetError is a target the master could not parse; the CLI prints it
// and exits 2, and nothing was published.
type TargetError struct {
	Expr string `json:"expr"`
	Col  int    `json:"col"`
	Msg  string `json:"msg"`
}

// RunReply answers job.run and job.preview.
type RunReply struct {
	proto.RunReply
	// Minions are the ids the target resolved to, sorted.
	Minions []string `json:"minions"`
	// Connected tells, for each missing minion, whether it is connected
	// to the master right now.
	Connected map[string]bool `json:"connected,omitempty"`
	// TargetError is set when the target does not parse.
	TargetError *TargetError `json:"target_error,omitempty"`
	// Parts is how many parts of a streamed reply (RunRequest.Stream)
	// were published before this reply; the caller merges them in.
	Parts int `json:"parts,omitempty"`
}

// ListRequest filters job.list.
type ListRequest struct {
	V        int    `json:"v"`
	Target   string `json:"target,omitempty"`
	Function string `json:"function,omitempty"`
	User     string `json:"user,omitempty"`
	Since    string `json:"since,omitempty"` // RFC 3339 time or jid
	Until    string `json:"until,omitempty"`
	Limit    int    `json:"limit,omitempty"`
}

// JobSummary is one job as `jobs list` and `jobs active` show it.
type JobSummary struct {
	JID        string         `json:"jid"`
	Function   string         `json:"function"`
	Arguments  []any          `json:"arguments"`
	Kwargs     map[string]any `json:"kwargs,omitempty"`
	Target     string         `json:"target"`
	TargetType string         `json:"target-type"`
	User       string         `json:"user"`
	StartTime  time.Time      `json:"start_time"`
	NotAfter   time.Time      `json:"not_after"`
	Minions    []string       `json:"minions"`
	Returned   int            `json:"returned"`
	Missing    []string       `json:"missing,omitempty"`
	Batch      string         `json:"batch,omitempty"`
}

// ListReply answers job.list and job.active.
type ListReply struct {
	V    int          `json:"v"`
	Jobs []JobSummary `json:"jobs"`
}

// JIDRequest names one job (job.show, job.kill).
type JIDRequest struct {
	V   int    `json:"v"`
	JID string `json:"jid"`
	// Stream, for job.show, asks for the returns and missing minions in
	// parts on ReturnsSubject(operator, Stream), as RunRequest.Stream
	// does: a fleet's state returns do not fit in one message.
	Stream string `json:"stream,omitempty"`
}

// ShowReply answers job.show: the job, every stored return and who is
// still missing (with whether each is connected).
type ShowReply struct {
	V         int                     `json:"v"`
	Job       JobSummary              `json:"job"`
	Returns   map[string]proto.Return `json:"returns"`
	Missing   []string                `json:"missing,omitempty"`
	Connected map[string]bool         `json:"connected,omitempty"`
	// Parts is how many parts of a streamed reply (JIDRequest.Stream)
	// were published before this reply.
	Parts int `json:"parts,omitempty"`
}

// KillReply answers job.kill with the jid of the kill job and the
// minions it was sent to.
type KillReply struct {
	V       int      `json:"v"`
	JID     string   `json:"jid"`
	KillJID string   `json:"kill_jid,omitempty"`
	Minions []string `json:"minions"`
}
