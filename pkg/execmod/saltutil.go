package execmod

import (
	"context"
	"fmt"
)

// SaltutilHost is what the saltutil functions need from the daemon
// running them: only a connected minion knows how to refresh its pillar
// from the master, re-read its grains or look up the jobs it runs, so the
// minion implements this and registers the module with RegisterSaltutil.
type SaltutilHost interface {
	// RefreshPillar fetches the pillar from the master now.
	RefreshPillar(c *Context) error
	// RefreshGrains collects the grains again and tells the master.
	RefreshGrains(c *Context) error
	// FindJob returns the running job jid as saltutil.running lists it,
	// or nil when no such job runs.
	FindJob(jid string) map[string]any
}

// syncKinds are the keys of Salt's saltutil.sync_all return, one list of
// synced modules per kind.
var syncKinds = []string{"beacons", "clouds", "engines", "executors", "grains", "log_handlers", "matchers",
	"modules", "output", "pillar", "proxymodules", "renderers", "returners", "sdb", "serializers",
	"states", "thorium", "tops", "utils", "wrapper"}

type saltutilHostKey struct{}

// WithSaltutilHost attaches the daemon serving saltutil to a job's
// context. The host travels with each job rather than with the registry
// so that one registry can serve many minions in one process.
func WithSaltutilHost(ctx context.Context, h SaltutilHost) context.Context {
	return context.WithValue(ctx, saltutilHostKey{}, h)
}

func saltutilHost(c *Context, fun string) (SaltutilHost, error) {
	if h, ok := c.Context().Value(saltutilHostKey{}).(SaltutilHost); ok && h != nil {
		return h, nil
	}
	return nil, fmt.Errorf("%s needs a minion connected to a master", fun)
}

// RegisterSaltutil adds saltutil.refresh_pillar, refresh_grains,
// sync_all (and the sync_* it covers) and find_job to r, served by
// the host attached to each job's context (WithSaltutilHost). brine's modules are compiled in, so syncing has
// nothing to copy and returns Salt's shape with empty lists.
// saltutil.running and kill_job are answered by the minion's job runner
// itself, since they act on other jobs.
func RegisterSaltutil(r *Registry) {
	r.Register("saltutil.refresh_pillar", "Fetch this minion's pillar from the master again; returns True.\nCLI Example: brine-master run '*' saltutil.refresh_pillar",
		func(c *Context, _ []any, _ map[string]any) (any, error) {
			host, err := saltutilHost(c, "saltutil.refresh_pillar")
			if err != nil {
				return nil, err
			}
			if err := host.RefreshPillar(c); err != nil {
				return nil, fmt.Errorf("refresh pillar: %w", err)
			}
			return true, nil
		})
	r.Register("saltutil.refresh_grains", "Collect the grains again and send them to the master; returns True.\nCLI Example: brine-master run '*' saltutil.refresh_grains",
		func(c *Context, _ []any, _ map[string]any) (any, error) {
			host, err := saltutilHost(c, "saltutil.refresh_grains")
			if err != nil {
				return nil, err
			}
			if err := host.RefreshGrains(c); err != nil {
				return nil, fmt.Errorf("refresh grains: %w", err)
			}
			return true, nil
		})
	r.Register("saltutil.sync_all", "Sync custom modules from the file server. brine's modules are built in, so nothing is synced; the return has Salt's shape with empty lists. refresh=True (the default) refreshes the pillar.\nCLI Example: brine-master run '*' saltutil.sync_all",
		func(c *Context, _ []any, kwargs map[string]any) (any, error) {
			out := make(map[string]any, len(syncKinds))
			for _, k := range syncKinds {
				out[k] = []any{}
			}
			refresh := true
			if v, ok := kwargs["refresh"]; ok {
				if b, ok := ToBool(v); ok {
					refresh = b
				}
			}
			if refresh {
				host, err := saltutilHost(c, "saltutil.sync_all")
				if err != nil {
					return nil, err
				}
				if err := host.RefreshPillar(c); err != nil {
					return nil, fmt.Errorf("refresh pillar: %w", err)
				}
			}
			return out, nil
		})
	for _, k := range []string{"modules", "states", "grains", "pillar", "renderers", "returners", "utils", "beacons", "output"} {
		r.Register("saltutil.sync_"+k, "Sync custom "+k+" from the file server; brine's are built in, so the list of synced ones is empty.\nCLI Example: brine-master run '*' saltutil.sync_"+k,
			func(*Context, []any, map[string]any) (any, error) { return []any{}, nil })
	}
	r.Register("saltutil.find_job", "Return the data of the running job jid, or {} when it is not running.\nCLI Example: brine-master run '*' saltutil.find_job <jid>",
		func(c *Context, args []any, kwargs map[string]any) (any, error) {
			host, err := saltutilHost(c, "saltutil.find_job")
			if err != nil {
				return nil, err
			}
			jid := jidArg(args, kwargs)
			if jid == "" {
				return nil, fmt.Errorf("saltutil.find_job needs a jid")
			}
			if j := host.FindJob(jid); j != nil {
				return j, nil
			}
			return map[string]any{}, nil
		})
}

func jidArg(args []any, kwargs map[string]any) string {
	if len(args) > 0 {
		s, _ := ToString(args[0])
		return s
	}
	if v, ok := kwargs["jid"]; ok {
		s, _ := ToString(v)
		return s
	}
	return ""
}
