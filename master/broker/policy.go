package broker

import (
	"encoding/base64"
	"net"
	"sync"
	"time"

	"github.com/brine-cm/brine/proto"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// Role is what a connection is allowed to be.
type Role int

// Roles, from no rights to all rights.
const (
	RoleNone Role = iota
	RolePending
	RoleMinion
	RoleOperator
	RoleInternal
)

func (r Role) String() string {
	return [...]string{"none", "pending", "minion", "operator", "internal"}[r]
}

// Directory is what the policy asks about keys; the key registry
// implements it. Keeping it an interface lets the auth-callout responder
// and the embedded server share one decision function.
type Directory interface {
	// MinionByNkey returns the id and state of the minion holding nkey.
	MinionByNkey(nkey string) (id, state string, ok bool)
	// MinionByID returns the nkey and state recorded for id.
	MinionByID(id string) (nkey, state string, ok bool)
	// Operator returns the operator name for an operator nkey.
	Operator(nkey string) (name string, ok bool)
	// Denied records a known id presenting another key; it must not block.
	Denied(id, nkey, addr string)
}

// AuthRequest is one connection attempt, from the embedded server's
// Check or from an auth-callout request.
type AuthRequest struct {
	Nkey  string
	Sig   string // base64 signature of Nonce
	Nonce []byte
	Name  string // the client's claimed name (minion id), untrusted
	Addr  string
}

// Decision is the policy's answer: who the client is and what it may do.
type Decision struct {
	Allow       bool
	Role        Role
	ID          string // minion id or operator name
	Username    string // shown in monitoring
	Permissions *server.Permissions
	Deadline    time.Duration // forced re-authentication
	Reason      string
}

// Limits tune the permissions the policy hands out.
type Limits struct {
	PendingDeadline time.Duration
	MinionDeadline  time.Duration
	ReplyTTL        time.Duration
	// PendingPerIP caps connection attempts by unknown or pending keys per
	// source address per second (default 20), so a flood of fresh keys
	// from one host cannot keep the master busy verifying them.
	PendingPerIP int
}

// Policy is brine's single authorisation decision.
type Policy struct {
	dir      Directory
	lim      Limits
	internal string // in-process key, set by the broker

	mu     sync.Mutex
	window time.Time
	perIP  map[string]int
}

// NewPolicy builds the policy over a key directory.
func NewPolicy(dir Directory, lim Limits) *Policy {
	if lim.PendingDeadline <= 0 {
		lim.PendingDeadline = 15 * time.Minute
	}
	if lim.MinionDeadline <= 0 {
		lim.MinionDeadline = 24 * time.Hour
	}
	if lim.ReplyTTL <= 0 {
		lim.ReplyTTL = 2 * time.Minute
	}
	if lim.PendingPerIP <= 0 {
		lim.PendingPerIP = 20
	}
	return &Policy{dir: dir, lim: lim, perIP: map[string]int{}}
}

// Decide authenticates and authorises one connection attempt: no nkey,
// a bad signature or a rejected key are refused; a known id presenting a
// different key is recorded as denied and refused; an unknown or pending
// key may only ask for acceptance; an accepted key gets permissions that
// name its own id and nothing else.
func (p *Policy) Decide(r AuthRequest) Decision {
	if r.Nkey == "" || r.Sig == "" || len(r.Nonce) == 0 {
		return Decision{Reason: "no nkey credentials"}
	}
	if !proto.ValidNkeySubjectToken(r.Nkey) {
		return Decision{Reason: "not a user nkey"}
	}
	sig, err := base64.RawURLEncoding.DecodeString(r.Sig)
	if err != nil {
		sig, err = base64.StdEncoding.DecodeString(r.Sig)
		if err != nil {
			return Decision{Reason: "undecodable signature"}
		}
	}
	pk, err := nkeys.FromPublicKey(r.Nkey)
	if err != nil {
		return Decision{Reason: "bad public key"}
	}
	if err := pk.Verify(r.Nonce, sig); err != nil {
		return Decision{Reason: "bad nonce signature"}
	}
	if p.internal != "" && r.Nkey == p.internal && r.Addr == "pipe" {
		return Decision{Allow: true, Role: RoleInternal, ID: "master", Username: "master"}
	}
	// Until the key registry is loaded every key would look unknown and
	// get pending rights; refuse instead, and clients retry shortly.
	if rd, ok := p.dir.(interface{ Ready() bool }); ok && !rd.Ready() {
		return Decision{Reason: "master is starting"}
	}
	if name, ok := p.dir.Operator(r.Nkey); ok {
		return Decision{Allow: true, Role: RoleOperator, ID: name, Username: "operator:" + name, Permissions: OperatorPermissions(name, p.lim.ReplyTTL)}
	}
	if id, state, ok := p.dir.MinionByNkey(r.Nkey); ok {
		switch state {
		case proto.KeyAccepted:
			return Decision{Allow: true, Role: RoleMinion, ID: id, Username: "minion:" + id,
				Permissions: MinionPermissions(id, r.Nkey, p.lim.ReplyTTL), Deadline: p.lim.MinionDeadline}
		case proto.KeyPending:
			return p.pending(r)
		default:
			return Decision{Reason: "key " + state}
		}
	}
	if r.Name != "" {
		if nk, _, ok := p.dir.MinionByID(r.Name); ok && nk != r.Nkey {
			p.dir.Denied(r.Name, r.Nkey, r.Addr)
			return Decision{Reason: "id " + r.Name + " is known with another key"}
		}
	}
	return p.pending(r)
}

func (p *Policy) pending(r AuthRequest) Decision {
	if !p.allowPending(r.Addr, time.Now()) {
		return Decision{Reason: "too many unaccepted connections from " + r.Addr}
	}
	return Decision{Allow: true, Role: RolePending, Username: "pending:" + r.Nkey,
		Permissions: PendingPermissions(r.Nkey), Deadline: p.lim.PendingDeadline}
}

// PendingPermissions lets a not-yet-accepted key ask for acceptance and
// read the answer, both keyed by its own nkey, and nothing else.
func PendingPermissions(nkey string) *server.Permissions {
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: []string{proto.KeyRequestSubject(nkey)}},
		Subscribe: &server.SubjectPermission{Allow: []string{proto.KeyStatusSubject(nkey)}},
		Response:  &server.ResponsePermission{MaxMsgs: 1, Expires: 10 * time.Second},
	}
}

