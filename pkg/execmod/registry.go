// Package execmod holds brine's execution modules (Salt's `salt.modules`):
// the functions an operator calls with `brine-master run` or
// `brine-minion call`, and that SLS templates call as
// `salt['module.function'](...)`. Every function lives in one Registry
// value, keyed "module.function", so the minion, the state engine and
// the Jinja renderer all dispatch from the same table.
package execmod

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
)

// ErrUnknownFunction is returned for a "module.function" that is not
// registered, so callers can tell a typo from a failing function.
var ErrUnknownFunction = errors.New("unknown function")

// Func is the signature of every execution module function. Positional
// arguments arrive in args, key=value arguments in kwargs, exactly as Salt
// passes them; the return value must be JSON-serialisable.
type Func func(c *Context, args []any, kwargs map[string]any) (any, error)

// Entry describes one registered function; Doc is what `sys.doc` prints.
type Entry struct {
	Name string
	Doc  string
	Fn   Func
}

// Registry is a value rather than a global so tests can build one with
// fakes and so the minion and the masterless `call` share one wiring path.
type Registry struct {
	mu sync.RWMutex
	m  map[string]Entry
}

// NewRegistry returns an empty registry; Builtin returns the standard set.
func NewRegistry() *Registry { return &Registry{m: map[string]Entry{}} }

// Register adds a function. It panics on an empty, malformed or duplicate
// name because that is a programming error caught by any test run.
func (r *Registry) Register(name, doc string, fn Func) {
	if name == "" || !strings.Contains(name, ".") || fn == nil {
		panic(fmt.Sprintf("execmod: bad registration %q", name))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.m[name]; dup {
		panic(fmt.Sprintf("execmod: duplicate registration %q", name))
	}
	r.m[name] = Entry{Name: name, Doc: doc, Fn: fn}
}

// Lookup finds a function by its "module.function" name.
func (r *Registry) Lookup(name string) (Entry, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.m[name]
	return e, ok
}

// Names lists every registered function, sorted, for `sys.list_functions`.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.m))
	for k := range r.m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Call runs a function by name with the given context. It is the entry
// point for a function an operator asked for (a published job or a
// `brine-minion call`): the function sees Context.Direct true, which is
// how cmd.run knows to use a shell by default, as Salt's does for a
// published call. Calls made from inside a module or a template go
// through Context.Call and see Direct false.
func (r *Registry) Call(c *Context, name string, args []any, kwargs map[string]any) (any, error) {
	if c != nil && !c.direct {
		cc := *c
		cc.direct = true
		c = &cc
	}
	return r.call(c, name, args, kwargs)
}

func (r *Registry) call(c *Context, name string, args []any, kwargs map[string]any) (any, error) {
	e, ok := r.Lookup(name)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownFunction, name)
	}
	if kwargs == nil {
		kwargs = map[string]any{}
	}
	return e.Fn(c, args, kwargs)
}

// FileClient resolves `salt://` URLs. Masterless runs read the local file
// roots; a connected minion fetches from the master and caches by hash.
type FileClient interface {
	// Cache makes the file at url available locally and returns its path.
	Cache(ctx context.Context, url string) (string, error)
	// Read returns the file content at url.
	Read(ctx context.Context, url string) ([]byte, error)
	// ListDirs lists the directories of the file roots (cp.list_master_dirs).
	ListDirs(ctx context.Context) ([]string, error)
	// ListFiles lists every file under prefix (relative to the roots).
	ListFiles(ctx context.Context, prefix string) ([]string, error)
}

// Auditor records what a module did to the host (commands run, files
// changed, packages, services) so the minion's audit log can answer
// "what changed on this host" later. A nil Auditor records nothing.
type Auditor interface {
	Record(action string, detail map[string]any)
}

// Context carries everything a function may need about the host and the
// run; it is built once per job and shared by every call in it.
type Context struct {
	Ctx      context.Context
	Grains   map[string]any
	Pillar   map[string]any
	Opts     map[string]any // minion config, as Salt's __opts__
	Test     bool           // test=True: report, change nothing
	Log      *slog.Logger
	Files    FileClient
	Audit    Auditor
	Registry *Registry
	// Saltenv is the file-server environment (Salt's saltenv), "base" by default.
	Saltenv string
	// Progress, when set, receives a command's output as it arrives
	// (stream is "stdout" or "stderr"), so an operator can watch a long
	// command instead of waiting for its return; the functions still
	// return the whole output. It may be called from several goroutines
	// at once and must not keep chunk after it returns. Nil costs nothing.
	Progress func(stream string, chunk []byte)

	// direct is set on the copy of the context a top-level call runs
	// with; see Registry.Call.
	direct bool
}

// Direct reports whether the running function was called by an operator
// (Registry.Call) rather than by another module or a template
// (Context.Call), as Salt tells them apart by the __pub_jid argument.
func (c *Context) Direct() bool { return c != nil && c.direct }

// Record forwards to the Auditor if one is set.
func (c *Context) Record(action string, detail map[string]any) {
	if c != nil && c.Audit != nil {
		c.Audit.Record(action, detail)
	}
}

// Logger never returns nil so module code can log unconditionally.
func (c *Context) Logger() *slog.Logger {
	if c == nil || c.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Log
}

// Context returns the run's context.Context, never nil.
func (c *Context) Context() context.Context {
	if c == nil || c.Ctx == nil {
		return context.Background()
	}
	return c.Ctx
}

// Call invokes another function through the same registry, as
// `__salt__['mod.fn']` does inside Salt modules.
func (c *Context) Call(name string, args []any, kwargs map[string]any) (any, error) {
	if c.Registry == nil {
		return nil, fmt.Errorf("%w: %q (no registry)", ErrUnknownFunction, name)
	}
	if c.direct {
		cc := *c
		cc.direct = false
		c = &cc
	}
	return c.Registry.call(c, name, args, kwargs)
}
