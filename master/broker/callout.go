package broker

import (
	"fmt"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// CalloutSubject is where an external NATS cluster sends authorization
// requests when auth callout is configured.
const CalloutSubject = "$SYS.REQ.USER.AUTH"

// Callout answers NATS auth-callout requests with the same Decide the
// embedded server uses, so moving from the embedded broker to an external
// cluster changes where the policy runs, not what it says. Issuer is the
// callout account's signing key; Account is the account minions and
// operators are placed in.
type Callout struct {
	Policy  *Policy
	Issuer  nkeys.KeyPair
	Account string
	// TTL bounds a user JWT's life; the client re-authenticates after it.
	TTL time.Duration
}

// Handler returns the message handler for CalloutSubject.
func (c *Callout) Handler() nats.MsgHandler {
	return func(m *nats.Msg) {
		out, err := c.Respond(m.Data, time.Now())
		if err != nil || out == "" {
			return
		}
		_ = m.Respond([]byte(out))
	}
}

// Respond turns one authorization request JWT into a signed response JWT.
func (c *Callout) Respond(reqJWT []byte, now time.Time) (string, error) {
	req, err := jwt.DecodeAuthorizationRequestClaims(string(reqJWT))
	if err != nil {
		return "", fmt.Errorf("callout: decode request: %w", err)
	}
	rc := jwt.NewAuthorizationResponseClaims(req.UserNkey)
	if rc == nil {
		return "", fmt.Errorf("callout: request without user nkey")
	}
	rc.Audience = req.Server.ID
	d := c.Policy.Decide(AuthRequest{
		Nkey:  req.ConnectOptions.Nkey,
		Sig:   req.ConnectOptions.SignedNonce,
		Nonce: []byte(req.ClientInformation.Nonce),
		Name:  req.ConnectOptions.Name,
		Addr:  req.ClientInformation.Host,
	})
	if !d.Allow || d.Role == RoleInternal {
		rc.Error = "not authorized"
		return rc.Encode(c.Issuer)
	}
	uc := jwt.NewUserClaims(req.UserNkey)
	uc.Name = d.Username
	uc.Audience = c.Account
	ttl := c.TTL
	if d.Deadline > 0 && (ttl <= 0 || d.Deadline < ttl) {
		ttl = d.Deadline
	}
	if ttl > 0 {
		uc.Expires = now.Add(ttl).Unix()
	}
	applyPermissions(&uc.Permissions, d.Permissions)
	ujwt, err := uc.Encode(c.Issuer)
	if err != nil {
		return "", fmt.Errorf("callout: encode user: %w", err)
	}
	rc.Jwt = ujwt
	return rc.Encode(c.Issuer)
}

func applyPermissions(dst *jwt.Permissions, p *server.Permissions) {
	if p == nil {
		return
	}
	if p.Publish != nil {
		dst.Pub.Allow.Add(p.Publish.Allow...)
		dst.Pub.Deny.Add(p.Publish.Deny...)
	}
	if p.Subscribe != nil {
		dst.Sub.Allow.Add(p.Subscribe.Allow...)
		dst.Sub.Deny.Add(p.Subscribe.Deny...)
	}
	if p.Response != nil {
		dst.Resp = &jwt.ResponsePermission{MaxMsgs: p.Response.MaxMsgs, Expires: p.Response.Expires}
	}
}