// MinionPermissions name only the minion's own token: its jobs, pillar
// and inbox to read; its returns, events and requests to write.
func MinionPermissions(id, nkey string, replyTTL time.Duration) *server.Permissions {
	tok := proto.Token(id)
	return &server.Permissions{
		Publish: &server.SubjectPermission{Allow: []string{
			proto.ReturnPrefix + tok + ".>",
			proto.EventPrefix + tok + ".>",
			proto.RequestPrefix + tok + ".>",
			proto.KeyRequestSubject(nkey),
		}},
		Subscribe: &server.SubjectPermission{Allow: []string{
			proto.JobPrefix + tok,
			proto.PillarPrefix + tok,
			proto.InboxPrefix + tok + ".>",
			proto.KeyStatusSubject(nkey),
		}},
		Response: &server.ResponsePermission{MaxMsgs: 1, Expires: replyTTL},
	}
}

// OperatorPermissions allow the operator's own API subjects (which name
// the operator, so the master knows who asked) and its own inbox.
func OperatorPermissions(name string, replyTTL time.Duration) *server.Permissions {
	tok := proto.Token(name)
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: []string{proto.APIPrefix + tok + ".>"}},
		Subscribe: &server.SubjectPermission{Allow: []string{proto.OperatorInbox(name) + ".>"}},
		Response:  &server.ResponsePermission{MaxMsgs: 1, Expires: replyTTL},
	}
}

// allowPending counts attempts per source host in one-second windows.
// Loopback is not limited: a local process is not a remote flood, and
// simulators and tests enroll many keys from one host on purpose.
func (p *Policy) allowPending(addr string, now time.Time) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if now.Sub(p.window) >= time.Second {
		p.window = now
		clear(p.perIP)
	}
	p.perIP[host]++
	return p.perIP[host] <= p.lim.PendingPerIP
}
