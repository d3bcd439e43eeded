package execmod

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/brine-cm/brine/pkg/backend/svcmgr"
)

// ServiceModule is the service execution module (Salt's service virtual
// module: systemd or the Debian sysvinit module). Backend is a field so
// tests can run it on recorded output; nil selects from the init grain.
type ServiceModule struct {
	Backend func(c *Context) (svcmgr.Manager, error)
}

func registerService(r *Registry) { ServiceModule{}.Register(r) }

// Register adds every service.* function to r.
func (m ServiceModule) Register(r *Registry) {
	act := func(verb string, do func(svcmgr.Manager, context.Context, string) error) Func {
		return func(c *Context, args []any, kwargs map[string]any) (any, error) {
			return m.act(c, "service."+verb, verb, args, kwargs, do)
		}
	}
	r.Register("service.start", "Start a service: service.start NAME. True on success.", act("start", svcmgr.Manager.Start))
	r.Register("service.stop", "Stop a service: service.stop NAME. True on success.", act("stop", svcmgr.Manager.Stop))
	r.Register("service.restart", "Restart a service: service.restart NAME. True on success.", act("restart", svcmgr.Manager.Restart))
	r.Register("service.reload", "Reload a service's configuration: service.reload NAME. True on success.", act("reload", svcmgr.Manager.Reload))
	r.Register("service.full_restart", "Stop then start a service: service.full_restart NAME. True on success.", act("full_restart", svcmgr.Manager.FullRestart))
	r.Register("service.enable", "Start a service at boot: service.enable NAME. True on success.", act("enable", svcmgr.Manager.Enable))
	r.Register("service.disable", "Do not start a service at boot: service.disable NAME. True on success.", act("disable", svcmgr.Manager.Disable))
	r.Register("service.status", "True when the service runs; sig=PATTERN checks for a process whose command line contains PATTERN instead; a glob pattern (service.status 'ng*') returns {name: bool}.", m.status)
	r.Register("service.enabled", "True when the service starts at boot.", m.query("service.enabled", func(c *Context, s svcmgr.Manager, n string) (bool, error) {
		return s.Enabled(c.Context(), n)
	}))
	r.Register("service.disabled", "True when the service does not start at boot.", m.query("service.disabled", func(c *Context, s svcmgr.Manager, n string) (bool, error) {
		on, err := s.Enabled(c.Context(), n)
		return !on, err
	}))
	r.Register("service.available", "True when the service exists on this host.", m.query("service.available", func(c *Context, s svcmgr.Manager, n string) (bool, error) {
		return s.Available(c.Context(), n)
	}))
	r.Register("service.missing", "True when the service does not exist on this host.", m.query("service.missing", func(c *Context, s svcmgr.Manager, n string) (bool, error) {
		ok, err := s.Available(c.Context(), n)
		return !ok, err
	}))
	r.Register("service.get_all", "Every service on this host, sorted.", m.getAll)
}

func (m ServiceModule) manager(c *Context) (svcmgr.Manager, error) {
	if m.Backend != nil {
		return m.Backend(c)
	}
	return svcmgr.Select(c.Grains, ContextRunner(c))
}

func serviceName(fn string, args []any, kwargs map[string]any) (string, error) {
	kw, err := Bind(fn, args, kwargs, "name")
	if err != nil {
		return "", err
	}
	if err := Require(fn, kw, "name"); err != nil {
		return "", err
	}
	name, err := Str(kw, "name", "")
	if err != nil {
		return "", fmt.Errorf("%s: %w", fn, err)
	}
	if strings.TrimSpace(name) == "" {
		return "", fmt.Errorf("%s: empty service name", fn)
	}
	return name, nil
}

// act runs one state-changing action and records it for the audit log.
func (m ServiceModule) act(c *Context, fn, verb string, args []any, kwargs map[string]any, do func(svcmgr.Manager, context.Context, string) error) (any, error) {
	name, err := serviceName(fn, args, kwargs)
	if err != nil {
		return nil, err
	}
	mgr, err := m.manager(c)
	if err != nil {
		return nil, err
	}
	c.Logger().Info("service action", "backend", mgr.Name(), "service", name, "action", verb)
	if err := do(mgr, c.Context(), name); err != nil {
		return false, fmt.Errorf("%s: %w", fn, err)
	}
	c.Record("service.changed", map[string]any{"name": name, "action": verb, "backend": mgr.Name()})
	return true, nil
}

func (m ServiceModule) query(fn string, q func(*Context, svcmgr.Manager, string) (bool, error)) Func {
	return func(c *Context, args []any, kwargs map[string]any) (any, error) {
		name, err := serviceName(fn, args, kwargs)
		if err != nil {
			return nil, err
		}
		mgr, err := m.manager(c)
		if err != nil {
			return nil, err
		}
		ok, err := q(c, mgr, name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fn, err)
		}
		return ok, nil
	}
}

func (m ServiceModule) status(c *Context, args []any, kwargs map[string]any) (any, error) {
	kw, err := Bind("service.status", args, kwargs, "name", "sig")
	if err != nil {
		return nil, err
	}
	sig, err := Str(kw, "sig", "")
	if err != nil {
		return nil, fmt.Errorf("service.status: %w", err)
	}
	delete(kw, "sig")
	name, err := serviceName("service.status", nil, kw)
	if err != nil {
		return nil, err
	}
	mgr, err := m.manager(c)
	if err != nil {
		return nil, err
	}
	ctx := c.Context()
	if sig != "" {
		ok, err := mgr.ProcessRunning(ctx, sig)
		if err != nil {
			return nil, fmt.Errorf("service.status: %w", err)
		}
		return ok, nil
	}
	if !strings.ContainsAny(name, "*?[") {
		ok, err := mgr.Status(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("service.status: %w", err)
		}
		return ok, nil
	}
	all, err := mgr.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("service.status: %w", err)
	}
	out := map[string]any{}
	for _, n := range all {
		if match, _ := path.Match(name, n); !match {
			continue
		}
		ok, err := mgr.Status(ctx, n)
		if err != nil {
			return nil, fmt.Errorf("service.status: %w", err)
		}
		out[n] = ok
	}
	return out, nil
}

func (m ServiceModule) getAll(c *Context, args []any, kwargs map[string]any) (any, error) {
	if len(args) > 0 {
		return nil, fmt.Errorf("service.get_all takes no positional arguments (%d given)", len(args))
	}
	mgr, err := m.manager(c)
	if err != nil {
		return nil, err
	}
	all, err := mgr.List(c.Context())
	if err != nil {
		return nil, fmt.Errorf("service.get_all: %w", err)
	}
	out := make([]any, len(all))
	for i, n := range all {
		out[i] = n
	}
	return out, nil
}
