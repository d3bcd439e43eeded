package jobs

import "context"

// authorizeKey carries a caller's publish check in a context.
type authorizeKey struct{}

// WithAuthorize returns ctx carrying check, which every job started under
// ctx passes before it is recorded or sent: check gets the function and
// the exact minion list the job is about to be published to (empty when
// the target matched nothing). Authorising that list, and not one
// resolved earlier, leaves no moment in which a minion that starts
// matching the target could receive a job its operator may not run. The
// operator API puts its ACL here.
func WithAuthorize(ctx context.Context, check func(fun string, minions []string) error) context.Context {
	return context.WithValue(ctx, authorizeKey{}, check)
}

// authorized applies the check ctx carries, if any.
func authorized(ctx context.Context, fun string, minions []string) error {
	check, _ := ctx.Value(authorizeKey{}).(func(string, []string) error)
	if check == nil {
		return nil
	}
	return check(fun, minions)
}
